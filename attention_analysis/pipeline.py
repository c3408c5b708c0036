"""Per-song attention extraction and the command-line run.

Outputs for ``--model`` M (vocal | violin):

``<results>/attention_scores_M.json``       published shape: {artist: {song: [{"chunk": c,
                                             "audio_attention": [T_a], "video_attention": [T_v],
                                             "audio_attention_peak": [T_a]}, ...]}}
``<results>/attention_scores_M_info.json``  checkpoint, definitions, T_a, T_v, whether rows sum to 1
``<results>/attention_figures_M/<artist>_<song>.png``  attention over time with RMS and motion
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import torch

from core.dataset import AUDIO_FEATURES_NAME, MOTION_FEATURES_NAME, model_input_files
from core.freshness import is_up_to_date, record_inputs, snapshot
from core.io import load_json, null_to_nan, save_json
from core.runner import UP_TO_DATE, Finished, SongSkipped, TaskResources, run_per_song
from separation.data import missing_frames
from separation.vovit import CHUNK_SECONDS, SAMPLE_RATE, VIDEO_FPS

from .checkpoints import NoCrossModalBlock
from .figures import save_attention_figure
from .weights import chunk_records, rows_sum_to_one, step_presence

log = logging.getLogger("attention_analysis")


class AttentionNotRecorded(RuntimeError):
    """A forward pass ran but the cross-modal block recorded no (or no fresh) attention."""


GRAD_MODES = ("no_grad", "inference_mode", "enable_grad")


def _grad_context(mode: str):
    if mode == "no_grad":
        return torch.no_grad()
    if mode == "inference_mode":
        return torch.inference_mode()
    if mode == "enable_grad":
        return torch.enable_grad()
    raise ValueError(f"unknown grad mode {mode!r}: expected one of {GRAD_MODES}")


def attention_holders(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The sub-modules that keep the latest cross-attention weights (an instance attribute
    ``last_attention``, as ``separation.vovit.CrossModalFusion``); raises ``NoCrossModalBlock`` when
    there is none."""
    holders = [m for m in model.modules() if "last_attention" in vars(m)]
    if not holders:
        raise NoCrossModalBlock("the model has no module that records last_attention: it has no "
                                "cross-modal block")
    return holders


def capture_attention(model: torch.nn.Module, mixture: torch.Tensor, visual: torch.Tensor,
                      grad_mode: str = "inference_mode") -> np.ndarray:
    """One forward pass of ``model`` (already in eval mode) under ``grad_mode`` and the attention it
    recorded, ``(B, heads, T_a, T_v)`` float64.

    It cannot silently record nothing: the holders' ``last_attention`` is cleared first, so a
    forward that records nothing (e.g. PyTorch's transformer fast path in eval + no_grad /
    inference_mode skips submodule hooks, DESIGN §7), or an attention left from an earlier batch,
    raises ``AttentionNotRecorded``; so do weights of the wrong batch size, rank or with NaN.
    The weights are read from the attention module's own return value, not from a hook.
    """
    holders = attention_holders(model)
    for holder in holders:
        holder.last_attention = None
    with _grad_context(grad_mode):
        model(mixture, visual)
    recorded = [h.last_attention for h in holders if h.last_attention is not None]
    if len(recorded) != 1:
        raise AttentionNotRecorded(
            f"the forward pass under {grad_mode} recorded {len(recorded)} attention tensors (of "
            f"{len(holders)} block(s)); expected exactly one fresh (B, heads, T_audio, T_video)")
    weights = recorded[0].detach().double().cpu().numpy()
    if weights.ndim != 4 or weights.shape[0] != mixture.shape[0] or not np.isfinite(weights).all():
        raise AttentionNotRecorded(f"recorded attention has shape {weights.shape} (or non-finite "
                                   f"values); expected ({mixture.shape[0]}, heads, T_audio, "
                                   f"T_video)")
    return weights


def chunk_attention(model: torch.nn.Module, chunks: list, device, chunk_batch: int = 4,
                    grad_mode: str = "inference_mode") -> tuple[list[dict], bool]:
    """Run the model on every chunk (eval mode, no gradients) and reduce its attention.

    ``chunks``: objects with ``index``, ``mixture`` (N,), ``visual`` (2, T, J) and optionally
    ``visual_mask`` (T, J). Returns the published per-chunk records (NaN where the video step has no
    data, ``weights`` docstring) and whether every attention row summed to 1 over video.
    """
    records, normalised = [], True
    model = model.to(device).eval()
    for start in range(0, len(chunks), chunk_batch):
        batch = chunks[start:start + chunk_batch]
        mixture = torch.stack([torch.as_tensor(np.asarray(c.mixture), dtype=torch.float32)
                               for c in batch]).to(device)
        visual = torch.stack([torch.as_tensor(np.asarray(c.visual), dtype=torch.float32)
                              for c in batch]).to(device)
        weights = capture_attention(model, mixture, visual, grad_mode)
        normalised &= rows_sum_to_one(weights)
        frame_present = np.stack([
            np.ones(np.shape(c.visual)[1], bool) if getattr(c, "visual_mask", None) is None
            else ~missing_frames(np.asarray(c.visual_mask, dtype=bool)) for c in batch])
        records.extend(chunk_records([c.index for c in batch], weights,
                                     step_presence(frame_present, weights.shape[-1])))
    return records, normalised


