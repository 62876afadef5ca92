"""Run records: the JSON written next to every output (parameters, backbone, seed, timings, losses)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

from nst3d.io import atomic_output
from nst3d.version import __version__


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return str(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return value


def write_record(record: dict, path: str | os.PathLike) -> Path:
    """Write a run record as pretty JSON, atomically, with version and machine facts added."""
    full = {"nst3d_version": __version__, "torch_version": torch.__version__,
            "machine": platform.machine(), **record}
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(full), indent=2) + "\n")
    return Path(path)
