"""The quantity being attributed: the separation loss of one chunk, as a Captum forward function.

``loss(b) = 2^16 · mean_n (estimate[b, n] − target[b, n])^2`` with ``estimate = model(mixture, visual)``,
one scalar per chunk (published objective; the 2^16 factor only rescales, it keeps float32 gradients
of quiet stems away from underflow). Captum needs a module whose ``forward`` takes the attributed
inputs first and returns ``(B,)``; the target stem travels as an additional forward argument, which
Captum repeats for every integration step.
"""
from __future__ import annotations

import torch
from torch import nn

LOSS_SCALE = 2.0 ** 16


def scaled_mse(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B, N)``, ``(B, N)`` waves → ``(B,)`` MSE × 2^16."""
    return (estimate - target).pow(2).mean(dim=-1) * LOSS_SCALE


class SeparationObjective(nn.Module):
    """``forward(mixture (B, N), visual (B, 2, T, J) | None, target (B, N)) -> (B,)`` scaled MSE.

    Wraps a separation model with ``forward(mixture, visual) -> estimate``. The wrapped model is put
    in eval mode (BatchNorm statistics and dropout must not change between integration steps).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.eval()

    def forward(self, mixture: torch.Tensor, visual: torch.Tensor | None,
                target: torch.Tensor) -> torch.Tensor:
        return scaled_mse(self.model(mixture, visual), target)


class AudioOnlyObjective(nn.Module):
    """Same objective for a model without visual input: ``forward(mixture, target) -> (B,)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.eval()

    def forward(self, mixture: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return scaled_mse(self.model(mixture, None), target)
