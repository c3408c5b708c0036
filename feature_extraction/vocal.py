"""Vocal facial features from the 68 face points (133-layout 23–90, ``core.keypoints.FACE``).

Per frame, the face is rigidly registered (rotation + translation, no scale; Kabsch on the rigid
points 0–47, ``core.face.register_faces``) onto VoViT's speech mean face, so head motion does not
leak into the mouth features; coordinates are then in the mean face's pixel frame. Optionally the
registered points are Savitzky–Golay smoothed (``core.motion_prep.savgol_smooth``, NaN-aware). Then:

* ``mouth_area`` = ``½ |Σ_k (x_k y_{k+1} - x_{k+1} y_k)|`` (shoelace) over the polygon of face points
  48, 49, …, 67 in that order and closed back to 48 — the published definition. The outer-lip ring
  (48–59) and inner-lip ring (60–67) run in the same direction, so this is ≈ outer area + inner area
  (the two bridging edges nearly cancel)                                       (mean-face pixels²)
* ``jaw_to_nose`` = ``|p_33 - p_8|``, nose tip to chin                          (mean-face pixels)

Frames inside the song's ``face_false_positive_frames`` ranges (inclusive) are set to NaN.
"""
from __future__ import annotations

import numpy as np

from core.face import register_faces
from core.keypoints import CHIN_LOCAL, MOUTH, NOSE_TIP_LOCAL
from core.metadata import frame_ranges_mask

VOCAL_UNITS = {"mouth_area": "mean-face pixels^2", "jaw_to_nose": "mean-face pixels"}


def polygon_area(vertices: np.ndarray) -> np.ndarray:
    """Shoelace area of closed polygons: (F, V, 2) vertices in order → (F,) absolute area.

    NaN if any vertex is NaN.
    """
    x, y = vertices[..., 0], vertices[..., 1]
    x_next, y_next = np.roll(x, -1, axis=-1), np.roll(y, -1, axis=-1)
    return 0.5 * np.abs((x * y_next - x_next * y).sum(axis=-1))


def blank_frame_ranges(values: np.ndarray, ranges) -> np.ndarray:
    """Copy of ``values`` (F, ...) with frames in the inclusive ``[start, end]`` ranges set to NaN."""
    out = np.array(values, dtype=np.float64, copy=True)
    out[frame_ranges_mask(ranges, len(out))] = np.nan
    return out


def vocal_motion_features(faces: np.ndarray, false_positive_frames=(),
                          mean_face: np.ndarray | None = None,
                          smooth: bool = True) -> dict[str, np.ndarray]:
    """``faces``: (F, 68, 2) pixels (NaN = missing) → ``mouth_area``, ``jaw_to_nose`` (F,)."""
    from core.motion_prep import savgol_smooth

    registered = register_faces(np.asarray(faces, dtype=np.float64), mean_face)
    # only the points the features use are smoothed (smoothing is per point, so this is exact)
    used = list(MOUTH) + [NOSE_TIP_LOCAL, CHIN_LOCAL]
    points = registered[:, used]
    if smooth:
        points = savgol_smooth(points)
    points = blank_frame_ranges(points, false_positive_frames)
    mouth, nose_tip, chin = points[:, :len(MOUTH)], points[:, -2], points[:, -1]
    return {
        "mouth_area": polygon_area(mouth),
        "jaw_to_nose": np.linalg.norm(nose_tip - chin, axis=1),
    }
