"""Static HTML pages that open from disk with no server and no network: the batch gallery."""
