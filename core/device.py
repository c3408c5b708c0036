"""``--device auto|cpu|cuda|cuda:N`` → a torch device, with a clear error when CUDA is absent.

``check_device_spec`` checks the spelling without importing torch, so stages that never use torch
(the MediaPipe pose backend) still reject a mistyped ``--device``/``DEVICE`` instead of ignoring it.
"""
from __future__ import annotations

import re

_SPEC = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


class DeviceError(ValueError):
    """A ``--device``/``DEVICE`` value is misspelt or names a device this machine lacks."""


def check_device_spec(spec: str | None) -> str:
    """The normalised spec (``auto``, ``cpu``, ``cuda`` or ``cuda:N``); ``DeviceError`` otherwise."""
    normal = (spec or "auto").strip().lower()
    if not _SPEC.match(normal):
        raise DeviceError(f"unknown device {spec!r} (--device or DEVICE): use auto, cpu, cuda or "
                          f"cuda:N")
    return normal


def resolve_device(spec: str | None = "auto"):
    import torch

    spec = check_device_spec(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {spec} asked for, but torch sees no CUDA GPU "
                          f"(torch {torch.__version__}); use --device cpu or auto")
    device = torch.device(spec)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"--device {spec}: only {torch.cuda.device_count()} GPU(s) visible")
    return device
