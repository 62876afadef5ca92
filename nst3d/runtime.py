"""Device selection and seeding, shared by every pipeline."""

from __future__ import annotations

import random

import numpy as np
import torch

from nst3d.errors import Nst3dError


def resolve_device(name: str = "auto") -> torch.device:
    """Map 'auto' | 'cpu' | 'cuda' | 'cuda:N' to a torch.device that exists on this machine."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise Nst3dError(f"unknown device {name!r}: use auto, cpu or cuda") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise Nst3dError("--device cuda was asked for, but PyTorch sees no CUDA GPU here: use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise Nst3dError(f"unsupported device {name!r}: use auto, cpu or cuda")
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and (device.index or 0) >= count:
        raise Nst3dError(f"no GPU {name!r} here: PyTorch sees {count} (cuda:0 to cuda:{count - 1})")
    return device


def fast_bf16(device: torch.device) -> bool:
    """Run VGG under bf16 autocast? Only on GPUs with bf16 tensor cores (Ampere, compute 8.0, and newer).

    Older GPUs emulate bf16 convolutions more slowly than fp32; the CPU has no fast bf16 here either.
    """
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that wall-clock timings are attributed to the right phase."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for the pipeline's own random draws."""
    if not 0 <= seed < 2**63:
        raise Nst3dError(f"--seed must be between 0 and 2**63 - 1, got {seed}")
    torch.backends.cudnn.deterministic = True  # same seed, same device: same result (see README)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def notice(message: str) -> None:
    """Tell the user about something we handled for them (a conversion, a downscale); never fatal."""
    import sys

    print(f"note: {message}", file=sys.stderr)
