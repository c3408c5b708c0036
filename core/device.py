"""``--device auto|cpu|cuda|cuda:N`` → a torch device, with a clear error when CUDA is absent.

``check_device_spec`` checks the spelling without importing torch, so stages that never use torch
(the MediaPipe pose backend) still reject a mistyped ``--device``/``DEVICE`` instead of ignoring it.

Inside a Ray task (``core.ray_executor``) the GPUs are the ones Ray assigned to the task: Ray shows
the task only those (``CUDA_VISIBLE_DEVICES``), so ``auto`` means "the assigned GPU if there is
one, else the CPU", and ``cuda``/``cuda:N`` mean the first assigned GPU (N numbers the GPUs of the
machine the stage was started on, which says nothing on another node).
"""
from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)

_SPEC = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")

# Set by core.ray_executor in a task: the GPU ids Ray assigned to it (empty: none). None = not in
# a Ray task.
task_gpu_ids: list | None = None


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
    if task_gpu_ids is not None and spec != "cpu":
        if task_gpu_ids:
            if spec not in ("auto", "cuda"):
                log.debug("--device %s in a Ray task: using the GPU Ray assigned (%s)", spec,
                          task_gpu_ids[0])
            spec = "cuda"
        elif spec == "auto":
            return torch.device("cpu")
        else:
            raise DeviceError(f"--device {spec}: this Ray task was given no GPU (the cluster "
                              f"decides; ask for one with --task-gpus)")
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


def wants_gpu(spec: str | None, cluster_has_gpu: bool) -> bool:
    """Whether a torch stage with device ``spec`` should ask the executor for a GPU."""
    spec = check_device_spec(spec)
    return spec.startswith("cuda") or (spec == "auto" and cluster_has_gpu)
