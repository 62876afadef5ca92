"""Training views cut to the object: every silhouette kept whole, same pixels, one window per bank."""

import pytest
import torch

from nst3d.mesh import normalize
from nst3d.mesh.shapes import torus
from nst3d.options import MeshOptions
from nst3d.render.camera import random_views
from nst3d.stylize_mesh import schedule, stylize_mesh
from nst3d.views import build_view_bank, object_boxes, select_views


@pytest.fixture(scope="module")
def bank():
    thin = torus(major=0.9, minor=0.05, rows=8, cols=48)  # a thin ring: most of each view is background
    cameras = random_views(6, torch.Generator().manual_seed(0), (-15, 45), (2.4, 3.0), (35, 45))
    return build_view_bank(normalize(thin), cameras, 96, 2)


def test_windows_keep_every_silhouette_and_the_pixels_under_it(bank):
    boxes = object_boxes(bank, margin=4, multiple=2)
    index = torch.tensor([0, 3, 5])
    views, where, window = select_views(bank, index, boxes, multiple=2)
    assert window[0] * window[1] < 0.8 * 192 * 192 and tuple(views.uv.shape[1:3]) == window
    assert torch.equal(where, torch.arange(3)) and window[0] % 16 == 0
    for j, i in enumerate(index.tolist()):
        assert views.mask[j].sum() == bank.mask[i].sum()  # nothing of the object cut off
        # same pixel density: the covered UVs are the very same values, in the same order
        assert torch.equal(views.uv[j][views.mask[j, 0] > 0], bank.uv[i][bank.mask[i, 0] > 0])
    _, _, alone = select_views(bank, index[1:2], boxes, multiple=2)
    assert alone[0] <= window[0] and alone[1] <= window[1]


def test_schedule_puts_the_coarse_fraction_at_half_size():
    assert schedule(MeshOptions(steps=100, render_size=256, coarse_fraction=0.7)) == [(128, 70), (256, 30)]
    assert schedule(MeshOptions(steps=100, render_size=96, coarse_fraction=0.7)) == [(96, 100)]
    assert schedule(MeshOptions(steps=100, coarse_fraction=0.0)) == [(256, 100)]


def test_a_cropped_two_stage_run_records_its_schedule():
    style = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    ring = torus(major=0.9, minor=0.05, rows=8, cols=48)
    result = stylize_mesh(ring, [style], steps=4, texture_size=32, render_size=128,
                          bank_size=4, gif_every=0, crop=True, coarse_fraction=0.5, progress=False,
                          backbone="vgg16-hed", style_layers="relu1_1,relu2_1")
    stages = result.record["schedule"]
    assert [(s["render_size"], s["steps"]) for s in stages] == [(64, 2), (128, 2)]
    assert 0 < stages[0]["cropped_area"] <= 1 and 0 < stages[1]["cropped_area"] < 1
    assert len(result.record["history"]) == 4
