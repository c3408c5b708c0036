"""Which keypoints and skeleton edges of a performer are drawn, where, and in which frame.

Display rules (issue 4):

* **Gap filling** — a point missing in some frames (NaN: the person was not detected) is filled by
  linear interpolation in time between the neighbouring frames where it was found
  (``core.motion_prep.interpolate_gaps``), for gaps up to ``max_gap`` frames (default 1 s of video);
  its score is interpolated the same way, so a filled point is shown only when its neighbours were
  confident. Leading/trailing gaps stay empty.
* **Confidence** — a point is drawn in frame f when its (filled) score ``s_fi >= threshold``
  (NaN scores never pass).
* **Hidden points** — legs, feet and hips (``core.keypoints.LOWER_BODY``) always; the stage-edge arm and
  hand of the leftmost/rightmost performer (``core.keypoints.occluded_stage_edge_points``, as in
  feature extraction); the 68 face points except for the vocalist (other performers keep the five
  head points).
* **Edges** — an edge of ``core.keypoints.SKELETON_EDGES`` is drawn in frame f when both its ends are
  drawn.

Coordinates stay in video pixels (x right, y down).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.keypoints import FACE, NUM_KEYPOINTS, SKELETON_EDGES
from core.motion_prep import interpolate_gaps, points_to_drop

VOCAL = "vocal"
DISPLAY_MAX_GAP_S = 1.0     # longer detection gaps stay empty rather than showing a gliding skeleton


def hidden_points(instrument: str, position: int | None, n_performers: int | None) -> tuple[int, ...]:
    """Sorted 133-layout indices never drawn for this performer (module docstring)."""
    hidden = set(points_to_drop(position, n_performers))        # lower body + stage-edge arm/hand
    if instrument != VOCAL:
        hidden |= set(FACE)
    return tuple(sorted(hidden))


def drawable_edges(hidden: tuple[int, ...]) -> np.ndarray:
    """``(E, 2)`` int64 edges of the skeleton whose two ends are not hidden."""
    hidden_set = set(hidden)
    return np.array([(a, b) for a, b in SKELETON_EDGES if a not in hidden_set and b not in hidden_set],
                    dtype=np.int64).reshape(-1, 2)


def fill_display_gaps(keypoints: np.ndarray, scores: np.ndarray, max_gap: int | None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate missing frames of ``keypoints`` (F, P, 2) pixels and ``scores`` (F, P).

    A point counts as missing where any coordinate is NaN; its score is treated as missing there too.
    Returns float64 ``(keypoints (F, P, 2), scores (F, P))``.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    missing = ~np.isfinite(keypoints).all(axis=-1)
    scores = np.where(missing, np.nan, np.asarray(scores, dtype=np.float64))
    filled_points = interpolate_gaps(np.where(missing[..., None], np.nan, keypoints), max_gap)
    # interpolate_gaps works on (F, P, 2): duplicate the score channel rather than rely on more
    filled_scores = interpolate_gaps(np.stack([scores, scores], axis=-1), max_gap)[..., 0]
    return filled_points, filled_scores


@dataclass
class DisplaySkeleton:
    """One performer's drawable skeleton for every frame of the song.

    ``points``: (n, 133, 2) int32 pixels (rounded; meaningless where not visible);
    ``visible``: (n, 133) bool; ``edges``: (E, 2) int64 drawable edges; ``hidden``: never-drawn points;
    ``first_frame``: the song frame of row 0 (only a window of a long song is prepared).
    """
    points: np.ndarray
    visible: np.ndarray
    edges: np.ndarray
    hidden: tuple[int, ...]
    first_frame: int = 0

    def row(self, frame: int) -> int | None:
        """Row of song frame ``frame``, or None outside the prepared frames."""
        row = frame - self.first_frame
        return row if 0 <= row < self.points.shape[0] else None


def display_skeleton(keypoints: np.ndarray, scores: np.ndarray, threshold: float, instrument: str,
                     position: int | None, n_performers: int | None, fps: float,
                     face: np.ndarray | None = None,
                     max_gap_s: float | None = DISPLAY_MAX_GAP_S,
                     frames: tuple[int, int] | None = None) -> DisplaySkeleton:
    """Apply the module's display rules to ``keypoints`` (F, 133, 2) pixels and ``scores`` (F, 133).

    ``face``: optional (F, 68, 2) pixels from a dedicated face landmarker (``face_keypoints.npy``);
    it fills the vocalist's face slots where the whole-body face points are missing, counting as
    confident. ``frames``: ``(first, stop)`` song frames to prepare (default all). Only that window
    plus ``max_gap`` frames either side is processed, which gives the same result as processing the
    whole song: a gap reaching past the margin has no neighbour there and stays empty either way.
    """
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_KEYPOINTS, 2):
        raise ValueError(f"keypoints must be (F, {NUM_KEYPOINTS}, 2), got {keypoints.shape}")
    max_gap = None if max_gap_s is None else max(1, int(round(max_gap_s * fps)))
    first, stop = (0, len(keypoints)) if frames is None else frames
    if frames is not None and max_gap is not None:
        lo, hi = max(0, first - max_gap - 1), min(len(keypoints), stop + max_gap + 1)
    else:
        lo, hi = 0, len(keypoints)
    keypoints = np.array(keypoints[lo:hi], dtype=np.float64)
    scores = np.array(scores[lo:hi], dtype=np.float64)
    if face is not None:
        face = face[lo:hi]
    if face is not None and instrument == VOCAL and len(face) == len(keypoints):
        face_slots = list(FACE)
        use = ~np.isfinite(keypoints[:, face_slots]).all(-1) & np.isfinite(face).all(-1)
        keypoints[:, face_slots] = np.where(use[..., None], face, keypoints[:, face_slots])
        scores[:, face_slots] = np.where(use, np.inf, scores[:, face_slots])
    points, filled_scores = fill_display_gaps(keypoints, scores, max_gap)
    hidden = hidden_points(instrument, position, n_performers)
    visible = (filled_scores >= threshold) & np.isfinite(points).all(axis=-1)
    visible[:, list(hidden)] = False
    pixel_points = np.rint(np.nan_to_num(points, nan=-1.0)).clip(-1e6, 1e6).astype(np.int32)
    return DisplaySkeleton(pixel_points, visible, drawable_edges(hidden), hidden, first_frame=lo)
