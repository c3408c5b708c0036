"""``--device auto|cpu|cuda|cuda:N`` → a torch device, with a clear error when CUDA is absent."""
from __future__ import annotations


def resolve_device(spec: str | None = "auto"):
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {spec} asked for, but torch sees no CUDA GPU "
                               f"(torch {torch.__version__}); use --device cpu or auto")
        device = torch.device(spec)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(f"--device {spec}: only {torch.cuda.device_count()} GPU(s) visible")
        return device
    raise ValueError(f"unknown device {spec!r}: use auto, cpu, cuda or cuda:N")
