"""Which separation checkpoint a ``--model`` name means, loading it, and the song's chunks.

The models and the chunking belong to the ``separation`` stage; this module only calls its published
interface (``separation.checkpoint.load_checkpoint``, ``separation.data.song_chunks``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from separation.checkpoint import CHECKPOINT_DIR, LoadedModel, checkpoint_instrument

from .regions import REGIONS

KEYPOINT_MODELS = ("face_body", "face", "body")
# frames (pixel regions, gradient_saliency.pixel_regions; sanity check too) and points3d (per 3D
# point, gradient_saliency.point_regions): no shipped checkpoint
# text, scene_graph (syllables, graph nodes/edges: gradient_saliency.regions): no shipped checkpoint
MODEL_CHOICES = KEYPOINT_MODELS + ("frames", "points3d") + tuple(REGIONS)
# The shipped checkpoints are the separation benchmark's rows, all separating the queried vocalist.
DEFAULT_CHECKPOINTS = {"face": "vocal_face_small", "body": "vocal_body_small",
                       "face_body": "vocal_face_body_xattn_small"}
# The instrument each model separates when its checkpoint does not say.
DEFAULT_INSTRUMENT = {"face": "vocal", "body": "vocal", "face_body": "vocal", "frames": "vocal",
                      "points3d": "vocal", **{kind: "vocal" for kind in REGIONS}}


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


def dataset_mean_face(dataset_path: Path, songs: list, instrument: str, conventions
                      ) -> tuple[torch.Tensor, dict]:
    """The ``dataset_mean`` face baseline: the mean face input of ``instrument`` over every frame
    with all 68 points of ``songs`` (a frame-weighted mean of ``separation.data.mean_face_input``),
    as ``(2, 68)`` float32 (x row, y row), and a record of what it averaged (songs, frames,
    radius = largest point distance from its centroid, in model units).

    Songs without usable face keypoints are left out (the per-song run names them); raises
    ``ValueError`` when no song has a complete face frame.
    """
    from core.dataset import SongDataError
    from separation.data import SongSkipped, load_song_visual, mean_face_input

    total, frames, used = np.zeros((68, 2)), 0, 0
    for song in songs:
        if instrument not in song.instruments:
            continue
        try:
            faces, mask = load_song_visual(song.folder(dataset_path), song, instrument, "face",
                                           conventions=conventions)
        except (SongSkipped, SongDataError):
            continue
        mean, count = mean_face_input(faces, mask)
        if count:
            total, frames, used = total + count * mean.astype(np.float64), frames + count, used + 1
    if not frames:
        raise ValueError(f"--face-baseline dataset_mean: no selected song has a {instrument} face "
                         f"with all 68 points in any frame")
    template = total / frames                                                   # (68, 2)
    radius = float(np.linalg.norm(template - template.mean(axis=0), axis=1).max())
    record = {"songs": used, "frames": frames, "radius": round(radius, 6)}
    return torch.as_tensor(template.T.astype(np.float32)), record


def face_baseline_template(face_baseline: str, loaded: LoadedModel, dataset_path: Path, songs: list
                           ) -> tuple[torch.Tensor | None, dict | None]:
    """The ``(2, 68)`` face template a template face baseline needs (``baselines``), and for
    ``dataset_mean`` the record of what it averaged (template included, for the output's
    settings); ``(None, None)`` when the model sees no face or the baseline needs no template."""
    if loaded.visual_kind not in ("face", "face_body"):
        return None, None
    if face_baseline == "mean_face":
        return mean_face_in_model_space(loaded.conventions), None
    if face_baseline == "dataset_mean":
        template, record = dataset_mean_face(dataset_path, songs, loaded.instrument,
                                             loaded.conventions)
        return template, {**record, "template": template.T.tolist()}
    return None, None
