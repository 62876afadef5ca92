"""Device selection and seeding, shared by every pipeline."""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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
    """Does this device run bf16 convolutions faster than fp32? GPUs with bf16 tensor cores (Ampere,
    compute 8.0, and newer) and CPUs with AMX matrix units (Intel Sapphire Rapids and newer); elsewhere
    bf16 is emulated, more slowly than fp32."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device) >= (8, 0)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, so looked up with a fallback
    return device.type == "cpu" and amx is not None and bool(amx())


def use_bf16(precision: str, device: torch.device) -> bool:
    """--precision: auto -> bf16 where `fast_bf16`, else fp32; fp32 and bf16 as asked."""
    return precision == "bf16" or (precision == "auto" and fast_bf16(device))


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


@contextmanager
def interrupt_held(already: bool = False) -> Iterator[list[bool]]:
    """While a result is finished and written: the first Ctrl-C is noted (the yielded list gets an entry)
    and the work goes on, so nothing is lost; a second one stops it. `already`: a Ctrl-C came before (it
    stopped the steps, or an earlier block held it), so the next one is the second. A no-op outside the
    main thread and where Ctrl-C is ignored or handled outside Python."""
    held: list[bool] = []
    off = threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) in (
        signal.SIG_IGN, None)
    if already or off:
        yield held
        return

    def hold(signum, frame) -> None:
        if held:
            raise KeyboardInterrupt
        held.append(True)
        notice("interrupted: finishing the result first (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)
