"""The process world of `lmv train` (`lmv_cli.core.train.distributed`): which device `train.device`
picks, what `setup` makes of the torchrun environment, and the collectives in a real one-process Gloo
group whose World claims two ranks (so the several-process branches run). Two real ranks training
together are in test_ddp.py."""

from __future__ import annotations

import pytest
import torch
import torch.distributed

from lmv_cli.core.devices import pick_device
from lmv_cli.core.errors import ConfigError, DeviceError
from lmv_cli.core.train import distributed as dist
from lmv_cli.core.train.distributed import World

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")


@pytest.fixture
def no_torchrun(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def group(tmp_path):
    """A real Gloo process group of this one process."""
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    yield
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


@no_cuda
@pytest.mark.parametrize("spec", ["auto", "cpu"])
def test_without_cuda_auto_and_cpu_pick_the_cpu(spec):
    assert pick_device(spec, 3) == torch.device("cpu")


@pytest.mark.parametrize(("spec", "device"), [("auto", "cuda:3"), ("cuda", "cuda:3"), ("cuda:1", "cuda:1"),
                                              ("cpu", "cpu")])
def test_with_cuda_a_rank_takes_its_own_gpu_unless_told_which(monkeypatch, spec, device):
    # no GPU here: only the availability CUDA reports is simulated, no device is touched
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device(spec, 3) == torch.device(device)


def test_a_spec_that_is_no_device_is_named_with_the_choices():
    with pytest.raises(DeviceError, match=r"'gpu0'.*auto, cpu, cuda, cuda:N"):
        pick_device("gpu0", 0)


@no_cuda
@pytest.mark.parametrize("spec", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_refused_naming_the_spec(spec):
    with pytest.raises(DeviceError, match=rf"'{spec}'.*CUDA is not available"):
        pick_device(spec, 0)


@no_cuda
def test_setup_without_torchrun_is_a_world_of_one_on_the_cpu(no_torchrun):
    assert dist.setup("auto") == World(0, 1, 0, torch.device("cpu"))
    assert not torch.distributed.is_initialized()


def test_setup_reads_the_torchrun_environment_and_joins_no_second_group(monkeypatch, group):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert dist.setup("cpu") == World(3, 4, 1, torch.device("cpu"))


def test_collectives_of_a_world_of_several(group):
    world = World(rank=0, size=2)
    assert dist.broadcast({"run": "a"}, world) == {"run": "a"}
    # the sum over the one real rank divided by the World's size, in float64 (1 + 2**-40 is no float32)
    assert dist.mean(3.0, world) == 1.5
    assert dist.mean(1.0 + 2.0**-40, world) == 0.5 + 2.0**-41
    model = torch.nn.Linear(2, 2)
    wrapped = dist.wrap(model, world)
    assert isinstance(wrapped, torch.nn.parallel.DistributedDataParallel) and wrapped.module is model


def test_a_world_of_one_passes_values_and_the_model_through():
    world = World()
    model = torch.nn.Linear(2, 2)
    assert dist.wrap(model, world) is model
    assert dist.broadcast("p", world) == "p" and dist.mean(2.5, world) == 2.5 and dist.gather(7, world) == [7]


def test_teardown_leaves_the_group_only_for_a_world_of_several(group):
    dist.teardown(World(0, 1, 0, torch.device("cpu")))
    assert torch.distributed.is_initialized()
    dist.teardown(World(0, 2, 0, torch.device("cpu")))
    assert not torch.distributed.is_initialized()
    dist.teardown(World(0, 2, 0, torch.device("cpu")))  # no group left: nothing to do, no error
