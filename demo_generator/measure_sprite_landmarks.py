"""Measure the performers' whole-body landmarks on the sprite images once, with MediaPipe.

The benchmark scenes (``demo_generator.scenes``) write ground-truth keypoints instead of running
pose estimation on hundreds of scene-seconds. Their keypoints start from these landmarks: the 133
COCO-WholeBody points that MediaPipe Holistic (``static_image_mode``, model complexity 1, the same
index mapping as the pose stage, ``pose_estimation.mapping``) finds on each still sprite (a crop of
a photograph shipped offline, see ``demo_generator.video.SPRITE_SOURCES``), in sprite pixels, with
Holistic's scores. The scene generator then moves them with the same warps and sway as the video.

Run (rewrites ``sprite_landmarks.json`` beside this file; needs the MediaPipe extra)::

    python -m demo_generator.measure_sprite_landmarks

The file records each sprite's ``SpriteSource`` so that a changed crop or scale is caught (tested).
"""
from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from core.io import load_json, save_json

from .video import SPRITE_SOURCES, load_sprite

LANDMARKS_PATH = Path(__file__).resolve().parent / "sprite_landmarks.json"
MEASURED_WITH = "mediapipe 0.10.21 Holistic, static_image_mode, model_complexity 1, " \
                "pose_estimation.mapping.holistic_to_wholebody"


def sprite_source_record(key: str) -> dict:
    """The ``SpriteSource`` of ``key`` as JSON (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(SPRITE_SOURCES[key]).items()}


def measure(key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(133, 2)`` float64 sprite-pixel landmarks (NaN = not found) and ``(133,)`` scores of the
    sprite ``key`` (a key of ``SPRITE_SOURCES``)."""
    import mediapipe as mp

    from pose_estimation.mapping import holistic_to_wholebody, landmarks_to_array

    sprite = load_sprite(key)
    image = np.clip(sprite.rgb + 0.5, 0, 255).astype(np.uint8)
    h, w = image.shape[:2]
    with mp.solutions.holistic.Holistic(static_image_mode=True, model_complexity=1,
                                        min_detection_confidence=0.3) as holistic:
        result = holistic.process(image)
    keypoints, scores = holistic_to_wholebody(
        landmarks_to_array(result.pose_landmarks, with_visibility=True),
        landmarks_to_array(result.face_landmarks), landmarks_to_array(result.left_hand_landmarks),
        landmarks_to_array(result.right_hand_landmarks), (0.0, 0.0, float(w), float(h)))
    return keypoints.astype(np.float64), scores.astype(np.float64)


def load_sprite_landmarks(key: str) -> tuple[np.ndarray, np.ndarray]:
    """The stored landmarks of sprite ``key``: ``(133, 2)`` float64 (NaN = not found), ``(133,)``
    scores. Raises ``ValueError`` when the sprite's source changed since they were measured."""
    stored = load_json(LANDMARKS_PATH)["sprites"][key]
    if stored["source"] != sprite_source_record(key):
        raise ValueError(f"sprite {key!r} changed since its landmarks were measured: run "
                         f"python -m demo_generator.measure_sprite_landmarks")
    points = np.array([[np.nan, np.nan] if p is None else p for p in stored["keypoints"]], np.float64)
    return points, np.array(stored["scores"], np.float64)


def main() -> int:
    sprites = {}
    for key in SPRITE_SOURCES:
        points, scores = measure(key)
        sprites[key] = {"source": sprite_source_record(key),
                        "keypoints": [None if not np.isfinite(p).all() else np.round(p, 2).tolist()
                                      for p in points],
                        "scores": np.round(scores, 3).tolist()}
        print(f"{key}: {int(np.isfinite(points).all(axis=1).sum())} of 133 points found")
    save_json(LANDMARKS_PATH, {"measured_with": MEASURED_WITH, "units": "sprite pixels, x right, y down",
                               "sprites": sprites}, indent=1)
    print(f"wrote {LANDMARKS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
