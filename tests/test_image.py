import os
import signal

import pytest
import torch
from conftest import as_tensor, make_content, make_style

from nst3d import image as img
from nst3d.errors import Nst3dError
from nst3d.optimize import LoopSettings, optimize
from nst3d.style import keep_content_colors

CONTENT, STYLE = as_tensor(make_content()), as_tensor(make_style())
FAST = dict(scales=1, progress=False, backbone="vgg16-hed")


def test_reconstruct_reduces_content_loss_several_fold():
    result = img.stylize(CONTENT, content_layers="conv_4", style_weight=0, init="noise", size=48,
                         steps=25, **FAST)
    history = [h["loss"] for h in result.record["history"]]
    assert history[-1] < history[0] / 5
    assert result.image.shape == (1, 3, 36, 48)


def test_texture_synthesis_reduces_style_loss_several_fold():
    result = img.stylize(None, [STYLE], content_weight=0, style_weight=1, init="noise", size=48,
                         steps=25, **FAST)
    history = [h["loss"] for h in result.record["history"]]
    assert history[-1] < history[0] / 5
    assert result.image.shape == (1, 3, 48, 48)
    assert set(result.record["final_losses"]) >= {"style", "style/relu1_1", "style/relu5_1"}


def test_transfer_moves_toward_style_and_seed_reproduces():
    kwargs = dict(size=48, steps=8, init="noise", seed=7, **FAST)
    a = img.stylize(CONTENT, [STYLE], **kwargs)
    b = img.stylize(CONTENT, [STYLE], **kwargs)
    c = img.stylize(CONTENT, [STYLE], **{**kwargs, "seed": 8})
    assert torch.equal(a.image, b.image)
    assert not torch.equal(a.image, c.image)
    history = img.stylize(CONTENT, [STYLE], size=48, steps=8, **FAST).record["history"]  # from the photo
    assert history[-1]["style"] < 0.5 * history[0]["style"]


def test_a_ctrl_c_while_the_next_scale_is_set_up_keeps_the_finished_scale(monkeypatch, python_sigint):
    real, calls = img._objective_at, []

    def interrupted_at_the_second_scale(job, long_side, previous):
        calls.append(long_side)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # held: this scale's setup still finishes
        return real(job, long_side, previous)

    monkeypatch.setattr(img, "_objective_at", interrupted_at_the_second_scale)
    result = img.stylize(CONTENT, [STYLE], size=128, steps=3, scales=2, progress=False, backbone="vgg16-hed")
    assert result.interrupted and result.record["interrupted"] and calls == [64, 128]
    assert len(result.record["history"]) == 3 and result.image.shape == (1, 3, 96, 128)


def test_a_ctrl_c_while_the_final_image_is_made_delivers_it_whole(monkeypatch, python_sigint):
    real = img._result

    def interrupted(*args):
        os.kill(os.getpid(), signal.SIGINT)
        return real(*args)

    monkeypatch.setattr(img, "_result", interrupted)
    result = img.stylize(CONTENT, [STYLE], size=48, steps=2, **FAST)
    assert result.stop_requested and not result.interrupted and len(result.record["history"]) == 2


def test_multiscale_runs_each_scale_and_adam_works():
    result = img.stylize(CONTENT, [STYLE, STYLE], style_blend=[0.5, 0.5], size=128, steps=3, scales=2,
                         optimizer="adam", progress=False, gif_every=2)
    sizes = [s["size"] for s in result.record["timings"]["scales"]]
    assert sizes == [[64, 48], [128, 96]]
    assert len(result.frames) == 3 and result.frames[0].shape == (96, 128, 3)


def test_coarse_scales_too_thin_for_vgg_are_skipped():
    wide = torch.rand(1, 3, 24, 480)
    result = img.stylize(wide, [STYLE], size=480, steps=1, scales=2, progress=False, backbone="vgg16-hed")
    assert [s["size"] for s in result.record["timings"]["scales"]] == [[480, 24]]  # 240x12 was skipped


def test_preserve_colors_keeps_content_chroma():
    gray = torch.full((1, 3, 8, 8), 0.5)
    colored = torch.tensor([0.6, 0.4, 0.4]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    out = keep_content_colors(gray, colored)
    # luminance stays that of the gray image, hue follows the red content
    y = (out * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
    assert torch.allclose(y, torch.full_like(y, 0.5), atol=1e-4)
    assert (out[:, 0] > out[:, 1]).all()


def test_scale_sizes_halves_down_to_the_minimum():
    assert img.scale_sizes(512, 3) == [128, 256, 512]
    assert img.scale_sizes(100, 3) == [100]


@pytest.mark.parametrize("kwargs,message", [
    (dict(size=0), "size must be"), (dict(steps=-1), "steps must be"),
    (dict(style_weight=float("nan")), "style_weight must be"),
    (dict(style_layers="relu9_9"), "unknown layer"),
    (dict(optimizer="sgd"), "unknown optimizer"), (dict(style_blend=[1, 2]), "style-blend has 2 weights"),
    (dict(size=100_000), "too large"), (dict(size=8), "short side must be at least 16"),
    (dict(style_scale=100), "style_scale 100 is too large"),
    (dict(content_weight=0, style_weight=0), "nothing to optimize"),
])
def test_bad_parameters_are_clear_errors(kwargs, message):
    with pytest.raises(Nst3dError, match=message):
        img.stylize(CONTENT, [STYLE], **{**FAST, **kwargs})


def test_optimize_keeps_best_and_stops_cleanly_on_ctrl_c():
    x = torch.tensor([3.0], requires_grad=True)
    evaluated = []

    def objective():
        if len(evaluated) == 6:
            raise KeyboardInterrupt
        evaluated.append(x.item())
        return (x - 1).pow(2).sum(), {}

    result = optimize([x], objective, LoopSettings(50, "adam", 1.5, progress=False))
    assert result.interrupted and len(result.history) == 6
    best = min(evaluated, key=lambda v: (v - 1) ** 2)
    assert best != evaluated[-1]  # Adam overshoots here, so "best" differs from "last"
    assert result.params[0].item() == pytest.approx(best)

