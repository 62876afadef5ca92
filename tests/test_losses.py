import pytest
import torch

from nst3d import losses


def test_gram_matches_hand_computation():
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, -1.0]]]])  # (1, 2, 2, 2)
    # rows: a = (1, 2, 3, 4), b = (0, 1, 0, -1); G = [[a.a, a.b], [b.a, b.b]] / 4
    expected = torch.tensor([[[30.0, -2.0], [-2.0, 2.0]]]) / 4
    assert torch.allclose(losses.gram(f), expected)


def test_masked_gram_uses_only_foreground_positions():
    torch.manual_seed(0)
    f = torch.randn(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :, :2] = 1
    fg = f[..., :, :2]
    assert torch.allclose(losses.gram(f, mask), losses.gram(fg), atol=1e-6)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("masked", [False, True])
def test_gram_backward_is_the_exact_derivative_in_either_layout(layout, masked):
    """gram's own backward (one product, in the layout the features came in) against numeric derivatives,
    and its gradient keeps that layout (a mismatch would make autograd add the two paths slowly)."""
    generator = torch.Generator().manual_seed(1)
    f = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=generator).contiguous(memory_format=layout)
    mask = (torch.rand(2, 1, 4, 5, generator=generator) > 0.3).double() if masked else None
    f.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: losses.gram(x, mask), (f,))
    (losses.gram(f, mask) * torch.randn(2, 3, 3, dtype=torch.float64)).sum().backward()
    assert f.grad.is_contiguous(memory_format=layout)


def test_relative_content_and_style_values():
    target = {"a": torch.tensor([[[[2.0, 0.0]]]])}
    value = {"a": torch.tensor([[[[1.0, 1.0]]]])}
    # ((1-2)^2 + (1-0)^2) / (2^2) = 0.5
    assert losses.content_loss(value, target)["a"].item() == pytest.approx(0.5)
    grams = {"a": losses.gram(target["a"])}  # [[2]]
    # gram(value) = (1 + 1) / 2 = 1 -> (1 - 2)^2 / 2^2 = 0.25
    assert losses.style_loss(value, grams)["a"].item() == pytest.approx(0.25)


def test_losses_are_invariant_to_activation_scale():
    torch.manual_seed(1)
    f, t = torch.rand(1, 4, 5, 5), torch.rand(1, 4, 5, 5)
    a = losses.style_loss({"x": f}, {"x": losses.gram(t)})["x"]
    b = losses.style_loss({"x": 255 * f}, {"x": losses.gram(255 * t)})["x"]
    assert torch.allclose(a, b, rtol=1e-4)


def test_tv_loss_hand_value():
    img = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    # horizontal diffs: 1, 1 -> mean 1; vertical diffs: 0, 0 -> 0
    assert losses.tv_loss(img).item() == pytest.approx(1.0)


def test_masked_tv_loss_counts_only_pairs_inside_the_mask():
    img = torch.tensor([[[[0.0, 1.0, 5.0], [0.0, 3.0, 5.0]]]])            # (1, 1, 2, 3)
    mask = torch.tensor([[[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]]])           # third column: background
    # inside pairs: horizontal (0,1), (0,3) -> 1, 9; vertical (0,0), (1,3) -> 0, 4; means 5 and 2
    assert losses.tv_loss(img, mask).item() == pytest.approx(7.0)
    assert losses.tv_loss(img, torch.ones_like(mask)).item() == pytest.approx(losses.tv_loss(img).item())
    edge = mask.clone()
    edge[..., 1] = 0.5                     # a supersampled silhouette: partly covered pixels do not count
    assert losses.tv_loss(img, edge).item() == 0.0
    assert losses.tv_loss(img, torch.zeros_like(mask)).item() == 0.0


def test_blend_grams_weights_sum_to_one():
    a, b = {"x": torch.ones(1, 2, 2)}, {"x": torch.zeros(1, 2, 2)}
    assert torch.allclose(losses.blend_grams([a, b], [3, 1])["x"], torch.full((1, 2, 2), 0.75))
