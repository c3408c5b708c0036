"""Per-song saliency: chunks → attributions → the per-song result dict; files at the edges.

``song_saliency`` is the computation (a model and a list of chunks in, a JSON-ready dict out);
``run_saliency`` is the command-line run: songs, checkpoint, correlation filter, per-song JSON and
figures, dataset average. Output layout, for method M, filter label L (``all``, ``top_0.1``, ...) and
model name S:

``<results>/M_L_S/<artist>_<song>.json``   per song (see ``song_saliency``)
``<results>/M_L_S/_average.json``          mean over the songs (``summary.average_songs``)
``<results>/M_L_S/figures/<artist>_<song>_{skeleton,parts}.png``, ``_average_{skeleton,parts}.png``
"""
from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from core.io import load_json, save_json
from core.log import progress
from core.runner import UP_TO_DATE, SongSkipped, TaskResources, outputs_exist, run_per_song

from . import baselines as bl
from . import correlation_filter as cf
from .attribution import attribute_chunks
from .figures import save_saliency_figures
from .objective import AudioOnlyObjective, SeparationObjective
from .summary import audio_share, average_songs, keypoint_importance, part_importance, split_groups

log = logging.getLogger("gradient_saliency")
AVERAGE_NAME = "_average.json"


@dataclass
class SaliencyConfig:
    method: str = "integrated_gradients"
    n_steps: int = 25                    # integration steps (Integrated Gradients only)
    internal_batch_size: int | None = 10  # model inputs per forward pass; None = all at once
    chunk_batch: int = 1                 # chunks attributed together
    face_baseline: str = "mean_face"
    body_baseline: str = "zeros"
    audio_baseline: str = "zeros"


def _stack(values, device) -> torch.Tensor:
    return torch.stack([torch.as_tensor(np.asarray(v), dtype=torch.float32) for v in values]).to(device)


