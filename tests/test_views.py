"""Training views cut to the object: every silhouette kept whole, same pixels, one window per bank."""

import pytest
import torch

from nst3d.mesh import normalize
from nst3d.mesh.shapes import torus
from nst3d.options import MeshOptions
from nst3d.render.camera import random_views
from nst3d.stylize_mesh import schedule, stylize_mesh
from nst3d.views import build_view_bank, crop_to_object


@pytest.fixture(scope="module")
def bank():
    thin = torus(major=0.9, minor=0.05, rows=8, cols=48)  # a thin ring: most of each view is background
    cameras = random_views(6, torch.Generator().manual_seed(0), (-15, 45), (2.4, 3.0), (35, 45))
    return build_view_bank(normalize(thin), cameras, 96, 2)


def test_crop_keeps_every_silhouette_and_the_pixels_under_it(bank):
    cropped = crop_to_object(bank, margin=4, multiple=2)
    assert cropped.uv.shape[1] % 2 == 0 and cropped.uv.shape[2] % 2 == 0
    assert cropped.uv.shape[1] * cropped.uv.shape[2] < 0.8 * bank.uv.shape[1] * bank.uv.shape[2]
    assert torch.equal(cropped.mask.sum((1, 2, 3)), bank.mask.sum((1, 2, 3)))  # nothing of the object cut
    # same pixel density: the covered UVs are the very same values, in the same order
    for i in range(len(bank)):
        full = bank.uv[i][bank.mask[i, 0] > 0]
        assert torch.equal(cropped.uv[i][cropped.mask[i, 0] > 0], full)


def test_schedule_puts_the_coarse_fraction_at_half_size():
    assert schedule(MeshOptions(steps=100, render_size=256, coarse_fraction=0.7)) == [(128, 70), (256, 30)]
    assert schedule(MeshOptions(steps=100, render_size=48, coarse_fraction=0.7)) == [(48, 100)]
    assert schedule(MeshOptions(steps=100, coarse_fraction=0.0)) == [(256, 100)]


def test_a_cropped_two_stage_run_records_its_schedule():
    style = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    result = stylize_mesh(torus(rows=12, cols=24), [style], steps=4, texture_size=32, render_size=64,
                          bank_size=4, gif_every=0, crop=True, coarse_fraction=0.5, progress=False,
                          backbone="vgg16-hed", style_layers="relu1_1,relu2_1")
    stages = result.record["schedule"]
    assert [(s["render_size"], s["steps"]) for s in stages] == [(32, 2), (64, 2)]
    assert all(max(s["network_input"]) <= s["render_size"] for s in stages)
    assert len(result.record["history"]) == 4
