"""The pose backends behind one interface: ``Backend.estimate(frames) -> (frame_index, persons)``.

``frames`` yields ``(frame_index, (H, W, 3) uint8 RGB)`` in order; ``estimate`` yields
``(frame_index, persons)`` in the same order, each person a dict with ``keypoints`` (133, 2)
float32 pixels, ``scores`` (133,) float32 and ``box`` (4,) float32 xyxy (``pose_record``).
Optional backends import their libraries only when chosen, so the default install never needs them.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from core.settings import Settings

Frames = Iterable[tuple[int, np.ndarray]]
PersonStream = Iterator[tuple[int, list[dict]]]


@dataclass(frozen=True)
class Backend:
    name: str                                  # mediapipe | mmpose | rtmlib
    model: str                                 # what produced the keypoints (recorded in outputs)
    estimate: Callable[[Frames], PersonStream]


def make_backend(name: str, settings: Settings, device: str | None = None,
                 n_workers: int | None = None, holistic_every: int = 1,
                 holistic_models: str = "full") -> Backend:
    """Build the named backend; a missing setting, library or model file raises a clear error
    here, before any song is processed. MediaPipe only: ``holistic_every`` (Holistic on every
    k-th frame) and ``holistic_models`` ("full", published, or "lite": lite pose and hand models,
    whose pose file must be installed, ``lite_models``)."""
    if name == "mediapipe":
        from .mediapipe_backend import MediaPipeOptions, check_holistic_models, estimate_poses, model_name

        if holistic_every < 1:
            raise ValueError(f"--holistic-every must be >= 1, got {holistic_every}")
        check_holistic_models(holistic_models)
        options = MediaPipeOptions(holistic_every=holistic_every, holistic_models=holistic_models)
        if n_workers is not None:
            options = dataclasses.replace(options, n_workers=n_workers)
        return Backend("mediapipe", model_name(options), lambda frames: estimate_poses(frames, options))
    if name == "mmpose":
        from .mmpose_backend import MMPoseEstimator

        estimator = MMPoseEstimator.from_settings(settings, device)
        return Backend("mmpose", estimator.model_name, estimator.estimate)
    if name == "rtmlib":
        from .rtmlib_backend import RTMLibEstimator

        estimator = RTMLibEstimator.from_settings(settings, device)
        return Backend("rtmlib", estimator.model_name, estimator.estimate)
    raise ValueError(f"unknown pose backend {name!r}: use mediapipe, mmpose or rtmlib")


@functools.lru_cache(maxsize=4)
def shared_backend(name: str, settings: Settings, device: str | None = None,
                   n_workers: int | None = None, holistic_every: int = 1,
                   holistic_models: str = "full") -> Backend:
    """``make_backend``, built once per process: the stage's process builds it up front (so that a
    bad setting fails before any song) and the per-song work, wherever it runs, asks for it again
    (a Ray worker then builds its own, with its own model and device)."""
    return make_backend(name, settings, device, n_workers, holistic_every, holistic_models)
