"""Model-parameter randomisation (Adebayo et al., "Sanity checks for saliency maps", 2018).

A saliency method that explains the *model* must give clearly different attributions once the
trained weights are replaced by freshly initialised ones; if it does not, the maps reflect the input
alone. ``reinitialised_copy`` gives the re-initialised model to compare with.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


def reinitialised_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` whose every sub-module with ``reset_parameters`` is re-initialised
    (PyTorch's default initialisers) under ``torch.manual_seed(seed)``; BatchNorm running statistics
    are reset too. Parameters of modules without ``reset_parameters`` are redrawn from N(0, 0.02²)."""
    fresh = copy.deepcopy(model)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        handled: set[int] = set()
        for module in fresh.modules():
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
            if callable(getattr(module, "reset_parameters", None)):
                module.reset_parameters()
                handled.update(id(p) for p in module.parameters(recurse=False))
        with torch.no_grad():
            for parameter in fresh.parameters():
                if id(parameter) not in handled:
                    parameter.normal_(0.0, 0.02)
    finally:
        torch.random.set_rng_state(state)
    return fresh
