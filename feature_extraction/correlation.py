"""Sliding-window Pearson correlation between motion and audio features, and strong-window counts.

Windows: length ``w = round(window_s × fps)`` frames (0.5 s → 15 frames at 30 fps), starting at frames
``s_j = round(j × step_s × fps)`` (0.1 s step) for every ``j`` with ``s_j + w ≤ F``. All windows of a
pair are gathered at once as a (windows × w) array; there is no per-window Python loop.

Within window j, only the n_j frames where both signals are finite are used (NaN-aware):

* ``r_j = Σ (x - x̄)(y - ȳ) / sqrt(Σ (x - x̄)² Σ (y - ȳ)²)`` over those frames (means over them too)
* ``t_j = r_j sqrt((n_j - 2) / (1 - r_j²))`` and the two-sided p-value
  ``p_j = 2 · T_{n_j-2}(-|t_j|)`` (Student t CDF with n_j - 2 dof, as ``scipy.stats.pearsonr``),
  evaluated in closed form for integer dof (``pearson_p_value``); ``|r_j| = 1`` → p = 0
* ``r_j`` and ``p_j`` are NaN when ``n_j < max(3, ceil(w / 2))`` or either signal is constant there
* window j is **strong** when ``p_j < 0.05`` and ``|r_j| > 0.5`` (NaN is never strong)

Chunk counts: window j belongs to the 4-s chunk ``floor(s_j / (4 × fps))``; a performer's count in a
chunk is the number of strong (pair, window) entries over the counted pairs whose window starts in
the chunk. Counted pairs (``COUNT_RULES``; ``feature_extraction.pipeline.counted_pairs``):
``"published"`` (DESIGN §5) = the performer's motion features (without the optional ``pca_*``) ×
their own stem's ``rms`` and ``onset_env`` (librosa ``onset_strength``); ``"all"`` (option) = every motion feature × every
audio feature of their own stem.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WINDOW_S = 0.5
STEP_S = 0.1
CHUNK_S = 4.0
P_THRESHOLD = 0.05
R_THRESHOLD = 0.5
# Strong-window counts: which pairs count (module docstring).
COUNT_RULES = ("published", "all")
# librosa rms and onset_strength (the latter is the audio file's ``onset_env``)
PUBLISHED_AUDIO_FEATURES = ("rms", "onset_env")


@dataclass(frozen=True)
class WindowGrid:
    starts: np.ndarray      # (W,) int, first frame of each window
    length: int             # frames per window

    @property
    def min_pairs(self) -> int:
        """Fewest finite (x, y) pairs a window needs for a correlation."""
        return max(3, math.ceil(self.length / 2))


def window_grid(n_frames: int, fps: float, window_s: float = WINDOW_S,
                step_s: float = STEP_S) -> WindowGrid:
    """Window starts and length for ``n_frames`` frames at ``fps`` (module docstring)."""
    length = max(2, int(round(window_s * fps)))
    if n_frames < length:
        return WindowGrid(np.zeros(0, dtype=np.int64), length)
    last_start = n_frames - length
    count = int(np.floor(last_start / (step_s * fps) + 1e-9)) + 1
    starts = np.round(np.arange(count) * step_s * fps).astype(np.int64)
    return WindowGrid(starts[starts <= last_start], length)


def windows(values: np.ndarray, grid: WindowGrid) -> np.ndarray:
    """(..., F) signal(s) → (..., W, w) windows (a gather, one copy)."""
    index = grid.starts[:, None] + np.arange(grid.length)[None, :]
    return np.asarray(values, dtype=np.float64)[..., index]


def pearson_p_value(r: np.ndarray, dof) -> np.ndarray:
    """Two-sided p-value of Pearson ``r`` with integer ``dof = n - 2`` ≥ 1 (arrays broadcast).

    Closed form of the Student-t tail for integer dof (Abramowitz & Stegun 26.7.3–4) written in r:
    with ``s = |r|``, ``c = sqrt(1 - r²)`` (so ``θ = atan(|t|/sqrt(dof))`` has sin θ = s, cos θ = c),
    even dof: ``p = 1 - s Σ_{k=0}^{dof/2-1} a_k c^{2k}``, ``a_0 = 1``, ``a_k = a_{k-1}(2k-1)/(2k)``;
    odd dof:  ``p = 1 - (2/π)(θ + s c Σ_{k=0}^{(dof-3)/2} b_k c^{2k})``, ``b_0 = 1``,
    ``b_k = b_{k-1}(2k)/(2k+1)`` (no sum for dof = 1). Same value as ``2 stdtr(dof, -|t|)`` to
    ~1e-15 absolute, ~10× faster, which matters for millions of windows. NaN r → NaN.
    """
    r = np.asarray(r, dtype=np.float64)
    dof = np.broadcast_to(np.asarray(dof, dtype=np.int64), r.shape)
    finite = np.isfinite(r) & (dof >= 1)
    if not finite.any():
        return np.full(r.shape, np.nan)
    counts = np.bincount(dof[finite].ravel())
    common = int(counts.argmax())
    # the most frequent dof (usually every window) is evaluated on the whole array without masks
    out = _t_tail_from_r(np.abs(r), common)
    out[~finite] = np.nan
    for nu in np.flatnonzero(counts):
        if nu != common:
            sel = finite & (dof == nu)
            out[sel] = _t_tail_from_r(np.abs(r[sel]), int(nu))
    return out


def _t_tail_from_r(s: np.ndarray, nu: int) -> np.ndarray:
    """``pearson_p_value`` for ``s = |r|`` (any shape) and one integer dof ``nu``."""
    c2 = np.maximum(1.0 - s * s, 0.0)
    if nu % 2 == 0:
        total, term = np.ones_like(s), np.ones_like(s)
        for k in range(1, nu // 2):
            term *= c2
            term *= (2 * k - 1) / (2 * k)
            total += term
        p = 1.0 - s * total
    else:
        c = np.sqrt(c2)
        p = np.arctan2(s, c)
        if nu > 1:
            total, term = np.ones_like(s), np.ones_like(s)
            for k in range(1, (nu - 1) // 2):
                term *= c2
                term *= (2 * k) / (2 * k + 1)
                total += term
            total *= s
            total *= c
            p += total
        p = 1.0 - 2.0 / np.pi * p
    return np.clip(p, 0.0, 1.0, out=p)


def _pearson_from_sums(sxy, sxx, syy, n, min_pairs):
    """r, p from centred sums (module docstring); NaN where undefined."""
    denominator = np.sqrt(sxx * syy)
    ok = (n >= min_pairs) & (denominator > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(np.where(ok, sxy / np.where(ok, denominator, 1.0), np.nan), -1.0, 1.0)
    return r, pearson_p_value(r, np.where(ok, n - 2, 0))


def _centred(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Windows (..., w) centred on the mean of their valid entries (0 elsewhere); sum of squares."""
    n = np.maximum(valid.sum(axis=-1, keepdims=True), 1)
    filled = np.where(valid, values, 0.0)
    centred = np.where(valid, filled - filled.sum(axis=-1, keepdims=True) / n, 0.0)
    return centred, (centred * centred).sum(axis=-1)


