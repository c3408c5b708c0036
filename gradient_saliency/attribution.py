"""Captum attributions of the chunk loss to the mixture wave and the keypoint tensor.

Methods (result-folder names as published):

* ``integrated_gradients`` (Sundararajan et al. 2017): ``IG_i(x) = (x_i − x'_i) ·
  ∫_0^1 ∂f(x' + α(x − x'))/∂x_i dα``, approximated by Captum with ``n_steps`` points (Gauss–Legendre by
  default). Completeness: ``Σ_i IG_i = f(x) − f(x')``; Captum's convergence delta is
  ``Σ_i IG_i − (f(x) − f(x'))`` per chunk and is reported. The steps are evaluated
  ``internal_batch_size`` model inputs at a time (chunks × steps per forward pass).
* ``gradient_saliency``: vanilla gradients ``|∂f/∂x_i|`` (Captum ``Saliency``).
* ``gradient_input_saliency``: gradient × input ``x_i · ∂f/∂x_i`` (Captum ``InputXGradient``).

``f`` is ``objective.SeparationObjective``: the chunk's MSE × 2^16.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency

METHODS = ("integrated_gradients", "gradient_saliency", "gradient_input_saliency")


@dataclass
class ChunkAttributions:
    """Attributions for a batch of B chunks (tensors on the CPU, float32).

    ``audio`` (B, N) per mixture sample; ``visual`` (B, 2, T, J) per coordinate, frame and joint
    (None for an audio-only model); ``loss`` (B,) f(x); for Integrated Gradients also
    ``baseline_loss`` (B,) f(x') and ``delta`` (B,) the completeness error.
    """
    audio: torch.Tensor
    visual: torch.Tensor | None
    loss: torch.Tensor
    baseline_loss: torch.Tensor | None = None
    delta: torch.Tensor | None = None


def attribute_chunks(objective: torch.nn.Module, mixture: torch.Tensor, visual: torch.Tensor | None,
                     target: torch.Tensor, method: str = "integrated_gradients",
                     baselines: tuple[torch.Tensor, ...] | None = None, n_steps: int = 25,
                     internal_batch_size: int | None = None) -> ChunkAttributions:
    """Attribute ``objective(mixture, visual, target)`` (B,) to the mixture and keypoints.

    For an audio-only model pass ``visual=None`` and an ``objective.AudioOnlyObjective``.
    All tensors must already be on the objective's device. ``baselines`` matches the attributed
    inputs, ``(audio_baseline, visual_baseline)`` (only used by Integrated Gradients; default zeros).
    ``internal_batch_size``: model inputs per forward pass for Integrated Gradients, at least B
    (None = all B × n_steps at once).
    """
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}: expected one of {METHODS}")
    inputs = (mixture,) if visual is None else (mixture, visual)
    forward_args = (target,)
    with torch.no_grad():
        loss = objective(*inputs, *forward_args).detach()
    baseline_loss = delta = None
    if method == "integrated_gradients":
        if baselines is None:
            baselines = tuple(torch.zeros_like(x) for x in inputs)
        if internal_batch_size is not None:
            internal_batch_size = max(int(internal_batch_size), mixture.shape[0])
        attributions, delta = IntegratedGradients(objective).attribute(
            inputs, baselines=tuple(baselines), additional_forward_args=forward_args,
            n_steps=n_steps, internal_batch_size=internal_batch_size,
            return_convergence_delta=True)
        with torch.no_grad():
            baseline_loss = objective(*baselines, *forward_args).detach().cpu()
        delta = delta.detach().cpu()
    elif method == "gradient_saliency":
        inputs = tuple(x.detach().requires_grad_() for x in inputs)
        attributions = Saliency(objective).attribute(inputs, additional_forward_args=forward_args,
                                                     abs=True)
    else:
        inputs = tuple(x.detach().requires_grad_() for x in inputs)
        attributions = InputXGradient(objective).attribute(inputs,
                                                           additional_forward_args=forward_args)
    attributions = tuple(a.detach().float().cpu() for a in attributions)
    return ChunkAttributions(audio=attributions[0],
                             visual=attributions[1] if visual is not None else None,
                             loss=loss.float().cpu(), baseline_loss=baseline_loss, delta=delta)
