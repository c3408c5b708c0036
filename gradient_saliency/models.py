"""Which separation checkpoint a ``--model`` name means, loading it, and the song's chunks.

The models and the chunking belong to the ``separation`` stage; this module only calls its published
interface (``separation.checkpoint.load_checkpoint``, ``separation.data.song_chunks``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from separation.checkpoint import CHECKPOINT_DIR, LoadedModel, checkpoint_instrument

KEYPOINT_MODELS = ("face_body", "face", "body")
# frames (pixel regions, gradient_saliency.pixel_regions): no shipped checkpoint, no sanity check yet
MODEL_CHOICES = KEYPOINT_MODELS + ("frames",)
# The shipped checkpoints are the separation benchmark's rows, all separating the queried vocalist.
DEFAULT_CHECKPOINTS = {"face": "vocal_face_small", "body": "vocal_body_small",
                       "face_body": "vocal_face_body_xattn_small"}
# The instrument each model separates when its checkpoint does not say.
DEFAULT_INSTRUMENT = {"face": "vocal", "body": "vocal", "face_body": "vocal", "frames": "vocal"}


def checkpoint_path(model_name: str, checkpoint: str | Path | None = None) -> Path:
    if model_name not in MODEL_CHOICES:
        raise ValueError(f"unknown model {model_name!r}: expected one of {MODEL_CHOICES}")
    if checkpoint:
        return Path(checkpoint)
    if model_name not in DEFAULT_CHECKPOINTS:
        raise ValueError(f"--model {model_name} has no shipped checkpoint: pass --checkpoint")
    return CHECKPOINT_DIR / f"{DEFAULT_CHECKPOINTS[model_name]}.pt"


def load_model(model_name: str, checkpoint: str | Path | None, device) -> LoadedModel:
    """Load the checkpoint for ``--model`` (or ``--checkpoint``) onto ``device``, in eval mode."""
    path = checkpoint_path(model_name, checkpoint)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist: train/ship it with the separation "
                                f"stage, or pass --checkpoint")
    from separation.checkpoint import load_checkpoint

    model, meta = load_checkpoint(path, map_location=device, expect_visual=model_name)
    return LoadedModel(model, path, model.config.visual,
                       checkpoint_instrument(path, meta, DEFAULT_INSTRUMENT[model_name]), meta)


def load_song_chunks(song_dir: Path, song, instrument: str, visual_kind: str, conventions,
                     options: dict | None = None) -> list:
    """The song's 4-s chunks as the separation stage builds them for a model with these input
    ``conventions`` and encoder ``options`` (``separation.data.song_chunks``,
    ``LoadedModel.conventions``, ``VoViTConfig.encoder_options``)."""
    from separation.data import song_chunks

    return song_chunks(song_dir, song, instrument, visual_kind, conventions=conventions,
                       options=options)


def mean_face_in_model_space(conventions) -> torch.Tensor:
    """VoViT's mean face as the face part of the model input, ``(2, 68)`` float32 (x row, y row).

    For this project's ``registered`` face coordinates the face input is the similarity-registered
    face in mean-face units, ``(p − c) / r`` (``c`` the mean face's centroid, ``r`` its largest point
    distance from ``c``; see ``separation.data``), so the mean face itself becomes ``(m − c) / r`` and
    a registered face has its size; for ``raw`` coordinates it is the mean face in pixels. The
    separation stage publishes exactly that as ``separation.data.normalised_mean_face(conventions)``
    ``(68, 2)``; it is used here rather than re-derived, so the baseline lives where real face inputs
    live.
    """
    from separation.data import normalised_mean_face

    return torch.as_tensor(np.asarray(normalised_mean_face(conventions), dtype=np.float32).T)
