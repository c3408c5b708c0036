"""Tiny synthetic media for the dataset_analysis tests (videos a few frames long, wavs at 8 kHz).

A plain module (not a conftest) so that it never shadows the shared ``tests/conftest.py`` helpers
that tests import with ``from conftest import run_cli``.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

VIDEO_SIZE = (64, 48)   # width, height


def write_wav(path: Path, seconds: float, sr: int = 8000, seed: int = 0) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).normal(0, 0.1, int(round(seconds * sr))).astype(np.float32)
    sf.write(str(path), noise, sr)
    return path


def write_video(path: Path, n_frames: int, fps: float) -> Path:
    from core.video import VideoWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = VIDEO_SIZE
    with VideoWriter(path, fps, width, height, container_format="mov") as writer:
        for i in range(n_frames):
            frame = np.full((height, width, 3), (7 * i) % 255, dtype=np.uint8)
            writer.write(frame)
    return path


def write_garbage(path: Path, n_bytes: int = 2000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + bytes(np.random.default_rng(1).integers(0, 256, n_bytes, dtype=np.uint8)))
    return path


def write_metadata(root: Path, data: dict) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "dataset_metadata.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def metadata_entry(**overrides) -> dict:
    entry = {"layout": ["mridangam", "vocal", "violin"], "moving_camera": False, "fps": 30.0,
             "duration": 2.0, "correct_body_detection": True, "face_false_positive_frames": []}
    entry.update(overrides)
    return entry


media = SimpleNamespace(wav=write_wav, video=write_video, garbage=write_garbage,
                        metadata=write_metadata, entry=metadata_entry)
