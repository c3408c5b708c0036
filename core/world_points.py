"""Metric 3D points per performer ("world points"), the input of the ``points3d`` condition.

Layout ``blazepose_33`` (``WORLD_POINT_NAMES``): MediaPipe Pose's 33 landmarks in its order, in
metres, origin at the midpoint of the hips, x to the performer's image right (the image's x), y
down (the image's y), z away from the camera (smaller z = nearer); what MediaPipe's
``pose_world_landmarks`` are (the pose stage stores them per person, docs/CONTRACTS.md). Face-mesh
and hand landmarks are not part of the layout: Holistic gives them only image-normalised, with a z
relative to the face or the wrist in image-width units, not in metres.

Files (per performer, written by post-processing beside ``keypoints.npy``, and by the benchmark
scenes' generator, ``demo_generator.scenes.write_scene_world_points``):

``<song>/<performer>/world_points.npy``   ``(F, 33, 3)`` float32 metres, NaN = missing (frames of
                                          the pose file's video: the keypoints' frames)
``<song>/<performer>/world_points.json``  ``{"format": 1, "layout": "blazepose_33", "units": "m",
                                          "origin", "axes", "source", "synthetic": bool, ...}``:
                                          where the points come from (``synthetic`` true for the
                                          scenes' generated depth, with its depth model)

``COCO_FOR_WORLD_POINT`` maps each of the 33 points to the COCO-WholeBody point (``core.keypoints``)
at the same body spot (used by the scenes' generator to lift its 2D ground truth).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import SongDataError
from .io import UnreadableFileError, load_json, load_npy, save_json, save_npy
from .keypoints import FACE_OFFSET, LEFT_HAND_OFFSET, RIGHT_HAND_OFFSET

WORLD_POINTS_NAME = "world_points.npy"
WORLD_POINTS_INFO_NAME = "world_points.json"
WORLD_POINTS_FORMAT = 1
LAYOUT = "blazepose_33"
WORLD_POINT_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
N_WORLD_POINTS = len(WORLD_POINT_NAMES)          # 33
ORIGIN = "midpoint of the hips"
AXES = "x image right, y image down, z away from the camera (metres)"

# COCO-WholeBody index of each BlazePose point (face points in iBUG order: eye corners 36/39/42/45,
# mouth corners 48/54; hand points: thumb 2 = MCP, index 5 = MCP, pinky 17 = MCP)
COCO_FOR_WORLD_POINT = (
    0, FACE_OFFSET + 42, 1, FACE_OFFSET + 45, FACE_OFFSET + 39, 2, FACE_OFFSET + 36, 3, 4,
    FACE_OFFSET + 54, FACE_OFFSET + 48,
    5, 6, 7, 8, 9, 10,
    LEFT_HAND_OFFSET + 17, RIGHT_HAND_OFFSET + 17, LEFT_HAND_OFFSET + 5, RIGHT_HAND_OFFSET + 5,
    LEFT_HAND_OFFSET + 2, RIGHT_HAND_OFFSET + 2,
    11, 12, 13, 14, 15, 16, 19, 22, 17, 20,
)
assert len(COCO_FOR_WORLD_POINT) == N_WORLD_POINTS
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_HIP, RIGHT_HIP = 23, 24


def world_points_info(source: str, synthetic: bool, **extra) -> dict:
    """The ``world_points.json`` record (module docstring)."""
    return {"format": WORLD_POINTS_FORMAT, "layout": LAYOUT, "units": "m", "origin": ORIGIN,
            "axes": AXES, "source": source, "synthetic": bool(synthetic), **extra}


def save_world_points(folder: str | Path, points: np.ndarray, info: dict) -> None:
    """Write ``(F, 33, 3)`` points and their info atomically (the info last: it marks a finished
    write). ``ValueError`` for another shape."""
    points = np.asarray(points, np.float32)
    if points.ndim != 3 or points.shape[1:] != (N_WORLD_POINTS, 3):
        raise ValueError(f"world points have shape {points.shape}, expected "
                         f"(F, {N_WORLD_POINTS}, 3)")
    folder = Path(folder)
    save_npy(folder / WORLD_POINTS_NAME, points)
    save_json(folder / WORLD_POINTS_INFO_NAME, info)


def world_points_files(song_dir: str | Path, instrument: str) -> list[Path]:
    folder = Path(song_dir) / instrument
    return [folder / WORLD_POINTS_NAME, folder / WORLD_POINTS_INFO_NAME]


def load_world_points(song_dir: str | Path, instrument: str) -> tuple[np.ndarray, dict]:
    """One performer's ``(F, 33, 3)`` float32 points and info. ``FileNotFoundError`` when the
    performer has no ``world_points.npy``; ``SongDataError`` naming the file for a damaged one,
    another shape or layout."""
    path, info_path = world_points_files(song_dir, instrument)
    if not path.is_file():
        raise FileNotFoundError(f"{instrument}/{WORLD_POINTS_NAME} does not exist")
    try:
        points = load_npy(path)
        info = load_json(info_path) if info_path.is_file() else {}
    except UnreadableFileError as exc:
        raise SongDataError(str(exc)) from None
    if not isinstance(info, dict):
        raise SongDataError(f"{info_path}: not a world-points record")
    if info.get("layout", LAYOUT) != LAYOUT:
        raise SongDataError(f"{info_path}: layout {info.get('layout')!r}, expected {LAYOUT!r}")
    if points.ndim != 3 or points.shape[1:] != (N_WORLD_POINTS, 3) or points.dtype.kind != "f":
        raise SongDataError(f"{path}: {points.dtype} array of shape {points.shape}, expected "
                            f"float (F, {N_WORLD_POINTS}, 3)")
    return points.astype(np.float32), info


def remove_world_points(folder: str | Path) -> None:
    """Delete a performer's world-points files (a pose file without world points replaced the one
    they came from: they would no longer match the keypoints)."""
    for path in world_points_files(Path(folder).parent, Path(folder).name):
        path.unlink(missing_ok=True)
