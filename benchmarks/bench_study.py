"""Study benchmark: one `nst3d study` of N cells against the same N cells run as single jobs.

    python benchmarks/bench_study.py            # N = 2 and 4 reconstruction cells at 64 px, 20 steps

Target: a study of N cells costs no more than N single runs plus 2 s (its extra work: each cell's PNG
and JSON, the sheet and study.json). Each case runs in a fresh interpreter, so both pay one backbone load;
the singles are in-process `nst3d.image.reconstruct` calls (separate `nst3d reconstruct` commands would
also pay Python, torch and the weights N times). Each case is run twice, the faster run kept. Prints a
Markdown table.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from harness import in_subprocess, parse_args

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "examples" / "landscape.jpg"
SETTINGS = {"size": 64, "steps": 20, "backbone": "vgg16-hed"}
COUNTS = (2, 4)
REPEATS = 2


def cells(count: int, device: str) -> list:
    """The first `count` cells of the default reconstruction study, tiny."""
    from nst3d import study as st
    from nst3d.options import ReconstructOptions

    base = ReconstructOptions(**SETTINGS, device=device, gif_every=0)
    return st.layer_cells(base, "content_layers", st.RECONSTRUCT_LAYERS[:count])


def case(kind: str, count: int, device: str) -> dict:
    """Seconds for `count` cells: one after another as single jobs, or as one study into a folder."""
    from nst3d import image as img
    from nst3d import study as st
    from nst3d.io import load_image

    content = load_image(CONTENT)
    started = time.perf_counter()
    todo = cells(count, device)
    if kind == "singles":
        for cell in todo:
            img.reconstruct(content, options=cell.options, progress=False)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            study = st.Study("layers", todo[0].options, todo, {"content": content}, {"content": str(CONTENT)})
            st.run_study(study, img.reconstruct, Path(tmp), progress=False)
    return {"seconds": time.perf_counter() - started}


def main() -> None:
    """The table; or, with --case, one case (what in_subprocess runs)."""
    args = parse_args(__doc__, [])
    if args.case:
        kind, count = args.case
        print(json.dumps(case(kind, int(count), args.device)))
        return
    size, steps, backbone = SETTINGS.values()
    print(f"reconstruction cells at {size} px, {steps} steps, {backbone}; best of {REPEATS}\n")
    print("| cells N | N single runs | one study of N cells | study - singles | target |")
    print("|---|---|---|---|---|")
    for count in COUNTS:
        best = {kind: min(in_subprocess(__file__, kind, str(count), "--device", args.device)["seconds"]
                          for _ in range(REPEATS)) for kind in ("singles", "study")}
        extra = best["study"] - best["singles"]
        print(f"| {count} | {best['singles']:.2f} s | {best['study']:.2f} s | {extra:+.2f} s | "
              f"<= +2 s: {'yes' if extra <= 2 else 'NO'} |")


if __name__ == "__main__":
    main()
