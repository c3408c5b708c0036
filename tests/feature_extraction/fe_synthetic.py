"""Small synthetic datasets for the feature-extraction tests (no pose stage, no video needed).

Each performer is a fixed upper-body skeleton (133 points, pixels) whose right wrist, right elbow,
jaw and hands are displaced in proportion to an amplitude envelope; the envelope of performer k is the
envelope of instrument k's stem, so every performer's motion follows their own stem.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from core.io import save_json
from core.keypoints import FACE, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND
from core.pose_files import InstrumentPose, save_instrument_pose

SR = 48_000
FPS = 30.0


def base_skeleton(x0: float) -> np.ndarray:
    """(133, 2) pixel positions of a seated performer centred at x = x0."""
    rng = np.random.default_rng(int(x0))
    points = np.zeros((NUM_KEYPOINTS, 2))
    points[:, 0] = x0 + rng.uniform(-60, 60, NUM_KEYPOINTS)
    points[:, 1] = 300 + rng.uniform(-120, 120, NUM_KEYPOINTS)
    # a recognisable face: the VoViT mean face scaled down, around the head
    from core.face import load_mean_face
    mean_face = load_mean_face()
    points[list(FACE)] = (mean_face - mean_face.mean(axis=0)) * 0.4 + [x0, 200]
    points[5], points[6] = [x0 - 50, 280], [x0 + 50, 280]          # shoulders
    points[7], points[8] = [x0 - 70, 350], [x0 + 70, 350]          # elbows
    points[9], points[10] = [x0 - 60, 420], [x0 + 90, 420]         # wrists
    return points


def envelope(n_frames: int, seed: int) -> np.ndarray:
    """A random, smooth, positive envelope per video frame (bursts of activity)."""
    rng = np.random.default_rng(seed)
    raw = rng.random(n_frames) ** 3
    kernel = np.hanning(7)
    return np.convolve(raw, kernel / kernel.sum(), mode="same")


def stem_from_envelope(env: np.ndarray, seed: int, fps: float = FPS, sr: int = SR) -> np.ndarray:
    """Noise modulated by ``env`` (held per video frame): its RMS tracks the envelope."""
    rng = np.random.default_rng(seed + 1000)
    samples_per_frame = int(sr / fps)
    gain = np.repeat(env, samples_per_frame)
    return (0.8 * gain / env.max() * rng.standard_normal(len(gain))).astype(np.float32)


def moving_keypoints(env: np.ndarray, x0: float) -> np.ndarray:
    """(F, 133, 2) keypoints whose right arm, hands and jaw move with ``env``."""
    base = base_skeleton(x0)
    kp = np.repeat(base[None], len(env), axis=0)
    phase = np.cumsum(env) * 0.6
    swing = 40 * env[:, None] * np.stack([np.cos(phase), np.sin(phase)], axis=1)
    for idx in (8, 10) + RIGHT_HAND + LEFT_HAND + (9,):
        kp[:, idx] += swing
    chin_and_lips = [23 + i for i in list(range(5, 12)) + list(range(54, 60)) + list(range(63, 68))]
    kp[:, chin_and_lips, 1] += 12 * env[:, None]
    return kp.astype(np.float32)


def make_dataset(root: Path, seconds: float = 8.0, layout=("vocal", "violin", "mridangam"),
                 artist: str = "Synth Artist", song: str = "Synth Song",
                 face_false_positive_frames=(), score_scale: str = "probability") -> Path:
    """Write metadata, stems and keypoints for one song; returns the dataset root."""
    n_frames = int(FPS * seconds)
    song_dir = root / artist / song
    song_dir.mkdir(parents=True, exist_ok=True)
    for position, instrument in enumerate(layout):
        env = envelope(n_frames, seed=position + 1)
        prefix = "mri" if instrument == "mridangam" else instrument
        sf.write(song_dir / f"{prefix}_close.wav", stem_from_envelope(env, position), SR)
        keypoints = moving_keypoints(env, x0=250 + 400 * position)
        scores = np.ones(keypoints.shape[:2], np.float32) * (0.9 if score_scale == "probability" else 8)
        info = {"backend": "mediapipe" if score_scale == "probability" else "mmpose",
                "model": "synthetic", "score_scale": score_scale, "fps": FPS,
                "frame_size": [1280, 720], "position": position, "n_performers": len(layout),
                "layout": list(layout)}
        save_instrument_pose(song_dir / instrument, InstrumentPose(keypoints, scores, info))
    metadata = {artist: {song: {"layout": list(layout), "moving_camera": False, "fps": FPS,
                                "duration": seconds, "correct_body_detection": True,
                                "face_false_positive_frames": [list(r) for r in
                                                               face_false_positive_frames]}}}
    save_json(root / "dataset_metadata.json", metadata)
    return root
