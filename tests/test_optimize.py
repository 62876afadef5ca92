import pytest
import torch

from nst3d.optimize import IterateAverage


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
