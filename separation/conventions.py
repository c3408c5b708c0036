"""Input conventions of a separation model: how a song's mixture and face points become its input.

The network (``separation.vovit``) is one function; what differs between official VoViT weights and
models trained here is what they were fed. Every checkpoint records its conventions
(``separation.checkpoint``, key ``conventions``); data preparation (``separation.data``) and whole-song
inference (``separation.inference``) apply them. They are never guessed: a checkpoint without them is
refused.

``mixture_normalisation`` (the model sees ``mixture / scale``; its estimate is at that scale, and
``× scale`` gives it back at the song's level)
    ``chunk_peak``  ``scale`` = the absolute peak of the 4-s window itself. Project-trained models:
                    each window's input depends on that window only, so whole-song inference does not
                    depend on which windows share a batch, and training crops see the same rule.
    ``song_peak``   ``scale`` = the absolute peak of the whole song's mixture. Official VoViT: its
                    wrapper divides by the peak over the batch it is given, and its whole-song path
                    (``SingingVoiceVoViT.forward_unlimited``) gives it every chunk of the song as one
                    batch, so that peak is the song's. Fixed per song here, so batching cannot change it.
    A silent window or song (peak 0) has ``scale`` 1.

``face_coordinates`` (face points of ``face`` and ``face_body`` models; body points are always
normalised per frame, ``separation.data``)
    ``registered``  similarity registration (rotation, translation, scale) onto VoViT's mean face,
                    fitted on ``face_fit_points`` (``core.face``), then mean-face units
                    ``(p − c) / r`` (``c`` the mean face's centroid, ``r`` its largest point distance
                    from ``c``): a registered face has the mean face's size, so the mean face (the
                    saliency baseline) is a typical input. Project-trained models.
    ``raw``         the points' pixel coordinates as they are in the keypoint file, not registered or
                    scaled (VoViT's singing path feeds its landmarks unchanged). VoViT's own landmarks
                    were 3DDFA face-crop pixels (x 38–187, y 31–163 for its mean face); keypoints in
                    whole-video pixels are not converted to a crop here.
``face_fit_points``  ``stable`` (brows, nose, eyes: the jaw opening survives) | ``all`` | ``no_lips``
                    (``core.face.FACE_FIT_POINTS``); used by ``registered`` only.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from core.face import FACE_FIT_POINTS

MIXTURE_NORMALISATIONS = ("chunk_peak", "song_peak")
FACE_COORDINATES = ("registered", "raw")


@dataclass(frozen=True)
class InputConventions:
    mixture_normalisation: str = "chunk_peak"
    face_coordinates: str = "registered"
    face_fit_points: str = "stable"

    def __post_init__(self):
        for name, value, allowed in (
                ("mixture_normalisation", self.mixture_normalisation, MIXTURE_NORMALISATIONS),
                ("face_coordinates", self.face_coordinates, FACE_COORDINATES),
                ("face_fit_points", self.face_fit_points, tuple(FACE_FIT_POINTS))):
            if value not in allowed:
                raise ValueError(f"input convention {name} must be one of {allowed}, got {value!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "InputConventions":
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown input conventions {sorted(unknown)}")
        return cls(**data)


PROJECT = InputConventions("chunk_peak", "registered", "stable")
OFFICIAL_VOVIT = InputConventions("song_peak", "raw", "stable")


def peak(signal: np.ndarray) -> float:
    """Absolute peak of a signal, 1.0 for a silent one (so dividing by it is always defined)."""
    value = float(np.max(np.abs(signal))) if np.size(signal) else 0.0
    return value if value > 0 and np.isfinite(value) else 1.0


def mixture_scale(window: np.ndarray, song_peak: float, normalisation: str) -> float:
    """The divisor ``scale`` of one window (module docstring): ``window`` ``(N,)`` raw samples,
    ``song_peak`` the whole song's ``peak``."""
    if normalisation == "chunk_peak":
        return peak(window)
    if normalisation == "song_peak":
        return float(song_peak)
    raise ValueError(f"unknown mixture normalisation {normalisation!r}")
