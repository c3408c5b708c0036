"""Model-parameter randomisation test (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018).

An attribution that explains the *model* must change when the model's learned weights are destroyed.
The cascading test re-initialises the layers cumulatively, starting at the output, recomputes the
attribution after each step, and compares it with the trained model's by Spearman rank correlation,
of the signed values and of their magnitudes. An attribution that stays highly correlated with the
trained one after every layer is re-initialised reflects the input (or the baseline), not what the
model learned; the paper found this for gradient × input and guided back-propagation.

Pieces (pure functions over modules and arrays; the command line is ``gradient_saliency.sanity``):

* ``execution_order`` — the model's parameterised modules in the order their forward finishes on
  an example input (forward hooks), so "from the output side" follows the data flow, not the order
  of attribute definition;
* ``cascade_groups`` — those modules grouped into layers by their first ``depth`` name components
  (``audio_network.fusion_module.decoder`` for depth 3), ordered output side first: a group's
  position is its last-finishing member's;
* ``reinitialise`` — fresh initial values for given modules: ``reset_parameters`` /
  ``_reset_parameters`` where the module has one, else N(0, 0.02²) for its learned parameters;
  BatchNorm running statistics reset; parameters that are not learned (``requires_grad=False``, e.g.
  a fixed sinusoidal position table) are kept;
* ``cascading_randomisation`` — yields the cumulatively re-initialised copy after each group;
  ``reinitialised_copy`` re-initialises everything at once (``--randomise-weights``);
* ``rank_correlation`` (Spearman, average ranks for ties) and ``randomisation_test``, which runs the
  cascade for any ``attribute(model) -> array`` and says whether the attribution passed.

Pass rule (``randomisation_test``): once every group is re-initialised, both ``|ρ(signed)|`` and
``ρ(|attribution|)`` are below ``max_correlation`` (default 0.5). Entries outside ``mask`` (missing
keypoints) are left out of every correlation, and so are entries that are exactly 0 in both
attributions compared: a tie at 0 says nothing about agreement (an input entry the network does
not read, e.g. the frames a frames encoder skips or that lose a max-pool over time, or one equal to
the Integrated-Gradients baseline); each step records how many ``entries`` it compared.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

MAX_CORRELATION = 0.5
INIT_STD = 0.02


def _owns_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or \
        any(True for _ in module.buffers(recurse=False)) and hasattr(module, "reset_running_stats")


def parameterised_modules(model: nn.Module) -> list[str]:
    """Names of the modules that own parameters (or BatchNorm statistics), in definition order."""
    return [name for name, module in model.named_modules() if _owns_state(module)]


def execution_order(model: nn.Module, *example_inputs) -> list[str]:
    """Parameterised modules in the order their forward finished on ``example_inputs`` (first
    finish counts; modules never called are left out: they cannot change the output)."""
    order: list[str] = []
    seen: set[str] = set()
    handles = []
    for name in parameterised_modules(model):
        def hook(_module, _inputs, _output, name=name):
            if name not in seen:
                seen.add(name)
                order.append(name)
        handles.append(model.get_submodule(name).register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(*example_inputs)
    finally:
        for handle in handles:
            handle.remove()
    return order


def cascade_groups(order: list[str], depth: int | None = 3) -> list[tuple[str, list[str]]]:
    """``(group name, member module names)`` output side first (module docstring). ``depth=None``:
    every module is its own group. A module nested in another's group (same prefix) joins it."""
    position: dict[str, int] = {}
    members: dict[str, list[str]] = {}
    for index, name in enumerate(order):
        key = name if depth is None else ".".join(name.split(".")[:depth])
        members.setdefault(key, []).append(name)
        position[key] = index
    return [(key, members[key]) for key in sorted(position, key=position.get, reverse=True)]


