"""One device rule for training and inference (`core.devices.pick_device`)."""

from __future__ import annotations

import pytest
import torch

from lmv_cli.core.devices import pick_device
from lmv_cli.core.errors import DeviceError


def test_a_named_cpu_and_auto_without_cuda_are_the_cpu() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert pick_device("auto") == pick_device(None) == torch.device("cpu")


def test_an_unknown_name_is_a_device_error_naming_it() -> None:
    with pytest.raises(DeviceError, match="gpu-please"):
        pick_device("gpu-please")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_device_error_for_training_and_inference_alike() -> None:
    for local_rank in (0, 1):
        with pytest.raises(DeviceError, match="cuda:1"):
            pick_device("cuda:1", local_rank)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_bare_cuda_is_this_ranks_gpu() -> None:
    assert pick_device("cuda", 0) == torch.device("cuda", 0)
