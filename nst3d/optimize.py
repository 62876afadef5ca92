"""The one optimization loop every job shares: L-BFGS or Adam, progress bar, best-so-far, Ctrl-C.

The caller supplies the parameters and an `objective()` that computes the loss from them (and returns
named terms for the progress bar and the history). One *step* is one evaluation of the objective and one
parameter update, for both optimizers, so step counts and timings compare directly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from nst3d.runtime import notice

Objective = Callable[[], tuple[torch.Tensor, dict[str, float]]]
OPTIMIZERS = ("lbfgs", "adam")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}


@dataclass
class OptimizeResult:
    """What a run produced: the kept parameters and how it went."""

    params: list[torch.Tensor]                      # best (or last) values, detached
    history: list[dict[str, float]] = field(default_factory=list)  # terms per step: 'loss', ..., 't'

    interrupted: bool = False                       # stopped by Ctrl-C
    diverged: bool = False                          # stopped by a non-finite loss (params: last finite)
    seconds: float = 0.0                            # wall time of the whole loop
    eval_seconds: float = 0.0                       # of which objective + backward
    callback_seconds: float = 0.0                   # of which project() + callback()


class IterateAverage:
    """Exponential moving average of a tensor over optimization steps (Polyak averaging).

    Stochastic objectives (random views per step) make Adam's iterates jitter around the optimum; their
    average sits closer to it. `decay` is the weight kept by the old average at each update.
    """

    def __init__(self, decay: float):
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.value: torch.Tensor | None = None

    def update(self, current: torch.Tensor) -> None:
        """Fold in the current iterate (the first one starts the average)."""
        if self.value is None:
            self.value = current.detach().clone()
        else:
            self.value.lerp_(current.detach(), 1 - self.decay)


def make_optimizer(name: str, params: list[torch.Tensor], lr: float | None) -> torch.optim.Optimizer:
    """L-BFGS does one objective evaluation per step (no line search, as in Gatys et al.); Adam as usual."""
    lr = DEFAULT_LR[name] if lr is None else lr
    if name == "lbfgs":
        return torch.optim.LBFGS(params, lr=lr, max_iter=1, history_size=50,
                                 tolerance_grad=-1.0, tolerance_change=-1.0)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")


def optimize(params: list[torch.Tensor], objective: Objective, steps: int, optimizer: str = "lbfgs",
             lr: float | None = None, project: Callable[[], None] | None = None,
             callback: Callable[[int], None] | None = None, keep_best: bool = True,
             description: str = "optimizing", progress: bool = True) -> OptimizeResult:
    """Minimize objective() over params for `steps` steps.

    project() runs after each update under no_grad (e.g. clamp pixels to [0, 1]); callback(step) runs
    after each step with 1-based step numbers (snapshots, GIF frames). With keep_best the parameters
    with the lowest evaluated loss are returned, else the last ones. Ctrl-C stops early and still returns.
    """
    opt = make_optimizer(optimizer, params, lr)
    result = OptimizeResult(params=[p.detach().clone() for p in params])
    best = math.inf
    last_terms: dict[str, float] = {}

    def closure() -> torch.Tensor:
        nonlocal best, last_terms
        begin = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss, terms = objective()
        loss.backward()
        value = float(loss.detach())
        result.eval_seconds += time.perf_counter() - begin
        last_terms = {"loss": value, **terms}
        if keep_best and value < best:
            best = value
            result.params = [p.detach().clone() for p in params]
        return loss

    start = time.perf_counter()
    bar = tqdm(total=steps, desc=description, unit="step", disable=not progress, dynamic_ncols=True,
               leave=True)
    try:
        for step in range(1, steps + 1):
            before = None if keep_best else [p.detach().clone() for p in params]
            opt.step(closure)
            if not math.isfinite(last_terms["loss"]):
                notice(f"the loss became {last_terms['loss']} at step {step}; stopping with the last finite "
                       f"result (try a lower --lr)")
                if before is not None:
                    with torch.no_grad():
                        for p, b in zip(params, before, strict=True):
                            p.copy_(b)
                result.diverged = True
                break
            result.history.append({**last_terms, "t": time.perf_counter() - start})
            begin = time.perf_counter()
            if project is not None:
                with torch.no_grad():
                    project()
            if callback is not None:
                callback(step)
            result.callback_seconds += time.perf_counter() - begin
            bar.update(1)
            bar.set_postfix({k: f"{v:.3g}" for k, v in last_terms.items()}, refresh=False)
    except KeyboardInterrupt:
        result.interrupted = True
        notice("interrupted: keeping the result so far")
    finally:
        bar.close()
    if not keep_best:
        result.params = [p.detach().clone() for p in params]
    result.seconds = time.perf_counter() - start
    return result
