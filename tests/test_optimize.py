import pytest
import torch

from nst3d.optimize import Adam, IterateAverage


def test_iterate_average_is_an_exponential_moving_average_of_copies():
    average, x = IterateAverage(0.5), torch.tensor([1.0])
    average.update(x)
    x += 2                                       # in-place changes to the iterate do not leak in
    assert average.value.item() == 1.0
    average.update(x)                            # 0.5 * 1 + 0.5 * 3
    average.update(torch.tensor([5.0]))          # 0.5 * 2 + 0.5 * 5
    assert average.value.item() == pytest.approx(3.5)
    with pytest.raises(ValueError):
        IterateAverage(1.0)


def test_adam_takes_the_same_steps_as_torch_adam():
    # Two parameters (one without a gradient: left alone) on a non-quadratic loss, 20 steps.
    target = torch.linspace(-1, 2, 12).view(3, 4)
    ours, theirs = torch.zeros(3, 4, requires_grad=True), torch.zeros(3, 4, requires_grad=True)
    idle = torch.ones(2, requires_grad=True)
    mine, reference = Adam([ours, idle], lr=0.1), torch.optim.Adam([theirs], lr=0.1)

    def closure(x: torch.Tensor, opt) -> torch.Tensor:
        opt.zero_grad()
        loss = ((x - target) ** 4).sum() + x.sin().sum()
        loss.backward()
        return loss

    for _ in range(20):
        mine.step(lambda: closure(ours, mine))
        reference.step(lambda: closure(theirs, reference))
    assert torch.equal(ours, theirs) and not torch.equal(ours, torch.zeros(3, 4))
    assert torch.equal(idle, torch.ones(2))
