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


def cpu_ticks() -> list[int] | None:
    """The machine's CPU time so far, in ticks: [user, nice, system, idle, iowait, irq, softirq, steal]
    (Linux /proc/stat; None elsewhere)."""
    try:
        with open("/proc/stat") as stat:
            return [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def steal_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """Share of the machine's CPU time between two `cpu_ticks` that the hypervisor gave to other guests:
    a shared host at work, which makes wall-clock timings slower than this code is."""
    if before is None or after is None:
        return None
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / max(1, sum(spent))
