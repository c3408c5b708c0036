"""Per-kind "attribution regions": how the saliency stage reads attributions of a condition input
back onto the units that input is made of (issue 16).

The keypoint kinds have their own reduction (per keypoint and body part, ``pipeline.song_saliency``)
and ``frames`` has pixel regions (``pixel_regions``). Other kinds register one
``AttributionRegions`` entry here, and the command-line run (``pipeline.run_saliency``) calls it
without branching on the kind's name:

=========== ======================= ==================================================================
kind        module                  regions
=========== ======================= ==================================================================
text        ``syllable_regions``    the sung syllables of the alignment (``text_input.per_syllable``)
scene_graph ``graph_regions``       the performers (nodes, per feature group) and their edges
=========== ======================= ==================================================================

An entry's ``song_saliency(model, chunks, config, device, context) -> dict`` attributes a song's
chunks (``chunks``: ``separation.data`` chunks with ``index``, ``mixture``, ``target`` ``(N,)`` and
``visual``: the kind's chunk input) and returns the JSON-ready song result plus a ``"figure_data"``
entry that the run pops before writing the JSON and hands to ``save_figures(result, figure_data,
figure_dir, stem, title) -> [paths]``. ``average(results) -> dict`` reduces the per-song results to
the run's ``_average.json``; ``save_average_figure(average, figure_dir, title)`` draws it (optional).

What every entry shares (``attribute_batch``, ``completeness``, ``convergence``): the objective
(``objective.SeparationObjective``: the chunk's MSE × 2^16), the methods and their conventions
(``attribution.attribute_chunks``; Integrated Gradients with the run's ``--num_steps`` and
``--target-relative-delta``, ``pipeline._attribute_converged``), the audio baseline
(``--audio-baseline``), and the completeness record per chunk: ``loss``, ``baseline_loss``,
``attribution_sum`` (signed sum over the mixture and the condition input), ``delta`` =
``attribution_sum − (loss − baseline_loss)``, ``relative_delta`` = ``|delta| / |loss −
baseline_loss|``, ``n_steps``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import baselines as bl
from .objective import SeparationObjective
from .summary import convergence_summary


@dataclass(frozen=True)
class RegionContext:
    """What a kind's song function needs besides the model, the chunks and the run's config."""
    song_dir: Path
    song: Any                      # core.metadata.SongInfo
    instrument: str
    options: dict                  # the model's encoder options (VoViTConfig.encoder_options)
    baseline: str                  # the condition input's baseline (the entry's ``baselines``)


@dataclass(frozen=True)
class AttributionRegions:
    kind: str
    baselines: tuple[str, ...]     # the condition input's Integrated-Gradients baselines
    describe: str                  # what the numbers are (the output's settings)
    song_saliency: Callable[..., dict]
    save_figures: Callable[..., list]
    average: Callable[[list[dict]], dict]
    save_average_figure: Callable[..., list] | None = None


def _text() -> AttributionRegions:
    from . import syllable_regions as sr

    return AttributionRegions("text", sr.TEXT_BASELINES, sr.DESCRIPTION, sr.text_song_saliency,
                              sr.save_syllable_figure, sr.average_text_songs,
                              sr.save_syllable_average_figure)


def _scene_graph() -> AttributionRegions:
    from . import graph_regions as gr

    return AttributionRegions("scene_graph", gr.GRAPH_BASELINES, gr.DESCRIPTION,
                              gr.graph_song_saliency, gr.save_graph_figure, gr.average_graph_songs)


# kind → entry factory (the modules are imported when a run needs them)
REGIONS: dict[str, Callable[[], AttributionRegions]] = {"text": _text, "scene_graph": _scene_graph}


def attribution_regions(kind: str | None) -> AttributionRegions | None:
    """The entry of a kind, None for a kind without one (keypoints, frames, audio only)."""
    factory = REGIONS.get(kind or "")
    return None if factory is None else factory()


# --- what the entries share ------------------------------------------------------------------------

def batch_tensors(chunks: list, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``mixture``, ``target`` ``(B, N)`` and the condition input ``(B, *input_shape)`` float32 on
    ``device``; a non-finite condition input is refused naming the chunks."""
    def stack(values):
        return torch.stack([torch.as_tensor(np.asarray(v), dtype=torch.float32)
                            for v in values]).to(device)

    condition = stack([c.visual for c in chunks])
    if not torch.isfinite(condition).all():
        raise ValueError(f"chunk(s) {[c.index for c in chunks]}: condition input contains NaN/inf")
    return stack([c.mixture for c in chunks]), stack([c.target for c in chunks]), condition


def attribute_batch(model: torch.nn.Module, mixture: torch.Tensor, condition: torch.Tensor,
                    target: torch.Tensor, condition_baseline: torch.Tensor, config, chunks: list):
    """One batch's attributions to ``(mixture, condition)`` with the run's method, steps and audio
    baseline (module docstring): ``(attribution.ChunkAttributions, steps used, relative deltas
    (B,) or None)``."""
    from .pipeline import _attribute_converged

    baselines = (bl.audio_baseline(mixture, config.audio_baseline), condition_baseline)
    return _attribute_converged(SeparationObjective(model.eval()), mixture, condition, target,
                                baselines, config, chunks)


def completeness(result, i: int, relative, n_steps: int) -> dict:
    """The per-chunk completeness record of chunk ``i`` of a batch (module docstring); empty for
    the one-pass methods."""
    if result.delta is None:
        return {}
    signed = float(result.audio[i].double().sum()) + float(result.visual[i].double().sum())
    return {"baseline_loss": float(result.baseline_loss[i]), "attribution_sum": signed,
            "delta": float(result.delta[i]), "relative_delta": float(relative[i]),
            "n_steps": int(n_steps)}


def convergence(per_chunk: list[dict]) -> dict | None:
    """The song's convergence record (as ``pipeline.song_saliency`` writes it), None without IG."""
    deltas = [e["delta"] for e in per_chunk if "delta" in e]
    if not deltas:
        return None
    relative = np.array([e["relative_delta"] for e in per_chunk], dtype=float)
    return {"definition": "delta = sum of attributions - (f(input) - f(baseline)), per chunk; "
                          "relative = |delta| / |f(input) - f(baseline)|",
            "mean_abs": float(np.abs(deltas).mean()), **convergence_summary(relative, deltas),
            "relative_per_chunk": relative, "n_steps": sorted({e["n_steps"] for e in per_chunk})}


def average_convergence(results: list[dict]) -> dict | None:
    """The songs' relative deltas pooled over all their chunks (as ``summary.average_songs``)."""
    relative = np.array([d for r in results for d in
                         ((r.get("convergence_delta") or {}).get("relative_per_chunk") or [])
                         if d is not None], dtype=float)
    deltas = [r["convergence_delta"]["max_abs"] for r in results
              if r.get("convergence_delta") and r["convergence_delta"].get("max_abs") is not None]
    return convergence_summary(relative, deltas) if deltas else None


def condition_share(audio: torch.Tensor, condition_abs: np.ndarray) -> np.ndarray:
    """``Σ|A_audio| / (Σ|A_audio| + Σ|A_condition|)`` per chunk: the audio share, ``(B,)``."""
    audio_abs = audio.double().abs().flatten(1).sum(dim=1).numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return audio_abs / (audio_abs + np.asarray(condition_abs, dtype=np.float64))


def mean_or_none(values) -> float | None:
    values = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else None
