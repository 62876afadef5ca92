"""VGG's 3x3 convolutions with their weights in oneDNN's own layout, reordered once (CPU, bf16).

`F.conv2d` hands oneDNN plain weights, which it reorders into its blocked layout at every call, forward
and backward: at the 128² crops of a mesh step that was 12-30% of VGG's time. Here the weights are
reordered once, and the input gradient (all a style step needs: the weights are frozen) is the same
kind of convolution, of the output gradient with the weights transposed and flipped. The numbers are
exactly those of `F.conv2d` (tested); only the layout of the weights changes.
"""

from __future__ import annotations

import torch
from torch import nn

ONES = [1, 1]        # VGG's convolutions: stride 1, padding 1, dilation 1
PACK_SIDE = 128      # the input side oneDNN chooses the weights' layout for (every size runs)


def available() -> bool:
    """Whether this torch build has the oneDNN operators used here."""
    return (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
            and hasattr(torch._C._nn, "mkldnn_reorder_conv2d_weight"))


def _pack(weight: torch.Tensor) -> torch.Tensor:
    """(out, in, 3, 3) bf16 weights -> an opaque oneDNN tensor in the layout its kernels read."""
    size = [1, weight.shape[1], PACK_SIDE, PACK_SIDE]
    dense = weight.detach().contiguous(memory_format=torch.channels_last)
    return torch._C._nn.mkldnn_reorder_conv2d_weight(dense.to_mkldnn(), ONES, ONES, ONES, 1, size)


def _convolve(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._convolution_pointwise(x.contiguous(memory_format=torch.channels_last), packed,
                                                   bias, ONES, ONES, ONES, 1, "none", [], "")


class _Convolution(torch.autograd.Function):
    """y = conv(x, W) + b; dL/dx = conv(dL/dy, W transposed and flipped) (3x3, stride 1, padding 1)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, conv: PrepackedConv2d) -> torch.Tensor:
        ctx.conv = conv
        return _convolve(x, conv.forward_weight, conv.bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _convolve(grad, ctx.conv.backward_weight, None), None


class PrepackedConv2d(nn.Module):
    """A frozen bf16 3x3 convolution (stride 1, padding 1) of a CPU VGG, with prepacked weights."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        weight = conv.weight.detach().to(torch.bfloat16)                               # (out, in, 3, 3)
        self.bias = conv.bias.detach().to(torch.bfloat16)
        self.forward_weight = _pack(weight)
        self.backward_weight = _pack(weight.transpose(0, 1).flip(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Convolution.apply(x.to(torch.bfloat16), self)


def prepack(modules: nn.ModuleList) -> None:
    """Replace the 3x3 stride-1 convolutions in `modules` (a CPU VGG's layers) by prepacked ones."""
    for i, module in enumerate(modules):
        if (isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3) and module.stride == (1, 1)
                and module.padding == (1, 1) and module.dilation == (1, 1) and module.groups == 1):
            modules[i] = PrepackedConv2d(module)
