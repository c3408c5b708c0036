"""General motion features: speed and acceleration per frame, overall and per body part, optional PCA.

Input: prepared keypoints ``q`` (F, 133, 2) from ``core.motion_prep.prepare_motion`` — score-masked,
lower body / stage-edge arms removed, normalised per frame (dimensionless "normalised units": 1 = the
distance of the farthest kept point from the frame's centre) and Savitzky–Golay smoothed. NaN = missing.

Formulas (``fps`` frames per second, ``np.gradient`` = central differences inside, one-sided at the
ends and next to gaps a NaN propagates):

* velocity     ``v_fi = dq_fi/dt = gradient_f(q_fi) × fps``            (normalised units / s)
* speed        ``|v_fi|``                                              (normalised units / s)
* acceleration ``|a_fi|`` with ``a_fi = gradient_f(v_fi) × fps``        (normalised units / s²)
* ``speed_f`` = mean over the finite points i of ``|v_fi|`` (all kept points);
  ``<part>_speed_f`` the same over the part's points (``core.keypoints.BODY_PARTS``: head, left_arm,
  right_arm, face, left_hand, right_hand); likewise for acceleration. No finite point → NaN.
* PCA (optional, ``n_components`` > 0): on the per-keypoint speed matrix ``S`` (frames × keypoints)
  restricted to keypoints finite in at least ``min_finite_share`` of frames and to frames where at
  least ``min_finite_share`` of those keypoints are finite (with real pose scores a few percent of
  points fall below the threshold in every frame, so frames with *every* keypoint finite are rare).
  ``S`` is centred per keypoint on its mean over the finite entries, missing entries of the centred
  matrix are set to 0 (mean imputation), ``S_c = U Σ Vᵀ`` (SVD); loadings = rows of ``Vᵀ``
  (components × keypoints, sign fixed so the largest-magnitude loading is positive), explained
  variance ratio = ``σ_k² / Σ σ²``, and ``pca_k_f = S_c,f · V_k`` (NaN on frames left out).
"""
from __future__ import annotations

import numpy as np

from core.keypoints import BODY_PARTS
from core.motion_prep import finite_points

SPEED_UNIT = "normalised units/s"
ACCELERATION_UNIT = "normalised units/s^2"


def point_velocity(points: np.ndarray, fps: float) -> np.ndarray:
    """(F, P, 2) positions → (F, P, 2) velocity in units per second (central differences × fps).

    float32 stays float32 (prepared keypoints are float32; the speeds keep ~7 significant digits),
    anything else is float64. Needs F ≥ 2; with F < 2 the velocity is NaN.
    """
    points = np.asarray(points)
    if points.dtype != np.float32:
        points = points.astype(np.float64)
    if points.shape[0] < 2:
        return np.full(points.shape, np.nan, dtype=points.dtype)
    velocity = np.gradient(points, axis=0)
    velocity *= points.dtype.type(fps)
    return velocity


