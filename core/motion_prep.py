"""Keypoint preprocessing shared by the motion features and the visualization overlays.

All functions are pure and work on ``(F, 133, 2)`` arrays (frames × COCO-WholeBody points × x/y);
missing points are NaN. Nothing here reads or writes files.

Two orders of the same four steps (``prepare_motion(..., variant=...)``):

``"published"`` (default; DESIGN §5, the thesis): normalise over all 133 points → drop parts →
smooth → mask by score:

1. **Per-frame normalisation** (``normalise_per_frame``) over every finite point of the frame, whatever
   its score and whether it is dropped later: with ``c_f`` the mean of frame f's finite points and
   ``s_f = max_i |p_fi - c_f|`` the largest distance from it, ``q_fi = (p_fi - c_f) / s_f``.
   Coordinates become dimensionless ("normalised units"); a frame with fewer than two finite points or
   ``s_f = 0`` becomes all NaN.
2. **Dropping points** — hips, legs and feet (``core.keypoints.LOWER_BODY``) always; for the leftmost
   performer the COCO ``left_*`` arm and hand, for the rightmost the ``right_*`` arm and hand
   (``core.keypoints.occluded_stage_edge_points``), unless ``all_body_parts`` (``points_to_drop``,
   ``drop_points``).
3. **Savitzky–Golay smoothing** (``savgol_smooth``, window 5, order 2) of the kept points, low-score
   positions included (they are masked only afterwards).
4. **Score masking** — a point whose score is below the threshold becomes NaN (``mask_low_scores``).

``"robust"`` (this project's option): mask by score → drop parts → normalise over the kept, well-scored
points only → smooth. Unreliable and dropped points then never move a frame's centre or scale (a leg
or a mis-detected wrist far from the body changes ``s_f`` and so every feature of that frame in the
published order), and smoothing never mixes a low-score position into its neighbours. Feature
magnitudes differ between the two orders (different ``c_f``, ``s_f``), so compare numbers only within
one variant; the variant is recorded in every feature file's ``settings``.

Smoothing is the same in both variants, NaN-aware: each maximal run of finite samples of one
coordinate that is at least ``window`` long is smoothed exactly as ``scipy.signal.savgol_filter(run,
window, order, mode="interp")`` smooths it alone (scipy's default mode: a least-squares polynomial of
degree ``order`` over each centred window; within ``window // 2`` of a run's ends the polynomial of
the run's first/last window is evaluated there). On a gap-free series this is exactly scipy's
``savgol_filter(x, 5, 2)``; shorter runs are left unsmoothed and NaN stays NaN, so smoothing never
bridges a gap (scipy itself would spread a NaN over its neighbours).

``interpolate_gaps`` (display only, never used for features) fills interior NaN gaps linearly in time.

API: ``prepare_motion`` (all four steps → ``PreparedMotion``; ``MOTION_PREP_VARIANTS``,
``describe_motion_prep`` for the ``settings`` record), the steps ``mask_low_scores``,
``points_to_drop`` / ``drop_points``, ``normalise_per_frame``, ``savgol_smooth``, plus
``interpolate_gaps`` and ``finite_points`` ((F, P, 2) → (F, P) both coordinates finite).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .keypoints import LOWER_BODY, NUM_KEYPOINTS, occluded_stage_edge_points

SAVGOL_WINDOW = 5
SAVGOL_ORDER = 2
MOTION_PREP_VARIANTS = ("published", "robust")
_ORDERS = {
    "published": ["normalise per frame over all finite points (mean, largest distance)",
                  "drop parts", "Savitzky-Golay smoothing", "mask points with score < threshold"],
    "robust": ["mask points with score < threshold", "drop parts",
               "normalise per frame over the kept well-scored points (mean, largest distance)",
               "Savitzky-Golay smoothing"],
}


def describe_motion_prep(variant: str) -> dict:
    """The ``settings`` record of a preprocessing variant: its name, whether it is the published
    definition, and the order of its steps."""
    check_variant(variant)
    return {"variant": variant, "published": variant == "published", "order": list(_ORDERS[variant])}


def check_variant(variant: str) -> str:
    if variant not in MOTION_PREP_VARIANTS:
        raise ValueError(f"unknown motion preprocessing {variant!r}: expected one of "
                         f"{MOTION_PREP_VARIANTS}")
    return variant


def _float(array) -> np.ndarray:
    """float32 stays float32 (keypoints on disk are float32; halving memory traffic matters on
    hour-long songs and float32 resolves 1e-7 of the normalised unit), anything else → float64."""
    array = np.asarray(array)
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float64)


def finite_points(keypoints: np.ndarray) -> np.ndarray:
    """(F, P, 2) → (F, P) bool: both coordinates finite. (Written per coordinate: numpy's
    ``.all(axis=-1)`` over a length-2 axis is several times slower on hour-long arrays.)"""
    return np.isfinite(keypoints[..., 0]) & np.isfinite(keypoints[..., 1])


def mask_low_scores(keypoints: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """``keypoints`` (F, P, 2) pixels, ``scores`` (F, P) → copy with NaN where score < threshold
    (float32 in → float32 out, otherwise float64; likewise for every function here).

    A NaN score counts as below any threshold.
    """
    keypoints = _float(keypoints)
    scores = np.asarray(scores)
    if scores.shape != keypoints.shape[:2]:
        raise ValueError(f"scores {scores.shape} do not match keypoints {keypoints.shape}")
    keep = scores >= threshold                       # NaN >= t is False
    return np.where(keep[..., None], keypoints, keypoints.dtype.type(np.nan))


def points_to_drop(position: int | None, n_performers: int | None,
                   all_body_parts: bool = False) -> tuple[int, ...]:
    """Sorted 133-layout indices removed from motion analysis for a performer at stage ``position``.

    Lower body always; the stage-edge arm and hand too unless ``all_body_parts`` (or the position is
    unknown).
    """
    dropped = set(LOWER_BODY)
    if not all_body_parts and position is not None and n_performers:
        dropped |= set(occluded_stage_edge_points(position, n_performers))
    return tuple(sorted(dropped))


def drop_points(keypoints: np.ndarray, indices) -> np.ndarray:
    """Copy of ``keypoints`` (F, P, 2) with the points ``indices`` set to NaN."""
    out = np.array(_float(keypoints), copy=True)
    out[:, list(indices)] = np.nan
    return out


def normalise_per_frame(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre each frame on the mean of its finite points and divide by the largest distance from it.

    ``keypoints``: (F, P, 2) pixels, NaN = missing (a point counts when both coordinates are
    finite). Returns ``(normalised (F, P, 2), dimensionless; centre (F, 2) pixels; scale (F,)
    pixels)``. Frames with < 2 finite points or zero spread get NaN everywhere (centre and scale NaN
    too).
    """
    kp = _float(keypoints)
    finite = finite_points(kp)                                             # (F, P)
    count = finite.sum(axis=1)                                             # (F,)
    filled = np.where(finite[..., None], kp, kp.dtype.type(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = filled.sum(axis=1) / count[:, None].astype(kp.dtype)     # (F, 2)
        offset = filled - centre[:, None, :]
        squared = offset[..., 0] * offset[..., 0]
        squared += offset[..., 1] * offset[..., 1]
        squared *= finite                                                  # (F, P), 0 if missing
        scale = np.sqrt(squared.max(axis=1)) if kp.shape[1] else np.zeros(len(kp), kp.dtype)
        normalised = np.where(finite[..., None], offset, kp.dtype.type(np.nan))
        bad = (count < 2) | ~(scale > 0)
        scale[bad] = np.nan
        centre[bad] = np.nan
        normalised /= scale[:, None, None]
    return normalised, centre, scale


def _run_offsets(finite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a (F, N) finiteness mask: finite samples before (``d_start``) and after (``d_end``) each
    sample within its run of finite samples along axis 0 (garbage where not finite)."""
    n = finite.shape[0]
    idx = np.arange(n)[:, None]
    idx = idx.astype(np.int32)
    last_bad = np.maximum.accumulate(np.where(finite, np.int32(-1), idx), axis=0)
    d_start = idx - last_bad - 1
    next_bad = np.minimum.accumulate(np.where(finite, np.int32(n), idx)[::-1], axis=0)[::-1]
    d_end = next_bad - idx - 1
    return d_start, d_end


def _finite_runs(finite: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximal runs of True along axis 1 of a (C, F) mask: ``(row, first column, last column)`` of
    every run, each (R,) int64, ordered by row then column (so starts and ends pair up)."""
    before = np.zeros_like(finite)
    before[:, 1:] = finite[:, :-1]
    after = np.zeros_like(finite)
    after[:, :-1] = finite[:, 1:]
    rows, first = np.nonzero(finite & ~before)
    _, last = np.nonzero(finite & ~after)
    return rows, first, last


def savgol_smooth(values: np.ndarray, window: int = SAVGOL_WINDOW, order: int = SAVGOL_ORDER,
                  block_columns: int = 1024) -> np.ndarray:
    """NaN-aware Savitzky–Golay smoothing along axis 0 (time) of an array of any trailing shape.

    ``values``: (F, ...) float, NaN = missing. Returns the same shape (float32 kept). See the module
    docstring for the definition. How: one correlation with the centred-window coefficients over
    the zero-filled signal gives every sample whose centred window lies inside its run; the few
    samples within ``window // 2`` of a long run's ends get the end-window polynomial (a gather over
    all runs at once, no per-run Python loop); short runs and NaN get their input values back. Work
    is done on time-contiguous (columns × F) copies, in blocks of ``block_columns`` columns to bound
    memory on very wide inputs.
    """
    from scipy.ndimage import correlate1d
    from scipy.signal import savgol_coeffs

    if window % 2 == 0 or window <= order:
        raise ValueError(f"window must be odd and > order, got window={window}, order={order}")
    values = _float(values)
    shape = values.shape
    flat = values.reshape(shape[0], -1)
    if shape[0] < window:
        return flat.copy().reshape(shape)
    half = window // 2
    # coeffs[k] · (a window's samples) = the polynomial fitted to that window, evaluated at its
    # k-th sample
    coeffs = np.stack([savgol_coeffs(window, order, pos=k, use="dot") for k in range(window)]
                      ).astype(values.dtype)
    offsets = np.arange(window)
    out = np.empty_like(flat)
    for c0 in range(0, flat.shape[1], block_columns):
        block = np.ascontiguousarray(flat[:, c0:c0 + block_columns].T)      # (C, F)
        finite = np.isfinite(block)
        filled = np.where(finite, block, values.dtype.type(0))
        result = correlate1d(filled, coeffs[half], axis=1, mode="constant")
        np.copyto(result, block, where=~finite)                            # NaN stays NaN
        rows, first, last = _finite_runs(finite)
        length = last - first + 1
        long = length >= window
        # the first / last `window` samples of every long run: (R, window) each
        r, a, b = rows[long], first[long], last[long]
        head = filled[r[:, None], a[:, None] + offsets]
        tail = filled[r[:, None], b[:, None] - (window - 1) + offsets]
        for k in range(half):
            result[r, a + k] = head @ coeffs[k]
            result[r, b - k] = tail @ coeffs[window - 1 - k]
        short = ~long                                                      # left unsmoothed
        if short.any():
            lengths = length[short]
            within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            short_rows = np.repeat(rows[short], lengths)
            short_cols = np.repeat(first[short], lengths) + within
            result[short_rows, short_cols] = block[short_rows, short_cols]
        out[:, c0:c0 + block_columns] = result.T
    return out.reshape(shape)


def interpolate_gaps(keypoints: np.ndarray, max_gap: int | None = None) -> np.ndarray:
    """Fill NaN gaps in time by linear interpolation, for display.

    ``keypoints``: (F, P, 2) (any units). Each coordinate is interpolated between the finite samples
    either side of a gap; gaps longer than ``max_gap`` frames (if given) and leading/trailing NaN stay
    NaN. Returns float64 (F, P, 2).
    """
    values = np.asarray(keypoints, dtype=np.float64)
    flat = values.reshape(values.shape[0], -1)
    out = flat.copy()
    frames = np.arange(flat.shape[0])
    finite = np.isfinite(flat)
    d_start, d_end = _run_offsets(~finite)            # position inside each NaN gap
    gap_length = d_start + d_end + 1
    for col in np.flatnonzero(finite.any(axis=0) & ~finite.all(axis=0)):
        ok = finite[:, col]
        first, last = np.flatnonzero(ok)[[0, -1]]
        fill = ~ok & (frames > first) & (frames < last)
        if max_gap is not None:
            fill &= gap_length[:, col] <= max_gap
        if fill.any():
            out[fill, col] = np.interp(frames[fill], frames[ok], flat[ok, col])
    return out.reshape(values.shape)


@dataclass
class PreparedMotion:
    """Result of ``prepare_motion``.

    ``values`` holds only the processed points (``points``: 133-layout indices, the kept points
    that are finite in some frame); ``keypoints`` is the same data in the full 133-point layout
    with NaN elsewhere (built on first use).
    """
    values: np.ndarray             # (F, K, 2) float32/64, normalised units, smoothed, NaN = unusable
    points: tuple[int, ...]        # (K,) 133-layout index of each column of ``values``
    centre: np.ndarray             # (F, 2) pixels, per-frame centre used for normalisation
    scale: np.ndarray              # (F,) pixels, per-frame largest distance from the centre
    dropped_points: tuple[int, ...]
    _full: np.ndarray | None = field(default=None, repr=False)

    @property
    def keypoints(self) -> np.ndarray:
        """(F, 133, 2) normalised, smoothed keypoints, NaN for points not processed."""
        if self._full is None:
            full = np.full((len(self.values), NUM_KEYPOINTS, 2), np.nan, dtype=self.values.dtype)
            full[:, list(self.points)] = self.values
            self._full = full
        return self._full


def prepare_motion(keypoints: np.ndarray, scores: np.ndarray | None, threshold: float | None,
                   dropped_points=(), smooth: bool = True, window: int = SAVGOL_WINDOW,
                   order: int = SAVGOL_ORDER, smooth_points=None,
                   variant: str = "published") -> PreparedMotion:
    """The four preprocessing steps in the order of ``variant`` (module docstring).

    ``keypoints``: (F, 133, 2) pixels; ``scores``: (F, 133) on the backend's scale.
    ``scores=None``: no score masking (``keypoints`` already masked, or nothing to mask).
    ``smooth_points``: keep only these indices in the result (the others still set each frame's
    centre and scale), so only they are smoothed — saves time when a caller needs a few points,
    e.g. the bowing arm; default all points.
    Only the kept points that are finite and well scored in some frame are carried through (the
    others would be NaN everywhere); which points set each frame's centre and scale is the
    variant's business: all finite points (published) or the kept, well-scored ones (robust).
    """
    check_variant(variant)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_KEYPOINTS, 2):
        raise ValueError(f"keypoints must be (F, {NUM_KEYPOINTS}, 2), got {keypoints.shape}")
    keypoints = _float(keypoints)
    finite = finite_points(keypoints)
    usable = finite.copy()
    if scores is not None:
        scores = np.asarray(scores)
        if scores.shape != keypoints.shape[:2]:
            raise ValueError(f"scores {scores.shape} do not match keypoints {keypoints.shape}")
        usable &= scores >= threshold                                      # NaN score: unusable
    dropped = set(dropped_points)
    seen = usable.any(axis=0)
    kept = [i for i in range(NUM_KEYPOINTS) if i not in dropped and seen[i]]
    if variant == "published":
        # 1. normalise over every finite point (the published pipeline had no reason to exclude
        # any), 2. keep the undropped points
        present = np.flatnonzero(finite.any(axis=0))
        normalised_all, centre, scale = normalise_per_frame(keypoints[:, present])
        column = {int(i): k for k, i in enumerate(present)}
        normalised = normalised_all[:, [column[i] for i in kept]]
    else:
        selected = keypoints[:, kept]
        if scores is not None:
            selected = np.where(usable[:, kept, None], selected, keypoints.dtype.type(np.nan))
        normalised, centre, scale = normalise_per_frame(selected)
    if smooth_points is not None:
        wanted = set(smooth_points)
        columns = [k for k, i in enumerate(kept) if i in wanted]
        kept = [kept[k] for k in columns]
        normalised = normalised[:, columns]
    if smooth:
        normalised = savgol_smooth(normalised, window, order)
    if variant == "published" and scores is not None:
        # 4. mask by score, after smoothing
        normalised = np.where(usable[:, kept, None], normalised, normalised.dtype.type(np.nan))
    return PreparedMotion(normalised, tuple(kept), centre, scale, tuple(dropped_points))
