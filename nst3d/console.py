"""The `nst3d` console entry point: Ctrl-C during start-up (torch takes seconds to import) exits 130
with one line, like Ctrl-C anywhere else."""

from __future__ import annotations

import sys


def main() -> None:
    """Import the command line inside the Ctrl-C guard, then run it."""
    try:
        from nst3d.cli import main as run
    except KeyboardInterrupt:
        print("nst3d: interrupted", file=sys.stderr)
        sys.exit(130)
    run()