def sliding_pearson(x: np.ndarray, y: np.ndarray, grid: WindowGrid
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NaN-aware Pearson r, two-sided p and pair count n for every (x signal, y signal, window).

    ``x``: (M, F) or (F,), ``y``: (A, F) or (F,). Returns r, p (float64) and n (int64), each
    (M, A, W) (leading axes dropped for 1-D inputs).

    Windows where both signals are entirely finite (the usual case) share per-signal centring and
    their cross sums for all pairs come from one batched matrix product; only the windows with NaN
    are recomputed per pair with the pairwise mask.
    """
    x_1d, y_1d = np.ndim(x) == 1, np.ndim(y) == 1
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    xw, yw = windows(x, grid), windows(y, grid)                 # (M, W, w), (A, W, w)
    fx, fy = np.isfinite(xw), np.isfinite(yw)
    full_x, full_y = fx.all(axis=-1), fy.all(axis=-1)           # (M, W), (A, W)
    dx, sxx_full = _centred(xw, fx & full_x[..., None])
    dy, syy_full = _centred(yw, fy & full_y[..., None])
    # (W, M, w) @ (W, w, A) -> (W, M, A) -> (M, A, W)
    sxy = np.matmul(dx.transpose(1, 0, 2), dy.transpose(1, 2, 0)).transpose(1, 2, 0)
    sxx = np.broadcast_to(sxx_full[:, None, :], sxy.shape).copy()
    syy = np.broadcast_to(syy_full[None, :, :], sxy.shape).copy()
    n = np.where(full_x[:, None, :] & full_y[None, :, :], grid.length, 0).astype(np.int64)

    m_idx, a_idx, w_idx = np.nonzero(~(full_x[:, None, :] & full_y[None, :, :]))
    if m_idx.size:
        px, py = xw[m_idx, w_idx], yw[a_idx, w_idx]             # (P, w) each
        valid = np.isfinite(px) & np.isfinite(py)
        cx, part_sxx = _centred(px, valid)
        cy, part_syy = _centred(py, valid)
        sxy[m_idx, a_idx, w_idx] = (cx * cy).sum(axis=-1)
        sxx[m_idx, a_idx, w_idx] = part_sxx
        syy[m_idx, a_idx, w_idx] = part_syy
        n[m_idx, a_idx, w_idx] = valid.sum(axis=-1)
    r, p = _pearson_from_sums(sxy, sxx, syy, n, grid.min_pairs)
    if y_1d:
        r, p, n = r[:, 0], p[:, 0], n[:, 0]
    if x_1d:
        r, p, n = r[0], p[0], n[0]
    return r, p, n


def strong_windows(r: np.ndarray, p: np.ndarray, p_threshold: float = P_THRESHOLD,
                   r_threshold: float = R_THRESHOLD) -> np.ndarray:
    """Boolean mask of strong windows: ``p < p_threshold`` and ``|r| > r_threshold`` (NaN → False)."""
    with np.errstate(invalid="ignore"):
        return (p < p_threshold) & (np.abs(r) > r_threshold)


def chunk_counts(strong: np.ndarray, grid: WindowGrid, fps: float,
                 chunk_s: float = CHUNK_S) -> dict[int, int]:
    """Strong windows per chunk: ``strong`` (..., W) bools → {chunk index: count over all leading
    axes}, for every chunk that has at least one window start (zeros included)."""
    if grid.starts.size == 0:
        return {}
    chunk = np.floor(grid.starts / (chunk_s * fps) + 1e-9).astype(np.int64)
    per_window = np.asarray(strong).reshape(-1, grid.starts.size).sum(axis=0)
    counts = np.bincount(chunk, weights=per_window, minlength=int(chunk.max()) + 1)
    present = np.unique(chunk)
    return {int(c): int(counts[c]) for c in present}
