"""Violin bowing-arm features (the bowing arm is the performer's right arm: COCO shoulder 6, elbow 8,
wrist 10).

Input: prepared keypoints (F, 133, 2) in normalised units (``core.motion_prep``; for the violinist the
bowing arm is kept even at the stage edge, see ``pipeline``). With shoulder ``S``, elbow ``E``,
wrist ``W`` per frame:

* ``wrist_speed``   = ``|dW/dt|`` = ``|gradient(W) × fps|``                     (normalised units/s)
* ``elbow_angle``   = angle between ``S - E`` and ``W - E`` =
  ``atan2(|u × w|, u · w)`` in degrees, 0–180 (180 = straight arm)              (degrees)
* ``arm_extension`` = ``|S - W|``, shoulder–wrist distance                      (normalised units)
"""
from __future__ import annotations

import numpy as np

from core.keypoints import RIGHT_ELBOW, RIGHT_SHOULDER, RIGHT_WRIST

from .motion import point_velocity

VIOLIN_UNITS = {"wrist_speed": "normalised units/s", "elbow_angle": "degrees",
                "arm_extension": "normalised units"}


def joint_angle_degrees(a: np.ndarray, vertex: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle at ``vertex`` between the segments to ``a`` and ``b``; inputs (F, 2) → (F,) degrees.

    NaN if any point is missing or a segment has zero length.
    """
    u = np.asarray(a, dtype=np.float64) - vertex
    w = np.asarray(b, dtype=np.float64) - vertex
    cross = u[:, 0] * w[:, 1] - u[:, 1] * w[:, 0]
    dot = (u * w).sum(axis=1)
    angle = np.degrees(np.arctan2(np.abs(cross), dot))
    degenerate = (np.linalg.norm(u, axis=1) == 0) | (np.linalg.norm(w, axis=1) == 0)
    return np.where(degenerate, np.nan, angle)


def violin_motion_features(prepared: np.ndarray, fps: float,
                           points: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
    """Prepared keypoints → ``wrist_speed``, ``elbow_angle``, ``arm_extension`` (F,).

    ``prepared``: (F, 133, 2), or (F, K, 2) holding the 133-layout points ``points``
    (``PreparedMotion.values`` / ``.points``); a bowing-arm joint not among them is NaN.
    """
    def joint(index: int) -> np.ndarray:
        if points is None:
            return prepared[:, index].astype(np.float64)
        if index not in points:
            return np.full((len(prepared), 2), np.nan)
        return prepared[:, points.index(index)].astype(np.float64)

    shoulder, elbow, wrist = joint(RIGHT_SHOULDER), joint(RIGHT_ELBOW), joint(RIGHT_WRIST)
    wrist_velocity = point_velocity(wrist[:, None, :], fps)[:, 0]
    return {
        "wrist_speed": np.linalg.norm(wrist_velocity, axis=1),
        "elbow_angle": joint_angle_degrees(shoulder, elbow, wrist),
        "arm_extension": np.linalg.norm(shoulder - wrist, axis=1),
    }