def feature_series(path: Path, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(times s, values) of one per-frame feature of a features JSON, or None if absent."""
    if not path.exists():
        return None
    data = load_json(path)
    values = data.get("features", {}).get(name)
    if values is None or not data.get("fps"):
        return None
    values = null_to_nan(values)
    return np.arange(len(values)) / float(data["fps"]), values


def chunk_rms(chunks: list, sample_rate: int = SAMPLE_RATE, frame: int = 2048, hop: int = 1024
              ) -> tuple[np.ndarray, np.ndarray]:
    """RMS of each chunk's target stem (librosa, frame 2048 / hop 1024 at 16384 Hz) on the song's
    time line: chunk c starts at 4c s. Chunks come at the model's input scale; ``× chunk.scale``
    puts every chunk back at the song's level, so levels compare across chunks."""
    import librosa

    times, values = [], []
    for chunk in sorted(chunks, key=lambda c: c.index):
        target = np.asarray(chunk.target, dtype=np.float32) * np.float32(getattr(chunk, "scale", 1.0))
        rms = librosa.feature.rms(y=target, frame_length=frame, hop_length=hop)[0]
        times.append(chunk.index * CHUNK_SECONDS + np.arange(len(rms)) * hop / sample_rate)
        values.append(rms)
    return np.concatenate(times), np.concatenate(values)


def chunk_motion(chunks: list, video_fps: float = VIDEO_FPS) -> tuple[np.ndarray, np.ndarray]:
    """Fallback motion curve when ``motion_features.json`` is absent: per 25-fps frame of each chunk,
    the mean speed of the model's keypoint input, ``mean_j |d p_j / dt|`` with ``d p / dt`` =
    ``np.gradient`` along time × ``video_fps`` (normalised model units per second; only points
    observed in the frame and both neighbours used, NaN where none is). Frame k of chunk c is at
    ``4c + k / video_fps`` s."""
    times, values = [], []
    for chunk in sorted(chunks, key=lambda c: c.index):
        visual = np.asarray(chunk.visual, dtype=np.float64)                 # (2, T, J)
        mask = np.ones(visual.shape[1:], bool) if getattr(chunk, "visual_mask", None) is None \
            else np.asarray(chunk.visual_mask, dtype=bool)                   # (T, J)
        velocity = np.gradient(visual, axis=1) * video_fps
        speed = np.linalg.norm(velocity, axis=0)                            # (T, J)
        usable = mask.copy()
        usable[1:] &= mask[:-1]       # np.gradient reads the previous and next frame
        usable[:-1] &= mask[1:]
        with np.errstate(invalid="ignore"):
            count = usable.sum(axis=1)
            per_frame = np.where(count > 0, np.where(usable, speed, 0.0).sum(axis=1)
                                 / np.maximum(count, 1), np.nan)
        times.append(chunk.index * CHUNK_SECONDS + np.arange(len(per_frame)) / video_fps)
        values.append(per_frame)
    return np.concatenate(times), np.concatenate(values)


def load_song_chunks(song_dir: Path, song, instrument: str, visual_kind: str, conventions,
                     options: dict | None = None) -> list:
    """The song's 4-s chunks as the separation stage builds them for a model with these input
    ``conventions`` and encoder ``options`` (``separation.data.song_chunks``)."""
    from separation.data import song_chunks

    return song_chunks(song_dir, song, instrument, visual_kind, conventions=conventions,
                       options=options)


# Ray task resources: one CPU (torch then runs one thread, README "Running on a cluster") and one
# GPU when --device asks for CUDA.
ATTENTION_TASK = TaskResources(cpus=1, gpus=1)


@functools.lru_cache(maxsize=2)
def attention_model(instrument: str, checkpoint: str | None, device_spec: str | None):
    """``(LoadedModel, device)``, once per process: the stage's process loads it up front and the
    per-song work asks again (a Ray worker loads its own, on the device Ray gave it)."""
    from core.device import resolve_device

    from . import checkpoints

    device = resolve_device(device_spec)
    return checkpoints.load_attention_model(instrument, checkpoint, device), device


def run_attention(args) -> int:
    from core.metadata import load_metadata, select_songs
    from core.settings import settings_from_args

    settings = settings_from_args(args)
    songs, skipped = select_songs(load_metadata(settings.metadata_path), args.artist, args.song,
                                  require_body_detection=not args.include_incorrect_body_detection)
    model_args = (args.model, args.checkpoint, settings.device)
    loaded, _ = attention_model(*model_args)
    instrument, visual_kind = loaded.instrument, loaded.visual_kind   # the work must not carry the model
    conventions, encoder_options = loaded.conventions, loaded.encoder_options
    if loaded.instrument != args.model:
        log.warning("checkpoint %s separates %s, not %s", loaded.path.name, loaded.instrument,
                    args.model)
    results_dir = settings.results_dir
    scores_path = results_dir / f"attention_scores_{args.model}.json"
    info_path = results_dir / f"attention_scores_{args.model}_info.json"
    figure_dir = results_dir / f"attention_figures_{args.model}"
    scores = load_json(scores_path) if scores_path.exists() else {}
    shapes: dict = {}

    done_before = {(a, s) for a, songs_of in scores.items() for s in songs_of}

    checkpoint_file = loaded.path

    def work(song) -> str | Finished:
        figure = figure_dir / f"{song.artist}_{song.song}.png"
        song_dir = song.folder(settings.dataset_path)
        performer = song_dir / instrument
        # the re-run rule (core.freshness): redone when the checkpoint, a wav, the keypoints or
        # the feature files the figure draws change; the record sits beside the song's figure
        inputs = [checkpoint_file, *model_input_files(song_dir, instrument),
                  performer / AUDIO_FEATURES_NAME, performer / MOTION_FEATURES_NAME]
        if (song.artist, song.song) in done_before and is_up_to_date([figure], inputs, args.force):
            return UP_TO_DATE
        if instrument not in song.instruments:
            raise SongSkipped(f"no {instrument} in layout {list(song.layout or ())}")
        inputs_before = snapshot(inputs)
        chunks = load_song_chunks(song_dir, song, instrument, visual_kind, conventions,
                                  encoder_options)
        if not chunks:
            raise SongSkipped("no 4-s chunk")
        here, device = attention_model(*model_args)
        records, normalised = chunk_attention(here.model, chunks, device, args.chunk_batch)
        rms = feature_series(performer / AUDIO_FEATURES_NAME, "rms")
        rms = (*rms, "RMS (audio_features.json)") if rms else (*chunk_rms(chunks),
                                                               "RMS of the chunk stem (computed)")
        motion = feature_series(performer / MOTION_FEATURES_NAME, "speed")
        motion = (*motion, "speed (motion_features.json)") if motion else \
            (*chunk_motion(chunks), "keypoint speed of the model input (computed)")
        save_attention_figure(figure, records, f"cross-modal attention · {checkpoint_stem} · "
                              f"{song.artist}/{song.song}", rms, motion)
        record_inputs([figure], inputs_before)
        return Finished((records, normalised))

    def song_finished(song, result) -> None:
        records, normalised = result
        shapes.update(T_audio=len(records[0]["audio_attention"]),
                      T_video=len(records[0]["video_attention"]))
        shapes["rows_sum_to_one"] = shapes.get("rows_sum_to_one", True) and normalised
        scores.setdefault(song.artist, {})[song.song] = records
        save_json(scores_path, scores)        # after every song: an interrupted run keeps its work

    checkpoint_stem = loaded.path.stem
    summary = run_per_song(f"attention_analysis[{args.model}]", songs, work, skipped=skipped,
                           logger=log, results_dir=settings.results_dir, settings=settings,
                           resources=ATTENTION_TASK, on_result=song_finished)
    if summary.done:
        save_json(info_path, {
            "checkpoint": str(loaded.path), "instrument": loaded.instrument,
            "visual": loaded.visual_kind, "chunk_seconds": CHUNK_SECONDS, **shapes,
            "definition": {"weights": "(batch, heads, T_audio, T_video), averaged over heads",
                           "video_attention": "mean over audio time; null at video steps whose "
                                              "frames have no keypoints (missing frames)",
                           "audio_attention": "mean over the video steps with keypoints",
                           "audio_attention_peak": "max over the video steps with keypoints",
                           "video_coverage": "share of video steps with keypoints",
                           "missing_frame": "fewer than 10% of the model's points observed "
                                            "(separation.data.missing_frames)"},
            "capture": "eval mode, torch.inference_mode; weights returned by the attention module, "
                       "cleared before every forward and checked after it",
            "include_incorrect_body_detection": bool(args.include_incorrect_body_detection),
            "note": ("each audio step's weights sum to 1 over video, so audio_attention is "
                     "1/T_video by construction wherever every video step has keypoints"
                     if shapes.get("rows_sum_to_one") else "")})
    if scores_path.exists():
        print(f"attention scores: {scores_path}")
        print(f"attention figures: {figure_dir}")
    return summary.exit_code
