"""2D benchmark: cost per optimization step, time to quality against a plain baseline, default run time.

    python benchmarks/bench_image.py              # everything (about 30 min on a 2-core CPU)
    python benchmarks/bench_image.py --only steps # just the per-step table

Prints Markdown tables. Peak memory is the process's max RSS (CPU) or torch's peak allocation (CUDA),
each case measured in a fresh subprocess so cases do not contaminate each other.
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import time
from pathlib import Path

import torch
from harness import in_subprocess, parse_args

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def inputs() -> tuple[Path, Path]:
    """Golden Gate + Starry Night when ../shared/data exists, else the repo's own samples."""
    if SHARED.exists():
        return SHARED / "content" / "golden_gate_bridge.jpg", SHARED / "styles" / "starry_night.jpg"
    return ROOT / "examples" / "landscape.jpg", ROOT / "styles" / "swirls.jpg"


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_case(size: int, device: str, steps: int) -> dict:
    """Seconds per L-BFGS step at one size (after warm-up) and the process's peak memory."""
    from nst3d.image import stylize
    from nst3d.io import load_image

    content, style = (load_image(p) for p in inputs())
    side = min(content.shape[-2:])
    content = content[..., :side, :side]  # square, so the step works on size x size pixels
    result = stylize(content, [style], size=size, steps=steps, scales=1, progress=False, device=device)
    history = result.record["history"]
    per_step = (history[-1]["t"] - history[1]["t"]) / (len(history) - 2)  # skip the warm-up step
    dev = torch.device(result.record["device"])
    return {"size": size, "seconds_per_step": per_step, "peak_mib": peak_memory_mib(dev)}


def quality_case(device: str, steps: int) -> dict:
    """Baseline (single scale, full VGG, 300 L-BFGS steps at 512) vs the default pipeline at 512."""
    from nst3d.image import stylize
    from nst3d.io import load_image
    from nst3d.options import DEFAULT_STYLE_LAYERS

    content, style = (load_image(p) for p in inputs())
    # relu5_3 at weight 0 makes the network run to its end, as a plain implementation would.
    base = stylize(content, [style], size=512, steps=steps, scales=1, init="content", progress=False,
                   style_layers=DEFAULT_STYLE_LAYERS + ",relu5_3:0", device=device)
    target_c, target_s = base.record["final_losses"]["content"], base.record["final_losses"]["style"]
    # Half the baseline's steps at the final scale: reaching its losses any later would miss the target.
    default = stylize(content, [style], size=512, steps=steps // 2, progress=False, device=device)
    final_side = default.record["timings"]["scales"][-1]["steps"]
    final_scale = default.record["history"][-final_side:]
    reached = next((h for h in final_scale if h["content"] <= target_c and h["style"] <= target_s), None)
    half = base.record["timings"]["total_seconds"] / 2

    def at_half(history: list[dict]) -> dict:
        """Losses of the last step that ended within half the baseline's wall time."""
        return [h for h in history if h["t"] <= half][-1]

    return {
        "baseline_seconds": base.record["timings"]["total_seconds"],
        "baseline_content": target_c, "baseline_style": target_s,
        "baseline_at_half": at_half(base.record["history"]),
        "baseline_first": base.record["history"][0],   # the content image itself
        "default_seconds": default.record["timings"]["total_seconds"],
        "default_content": default.record["final_losses"]["content"],
        "default_style": default.record["final_losses"]["style"],
        "default_at_half": at_half(final_scale),
        "default_first": final_scale[0],                # the upsampled coarse result
        "reached_at_seconds": None if reached is None else reached["t"],  # from the start of the run
    }


def main() -> None:
    args = parse_args(__doc__, ["steps", "quality", "default"])
    if args.case:
        kind, *rest = args.case
        if kind == "step":
            result = step_case(int(rest[0]), args.device, 12)
        else:
            result = quality_case(args.device, 300)
        print(json.dumps(result))
        return

    content, style = inputs()
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; inputs {content.name} + {style.name}\n")
    if args.only in (None, "steps"):
        print("| size | s/step (L-BFGS, fwd+bwd) | peak memory MiB |\n|---|---|---|")
        for size in (256, 512):
            r = in_subprocess(__file__, "step", str(size), "--device", args.device)
            print(f"| {size}x{size} | {r['seconds_per_step']:.3f} | {r['peak_mib']:.0f} |", flush=True)
        print()
    if args.only in (None, "quality"):
        r = in_subprocess(__file__, "quality", "--device", args.device)
        reached = r["reached_at_seconds"]
        share = r["default_seconds"] / r["baseline_seconds"]
        ratio = (f"not reached in its run ({share:.2f}x of the baseline's time)" if reached is None
                 else f"{reached:.0f} s = {reached / r['baseline_seconds']:.2f}x")
        print("| run (512 px) | wall s | content | style | at 0.5x baseline time | first step at 512 "
              "| reaches baseline losses at |")
        print("|---|---|---|---|---|---|---|")

        def losses(h: dict) -> str:
            return f"c {h['content']:.3f} / s {h['style']:.4f}"

        print(f"| baseline: 1 scale, content init, full VGG, 300 L-BFGS | {r['baseline_seconds']:.0f} | "
              f"{r['baseline_content']:.4f} | {r['baseline_style']:.5f} | {losses(r['baseline_at_half'])} | "
              f"{losses(r['baseline_first'])} | - |")
        print(f"| default pipeline (coarse-to-fine, truncated VGG) | {r['default_seconds']:.0f} | "
              f"{r['default_content']:.4f} | {r['default_style']:.5f} | {losses(r['default_at_half'])} | "
              f"{losses(r['default_first'])} | {ratio} (target <= 0.5x) |\n")
    if args.only in (None, "default"):
        out = Path("/tmp/nst3d_bench_default.png")
        start = time.perf_counter()
        subprocess.run(["nst3d", "image", str(content), str(style), "-o", str(out), "--quiet",
                        "--device", args.device], check=True)
        print(f"default `nst3d image` end to end: {time.perf_counter() - start:.1f} s "
              f"(target < 120 s on a 2-core CPU)")


if __name__ == "__main__":
    main()
