import os
import signal
import threading
import time

import pytest
import torch

from nst3d.errors import Nst3dError
from nst3d.runtime import fast_bf16, interrupt_held, resolve_device, use_bf16


def test_devices_resolve_or_give_clear_errors(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(Nst3dError, match="unknown device"):
        resolve_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(Nst3dError, match="sees no CUDA GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(Nst3dError, match=r"no GPU 'cuda:2' here.*cuda:0 to cuda:1"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("capability,expected", [((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_bf16_only_on_gpus_with_bf16_tensor_cores(monkeypatch, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert fast_bf16(torch.device("cuda")) is expected


@pytest.mark.parametrize("amx", [False, True])
def test_bf16_on_cpus_only_with_amx_and_precision_picks_it(monkeypatch, amx):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    cpu = torch.device("cpu")
    assert fast_bf16(cpu) is amx
    assert use_bf16("auto", cpu) is amx
    assert use_bf16("fp32", cpu) is False and use_bf16("bf16", cpu) is True
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")   # a torch without the probe: fp32
    assert fast_bf16(cpu) is False


def test_a_first_ctrl_c_while_finishing_is_held_and_a_second_stops(capsys, python_sigint):
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), interrupt_held() as held:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # Python runs the handler between bytecodes of the main thread
        assert held == [True] and "Ctrl-C again" in capsys.readouterr().err
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
        raise AssertionError("the second Ctrl-C did not stop the block")
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_interrupt_held_leaves_signals_alone_outside_the_main_thread():
    seen = []

    def worker():
        with interrupt_held() as held:
            seen.append((held, signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [([], signal.getsignal(signal.SIGINT))]


def test_interrupt_held_passes_a_second_ctrl_c_and_leaves_an_ignored_one_ignored(python_sigint):
    with pytest.raises(KeyboardInterrupt), interrupt_held(already=True):  # the steps already took the first
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupt_held() as held:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        assert held == []
    finally:
        signal.signal(signal.SIGINT, previous)
