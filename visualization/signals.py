"""Per-frame values shown over the video, computed once per song before any frame is drawn.

Formulas:

* **Per-song normalisation** of a feature x (one value per video frame, NaN = unknown), for the live
  bars and the time-series figure: with ``lo`` and ``hi`` the 1st and 99th percentiles of the finite
  values of the whole song, ``n_f = clip((x_f - lo) / (hi - lo), 0, 1)``; percentiles rather than
  min/max so one outlier frame does not flatten the bar. ``hi == lo`` gives 0; NaN stays NaN.
* **Strong-window coverage**: a correlation window w starts at frame ``s_w`` and spans
  ``window_frames`` frames, so it covers frames ``s_w <= f < s_w + window_frames``; frame f is
  covered when at least one window with ``strong[w]`` covers it.
* **Correlation highlight** of a performer's body part: the union of the coverages of every own-audio
  pair (``control`` false) of that performer and part (``correlations.json``). A pair whose
  ``body_part`` is null (whole-body motion) lights the performer's name tag instead of a part.
* **PCA brightness** of keypoint k: with ``a_k = |loading of k on the first principal component|``
  and ``a_max`` the largest of them, ``b_k = floor + (1 - floor) * a_k / a_max``; points not in the PCA
  keep ``b = floor`` (they did not contribute). ``floor`` = 0.45 keeps every point visible.
"""
from __future__ import annotations

import logging
from typing import Iterable

import numpy as np

from core.keypoints import BODY_PARTS, NUM_KEYPOINTS

log = logging.getLogger(__name__)

PCA_BRIGHTNESS_FLOOR = 0.45
WHOLE_BODY = "whole_body"


def normalise_per_song(values: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> np.ndarray:
    """``values`` (F,) any unit → (F,) float32 in [0, 1] (module docstring), NaN kept."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.full(values.shape, np.nan, dtype=np.float32)
    lo, hi = np.percentile(finite, [low_pct, high_pct])
    if not hi > lo:
        return np.where(np.isfinite(values), 0.0, np.nan).astype(np.float32)
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def fit_length(values: np.ndarray, n_frames: int) -> np.ndarray:
    """Cut or NaN-pad a per-frame series (F,) to ``n_frames`` (features and video may differ by a frame)."""
    values = np.asarray(values, dtype=np.float64)[:n_frames]
    if len(values) < n_frames:
        values = np.concatenate([values, np.full(n_frames - len(values), np.nan)])
    return values


def window_coverage(window_start_frames: Iterable[int], window_frames: int, strong: Iterable[bool],
                    n_frames: int) -> np.ndarray:
    """(n_frames,) bool: frames covered by at least one strong window (module docstring)."""
    starts = np.asarray(list(window_start_frames), dtype=np.int64)
    strong = np.asarray([bool(s) for s in strong], dtype=bool)
    if len(starts) != len(strong):
        raise ValueError(f"{len(strong)} strong flags for {len(starts)} windows")
    starts = starts[strong]
    # +1 where a window begins, -1 where it ends: the running sum counts covering windows
    delta = np.zeros(n_frames + 1, dtype=np.int64)
    np.add.at(delta, np.clip(starts, 0, n_frames), 1)
    np.add.at(delta, np.clip(starts + int(window_frames), 0, n_frames), -1)
    return np.cumsum(delta[:-1]) > 0


def part_highlights(correlations: dict, performer: str, n_frames: int) -> dict[str, np.ndarray]:
    """``{part or WHOLE_BODY: (n_frames,) bool}`` for one performer's own-audio strong windows."""
    starts = correlations.get("window_start_frames", [])
    window_frames = int(correlations.get("window_frames", 0))
    masks: dict[str, np.ndarray] = {}
    for pair in correlations.get("pairs", []):
        if pair.get("performer") != performer or pair.get("control"):
            continue
        part = pair.get("body_part") or WHOLE_BODY
        if part != WHOLE_BODY and part not in BODY_PARTS:
            log.debug("correlation pair with unknown body part %r ignored", part)
            continue
        coverage = window_coverage(starts, window_frames, pair.get("strong", []), n_frames)
        masks[part] = masks[part] | coverage if part in masks else coverage
    return masks


def strong_coverage(correlations: dict, performer: str, n_frames: int,
                    motion_features: Iterable[str] | None = None,
                    audio_features: Iterable[str] | None = None) -> np.ndarray:
    """(n_frames,) bool: frames covered by a strong window of any own-audio pair of ``performer``
    whose motion and audio features are among those given (None = any)."""
    motion = None if motion_features is None else set(motion_features)
    audio = None if audio_features is None else set(audio_features)
    out = np.zeros(n_frames, dtype=bool)
    for pair in correlations.get("pairs", []):
        if pair.get("performer") != performer or pair.get("control"):
            continue
        if (motion is not None and pair.get("motion_feature") not in motion) or \
                (audio is not None and pair.get("audio_feature") not in audio):
            continue
        out |= window_coverage(correlations.get("window_start_frames", []),
                               int(correlations.get("window_frames", 0)), pair.get("strong", []),
                               n_frames)
    return out


def keypoint_highlight(masks: dict[str, np.ndarray], n_frames: int) -> np.ndarray:
    """(n_frames, 133) bool: point k is highlighted in frame f when a part containing k is."""
    out = np.zeros((n_frames, NUM_KEYPOINTS), dtype=bool)
    for part, mask in masks.items():
        if part in BODY_PARTS:
            out[:, list(BODY_PARTS[part])] |= mask[:n_frames, None]
    return out


def pca_brightness(pca: dict | None, floor: float = PCA_BRIGHTNESS_FLOOR) -> np.ndarray | None:
    """(133,) float32 brightness factors from a ``motion_features.json`` ``pca`` block, or None.

    ``pca["loadings"]`` is components × keypoints (first component first) over
    ``pca["keypoint_indices"]``. A block that does not match that shape gives None (logged).
    """
    if not pca:
        return None
    indices = np.asarray(pca.get("keypoint_indices", []), dtype=np.int64)
    loadings = np.asarray(pca.get("loadings", []), dtype=np.float64)
    if loadings.ndim != 2 or loadings.shape[1] != len(indices) or len(indices) == 0 \
            or indices.min() < 0 or indices.max() >= NUM_KEYPOINTS:
        log.warning("PCA block has loadings %s for %d keypoints; PCA brightness off",
                    loadings.shape, len(indices))
        return None
    first = np.abs(np.nan_to_num(loadings[0]))
    brightness = np.full(NUM_KEYPOINTS, floor, dtype=np.float64)
    if first.max() > 0:
        brightness[indices] = floor + (1.0 - floor) * first / first.max()
    return brightness.astype(np.float32)
