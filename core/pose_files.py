"""Per-instrument keypoint files written by post-processing and read by every later stage.

``<song>/<instrument>/keypoints.npy``        (F, 133, 2) float32, pixels, NaN = missing
``<song>/<instrument>/keypoint_scores.npy``  (F, 133) float32, backend's score scale
``<song>/<instrument>/pose_info.json``       backend, model, score scale, fps, frame size, position
``<song>/vocal/face_keypoints.npy``          (F, 68, 2) float32, pixels (the vocalist's face)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset import (FACE_KEYPOINTS_NAME, KEYPOINTS_NAME, POSE_INFO_NAME, SCORES_NAME,
                      SongDataError)
from .io import load_json, load_npy, save_json, save_npy
from .keypoints import NUM_KEYPOINTS

# Default confidence threshold per backend score scale. MMPose/RTMW scores are SimCC confidences
# (Saraga means ~7-8.5; the published default is 3.0). MediaPipe gives 0-1 visibility/presence.
DEFAULT_SCORE_THRESHOLD = {"simcc": 3.0, "probability": 0.5}
BACKEND_SCORE_SCALE = {"mmpose": "simcc", "rtmlib": "simcc", "mediapipe": "probability"}


def default_threshold(info: dict | None) -> float:
    """The score threshold to use when the user gave no ``-ct``: from the recorded score scale."""
    scale = (info or {}).get("score_scale") or BACKEND_SCORE_SCALE.get((info or {}).get("backend"),
                                                                       "simcc")
    return DEFAULT_SCORE_THRESHOLD[scale]


@dataclass
class InstrumentPose:
    keypoints: np.ndarray   # (F, 133, 2) float32, pixels, NaN = missing
    scores: np.ndarray      # (F, 133) float32
    info: dict              # backend, score_scale, fps, frame_size, position, n_performers, ...

    @property
    def n_frames(self) -> int:
        return int(self.keypoints.shape[0])


def save_instrument_pose(out_dir: str | Path, pose: InstrumentPose) -> None:
    """Write keypoints, scores and info atomically; info last, so it marks a finished write."""
    out_dir = Path(out_dir)
    save_npy(out_dir / KEYPOINTS_NAME, pose.keypoints.astype(np.float32))
    save_npy(out_dir / SCORES_NAME, pose.scores.astype(np.float32))
    save_json(out_dir / POSE_INFO_NAME, pose.info)


def load_instrument_pose(song_dir: str | Path, instrument: str) -> InstrumentPose:
    """Load and check one performer's keypoints; ``SongDataError`` names what is wrong."""
    folder = Path(song_dir) / instrument
    kpath, spath = folder / KEYPOINTS_NAME, folder / SCORES_NAME
    if not kpath.exists():
        raise SongDataError(f"no keypoints for {instrument}: {kpath} missing (run pose_estimation --post)")
    keypoints = load_npy(kpath)
    scores = load_npy(spath) if spath.exists() else np.where(
        np.isnan(keypoints[..., 0]), 0.0, 1.0).astype(np.float32)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_KEYPOINTS, 2):
        raise SongDataError(f"{kpath}: shape {keypoints.shape}, expected (F, {NUM_KEYPOINTS}, 2)")
    if scores.shape != keypoints.shape[:2]:
        raise SongDataError(f"{spath}: shape {scores.shape} does not match keypoints {keypoints.shape}")
    info_path = folder / POSE_INFO_NAME
    info = load_json(info_path) if info_path.exists() else {}
    return InstrumentPose(keypoints.astype(np.float32), scores.astype(np.float32), info)


def save_face_keypoints(song_dir: str | Path, face: np.ndarray) -> None:
    """``face``: (F, 68, 2) float32 pixels → ``<song>/vocal/face_keypoints.npy``."""
    save_npy(Path(song_dir) / "vocal" / FACE_KEYPOINTS_NAME, face.astype(np.float32))
