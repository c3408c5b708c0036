"""The pose stage's per-song output ``<song>/pose_estimation_30fps.pkl`` (docs/CONTRACTS.md).

A dict: ``backend``, ``model``, ``score_scale`` (``probability`` | ``simcc``), ``fps`` (the
video's real rate; the file name is the published one), ``frame_size`` ``(w, h)``, ``n_frames``,
``video`` (file name), and ``frames``: one list per frame of persons
``{"keypoints": (133, 2) float32 pixels (NaN = not found), "scores": (133,) float32,
"box": (4,) float32 xyxy pixels}`` (backends may add keys, e.g. ``track_id``). Optional per
person: ``"world_points": (N, 3)`` float32 metres (MediaPipe: its 33 ``pose_world_landmarks``,
``core.world_points``; NaN = not found); backends without metric 3D (MMPose, rtmlib) and pose files
from before leave it out, and every reader treats it as absent then.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.dataset import SongDataError
from core.io import UnreadableFileError, load_pickle
from core.keypoints import NUM_KEYPOINTS
from core.pose_files import BACKEND_SCORE_SCALE

REQUIRED_KEYS = ("backend", "model", "score_scale", "fps", "frame_size", "n_frames", "frames")


def make_record(backend: str, model: str, fps: float, frame_size: tuple[int, int], video: str,
                frames: list[list[dict]]) -> dict:
    """Assemble the pickle's dict; ``score_scale`` follows the backend."""
    return {"backend": backend, "model": model, "score_scale": BACKEND_SCORE_SCALE[backend],
            "fps": float(fps), "frame_size": (int(frame_size[0]), int(frame_size[1])),
            "n_frames": len(frames), "video": video, "frames": frames}


def make_person(keypoints: np.ndarray, scores: np.ndarray, box, **extra) -> dict:
    """One person entry with the contract's dtypes and shapes (raises ``ValueError`` otherwise)."""
    keypoints = np.asarray(keypoints, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    box = np.asarray(box, dtype=np.float32)
    if keypoints.shape != (NUM_KEYPOINTS, 2) or scores.shape != (NUM_KEYPOINTS,) or box.shape != (4,):
        raise ValueError(f"person arrays have shapes {keypoints.shape}, {scores.shape}, {box.shape}; "
                         f"expected ({NUM_KEYPOINTS}, 2), ({NUM_KEYPOINTS},), (4,)")
    return {"keypoints": keypoints, "scores": scores, "box": box, **extra}


def arrays_to_persons(keypoints: np.ndarray, scores: np.ndarray, boxes: np.ndarray,
                      frame_wh: tuple[int, int] | None = None) -> list[dict]:
    """Top-down model output for one frame → person entries.

    ``keypoints`` (N, K, 2) pixels, ``scores`` (N, K), ``boxes`` (N, 4) xyxy pixels (the boxes the
    model was run on). K must be 133 (COCO-WholeBody), otherwise ``ValueError`` names the model's
    layout. Non-finite coordinates are stored as NaN with score 0.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, *np.shape(keypoints)[-2:]) \
        if np.size(keypoints) else np.zeros((0, NUM_KEYPOINTS, 2), np.float32)
    scores = np.asarray(scores, dtype=np.float32).reshape(len(keypoints), -1) \
        if len(keypoints) else np.zeros((0, NUM_KEYPOINTS), np.float32)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if len(keypoints) and keypoints.shape[1:] != (NUM_KEYPOINTS, 2):
        raise ValueError(f"the pose model predicts {keypoints.shape[1]} keypoints per person; "
                         f"this pipeline needs the {NUM_KEYPOINTS}-point COCO-WholeBody layout "
                         f"(use a wholebody config/model)")
    if not (len(keypoints) == len(scores) == len(boxes)):
        raise ValueError(f"{len(keypoints)} keypoint sets, {len(scores)} score sets, {len(boxes)} boxes")
    persons = []
    for kp, sc, box in zip(keypoints, scores, boxes):
        bad = ~np.isfinite(kp).all(axis=1)
        kp, sc = kp.copy(), sc.copy()
        kp[bad] = np.nan
        sc[bad | ~np.isfinite(sc)] = 0.0
        if frame_wh is not None:
            box = np.clip(box, 0, np.array([frame_wh[0], frame_wh[1]] * 2, dtype=np.float32))
        persons.append(make_person(kp, sc, box))
    return persons


def validate_record(record, where: str | Path = "pose file") -> dict:
    """Check a loaded record's shape; ``SongDataError`` names the first problem."""
    try:
        return _validate_record(record, where)
    except (TypeError, AttributeError, ValueError, KeyError) as exc:   # e.g. frames not a list
        raise SongDataError(f"{where}: not a pose record ({type(exc).__name__}: {exc})") from None


def _validate_record(record, where) -> dict:
    if not isinstance(record, dict):
        raise SongDataError(f"{where}: not a pose record (a {type(record).__name__})")
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise SongDataError(f"{where}: missing {', '.join(missing)}")
    if len(record["frames"]) != record["n_frames"]:
        raise SongDataError(f"{where}: n_frames {record['n_frames']} but {len(record['frames'])} frames")
    world_counts = set()
    for index, persons in enumerate(record["frames"]):
        for person in persons:
            kp, sc, box = (np.asarray(person.get(k)) for k in ("keypoints", "scores", "box"))
            if kp.shape != (NUM_KEYPOINTS, 2) or sc.shape != (NUM_KEYPOINTS,) or box.shape != (4,):
                raise SongDataError(
                    f"{where}: frame {index} has a person with keypoints {kp.shape}, scores "
                    f"{sc.shape}, box {box.shape}; expected the {NUM_KEYPOINTS}-point layout")
            if not np.isfinite(box).all():
                raise SongDataError(f"{where}: frame {index} has a person with a non-finite box")
            if person.get("world_points") is not None:
                world = np.asarray(person["world_points"])
                if world.ndim != 2 or world.shape[1] != 3 or world.dtype.kind != "f":
                    raise SongDataError(f"{where}: frame {index} has a person with world points "
                                        f"{world.dtype} {world.shape}; expected float (N, 3)")
                world_counts.add(world.shape[0])
                if len(world_counts) > 1:
                    raise SongDataError(f"{where}: frame {index} has a person with "
                                        f"{world.shape[0]} world points, others have "
                                        f"{min(world_counts - {world.shape[0]})}")
    return record


def load_record(path: str | Path) -> dict:
    """Load and validate a pose pickle; ``SongDataError`` if missing or malformed."""
    path = Path(path)
    if not path.exists():
        raise SongDataError(f"{path} does not exist (run pose_estimation --pose first)")
    try:
        record = load_pickle(path)   # data only: a crafted file is refused, its code never runs
    except UnreadableFileError as exc:
        raise SongDataError(str(exc)) from None
    return validate_record(record, path)