def mean_positions(visual: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(2, T, J)`` keypoints and ``(T, J)`` validity → per-joint position sum ``(J, 2)`` and count
    ``(J,)`` over the valid frames (to average positions over chunks for the skeleton drawing)."""
    valid = np.ones(visual.shape[1:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    valid &= np.isfinite(visual).all(axis=0)
    coords = np.where(valid[None], visual, 0.0)
    return coords.sum(axis=1).T.astype(np.float64), valid.sum(axis=0).astype(np.float64)


def song_saliency(model: torch.nn.Module, visual_kind: str, chunks: list, config: SaliencyConfig,
                  device: torch.device | str = "cpu", mean_face: torch.Tensor | None = None,
                  show_progress: bool = True) -> dict:
    """Attribute every chunk of one song and reduce to the song's numbers.

    ``chunks``: objects with ``index`` (4-s chunk number), ``mixture`` and ``target`` (N,) waves,
    ``visual`` (2, T, J) keypoints in model coordinates (None for an audio-only model) and optionally
    ``visual_mask`` (T, J). ``mean_face``: (2, 68) mean face in model coordinates (face baseline).
    Returns ``{"chunks", "keypoint_importance": {group: (J_g,)}, "part_importance", "audio_share",
    "layout": {group: (J_g, 2)}, "per_chunk": [{"chunk", "loss", "audio_share", "audio_abs_sum",
    "keypoints_abs_sum", and for Integrated Gradients "baseline_loss", "attribution_sum" (signed sum
    of all attributions), "delta" (Captum's convergence delta = attribution_sum − (loss −
    baseline_loss))}], "convergence_delta"}`` (numpy values). The delta shrinks with ``n_steps``:
    measured on the shipped ``vocal_face_small`` and one demo chunk, |delta| / |f(x) − f(x')| was
    1.6 at 4 steps, 0.02 at 25 and 0.007 at 50. Note the audio share compares totals: the wave has 65535
    samples against 2 × 100 × J keypoint coordinates, so per-element means are in the abs sums.
    """
    if not chunks:
        raise ValueError("no chunks to attribute")
    device = torch.device(device)
    model = model.to(device).eval()
    audio_only = visual_kind in (None, "none")
    objective = AudioOnlyObjective(model) if audio_only else SeparationObjective(model)
    importances, shares, per_chunk = [], [], []
    n_joints = 0 if audio_only else np.asarray(chunks[0].visual).shape[-1]
    position_sum, position_count = np.zeros((n_joints, 2)), np.zeros(n_joints)
    batches = [chunks[i:i + config.chunk_batch] for i in range(0, len(chunks), config.chunk_batch)]
    iterator = progress(batches, desc=config.method, unit="batch") if show_progress else batches
    for batch in iterator:
        mixture = _stack([c.mixture for c in batch], device)
        target = _stack([c.target for c in batch], device)
        visual = None if audio_only else _stack([c.visual for c in batch], device)
        if visual is not None and not torch.isfinite(visual).all():
            raise ValueError(f"chunk(s) {[c.index for c in batch]}: keypoint input contains NaN/inf")
        inputs_baselines = (bl.audio_baseline(mixture, config.audio_baseline),)
        if visual is not None:
            inputs_baselines += (bl.visual_baseline(visual, visual_kind, config.face_baseline,
                                                    config.body_baseline, mean_face),)
        result = attribute_chunks(objective, mixture, visual, target, config.method,
                                  baselines=inputs_baselines, n_steps=config.n_steps,
                                  internal_batch_size=config.internal_batch_size)
        visual_attr = None if result.visual is None else result.visual.numpy()
        shares.extend(audio_share(result.audio.numpy(), visual_attr))
        audio_sums = result.audio.double().abs().flatten(1).sum(dim=1)
        visual_sums = (torch.zeros_like(audio_sums) if result.visual is None
                       else result.visual.double().abs().flatten(1).sum(dim=1))
        if visual_attr is not None:
            importances.extend(keypoint_importance(visual_attr))
        for i, chunk in enumerate(batch):
            entry = {"chunk": int(chunk.index), "loss": float(result.loss[i]),
                     "audio_share": float(shares[-len(batch) + i]),
                     "audio_abs_sum": float(audio_sums[i]), "keypoints_abs_sum": float(visual_sums[i])}
            if result.delta is not None:
                # completeness check, readable from the JSON alone:
                # delta = attribution_sum - (loss - baseline_loss)
                signed = float(result.audio[i].double().sum()) + (
                    0.0 if result.visual is None else float(result.visual[i].double().sum()))
                entry.update(baseline_loss=float(result.baseline_loss[i]), attribution_sum=signed,
                             delta=float(result.delta[i]))
            per_chunk.append(entry)
            if not audio_only:
                sums, counts = mean_positions(np.asarray(chunk.visual, dtype=np.float64),
                                              getattr(chunk, "visual_mask", None))
                position_sum += sums
                position_count += counts
    song: dict = {"chunks": [e["chunk"] for e in per_chunk], "per_chunk": per_chunk}
    shares_arr = np.asarray(shares, dtype=float)
    song["audio_share"] = float(np.nanmean(shares_arr)) if np.isfinite(shares_arr).any() else None
    if audio_only:
        song["keypoint_importance"], song["part_importance"], song["layout"] = {}, {}, {}
    else:
        mean_importance = np.mean(importances, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            layout = position_sum / position_count[:, None]
        song["keypoint_importance"] = split_groups(mean_importance, visual_kind)
        song["part_importance"] = {g: part_importance(g, v)
                                   for g, v in song["keypoint_importance"].items()}
        song["layout"] = {g: layout[joints] for g, joints in bl.joint_groups(visual_kind).items()}
    deltas = [e["delta"] for e in per_chunk if "delta" in e]
    if deltas:
        gaps = np.array([abs(e["loss"] - e["baseline_loss"]) for e in per_chunk])
        abs_deltas = np.abs(deltas)
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = np.where(gaps > 0, abs_deltas / gaps, np.nan)
        song["convergence_delta"] = {
            "definition": "sum of attributions - (f(input) - f(baseline)), per chunk",
            "mean_abs": float(abs_deltas.mean()), "max_abs": float(abs_deltas.max()),
            "max_relative": float(np.nanmax(relative)) if np.isfinite(relative).any() else None}
    else:
        song["convergence_delta"] = None
    return song


# --------------------------------------------------------------------------------------------------
# command-line run

# Ray task resources: one CPU (torch then runs one thread, README "Running on a cluster") and one
# GPU when --device asks for CUDA.
SALIENCY_TASK = TaskResources(cpus=1, gpus=1)


@functools.lru_cache(maxsize=2)
def model_for_run(model_name: str, checkpoint: str | None, device_spec: str | None,
                  randomise: bool, seed: int):
    """``(LoadedModel, model to attribute, device)``, once per process: the stage's process loads
    it up front, and the per-song work asks again (a Ray worker loads its own, on its device)."""
    from core.device import resolve_device

    from .models import load_model
    from .randomisation import reinitialised_copy

    device = resolve_device(device_spec)
    loaded = load_model(model_name, checkpoint, device)
    model = reinitialised_copy(loaded.model, seed) if randomise else loaded.model
    return loaded, model, device


def result_dir(results_dir: Path, method: str, filter_label: str, model_name: str,
               randomised: bool = False) -> Path:
    return Path(results_dir) / (f"{method}_{filter_label}_{model_name}"
                                + ("_randomised" if randomised else ""))


def run_saliency(args) -> int:
    """The CLI run (``cli.build_parser`` arguments). Returns the exit code."""
    from core.metadata import load_metadata, select_songs
    from core.settings import settings_from_args

    from .models import load_song_chunks, mean_face_in_model_space

    settings = settings_from_args(args)
    songs, skipped = select_songs(load_metadata(settings.metadata_path), args.artist, args.song)
    model_args = (args.model, args.checkpoint, settings.device, bool(args.randomise_weights),
                  args.seed)
    loaded, _, device = model_for_run(*model_args)
    instrument, visual_kind = loaded.instrument, loaded.visual_kind   # the work must not carry the model
    config = SaliencyConfig(
        method=args.method, n_steps=args.num_steps,
        internal_batch_size=args.internal_batch_size or default_internal_batch_size(
            device, args.num_steps, args.chunk_batch or default_chunk_batch(device)),
        chunk_batch=args.chunk_batch or default_chunk_batch(device),
        face_baseline=args.face_baseline, body_baseline=args.body_baseline,
        audio_baseline=args.audio_baseline)
    mean_face = (mean_face_in_model_space() if loaded.visual_kind in ("face", "face_body")
                 and config.face_baseline == "mean_face" else None)

    top = None if not (args.correlation_filter_top or args.correlation_filter_bottom) \
        else bool(args.correlation_filter_top)
    fraction = args.correlation_filter_percentage if top is not None else None
    label = cf.filter_label(fraction, top)
    selection = None
    if top is not None:
        pool = cf.chunk_counts(cf.load_aggregated(settings.results_dir),
                               [(s.artist, s.song) for s in songs], loaded.instrument,
                               {(s.artist, s.song): whole_chunks(s.duration) for s in songs})
        selection = cf.select_chunks(pool, fraction, top)
        log.info("correlation filter: %s %g of %d chunks (%s counts) -> %d chunks in %d songs",
                 "top" if top else "bottom", fraction, len(pool), loaded.instrument,
                 sum(map(len, selection.values())), len(selection))
    out_dir = result_dir(settings.results_dir, config.method, label, args.model, args.randomise_weights)
    figure_dir = out_dir / "figures"
    settings_record = {
        "method": config.method, "model": args.model, "checkpoint": str(loaded.path),
        "randomised_weights": bool(args.randomise_weights), "instrument": loaded.instrument,
        "visual": loaded.visual_kind, "objective": "MSE(estimate, target) * 2^16 per 4-s chunk",
        "attribution": "mean |attribution| per keypoint over x/y and frames; audio share = "
                       "sum|A_audio| / (sum|A_audio| + sum|A_keypoints|)",
        "config": asdict(config), "correlation_filter": {"label": label, "fraction": fraction,
                                                         "top": top}}

    def work(song) -> str | None:
        out_path = out_dir / f"{song.artist}_{song.song}.json"
        if instrument not in song.instruments:
            raise SongSkipped(f"no {instrument} in layout {list(song.layout or ())}")
        wanted = None
        if selection is not None:
            wanted = set(selection.get((song.artist, song.song), []))
            if not wanted:
                raise SongSkipped(f"no chunk of this song is in the {label} correlation selection")
        if outputs_exist([out_path], args.force):
            return UP_TO_DATE
        chunks = load_song_chunks(song.folder(settings.dataset_path), song, instrument,
                                  visual_kind)
        if wanted is not None:
            missing = sorted(wanted - {int(c.index) for c in chunks})
            if missing:
                log.warning("%s: selected chunk(s) %s not available (dropped by the separation "
                            "stage's chunking)", song.key, missing)
            chunks = [c for c in chunks if int(c.index) in wanted]
        if not chunks:
            raise SongSkipped("no 4-s chunk to attribute")
        _, model, device = model_for_run(*model_args)
        result = {"artist": song.artist, "song": song.song, **settings_record,
                  **song_saliency(model, visual_kind, chunks, config, device, mean_face)}
        save_json(out_path, result)
        save_saliency_figures(result, figure_dir, out_path.stem,
                              f"{config.method} · {args.model} · {song.artist}/{song.song}")
        return None

    summary = run_per_song(out_dir.name, songs, work, skipped=skipped, logger=log,
                           results_dir=settings.results_dir, settings=settings,
                           resources=SALIENCY_TASK)
    # the average covers this run's songs (and, with a filter, only the selected ones)
    song_files = [out_dir / f"{s.artist}_{s.song}.json" for s in songs
                  if selection is None or (s.artist, s.song) in selection]
    results = [load_json(p) for p in song_files if p.exists()]
    if results:
        average = {**settings_record, **average_songs(results)}
        save_json(out_dir / AVERAGE_NAME, average)
        save_saliency_figures(average, figure_dir, "_average",
                              f"{config.method} · {args.model} · mean of {len(results)} song(s)")
        print(f"saliency results: {out_dir}")
        print(f"saliency figures: {figure_dir}")
    else:
        log.warning("no per-song results in %s: nothing to average", out_dir)
    return summary.exit_code


def whole_chunks(duration_s: float | None) -> int | None:
    """Whole 4-s chunks in a song of ``duration_s`` seconds, counted as the separation stage does."""
    if duration_s is None:
        return None
    from separation.data import chunk_count
    from separation.vovit import SAMPLE_RATE

    return chunk_count(int(round(duration_s * SAMPLE_RATE)))


def default_chunk_batch(device: torch.device) -> int:
    """Chunks per attribution call: 1 on CPU (memory), 4 on a GPU (keeps it busy)."""
    return 4 if torch.device(device).type == "cuda" else 1


def default_internal_batch_size(device: torch.device, n_steps: int, chunk_batch: int) -> int:
    """Model inputs per forward pass: 10 steps per chunk on CPU, every step at once on a GPU.

    Measured with ``benchmarks/saliency_speed.py`` (``vocal_face_body_xattn_small``, one chunk, 25
    steps, 2 CPU cores shared with other jobs, so noisy), three runs, seconds for 1 / 5 / 10 / 25 steps
    per pass: 183 / 116 / 83 / 88, 101 / 17 / 10 / 32, 74 / 14 / 28 / 34. 5–10 steps per pass was
    always fastest (2–10x over one step at a time), all steps at once 2–3x."""
    steps = n_steps if torch.device(device).type == "cuda" else min(10, n_steps)
    return steps * chunk_batch
