"""The same seed gives the same image and texture as the pinned runs (refactors must not change results)."""

import json

import pytest
from pinned import PINS, runs, summary


@pytest.fixture(scope="module")
def outputs():
    return runs()


@pytest.mark.parametrize("name", ["transfer", "reconstruct", "texture", "mesh"])
def test_pinned_output(outputs, name):
    pinned = json.loads(PINS.read_text())[name]
    assert list(outputs[name].shape) == pinned["shape"]
    assert summary(outputs[name]) == pytest.approx(pinned["summary"], abs=2e-4)