def speed_and_acceleration(points: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(F, P, 2) positions → per-point speed (F, P) [units/s] and acceleration magnitude (F, P)
    [units/s²] (float32 for float32 input, else float64)."""
    velocity = point_velocity(points, fps)
    acceleration = point_velocity(velocity, fps)
    return (np.hypot(velocity[..., 0], velocity[..., 1]),
            np.hypot(acceleration[..., 0], acceleration[..., 1]))


def mean_over_points(values: np.ndarray, indices=None) -> np.ndarray:
    """NaN-aware mean over axis 1 of (F, P) values (optionally only columns ``indices``) → (F,)."""
    if indices is not None:
        values = values[:, list(indices)]
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    total = np.where(finite, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def part_means(values: np.ndarray, groups: dict[str, tuple[int, ...] | None]) -> dict[str, np.ndarray]:
    """NaN-aware means of (F, P) ``values`` over several point groups at once → {name: (F,)}.

    ``None`` as a group means all points. One matrix product for the sums and one for the counts
    (same result as ``mean_over_points`` per group, much less memory traffic).
    """
    finite = np.isfinite(values)
    filled = np.where(finite, values, 0).astype(np.float64)
    membership = np.zeros((values.shape[1], len(groups)))
    for column, indices in enumerate(groups.values()):
        membership[slice(None) if indices is None else list(indices), column] = 1.0
    totals = filled @ membership
    counts = finite.astype(np.float64) @ membership
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)
    return {name: means[:, column] for column, name in enumerate(groups)}


def general_motion_features(prepared: np.ndarray, fps: float,
                            points: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
    """Prepared keypoints → {name: (F,) float64}: ``speed``, ``acceleration`` and
    ``<part>_speed``, ``<part>_acceleration`` for each part in ``BODY_PARTS``.

    ``prepared``: (F, 133, 2), or (F, K, 2) holding the 133-layout points ``points``
    (``PreparedMotion.values`` / ``.points``). Only points finite in some frame are differentiated
    (the others are NaN everywhere and add nothing to any mean).
    """
    if points is None:
        present = np.flatnonzero(finite_points(prepared).any(axis=0))
        prepared, points = prepared[:, present], tuple(int(i) for i in present)
    speed, acceleration = speed_and_acceleration(prepared, fps)
    column = {index: k for k, index in enumerate(points)}
    groups = {"": None, **{f"{part}_": tuple(column[i] for i in indices if i in column)
                           for part, indices in BODY_PARTS.items()}}
    features = {}
    for kind, values in (("speed", speed), ("acceleration", acceleration)):
        for prefix, mean in part_means(values, groups).items():
            features[f"{prefix}{kind}"] = mean
    order = ["speed", "acceleration"] + [f"{part}_{kind}" for part in BODY_PARTS
                                          for kind in ("speed", "acceleration")]
    return {name: features[name] for name in order}


def feature_units(names) -> dict[str, str]:
    return {name: ACCELERATION_UNIT if name.endswith("acceleration") else
            ("dimensionless" if name.startswith("pca_") else SPEED_UNIT) for name in names}


def speed_pca(prepared: np.ndarray, fps: float, n_components: int,
              min_finite_share: float = 0.5) -> tuple[dict[str, np.ndarray], dict]:
    """PCA of per-keypoint speeds (module docstring). ``prepared``: (F, 133, 2).

    Returns ``({"pca_1": (F,), ...}, {"keypoint_indices", "loadings", "explained_variance_ratio",
    "n_frames_used", ...})``; raises ``ValueError`` when too few keypoints or frames are usable.
    """
    speed, _ = speed_and_acceleration(prepared, fps)
    finite = np.isfinite(speed)
    keypoints = np.flatnonzero(finite.mean(axis=0) >= min_finite_share)
    if len(keypoints) < 2:
        raise ValueError(f"PCA needs ≥ 2 keypoints finite in ≥ {min_finite_share:.0%} of frames, "
                         f"found {len(keypoints)}")
    rows = finite[:, keypoints].mean(axis=1) >= min_finite_share
    if rows.sum() <= len(keypoints):
        raise ValueError(f"PCA needs more usable frames ({int(rows.sum())}) than keypoints "
                         f"({len(keypoints)})")
    data = speed[np.ix_(rows, keypoints)].astype(np.float64)
    present = np.isfinite(data)
    mean = np.where(present, data, 0.0).sum(axis=0) / present.sum(axis=0)
    centred = np.where(present, data - mean, 0.0)
    _, sigma, vt = np.linalg.svd(centred, full_matrices=False)
    n = min(n_components, len(sigma))
    loadings = vt[:n]
    flip = np.sign(loadings[np.arange(n), np.abs(loadings).argmax(axis=1)])
    loadings = loadings * np.where(flip == 0, 1.0, flip)[:, None]
    variance = sigma ** 2
    ratio = variance[:n] / variance.sum() if variance.sum() > 0 else np.zeros(n)
    scores = np.full((speed.shape[0], n), np.nan)
    scores[rows] = centred @ loadings.T
    components = {f"pca_{k + 1}": scores[:, k] for k in range(n)}
    info = {"keypoint_indices": keypoints.tolist(), "loadings": loadings,
            "explained_variance_ratio": ratio, "n_frames_used": int(rows.sum()),
            "missing_share_imputed": float(1.0 - present.mean()),
            "input": "per-keypoint speed", "min_finite_share": min_finite_share}
    return components, info
