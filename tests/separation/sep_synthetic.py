"""Synthetic songs for the separation tests: known stems and known keypoint motion, written with the
same core writers the real pipeline uses."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.face import load_mean_face
from core.keypoints import FACE, NUM_KEYPOINTS
from core.pose_files import InstrumentPose, save_instrument_pose
from separation.vovit import CHUNK_SAMPLES, SAMPLE_RATE, make_config

SR = 16384
FPS = 30.0


# a tiny frames encoder: 32-px crops, one frame in 25 (4 per chunk), ResNet width 4, K = 4
TINY_FRAMES = {"crop_size": 32, "frame_stride": 25, "width": 4, "channels": 4}


def tiny_config(visual: str = "face", cross_modal: bool = False):
    """A few-thousand-parameter model of the same family, for fast tests."""
    return make_config(visual, "small", cross_modal=cross_modal, audio_channels=4,
                       time_dilations=(1,), both_dilations=(2,), gcn_channels=(8, 8), d_model=32,
                       nhead=2, dim_feedforward=32, encoder_layers=1, decoder_layers=1,
                       cross_heads=2, dropout=0.0,
                       encoder=TINY_FRAMES if visual == "frames" else None)


def chunk_turn_voices(rng: np.random.Generator, on_turn=None) -> tuple[np.ndarray, np.ndarray]:
    """One 4-s chunk of two voices with the same timbre (harmonics 1-4, amplitude 1/h; f0 and
    level drawn from the same ranges per turn) taking turns of 0.3-0.7 s with 0.05-0.2 s gaps,
    either starting: the audio cannot say which voice is which performer's. Returns ``voices``
    and their on/off ``gates``, both ``(2, CHUNK_SAMPLES)``. ``on_turn(who, start, end)`` is
    called after each turn (seconds), before the next draw, so its own draws from ``rng`` keep
    their place in the stream."""
    t = np.arange(CHUNK_SAMPLES) / SAMPLE_RATE
    voices, gates = np.zeros((2, CHUNK_SAMPLES)), np.zeros((2, CHUNK_SAMPLES))
    who, start = int(rng.integers(2)), rng.uniform(0.0, 0.2)
    while start < 3.9:
        end = min(start + rng.uniform(0.3, 0.7), 4.0)
        f0, level = rng.uniform(200, 400), rng.uniform(0.1, 0.2)
        gate = (t >= start) & (t < end)
        voices[who] += level * gate * sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 5))
        gates[who] += gate
        if on_turn is not None:
            on_turn(who, start, end)
        start, who = end + rng.uniform(0.05, 0.2), 1 - who
    return voices, gates


def turn_envelopes(gates: np.ndarray) -> np.ndarray:
    """``(2, CHUNK_SAMPLES)`` gates → each voice's share of sung samples per 25-fps frame
    ``(2, 100)`` (655 samples per frame)."""
    return gates[:, :100 * 655].reshape(2, 100, 655).mean(axis=2)


def train_tiny_model(config, next_batch, condition: str, steps: int):
    """A fresh model of ``config`` (torch seed 0) trained for ``steps`` on ``next_batch()`` batches
    (dicts with ``mixture``, ``target`` and the ``condition`` input), AdamW at 3e-3; in eval mode."""
    import torch

    from separation.training import train_step
    from separation.vovit import VoViT

    torch.manual_seed(0)
    model = VoViT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        batch = next_batch()
        train_step(model, optimizer, batch["mixture"], batch["target"], batch[condition])
    return model.eval()


def named_and_swapped_si_sdr(model, batch: dict, condition: str, other_condition: str):
    """SI-SDR ``(B,)`` of the model's output given ``batch[condition]`` towards ``target`` and
    towards ``other``, and given ``batch[other_condition]`` towards ``other``: a model that follows
    its condition is near the first and third, far from the second."""
    import torch

    from separation.metrics import chunk_metrics

    with torch.no_grad():
        named = model(batch["mixture"], batch[condition]).numpy()
        swapped = model(batch["mixture"], batch[other_condition]).numpy()
    return (chunk_metrics(named, batch["target"].numpy())["si_sdr"],
            chunk_metrics(named, batch["other"].numpy())["si_sdr"],
            chunk_metrics(swapped, batch["other"].numpy())["si_sdr"])


def synthetic_keypoints(n_frames: int, rng: np.random.Generator, x0: float = 300.0,
                        missing_frames: tuple[int, ...] = ()) -> np.ndarray:
    """``(F, 133, 2)`` float32 pixels: a mean face at (x0, 200) scaled ×1.5 plus a body, moving
    slowly; frames in ``missing_frames`` are all NaN."""
    kp = np.full((n_frames, NUM_KEYPOINTS, 2), np.nan, np.float32)
    face = load_mean_face()
    face = (face - face.mean(0)) * 1.5
    t = np.arange(n_frames)[:, None]
    kp[:, list(FACE)] = face[None] + np.array([x0, 200.0]) + np.stack(
        [5 * np.sin(t / 7.0), 3 * np.cos(t / 5.0)], -1)
    body = rng.normal(0, 40, (NUM_KEYPOINTS, 2)) + np.array([x0, 400.0])
    for i in list(range(0, 13)) + list(range(91, 133)):
        kp[:, i] = body[i] + np.stack([4 * np.sin(t[:, 0] / 4.0 + i), np.zeros(n_frames)], -1)
    kp[list(missing_frames)] = np.nan
    return kp


def write_song(root: Path, artist: str, song: str, seconds: float, rng: np.random.Generator,
               instruments=("vocal", "violin"), keypoints_for=("vocal", "violin"),
               missing_frames: tuple[int, ...] = ()) -> Path:
    """Write stems (sines + noise at 16384 Hz) and keypoints for one song; returns its folder."""
    folder = root / artist / song
    folder.mkdir(parents=True, exist_ok=True)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    for k, name in enumerate(instruments):
        wave = 0.3 * np.sin(2 * np.pi * (220 * (k + 1)) * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
        wave += 0.01 * rng.standard_normal(n)
        sf.write(folder / f"{name}_close.wav", wave.astype(np.float32), SR)
    n_frames = int(seconds * FPS)
    for k, name in enumerate(keypoints_for):
        kp = synthetic_keypoints(n_frames, rng, 300.0 + 400 * k, missing_frames)
        scores = np.where(np.isnan(kp[..., 0]), 0.0, 0.9).astype(np.float32)
        save_instrument_pose(folder / name, InstrumentPose(kp, scores, {
            "backend": "mediapipe", "score_scale": "probability", "fps": FPS,
            "frame_size": [1280, 720], "position": k, "n_performers": len(instruments),
            "layout": list(instruments)}))
    return folder


def write_metadata(root: Path, entries: dict) -> None:
    (root / "dataset_metadata.json").write_text(json.dumps(entries), encoding="utf-8")


def make_synthetic_dataset(tmp_path: Path) -> Path:
    """Two songs with keypoints (9 s and 5 s) and one whose vocalist has no keypoints."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    write_song(root, "Art", "Song One", 9.0, rng)
    write_song(root, "Art", "Song Two", 5.0, rng)
    write_song(root, "Art", "No Pose", 5.0, rng, keypoints_for=("violin",))
    entry = {"layout": ["vocal", "violin"], "fps": FPS, "moving_camera": False}
    write_metadata(root, {"Art": {"Song One": {**entry, "duration": 9.0},
                                  "Song Two": {**entry, "duration": 5.0},
                                  "No Pose": {**entry, "duration": 5.0}}})
    return root


@pytest.fixture()
def synthetic_dataset(tmp_path) -> Path:
    """Two songs with keypoints (9 s and 5 s) and one whose vocalist has no keypoints."""
    return make_synthetic_dataset(tmp_path)
