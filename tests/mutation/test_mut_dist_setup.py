"""`lmv_cli.core.train.distributed.pick_device`, `setup` and `teardown` pinned where mutation testing would
find them unpinned (docs/testing.md "Mutation testing"); the selected tests never reach them.

No process is spawned and no group is joined: the torchrun environment (WORLD_SIZE, RANK, LOCAL_RANK) is
set or removed with monkeypatch, and `torch.cuda.is_available` / `set_device` and
`torch.distributed.is_initialized` / `init_process_group` / `destroy_process_group` are recorders.
Pinned: `pick_device` for 'auto' (this rank's GPU with CUDA, else the CPU), 'cpu', 'cuda' (this rank's
index), 'cuda:N' (its own index) and its two error messages word for word; `setup`'s defaults without
torchrun (a world of one, rank 0, local rank 0, no group), the World fields from the environment, the
exact `init_process_group` keywords (NCCL after `set_device` on CUDA, Gloo on the CPU), nothing joined
when the group already exists or the world is one; `teardown` destroying only an initialised group of a
world of several."""

from __future__ import annotations

import pytest
import torch
import torch.distributed

from lmv_cli.core.errors import ConfigError
from lmv_cli.core.train import distributed as dist
from lmv_cli.core.train.distributed import World


@pytest.fixture
def cuda(monkeypatch):
    state = {"available": True, "set_device": []}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: state["available"])
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: state["set_device"].append(d))
    return state


@pytest.fixture
def group(monkeypatch):
    state = {"initialized": False, "init": [], "destroy": 0}

    def init(*args, **kwargs):
        state["init"].append((args, kwargs))

    def destroy(*args, **kwargs):
        assert args == () and kwargs == {}
        state["destroy"] += 1

    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: state["initialized"])
    monkeypatch.setattr(torch.distributed, "init_process_group", init)
    monkeypatch.setattr(torch.distributed, "destroy_process_group", destroy)
    return state


