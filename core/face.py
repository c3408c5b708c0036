"""Face registration to a mean face: the one home for it (vocal motion features, separation inputs).

Rigid (``register_faces``, the published vocal motion features): per frame, the rotation R and
translation t (no scale) minimising ``sum_i |R p_i + t - m_i|^2`` over the fit points (default
face-local 0–47: jaw, brows, nose, eyes; lips excluded because they move with singing) are found with
the Kabsch algorithm: centre both point sets, SVD of the 2×2 covariance ``H = P_c^T M_c = U S V^T``,
``R = V diag(1, d) U^T`` with ``d = sign(det(V U^T))`` to exclude reflections,
``t = mean(m) - R mean(p)``. All 68 points are then transformed with (R, t).

Similarity (``register_faces(..., similarity=True)``, the face input of project-trained separation
models): the same fit plus a scale ``s = tr(diag(S) diag(1, d)) / sum_i |p_i - mean(p)|^2`` (Umeyama
1991), ``t = mean(m) - s R mean(p)``, so the registered face has the mean face's size and the mean
face is a typical input. The fit points matter: the jaw opens with singing, and a fit on all 68 points
shrinks and shifts the face to cancel part of that opening; ``FACE_FIT_POINTS["stable"]`` (brows
17–26, nose 27–35, eyes 36–47) does not move with the mouth, so the opening survives.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import load_npy
from .keypoints import FACE_RIGID

# Named sets of face-local points a registration may be fitted on (a recorded convention).
FACE_FIT_POINTS = {
    "stable": tuple(range(17, 48)),      # brows 17–26, nose 27–35, eyes 36–47: still when singing
    "all": tuple(range(68)),             # every point, jaw and lips included
    "no_lips": FACE_RIGID,               # 0–47: the published rigid registration's points
}

MEAN_FACE_PATH = Path(__file__).resolve().parent / "reference" / "vovit_speech_mean_face.npy"


def load_mean_face() -> np.ndarray:
    """VoViT's speech mean face as ``(68, 2)`` float64, pixel units, y down (x, y rows of the file)."""
    mean_face = load_npy(MEAN_FACE_PATH)          # (3, 68): x, y, z
    return np.ascontiguousarray(mean_face[:2].T)


def kabsch_2d(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched rigid fit. ``source``: (F, P, 2), ``target``: (P, 2) → R (F, 2, 2), t (F, 2).

    Points that are NaN in ``source`` are left out of each frame's fit; a frame with fewer than two
    finite points gets NaN R and t.
    """
    _, rotation, translation = procrustes_2d(source, target, with_scale=False)
    return rotation, translation


def similarity_2d(source: np.ndarray, target: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched similarity fit (module docstring): ``source`` (F, P, 2), ``target`` (P, 2) →
    s (F,), R (F, 2, 2), t (F, 2) minimising ``sum_i |s R p_i + t - m_i|^2``; NaN as in ``kabsch_2d``."""
    return procrustes_2d(source, target, with_scale=True)


def procrustes_2d(source: np.ndarray, target: np.ndarray, with_scale: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shared fit of ``kabsch_2d`` / ``similarity_2d`` → s (F,) (ones unless ``with_scale``), R, t."""
    valid = np.isfinite(source).all(axis=-1)                        # (F, P)
    weights = valid.astype(np.float64)
    count = weights.sum(axis=1, keepdims=True)                       # (F, 1)
    src = np.where(valid[..., None], source, 0.0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        src_mean = src.sum(axis=1) / count                           # (F, 2)
        tgt_mean = (weights @ target) / count                        # (F, 2)
    src_c = (src - src_mean[:, None]) * weights[..., None]
    tgt_c = (target[None] - tgt_mean[:, None]) * weights[..., None]
    cov = np.einsum("fpi,fpj->fij", src_c, tgt_c)                    # (F, 2, 2)
    ok = count[:, 0] >= 2
    rotation = np.full(cov.shape, np.nan)
    translation = np.full(src_mean.shape, np.nan)
    scale = np.full(len(cov), np.nan)
    if ok.any():
        u, singular, vt = np.linalg.svd(cov[ok])
        v = np.transpose(vt, (0, 2, 1))
        ut = np.transpose(u, (0, 2, 1))
        d = np.sign(np.linalg.det(v @ ut))
        d[d == 0] = 1.0
        fix = np.zeros((len(d), 2, 2))
        fix[:, 0, 0], fix[:, 1, 1] = 1.0, d
        rot = v @ fix @ ut
        s = np.ones(len(d))
        if with_scale:
            spread = (src_c[ok] ** 2).sum(axis=(1, 2))
            with np.errstate(invalid="ignore", divide="ignore"):
                s = (singular[:, 0] + d * singular[:, 1]) / spread     # NaN for a collapsed frame
        rotation[ok] = rot
        scale[ok] = s
        translation[ok] = tgt_mean[ok] - s[:, None] * np.einsum("fij,fj->fi", rot, src_mean[ok])
    return scale, rotation, translation


def register_faces(faces: np.ndarray, mean_face: np.ndarray | None = None,
                   fit_points: tuple[int, ...] = FACE_RIGID, similarity: bool = False
                   ) -> np.ndarray:
    """Register each frame's face onto ``mean_face``: rigidly (default) or by a similarity
    (``similarity=True``, adds a scale), fitted on ``fit_points`` (module docstring).

    ``faces``: (F, 68, 2) pixels, NaN = missing. ``mean_face``: (68, 2), default VoViT's.
    Returns (F, 68, 2) float64 in the mean face's pixel frame; frames without a fit stay NaN.
    """
    mean_face = load_mean_face() if mean_face is None else np.asarray(mean_face, dtype=np.float64)
    idx = list(fit_points)
    scale, rotation, translation = procrustes_2d(faces[:, idx].astype(np.float64), mean_face[idx],
                                                 with_scale=similarity)
    moved = np.einsum("fij,fpj->fpi", rotation, faces.astype(np.float64))
    return scale[:, None, None] * moved + translation[:, None]
