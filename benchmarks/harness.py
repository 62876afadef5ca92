"""What the benchmark scripts share: a command line with --only/--device, and cases run in subprocesses.

Each case runs in a fresh interpreter (`script --case ...`), so peak memory and warm-up are its own;
the case prints one JSON line that the parent reads back.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence


def parse_args(doc: str, sections: Sequence[str]) -> argparse.Namespace:
    """--only SECTION, --device, and the hidden --case used by `in_subprocess`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--only", choices=list(sections))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    return parser.parse_args()


def in_subprocess(script: str, *args: str) -> dict:
    """Run `script --case ARGS` in a fresh interpreter and return the JSON it printed last."""
    out = subprocess.run([sys.executable, script, "--case", *args], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])
