"""Small fixed runs whose outputs are pinned in pinned_outputs.json (the refactoring guard of issue 9).

`python tests/pinned.py` rewrites the pins; only do that when a change of results is intended.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from conftest import as_tensor, make_content, make_style  # noqa: E402

import nst3d  # noqa: E402
from nst3d.mesh.shapes import torus  # noqa: E402

PINS = Path(__file__).with_name("pinned_outputs.json")


def textured_torus():
    checker = (torch.arange(64)[:, None] // 8 + torch.arange(64)[None] // 8) % 2
    colors = torch.stack([checker.float(), 0.5 + 0.0 * checker, 1 - checker.float()])
    return torus(rows=12, cols=24).replace(texture=colors)


def runs() -> dict[str, torch.Tensor]:
    """The pinned runs' outputs: 2D transfer (two scales, L-BFGS), reconstruction, synthesis, a mesh."""
    content, style = as_tensor(make_content()), as_tensor(make_style())
    fast = dict(progress=False, backbone="vgg16-hed", seed=3, precision="fp32")  # the same on every CPU
    return {
        "transfer": nst3d.transfer(content, [style, style.flip(-1)], size=128, steps=4, scales=2,
                                   style_blend=[0.7, 0.3], tv_weight=1.0, **fast).image,
        "reconstruct": nst3d.reconstruct(content, layers="conv_4", size=48, steps=5, **fast).image,
        "texture": nst3d.synthesize_texture([style], layers="relu1_1,relu2_1", size=48, steps=5,
                                            optimizer="adam", **fast).image,
        "mesh": nst3d.stylize_mesh(textured_torus(), [style], steps=4, texture_size=64, render_size=64,
                                   views_per_step=2, bank_size=8, gif_every=0, crop=False,
                                   coarse_fraction=0.0, surface_strokes=False, color_match="off",
                                   **fast).texture[None],
    }


def summary(image: torch.Tensor) -> list[float]:
    """A 4x4 area average per channel: stable to rounding, sensitive to any change of the result."""
    return [round(v, 6) for v in F.adaptive_avg_pool2d(image.float(), 4).flatten().tolist()]


if __name__ == "__main__":
    outputs = runs()
    rows = [f' "{k}": {json.dumps({"shape": list(v.shape), "summary": summary(v)})}'
            for k, v in outputs.items()]
    PINS.write_text("{\n" + ",\n".join(rows) + "\n}\n")
    if len(sys.argv) > 1:
        torch.save(outputs, sys.argv[1])  # exact tensors, for a bitwise comparison during a refactor
