"""The one optimization loop every job shares: L-BFGS or Adam, progress bar, best-so-far, Ctrl-C.

The caller supplies the parameters and an `objective()` that computes the loss from them (and returns
named terms for the progress bar and the history); the loop backpropagates it, unless the objective has
done that itself (then it returns the loss detached). One *step* is one evaluation of the objective and one
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


class Adam:
    """Adam (Kingma & Ba, 2015) with torch.optim.Adam's defaults and arithmetic, in a few lines: creating a
    torch.optim optimizer first imports torch's compiler stack, 2-4 s of a short CPU run."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
        self.count = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Evaluate closure() (which sets the gradients), then move every parameter that has one."""
        loss = closure()
        self.count += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1 ** self.count)
        root_correction = (1 - beta2 ** self.count) ** 0.5
        with torch.no_grad():
            for p, (mean, square) in zip(self.params, self.moments, strict=True):
                if p.grad is None:
                    continue
                mean.lerp_(p.grad, 1 - beta1)
                square.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.addcdiv_(mean, (square.sqrt() / root_correction).add_(self.eps), value=-step_size)
        return loss


def make_optimizer(name: str, params: list[torch.Tensor], lr: float | None) -> torch.optim.Optimizer | Adam:
    """L-BFGS does one objective evaluation per step (no line search, as in Gatys et al.); Adam as usual."""
    lr = DEFAULT_LR[name] if lr is None else lr
    if name == "lbfgs":
        return torch.optim.LBFGS(params, lr=lr, max_iter=1, history_size=50,
                                 tolerance_grad=-1.0, tolerance_change=-1.0)
    if name == "adam":
        return Adam(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")


@dataclass(frozen=True)
class LoopSettings:
    """How the loop runs: its length, optimizer and step size, what it keeps, how it shows progress."""

    steps: int
    optimizer: str = "lbfgs"
    lr: float | None = None                         # None: DEFAULT_LR of the optimizer
    keep_best: bool = True                          # return the lowest-loss parameters, else the last
    description: str = "optimizing"
    progress: bool = True


def optimize(params: list[torch.Tensor], objective: Objective, loop: LoopSettings,
             project: Callable[[], None] | None = None,
             callback: Callable[[int], None] | None = None) -> OptimizeResult:
    """Minimize objective() over params for loop.steps steps.

    project() runs after each update under no_grad (e.g. clamp pixels to [0, 1]); callback(step) runs
    after each step with 1-based step numbers (snapshots, GIF frames). With keep_best the parameters
    with the lowest evaluated loss are returned, else the last ones. Ctrl-C stops early and still returns.
    """
    run = _Run(params, objective, loop, project, callback)
    bar = tqdm(total=loop.steps, desc=loop.description, unit="step", disable=not loop.progress,
               dynamic_ncols=True, leave=True)
    try:
        for number in range(1, loop.steps + 1):
            if not run.step(number):
                run.result.diverged = True
                break
            bar.update(1)
            bar.set_postfix({k: f"{v:.3g}" for k, v in run.last_terms.items()}, refresh=False)
    except KeyboardInterrupt:
        run.result.interrupted = True
        notice("interrupted: keeping the result so far")
    finally:
        bar.close()
    if not loop.keep_best:
        run.result.params = [p.detach().clone() for p in params]
    run.result.seconds = time.perf_counter() - run.start
    return run.result


class _Run:
    """The state of one optimize() call: the optimizer, the best loss so far, the last terms."""

    def __init__(self, params: list[torch.Tensor], objective: Objective, loop: LoopSettings,
                 project: Callable[[], None] | None, callback: Callable[[int], None] | None):
        self.params, self.objective, self.loop = params, objective, loop
        self.project, self.callback = project, callback
        self.opt = make_optimizer(loop.optimizer, params, loop.lr)
        self.result = OptimizeResult(params=[p.detach().clone() for p in params])
        self.best = math.inf
        self.last_terms: dict[str, float] = {}
        self.start = time.perf_counter()

    def closure(self) -> torch.Tensor:
        """One evaluation of the objective with its gradients (L-BFGS may call it again)."""
        begin = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        loss, terms = self.objective()
        if loss.requires_grad:  # an objective may run its own backward and return the loss detached
            loss.backward()
        value = float(loss.detach())
        self.result.eval_seconds += time.perf_counter() - begin
        self.last_terms = {"loss": value, **terms}
        if self.loop.keep_best and value < self.best:
            self.best = value
            self.result.params = [p.detach().clone() for p in self.params]
        return loss

    def step(self, number: int) -> bool:
        """One update; False when the loss stopped being finite (then the last finite values are kept)."""
        before = None if self.loop.keep_best else [p.detach().clone() for p in self.params]
        self.opt.step(self.closure)
        loss = self.last_terms["loss"]
        if not math.isfinite(loss):
            notice(f"the loss became {loss} at step {number}; stopping with the last finite result (try a "
                   f"lower --lr)")
            if before is not None:
                with torch.no_grad():
                    for p, b in zip(self.params, before, strict=True):
                        p.copy_(b)
            return False
        self.result.history.append({**self.last_terms, "t": time.perf_counter() - self.start})
        begin = time.perf_counter()
        if self.project is not None:
            with torch.no_grad():
                self.project()
        if self.callback is not None:
            self.callback(number)
        self.result.callback_seconds += time.perf_counter() - begin
        return True