@pytest.fixture
def no_torchrun(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def _env(monkeypatch, size, rank, local_rank):
    monkeypatch.setenv("WORLD_SIZE", size)
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("LOCAL_RANK", local_rank)


# pick_device

def test_auto_with_cuda_is_this_ranks_gpu(cuda):
    d = dist.pick_device("auto", 3)
    assert d == torch.device("cuda", 3)
    assert d.type == "cuda" and d.index == 3


def test_auto_without_cuda_is_cpu(cuda):
    cuda["available"] = False
    d = dist.pick_device("auto", 3)
    assert d == torch.device("cpu")
    assert d.type == "cpu" and d.index is None


def test_cpu_spec(cuda):
    assert dist.pick_device("cpu", 2) == torch.device("cpu")
    cuda["available"] = False
    d = dist.pick_device("cpu", 2)
    assert d.type == "cpu" and d.index is None


def test_cuda_without_index_takes_local_rank(cuda):
    d = dist.pick_device("cuda", 2)
    assert d.type == "cuda" and d.index == 2


def test_cuda_with_index_keeps_it(cuda):
    d = dist.pick_device("cuda:1", 5)
    assert d.type == "cuda" and d.index == 1
    d = dist.pick_device("cuda:0", 5)
    assert d.type == "cuda" and d.index == 0


def test_not_a_device_message(cuda):
    with pytest.raises(ConfigError) as info:
        dist.pick_device("gpu0", 0)
    assert str(info.value) == "'train.device': not a device: 'gpu0' (auto, cpu, cuda, cuda:N)"
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ is True


def test_cuda_unavailable_message(cuda):
    cuda["available"] = False
    with pytest.raises(ConfigError) as info:
        dist.pick_device("cuda", 0)
    assert str(info.value) == "'train.device' is 'cuda' but CUDA is not available here"
    with pytest.raises(ConfigError) as info:
        dist.pick_device("cuda:1", 0)
    assert str(info.value) == "'train.device' is 'cuda:1' but CUDA is not available here"


# setup

def test_setup_without_torchrun_is_a_world_of_one(no_torchrun, cuda, group):
    cuda["available"] = False
    w = dist.setup("auto")
    assert w == World(0, 1, 0, torch.device("cpu"))
    assert (w.rank, w.size, w.local_rank) == (0, 1, 0)
    assert w.device.type == "cpu"
    assert group["init"] == [] and cuda["set_device"] == []


def test_setup_without_torchrun_cuda_uses_local_rank_zero(no_torchrun, cuda, group):
    w = dist.setup("cuda")
    assert w.device.type == "cuda" and w.device.index == 0
    assert (w.rank, w.size, w.local_rank) == (0, 1, 0)
    assert group["init"] == [] and cuda["set_device"] == []


def test_setup_world_of_one_from_env_joins_nothing(monkeypatch, cuda, group):
    _env(monkeypatch, "1", "0", "0")
    w = dist.setup("cuda")
    assert w == World(0, 1, 0, torch.device("cuda", 0))
    assert group["init"] == [] and cuda["set_device"] == []


def test_setup_gloo_on_cpu(monkeypatch, cuda, group):
    _env(monkeypatch, "4", "3", "1")
    w = dist.setup("cpu")
    assert (w.rank, w.size, w.local_rank) == (3, 4, 1)
    assert w.device.type == "cpu"
    assert group["init"] == [((), {"backend": "gloo", "rank": 3, "world_size": 4})]
    assert cuda["set_device"] == []


def test_setup_gloo_on_auto_without_cuda(monkeypatch, cuda, group):
    cuda["available"] = False
    _env(monkeypatch, "2", "1", "1")
    w = dist.setup("auto")
    assert w == World(1, 2, 1, torch.device("cpu"))
    assert group["init"] == [((), {"backend": "gloo", "rank": 1, "world_size": 2})]


def test_setup_nccl_on_cuda(monkeypatch, cuda, group):
    _env(monkeypatch, "8", "5", "2")
    w = dist.setup("auto")
    assert (w.rank, w.size, w.local_rank) == (5, 8, 2)
    assert w.device.type == "cuda" and w.device.index == 2
    assert len(cuda["set_device"]) == 1
    d = cuda["set_device"][0]
    assert isinstance(d, torch.device) and d.type == "cuda" and d.index == 2
    assert group["init"] == [((), {"backend": "nccl", "rank": 5, "world_size": 8})]


def test_setup_nccl_explicit_index(monkeypatch, cuda, group):
    _env(monkeypatch, "2", "1", "1")
    w = dist.setup("cuda:0")
    assert w.device.type == "cuda" and w.device.index == 0
    assert cuda["set_device"] == [torch.device("cuda", 0)]
    assert group["init"] == [((), {"backend": "nccl", "rank": 1, "world_size": 2})]


def test_setup_group_already_initialized_joins_nothing(monkeypatch, cuda, group):
    group["initialized"] = True
    _env(monkeypatch, "2", "1", "0")
    w = dist.setup("cuda")
    assert w == World(1, 2, 0, torch.device("cuda", 0))
    assert group["init"] == [] and cuda["set_device"] == []


def test_setup_bad_device_raises_before_joining(monkeypatch, cuda, group):
    cuda["available"] = False
    _env(monkeypatch, "2", "0", "0")
    with pytest.raises(ConfigError, match="CUDA is not available here"):
        dist.setup("cuda")
    assert group["init"] == []


# teardown

def test_teardown_destroys_an_initialized_group(group):
    group["initialized"] = True
    dist.teardown(World(0, 2, 0, torch.device("cpu")))
    assert group["destroy"] == 1


def test_teardown_without_group_does_nothing(group):
    dist.teardown(World(0, 2, 0, torch.device("cpu")))
    assert group["destroy"] == 0


def test_teardown_world_of_one_does_nothing(group):
    group["initialized"] = True
    dist.teardown(World(0, 1, 0, torch.device("cpu")))
    assert group["destroy"] == 0
