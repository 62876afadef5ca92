"""A small clock that adds up wall-clock seconds per named phase of a run (render, network, ...)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from nst3d.runtime import synchronize


class Clock:
    """`with clock("network"): ...` adds that block's seconds to clock.seconds["network"].

    The device is synchronized at both ends, so queued GPU work is counted in the phase that queued it.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        synchronize(self.device)
        begin = time.perf_counter()
        try:
            yield
        finally:
            synchronize(self.device)
            self.seconds[phase] += time.perf_counter() - begin