def reinitialise(model: nn.Module, names, generator_seed: int) -> None:
    """Fresh initial values, in place, for the modules ``names`` of ``model`` (module docstring)."""
    state = torch.random.get_rng_state()
    torch.manual_seed(generator_seed)
    try:
        for name in names:
            module = model.get_submodule(name)
            frozen = {key: p.detach().clone() for key, p in module.named_parameters(recurse=False)
                      if not p.requires_grad}
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
            reset = getattr(module, "reset_parameters", None) or \
                getattr(module, "_reset_parameters", None)
            with torch.no_grad():
                if callable(reset):
                    reset()
                # parameters the module's own reset left alone (or no reset at all)
                handled = callable(reset)
                for key, parameter in module.named_parameters(recurse=False):
                    if parameter.requires_grad and not (handled and _reset_covers(module, key)):
                        parameter.normal_(0.0, INIT_STD)
                for key, value in frozen.items():
                    getattr(module, key).copy_(value)
    finally:
        torch.random.set_rng_state(state)


def _reset_covers(module: nn.Module, key: str) -> bool:
    """Whether ``module``'s own reset re-initialises its parameter ``key`` (torch's built-in layers
    do for all of theirs; a custom module with an extra parameter, e.g. ST-GCN's edge importance,
    does not)."""
    return type(module).__module__.startswith("torch.nn")


def cascading_randomisation(model: nn.Module, groups: list[tuple[str, list[str]]], seed: int = 0
                            ) -> Iterator[tuple[str, nn.Module]]:
    """Deep-copy ``model`` once and re-initialise ``groups`` one after another (cumulatively); yields
    ``(group name, the copy so far)`` after each step (the same object, changed in place)."""
    fresh = copy.deepcopy(model)
    for step, (name, members) in enumerate(groups):
        reinitialise(fresh, members, seed + step)
        yield name, fresh


def reinitialised_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` with every parameterised module re-initialised (module docstring)."""
    fresh = copy.deepcopy(model)
    reinitialise(fresh, parameterised_modules(fresh), seed)
    return fresh


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equally shaped arrays (flattened; ties get average ranks);
    NaN when either is constant."""
    from scipy.stats import rankdata

    a = rankdata(np.asarray(a, dtype=np.float64).ravel())
    b = rankdata(np.asarray(b, dtype=np.float64).ravel())
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def compared_entries(reference: np.ndarray, other: np.ndarray, mask: np.ndarray | None = None
                     ) -> np.ndarray:
    """The entries two attributions are compared on: inside ``mask`` and not 0 in both (bool)."""
    keep = (np.asarray(reference) != 0) | (np.asarray(other) != 0)
    if mask is not None:
        keep &= np.broadcast_to(np.asarray(mask, dtype=bool), keep.shape)
    return keep


def compare(reference: np.ndarray, other: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Spearman ρ of the signed values and of the magnitudes, over the ``compared_entries``."""
    reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    keep = compared_entries(reference, other, mask)
    reference, other = reference[keep], other[keep]
    return {"spearman_signed": rank_correlation(reference, other),
            "spearman_abs": rank_correlation(np.abs(reference), np.abs(other))}


def randomisation_test(model: nn.Module, attribute: Callable[[nn.Module], np.ndarray],
                       groups: list[tuple[str, list[str]]], mask: np.ndarray | None = None,
                       seed: int = 0, max_correlation: float = MAX_CORRELATION) -> dict:
    """The cascading test: ``attribute(model)`` → array, for the trained model and after each
    cumulative re-initialisation. Returns ``{"steps": [{"step", "group", "modules",
    "spearman_signed", "spearman_abs", "entries"}], "passed", "max_correlation", "final"}``."""
    if not groups:
        raise ValueError("nothing to re-initialise: the model has no parameterised module")
    trained = np.asarray(attribute(model), dtype=np.float64)
    steps = []
    for step, (name, randomised) in enumerate(cascading_randomisation(model, groups, seed), 1):
        attribution = np.asarray(attribute(randomised), dtype=np.float64)
        steps.append({"step": step, "group": name, "modules": len(groups[step - 1][1]),
                      **compare(trained, attribution, mask),
                      "entries": int(compared_entries(trained, attribution, mask).sum())})
    final = steps[-1]
    signed, absolute = final["spearman_signed"], final["spearman_abs"]
    passed = bool(np.isfinite(signed) and np.isfinite(absolute)
                  and abs(signed) < max_correlation and absolute < max_correlation)
    return {"steps": steps, "final": {"spearman_signed": signed, "spearman_abs": absolute},
            "passed": passed, "max_correlation": max_correlation,
            "rule": f"after every group is re-initialised, |rho(signed)| and rho(|attribution|) "
                    f"< {max_correlation}"}
