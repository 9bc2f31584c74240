"""The one rule that turns a device name into a `torch.device`, for training and inference alike."""

from __future__ import annotations

import torch

from lmv_cli.core.errors import DeviceError

DEVICE_NAMES = "auto, cpu, cuda, cuda:N"
"""What a device may be called (the wording of every device error)."""


def pick_device(spec: str | None, local_rank: int = 0) -> torch.device:
    """`None`/"auto": this rank's GPU (`cuda:local_rank`) when CUDA is available, else the CPU; otherwise
    the device named, with a bare "cuda" meaning this rank's GPU. Raises `DeviceError` for a name torch
    does not know or a CUDA device where CUDA is not available, before any work starts."""
    if spec in (None, "auto"):
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise DeviceError(f"not a device: {spec!r} (use {DEVICE_NAMES})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {spec!r} asked for, but CUDA is not available here (use cpu or auto)")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device
