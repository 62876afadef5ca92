"""The style losses against hand-computed values on tiny tensors, and each loss in a few real steps."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import as_tensor, make_content, make_style, run_cli

import nst3d
from nst3d import features
from nst3d.errors import Nst3dError
from nst3d.gaussian import blend_gaussians, color_stats, match_colors, moments, w2_squared
from nst3d.mesh.shapes import torus
from nst3d.nnfm import nearest, nnfm_distance, stack_layers, style_pool
from nst3d.options import ImageOptions, MeshOptions
from nst3d.render.camera import orbit_cameras
from nst3d.style import check_style_layers, style_distance, style_targets
from nst3d.stylize_mesh import stroke_scales
from nst3d.views import apparent_scale

FAST = dict(progress=False, backbone="vgg16-hed")


@pytest.fixture(scope="module")
def vgg_net():
    return features.FeatureNet(features.load_backbone("vgg16-hed"), ["relu1_1", "relu2_1", "relu2_2"])


def as_map(vectors: list[list[float]]) -> torch.Tensor:
    """Feature vectors (N, C) as a (1, C, 1, N) map."""
    return torch.tensor(vectors, dtype=torch.float32).T[None, :, None, :]


def test_nnfm_matches_each_position_to_its_known_nearest_style_vector():
    pool = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=1)
    found = as_map([[2.0, 0.5], [0.3, 3.0]])           # nearest: pool 0, then pool 1
    assert nearest(found[0].flatten(1).T, pool).tolist() == [0, 1]
    cos_first, cos_second = 2.0 / math.hypot(2.0, 0.5), 3.0 / math.hypot(0.3, 3.0)
    expected = ((1 - cos_first) + (1 - cos_second)) / 2
    assert float(nnfm_distance(found, pool)) == pytest.approx(expected, rel=1e-5)


def test_nnfm_search_in_chunks_finds_the_same_neighbours():
    generator = torch.Generator().manual_seed(1)
    queries, pool = torch.randn(300, 16, generator=generator), F.normalize(torch.randn(50, 16), dim=1)
    assert torch.equal(nearest(queries, pool, chunk=7), nearest(queries, pool, chunk=1000))


def test_nnfm_ignores_masked_positions_in_value_and_gradient():
    pool = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=1)
    found = as_map([[2.0, 0.5], [0.3, 3.0], [1.0, 1.0]]).requires_grad_(True)
    mask = torch.tensor([1.0, 1.0, 0.0]).view(1, 1, 1, 3)
    value = nnfm_distance(found, pool, mask)
    value.sum().backward()
    kept = nnfm_distance(found[..., :2].detach(), pool)
    assert float(value.detach()) == pytest.approx(float(kept), rel=1e-6)
    assert found.grad[..., 2].abs().max() == 0 and found.grad[..., :2].abs().max() > 0


def test_nnfm_pool_takes_each_style_in_its_blend_share():
    first, second = as_map([[1.0, 0.0]] * 40), as_map([[0.0, 1.0]] * 40)
    pool = style_pool([first, second], [3.0, 1.0], torch.Generator().manual_seed(0), size=40)
    assert len(pool) == 40 and int((pool[:, 0] > 0.5).sum()) == 30       # 3:1, capped at the pool size
    assert torch.allclose(pool.norm(dim=1), torch.ones(40))


def test_stack_layers_scales_each_layer_by_its_weight():
    found = {"a": torch.ones(1, 2, 3, 3), "b": torch.ones(1, 1, 3, 3)}
    stack = stack_layers(found, {"a": 1.0, "b": 0.5})
    assert stack.shape == (1, 3, 3, 3) and stack[0, 2].unique().tolist() == [0.5]


def test_w2_is_zero_between_identical_gaussians():
    features = torch.randn(1, 8, 6, 6, generator=torch.Generator().manual_seed(2)) * 2 + 1
    target = blend_gaussians([moments(features)], [1.0])
    assert float(w2_squared(*moments(features), target)) == pytest.approx(0.0, abs=1e-5)


def test_w2_has_the_closed_form_for_diagonal_gaussians():
    mean_a, var_a = torch.tensor([[1.0, -2.0, 0.5]]), torch.tensor([4.0, 1.0, 0.25])
    mean_t, var_t = torch.tensor([[0.0, 1.0, 0.5]]), torch.tensor([1.0, 9.0, 0.25])
    target = blend_gaussians([(mean_t, torch.diag(var_t)[None])], [1.0])
    ridge = target.ridge
    expected = (mean_a - mean_t).pow(2).sum() + ((var_a + ridge).sqrt() - (var_t + ridge).sqrt()).pow(2).sum()
    energy = mean_t.pow(2).sum() + var_t.sum()
    assert target.energy == pytest.approx(float(energy))
    got = w2_squared(mean_a, torch.diag(var_a)[None], target)
    assert float(got) == pytest.approx(float(expected / energy), rel=1e-4)


def test_w2_gradient_is_finite_with_fewer_positions_than_channels():
    style = torch.randn(1, 32, 8, 8, generator=torch.Generator().manual_seed(3)).relu()
    target = blend_gaussians([moments(style)], [1.0])
    found = torch.randn(2, 32, 2, 2, generator=torch.Generator().manual_seed(4)).relu().requires_grad_(True)
    w2_squared(*moments(found), target).sum().backward()
    assert found.grad.isfinite().all() and found.grad.abs().sum() > 0


def test_moments_respect_the_mask():
    features = torch.arange(8.0).view(1, 1, 2, 4)
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]).view(1, 1, 2, 4)
    mean, cov = moments(features, mask)
    assert float(mean) == pytest.approx(0.5) and float(cov) == pytest.approx(0.25)


def test_blended_gaussian_is_the_mixture():
    a = (torch.tensor([[0.0, 0.0]]), torch.eye(2)[None])
    b = (torch.tensor([[2.0, 0.0]]), 3 * torch.eye(2)[None])
    mixed = blend_gaussians([a, b], [1.0, 1.0])
    assert torch.allclose(mixed.mean, torch.tensor([[1.0, 0.0]]))
    expected = 2 * torch.eye(2) + torch.tensor([[1.0, 0.0], [0.0, 0.0]])        # + spread of the means
    assert torch.allclose(mixed.cov[0], expected + mixed.ridge * torch.eye(2), atol=1e-6)


def test_color_match_moves_mean_and_covariance_to_the_style():
    generator = torch.Generator().manual_seed(5)
    image = 0.3 + 0.2 * torch.rand(1, 3, 32, 32, generator=generator)
    spread = torch.tensor([0.2, 0.5, 0.3]).view(1, 3, 1, 1)
    style = torch.rand(1, 3, 40, 40, generator=generator) * spread + 0.3
    target = color_stats([style], [1.0])
    mean, cov = moments(match_colors(image, target))
    assert torch.allclose(mean, target.mean, atol=2e-3)
    assert torch.allclose(cov, target.cov, atol=2e-3)
    flat = match_colors(torch.full((1, 3, 4, 4), 0.5), target)
    assert torch.allclose(flat[0, :, 0, 0], target.mean[0], atol=1e-4)    # a flat start: the style's mean


def test_each_loss_is_zero_against_its_own_targets_and_positive_elsewhere(vgg_net):
    generator = torch.Generator().manual_seed(6)
    style = torch.rand(1, 3, 48, 48, generator=generator)
    other = torch.rand(1, 3, 48, 48, generator=generator) * 0.3
    for kind, layers in (("gram", {"relu1_1": 1.0, "relu2_1": 1.0}), ("w2", {"relu1_1": 1.0, "relu2_1": 1.0}),
                         ("nnfm", {"relu2_1": 1.0, "relu2_2": 1.0})):
        targets = style_targets(vgg_net, [style], layers, [1.0], kind)
        with torch.no_grad():
            same, _ = style_distance(vgg_net(style), targets)
            away, _ = style_distance(vgg_net(other), targets)
        assert float(same) < 1e-3 < float(away), kind


def test_nnfm_layers_must_share_one_resolution():
    check_style_layers("nnfm", {"relu3_1": 1.0, "relu3_3": 1.0})
    check_style_layers("gram", {"relu1_1": 1.0, "relu3_1": 1.0})
    with pytest.raises(Nst3dError, match="one resolution"):
        check_style_layers("nnfm", {"relu2_1": 1.0, "relu3_1": 1.0})
    with pytest.raises(Nst3dError, match="one resolution"):
        check_style_layers("nnfm", {"relu3_1": 1.0, "pool3": 1.0})


@pytest.mark.parametrize(("overrides", "message"), [
    (dict(style_loss="gatys"), "unknown style loss 'gatys'; choose one of gram, w2, nnfm"),
    (dict(color_match="on", preserve_colors=True), "contradict"),
    (dict(color_match="yes"), "unknown --color-match 'yes'; choose one of auto, on, off"),
])
def test_bad_loss_options_are_one_line_errors(overrides, message):
    for kind in (ImageOptions, MeshOptions):
        with pytest.raises(Nst3dError, match=message):
            kind(**overrides)


def test_color_match_auto_is_on_for_nnfm_with_a_content_to_recolour():
    assert ImageOptions(style_loss="nnfm").recolors(True)
    assert not ImageOptions(style_loss="nnfm").recolors(False)
    assert not ImageOptions(style_loss="nnfm", preserve_colors=True).recolors(True)
    assert not ImageOptions(style_loss="gram").recolors(True)
    assert ImageOptions(color_match="on").recolors(False) and not ImageOptions(style_loss="nnfm",
                                                                                color_match="off").recolors(True)


def test_color_match_auto_is_on_for_a_textured_mesh_whatever_the_loss():
    assert MeshOptions().recolors(True) and MeshOptions(style_loss="w2").recolors(True)
    assert not MeshOptions().recolors(False)
    assert not MeshOptions(preserve_colors=True).recolors(True)
    assert not MeshOptions(color_match="off").recolors(True)


def test_layer_defaults_follow_the_loss():
    assert ImageOptions(style_loss="nnfm").resolved_style_layers == "relu3_1,relu3_2,relu3_3"
    assert MeshOptions(style_loss="w2").resolved_style_layers.startswith("relu1_1")
    assert ImageOptions(style_loss="nnfm", style_layers="relu4_1").resolved_style_layers == "relu4_1"


@pytest.mark.parametrize("loss", ["gram", "w2", "nnfm"])
def test_a_few_steps_of_each_loss_lower_its_own_distance(loss):
    style, content = as_tensor(make_style()), as_tensor(make_content())
    texture = nst3d.synthesize_texture([style], size=48, steps=6, optimizer="adam", style_loss=loss, **FAST)
    history = texture.record["history"]
    assert history[-1]["style"] < 0.8 * history[0]["style"]
    image = nst3d.transfer(content, [style, style.flip(-1)], size=48, steps=4, scales=1, style_loss=loss,
                           style_blend=[0.7, 0.3], **FAST)
    assert image.record["history"][-1]["style"] < image.record["history"][0]["style"]
    assert image.record["style_loss"] == loss
    mesh = nst3d.stylize_mesh(torus(rows=8, cols=16), [style], steps=8, texture_size=32, render_size=64,
                              bank_size=4, gif_every=0, style_loss=loss, **FAST)
    assert mesh.record["heldout_style_distance"]["ratio"] < 0.95
    assert mesh.record["style_loss"] == loss
    layers = ImageOptions(style_loss=loss).resolved_style_layers
    assert list(mesh.record["layers"]["style"]) == layers.split(",")


def test_color_match_recolours_the_start_of_a_mesh():
    style = as_tensor(make_style())
    base = dict(steps=1, texture_size=32, render_size=64, bank_size=4, gif_every=0, lr=1e-6, average_decay=0,
                **FAST)
    plain = nst3d.stylize_mesh(torus(rows=8, cols=16), [style], **base)
    matched = nst3d.stylize_mesh(torus(rows=8, cols=16), [style], color_match="on", **base)
    assert torch.allclose(plain.texture.mean((1, 2)), torch.full((3,), 0.5), atol=0.02)        # gray start
    assert torch.allclose(matched.texture.mean((1, 2)), style.mean((0, 2, 3)), atol=0.02)     # style mean


def test_stroke_scale_follows_the_apparent_size_of_each_view():
    cameras = orbit_cameras(torch.tensor([2.7, 2.7 / 2 ** 0.5, 2.7 * 2 ** 0.25]), 0.0, 0.0,
                            torch.tensor([40.0, 40.0, 40.0]))
    assert apparent_scale(cameras, 2.7, 40.0).tolist() == pytest.approx([1.0, 2 ** 0.5, 2 ** -0.25],
                                                                        rel=1e-5)
    strokes, index = stroke_scales(cameras, MeshOptions())
    assert strokes[0] == 1.0
    assert [strokes[i] for i in index.tolist()] == pytest.approx([1.0, 2 ** 0.5, 2 ** -0.25])
    flat, index = stroke_scales(cameras, MeshOptions(surface_strokes=False))
    assert flat == [1.0] and index.tolist() == [0, 0, 0]


@pytest.mark.parametrize(("args", "message"), [
    (("--style-loss", "gatys"), "unknown style loss 'gatys'; choose one of gram, w2, nnfm"),
    (("--style-loss", "nnfm", "--style-layers", "relu2_1,relu3_1"), "one resolution"),
    (("--precision", "fp16"), "unknown --precision 'fp16'; choose one of auto, fp32, bf16"),
])
def test_bad_loss_flags_are_one_line_errors(monkeypatch, capsys, content_png, style_png, tmp_path, args,
                                            message):
    code, _, err = run_cli(monkeypatch, capsys, "image", str(content_png), str(style_png), "-o",
                           str(tmp_path / "out.png"), "--steps", "1", "--backbone", "vgg16-hed", *args)
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.png").exists()
