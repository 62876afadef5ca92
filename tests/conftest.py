"""Shared fixtures: small synthetic images made on the fly, and the optional shared data folder."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path in ../shared/data, or skip the test with the reason when that folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's shared data folder beside the checkout); not present here")
    return path


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the `nst3d` console entry point in-process -> (exit code, stdout, stderr)."""
    from nst3d.cli import main

    monkeypatch.setattr(sys, "argv", ["nst3d", *map(str, args)])
    with pytest.raises(SystemExit) as stop:
        main()
    out, err = capsys.readouterr()
    return stop.value.code, out, err


@pytest.fixture
def python_sigint():
    """Ctrl-C raises KeyboardInterrupt in this test, also when pytest started with SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background job (`pytest &`) starts with SIGINT ignored


@contextmanager
def nst3d_process(*args: object) -> Iterator[subprocess.Popen]:
    """`python -m nst3d ARGS` with Ctrl-C enabled however the suite was launched; killed on exit."""
    proc = subprocess.Popen([sys.executable, "-m", "nst3d", *map(str, args)], stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()


def wait_for_stderr(proc: subprocess.Popen, needle: str, seconds: float) -> str:
    """Read the child's stderr until `needle` shows up (or it exits, or time runs out) -> what was read."""
    return _read_stderr_until(proc, lambda seen: needle.encode() in seen, seconds)


def wait_for_steps(proc: subprocess.Popen, steps: int, seconds: float) -> str:
    """Read the child's stderr until its progress bar counts at least `steps` finished steps (tqdm may
    skip counts between refreshes, so no exact count is waited for)."""
    def counted(seen: bytes) -> bool:
        counts = re.findall(rb"\| *(\d+)/\d+ \[", seen)
        return bool(counts) and int(counts[-1]) >= steps

    return _read_stderr_until(proc, counted, seconds)


def _read_stderr_until(proc: subprocess.Popen, done: Callable[[bytes], bool], seconds: float) -> str:
    seen, deadline = b"", time.monotonic() + seconds
    while not done(seen) and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        chunk = os.read(proc.stderr.fileno(), 4096) if ready else b""
        if ready and not chunk:
            break  # the child closed stderr: it has exited
        seen += chunk
    assert done(seen), seen.decode(errors="replace")[-2000:]
    return seen.decode(errors="replace")


class Hang(BaseException):
    """Raised by `time_limit`'s alarm; a BaseException, so no handler of the code under test can catch it."""


@contextmanager
def time_limit(seconds: int = 30) -> Iterator[None]:
    """Fail instead of hanging: SIGALRM interrupts a blocking call (a FIFO's open, a stuck loop)."""
    def alarm(*_: object) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def make_content(h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth gradient with a bright disk and a dark bar: structure for content losses."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([x, y, 1 - x * y], -1)
    img[(x - 0.4) ** 2 + (y - 0.35) ** 2 < 0.03] = (1.0, 0.9, 0.2)
    img[(y > 0.5) & (y < 0.55)] = 0.1
    return (img * 255).astype(np.uint8)


def as_tensor(array: np.ndarray) -> torch.Tensor:
    """An (H, W, 3) uint8 array -> the pipelines' (1, 3, H, W) float image in [0, 1]."""
    return torch.from_numpy(array).float().div(255).permute(2, 0, 1)[None]


def make_style(size: int = 64) -> np.ndarray:
    """Diagonal colored stripes with noise: strong, easy-to-match texture statistics."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:size, 0:size]
    stripes = (np.sin((x + y) * 0.6) > 0)[..., None]
    img = np.where(stripes, (0.9, 0.3, 0.1), (0.1, 0.2, 0.8)) + rng.normal(0, 0.05, (size, size, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def content_png(tmp_path: Path) -> Path:
    path = tmp_path / "content.png"
    Image.fromarray(make_content()).save(path)
    return path


@pytest.fixture
def style_png(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    Image.fromarray(make_style()).save(path)
    return path
