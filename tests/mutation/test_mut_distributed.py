"""`lmv_cli.core.train.distributed` pinned where mutation testing would find it unpinned (docs/testing.md "Mutation
testing"): the several-process branches of `wrap`, `broadcast`, `mean` and `gather`, which the selected
tests only reach in a world of one.

No process is spawned: the `torch.distributed` collectives (and `DistributedDataParallel`) are replaced by
recorders that play the other ranks' part, so the exact calls are pinned: `wrap` passes the model, the
CUDA device index as `device_ids` (None off CUDA) and `find_unused_parameters=True`; `broadcast` sends a
one-element list from rank 0 and returns its element; `mean` reduces a float64 tensor on the CUDA device,
else on the CPU (whatever other device the world names: Gloo reduces CPU tensors), and divides the sum by
the world size; `gather` hands `all_gather_object` a list of one slot per rank and its own value. A last
test runs `broadcast` and `mean` through a real one-process Gloo group."""

from __future__ import annotations

import pytest
import torch
import torch.distributed
import torch.nn.parallel

from lmv_cli.core.train import distributed as dist
from lmv_cli.core.train.distributed import World


class _FakeDDP:
    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


@pytest.fixture
def fake_ddp(monkeypatch):
    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", _FakeDDP)


def test_wrap_cpu_world_passes_model_no_device_ids_and_unused_parameters(fake_ddp):
    model = torch.nn.Linear(2, 2)
    out = dist.wrap(model, World(rank=1, size=2, local_rank=1, device=torch.device("cpu")))
    assert isinstance(out, _FakeDDP)
    assert len(out.args) == 1 and out.args[0] is model
    assert out.kwargs == {"device_ids": None, "find_unused_parameters": True}


def test_wrap_cuda_world_passes_this_ranks_device_index(fake_ddp):
    model = torch.nn.Linear(2, 2)
    out = dist.wrap(model, World(rank=3, size=4, local_rank=3, device=torch.device("cuda", 3)))
    assert len(out.args) == 1 and out.args[0] is model
    assert out.kwargs == {"device_ids": [3], "find_unused_parameters": True}
    assert out.kwargs["find_unused_parameters"] is True


def test_wrap_world_of_one_is_the_model_itself(fake_ddp):
    model = torch.nn.Linear(2, 2)
    assert dist.wrap(model, World()) is model


def test_broadcast_sends_one_element_list_from_rank_0(monkeypatch):
    calls = []

    def fake(object_list, src=None, group=None, device=None):
        calls.append((list(object_list), src))
        object_list[0] = "rank0's path"  # what rank 0 sent

    monkeypatch.setattr(torch.distributed, "broadcast_object_list", fake)
    out = dist.broadcast("my path", World(rank=1, size=2, local_rank=1))
    assert out == "rank0's path"
    assert calls == [(["my path"], 0)]


def _record_mean(monkeypatch, others: float):
    """Replace `torch.tensor` (so a CUDA device need not exist) and `all_reduce` (adds the other ranks'
    sum `others`); returns a dict of what was seen: the tensor's data and keywords, the reduced tensor, the op."""
    seen = {}
    real_tensor = torch.tensor

    def fake_tensor(data, **kwargs):
        seen["data"] = data
        seen["kwargs"] = kwargs
        return real_tensor(data, dtype=kwargs.get("dtype"))

    def fake_all_reduce(tensor, op=torch.distributed.ReduceOp.SUM, group=None, async_op=False):
        seen["reduced"] = tensor
        seen["op"] = op
        tensor += others

    monkeypatch.setattr(torch, "tensor", fake_tensor)
    monkeypatch.setattr(torch.distributed, "all_reduce", fake_all_reduce)
    return seen


def test_mean_reduces_float64_on_cpu_and_divides_by_world_size(monkeypatch):
    seen = _record_mean(monkeypatch, others=3.0 + 4.5)
    out = dist.mean(1.5, World(rank=0, size=3, device=torch.device("cpu")))
    assert out == pytest.approx(3.0)  # (1.5 + 3 + 4.5) / 3
    assert seen["data"] == [1.5]
    assert seen["kwargs"]["dtype"] is torch.float64
    assert seen["kwargs"]["device"] == "cpu" and isinstance(seen["kwargs"]["device"], str)
    assert seen["reduced"].dtype is torch.float64
    assert seen["op"] == torch.distributed.ReduceOp.SUM


def test_mean_keeps_float64_precision(monkeypatch):
    _record_mean(monkeypatch, others=0.0)
    # 1 + 2**-40 is not a float32; over two ranks whose other adds 0 the mean is half of it, exactly
    assert dist.mean(1.0 + 2.0**-40, World(rank=0, size=2)) == 0.5 + 2.0**-41


def test_mean_on_another_device_reduces_on_the_cpu(monkeypatch):
    seen = _record_mean(monkeypatch, others=2.0)
    out = dist.mean(4.0, World(rank=1, size=2, local_rank=1, device=torch.device("meta")))
    assert out == 3.0
    assert seen["kwargs"]["device"] == "cpu" and isinstance(seen["kwargs"]["device"], str)


def test_mean_on_cuda_reduces_on_this_ranks_gpu(monkeypatch):
    seen = _record_mean(monkeypatch, others=1.0)
    out = dist.mean(5.0, World(rank=2, size=4, local_rank=2, device=torch.device("cuda", 2)))
    assert out == 1.5  # (5 + 1) / 4
    assert seen["kwargs"]["device"] == torch.device("cuda", 2)
    assert seen["kwargs"]["dtype"] is torch.float64


def test_mean_of_a_real_tensor_on_cpu(monkeypatch):
    """Without the `torch.tensor` stand-in: the tensor really is built (a bad device string would raise)."""
    seen = {}

    def fake_all_reduce(tensor, op=torch.distributed.ReduceOp.SUM, group=None, async_op=False):
        seen["t"] = tensor.clone()
        tensor.mul_(2)  # another rank with the same value

    monkeypatch.setattr(torch.distributed, "all_reduce", fake_all_reduce)
    assert dist.mean(0.25, World(rank=0, size=2)) == 0.25
    assert seen["t"].dtype == torch.float64 and seen["t"].device == torch.device("cpu")
    assert seen["t"].tolist() == [0.25]


def test_gather_gives_one_slot_per_rank_and_own_value(monkeypatch):
    calls = []

    def fake(object_list, obj, group=None):
        calls.append((list(object_list), obj))
        for i in range(len(object_list)):
            object_list[i] = obj if i == 1 else f"rank {i}"

    monkeypatch.setattr(torch.distributed, "all_gather_object", fake)
    out = dist.gather({"psnr": 30.0}, World(rank=1, size=3, local_rank=1))
    assert out == ["rank 0", {"psnr": 30.0}, "rank 2"]
    assert calls == [([None, None, None], {"psnr": 30.0})]


def test_real_one_process_gloo_group(tmp_path):
    """A real Gloo group of one (the World says two, so the collective branch runs)."""
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1
    )
    try:
        world = World(rank=0, size=2)
        assert dist.broadcast({"run": "a"}, world) == {"run": "a"}
        # the sum over the one real rank, divided by the World's size
        assert dist.mean(3.0, world) == 1.5
    finally:
        torch.distributed.destroy_process_group()
