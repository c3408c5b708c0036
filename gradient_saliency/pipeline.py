"""Per-song saliency: chunks → attributions → the per-song result dict; files at the edges.

``song_saliency`` is the computation (a model and a list of chunks in, a JSON-ready dict out);
``run_saliency`` is the command-line run: songs, checkpoint, correlation filter, per-song JSON and
figures, dataset average. Output layout, for method M, filter label L (``all``, ``top_0.1``, ...) and
model name S:

``<results>/M_L_S/<artist>_<song>.json``   per song (see ``song_saliency``)
``<results>/M_L_S/_average.json``          mean over the songs (``summary.average_songs``)
``<results>/M_L_S/figures/<artist>_<song>_{skeleton,parts}.png``, ``_average_{skeleton,parts}.png``

Kinds with their own units (``regions``: ``text`` per sung syllable, ``scene_graph`` per node and
edge) and ``frames`` (``pixel_regions``) write their own per-song results and figures in the same
folders.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from core.dataset import model_input_files
from core.freshness import is_up_to_date, record_inputs, snapshot
from core.io import load_json, save_json
from core.log import progress
from core.runner import UP_TO_DATE, SongSkipped, TaskResources, run_per_song
from separation.conditions import condition_input_files

from . import baselines as bl
from . import correlation_filter as cf
from .attribution import attribute_chunks
from .figures import save_saliency_figures
from .objective import AudioOnlyObjective, SeparationObjective
from .pixel_regions import average_frames_songs, frames_song_saliency, save_region_figure
from .point_regions import average_points_songs, points_song_saliency, save_point_figure
from .regions import RegionContext, attribution_regions
from .summary import (audio_share, average_songs, convergence_summary, keypoint_sums,
                      missing_keypoint_share, part_coverage, part_sums, ratio, split_groups)

log = logging.getLogger("gradient_saliency")
AVERAGE_NAME = "_average.json"
PIXEL_KINDS = ("frames",)    # models whose visual input is pictures: attribution per pixel region
POINT_KINDS = ("points3d",)  # models whose visual input is 3D points: attribution per point


@dataclass
class SaliencyConfig:
    method: str = "integrated_gradients"
    n_steps: int = 25                    # integration steps (Integrated Gradients only; published 25)
    internal_batch_size: int | None = 10  # model inputs per forward pass; None = all at once
    chunk_batch: int = 1                 # chunks attributed together
    face_baseline: str = "mean_face"
    body_baseline: str = "zeros"
    audio_baseline: str = "zeros"
    # Integrated Gradients: None = the published fixed n_steps; a value = double the steps of a
    # batch (up to max_steps) until every chunk's relative convergence delta is below it (option)
    target_relative_delta: float | None = None
    max_steps: int = 400


def relative_delta(delta, loss, baseline_loss) -> np.ndarray:
    """Completeness error relative to what is being explained: ``|Σ attributions − (f(x) − f(x'))|
    / |f(x) − f(x')|`` per chunk (NaN where ``f(x) = f(x')``)."""
    gap = np.abs(np.asarray(loss, dtype=np.float64) - np.asarray(baseline_loss, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(gap > 0, np.abs(np.asarray(delta, dtype=np.float64)) / gap, np.nan)


def _stack(values, device) -> torch.Tensor:
    return torch.stack([torch.as_tensor(np.asarray(v), dtype=torch.float32) for v in values]).to(device)


def batch_inputs(chunks: list, visual_kind: str | None, device
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, np.ndarray | None]:
    """Model inputs of a list of chunks: ``mixture`` and ``target`` (B, N), ``visual`` (B, 2, T, J)
    (None for an audio-only model) on ``device``, and the presence mask (B, T, J) bool on the CPU
    (all True for a chunk without ``visual_mask``)."""
    mixture = _stack([c.mixture for c in chunks], device)
    target = _stack([c.target for c in chunks], device)
    if visual_kind in (None, "none"):
        return mixture, target, None, None
    visual = _stack([c.visual for c in chunks], device)
    if not torch.isfinite(visual).all():
        raise ValueError(f"chunk(s) {[c.index for c in chunks]}: keypoint input contains NaN/inf")
    mask = np.stack([np.ones(np.shape(c.visual)[1:], bool) if getattr(c, "visual_mask", None) is None
                     else np.asarray(c.visual_mask, dtype=bool) for c in chunks])
    return mixture, target, visual, mask


def batch_baselines(mixture: torch.Tensor, visual: torch.Tensor | None, visual_kind: str | None,
                    config: SaliencyConfig, mean_face: torch.Tensor | None) -> tuple:
    """Integrated-Gradients baselines matching ``(mixture[, visual])`` (``baselines``)."""
    baselines = (bl.audio_baseline(mixture, config.audio_baseline),)
    if visual is not None:
        baselines += (bl.visual_baseline(visual, visual_kind, config.face_baseline,
                                         config.body_baseline, mean_face),)
    return baselines


def mean_positions(visual: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(2, T, J)`` keypoints and ``(T, J)`` validity → per-joint position sum ``(J, 2)`` and count
    ``(J,)`` over the valid frames (to average positions over chunks for the skeleton drawing)."""
    valid = np.ones(visual.shape[1:], dtype=bool) if mask is None else np.array(mask, dtype=bool)
    valid &= np.isfinite(visual).all(axis=0)
    coords = np.where(valid[None], visual, 0.0)
    return coords.sum(axis=1).T.astype(np.float64), valid.sum(axis=0).astype(np.float64)


def song_saliency(model: torch.nn.Module, visual_kind: str, chunks: list, config: SaliencyConfig,
                  device: torch.device | str = "cpu", mean_face: torch.Tensor | None = None,
                  show_progress: bool = True) -> dict:
    """Attribute every chunk of one song and reduce to the song's numbers (``summary`` docstring:
    keypoints count only where the model input has them).

    ``chunks``: objects with ``index`` (4-s chunk number), ``mixture`` and ``target`` (N,) waves,
    ``visual`` (2, T, J) keypoints in model coordinates (None for an audio-only model) and optionally
    ``visual_mask`` (T, J) (True = present; without it every entry counts). ``mean_face``: (2, 68)
    mean face in model coordinates (face baseline).
    Returns ``{"chunks", "n_frames", "keypoint_importance": {group: (J_g,) NaN = no data},
    "keypoint_coverage": {group: (J_g,)}, "coverage": {group: share of its (frame, keypoint)
    entries present}, "part_importance", "part_coverage", "audio_share",
    "missing_keypoint_share", "layout": {group: (J_g, 2)}, "per_chunk": [{"chunk", "loss",
    "audio_share", "audio_abs_sum", "keypoints_abs_sum" (present entries), "keypoint_coverage",
    "missing_keypoint_share", and for Integrated Gradients "baseline_loss", "attribution_sum" (signed
    sum of all attributions), "delta" (Captum's convergence delta = attribution_sum − (loss −
    baseline_loss)), "relative_delta" (|delta| / |loss − baseline_loss|), "n_steps"}],
    "convergence_delta"}`` (numpy values). The delta shrinks with ``n_steps``, at a rate that depends
    on the model and the chunk (the published 25 steps can leave several percent);
    ``config.target_relative_delta`` raises the steps per batch until the bound holds.
    Note the audio share compares totals: the wave has 65535 samples against 2 × 100 × J keypoint
    coordinates, so per-element means are in the abs sums.
    """
    if not chunks:
        raise ValueError("no chunks to attribute")
    device = torch.device(device)
    model = model.to(device).eval()
    audio_only = visual_kind in (None, "none")
    objective = AudioOnlyObjective(model) if audio_only else SeparationObjective(model)
    per_chunk = []
    n_joints = 0 if audio_only else np.asarray(chunks[0].visual).shape[-1]
    position_sum, position_count = np.zeros((n_joints, 2)), np.zeros(n_joints)
    importance_sum, present_count, n_frames = np.zeros(n_joints), np.zeros(n_joints), 0
    batches = [chunks[i:i + config.chunk_batch] for i in range(0, len(chunks), config.chunk_batch)]
    iterator = progress(batches, desc=config.method, unit="batch") if show_progress else batches
    for batch in iterator:
        mixture, target, visual, mask = batch_inputs(batch, visual_kind, device)
        inputs_baselines = batch_baselines(mixture, visual, visual_kind, config, mean_face)
        result, n_steps, relative = _attribute_converged(objective, mixture, visual, target,
                                                         inputs_baselines, config, batch)
        visual_attr = None if result.visual is None else result.visual.numpy()
        shares = audio_share(result.audio.numpy(), visual_attr, mask)
        audio_sums = result.audio.double().abs().flatten(1).sum(dim=1)
        if visual_attr is not None:
            sums, counts = keypoint_sums(visual_attr, mask)
            importance_sum += sums.sum(axis=0)
            present_count += counts.sum(axis=0)
            n_frames += visual_attr.shape[2] * len(batch)
            missing = missing_keypoint_share(visual_attr, mask)
        for i, chunk in enumerate(batch):
            entry = {"chunk": int(chunk.index), "loss": float(result.loss[i]),
                     "audio_share": float(shares[i]), "audio_abs_sum": float(audio_sums[i]),
                     "keypoints_abs_sum": 0.0 if visual_attr is None else float(sums[i].sum())}
            if visual_attr is not None:
                entry.update(keypoint_coverage=float(mask[i].mean()),
                             missing_keypoint_share=float(missing[i]))
            if result.delta is not None:
                # completeness check, readable from the JSON alone:
                # delta = attribution_sum - (loss - baseline_loss)
                signed = float(result.audio[i].double().sum()) + (
                    0.0 if result.visual is None else float(result.visual[i].double().sum()))
                entry.update(baseline_loss=float(result.baseline_loss[i]), attribution_sum=signed,
                             delta=float(result.delta[i]), relative_delta=float(relative[i]),
                             n_steps=n_steps)
            per_chunk.append(entry)
            if not audio_only:
                sums_xy, counts_xy = mean_positions(np.asarray(chunk.visual, dtype=np.float64),
                                                    mask[i])
                position_sum += sums_xy
                position_count += counts_xy
    song: dict = {"chunks": [e["chunk"] for e in per_chunk], "per_chunk": per_chunk}
    shares_arr = np.array([e["audio_share"] for e in per_chunk], dtype=float)
    song["audio_share"] = float(np.nanmean(shares_arr)) if np.isfinite(shares_arr).any() else None
    if audio_only:
        song.update(n_frames=0, keypoint_importance={}, keypoint_coverage={}, coverage={},
                    part_importance={}, part_coverage={}, layout={}, missing_keypoint_share=None)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            layout = position_sum / position_count[:, None]
        coverage = present_count / max(n_frames, 1)
        song["n_frames"] = n_frames
        song["keypoint_importance"] = split_groups(ratio(importance_sum, present_count), visual_kind)
        song["keypoint_coverage"] = split_groups(coverage, visual_kind)
        groups = bl.joint_groups(visual_kind)
        song["coverage"] = {g: float(coverage[j].mean()) for g, j in groups.items()}
        song["part_importance"] = {g: part_sums(g, importance_sum[j], present_count[j])
                                   for g, j in groups.items()}
        song["part_coverage"] = {g: part_coverage(g, coverage[j]) for g, j in groups.items()}
        song["layout"] = {g: layout[j] for g, j in groups.items()}
        missing = np.array([e["missing_keypoint_share"] for e in per_chunk], dtype=float)
        song["missing_keypoint_share"] = float(np.nanmean(missing)) if np.isfinite(missing).any() \
            else None
    deltas = [e["delta"] for e in per_chunk if "delta" in e]
    if deltas:
        relative = np.array([e["relative_delta"] for e in per_chunk], dtype=float)
        song["convergence_delta"] = {
            "definition": "delta = sum of attributions - (f(input) - f(baseline)), per chunk; "
                          "relative = |delta| / |f(input) - f(baseline)|",
            "mean_abs": float(np.abs(deltas).mean()),
            **convergence_summary(relative, deltas),
            "relative_per_chunk": relative,
            "n_steps": sorted({e["n_steps"] for e in per_chunk})}
    else:
        song["convergence_delta"] = None
    return song


def _attribute_converged(objective, mixture, visual, target, baselines, config: SaliencyConfig,
                         batch) -> tuple:
    """One batch's attributions with ``config.n_steps``; with ``config.target_relative_delta`` (IG
    only) the steps are doubled (at most ``config.max_steps``) until every chunk's relative delta is
    below it. Returns ``(ChunkAttributions, steps used, relative deltas (B,) or None)``."""
    n_steps = config.n_steps
    while True:
        result = attribute_chunks(objective, mixture, visual, target, config.method,
                                  baselines=baselines, n_steps=n_steps,
                                  internal_batch_size=config.internal_batch_size)
        if result.delta is None:
            return result, n_steps, None
        relative = relative_delta(result.delta.numpy(), result.loss.numpy(),
                                  result.baseline_loss.numpy())
        target_delta = config.target_relative_delta
        if target_delta is None or not (np.nan_to_num(relative) > target_delta).any():
            return result, n_steps, relative
        if n_steps * 2 > config.max_steps:
            log.warning("chunk(s) %s: relative convergence delta %s still above %g at %d steps "
                        "(--max-steps %d)", [c.index for c in batch],
                        np.round(relative, 4).tolist(), target_delta, n_steps, config.max_steps)
            return result, n_steps, relative
        n_steps *= 2
        log.info("chunk(s) %s: relative delta %s > %g, retrying with %d steps",
                 [c.index for c in batch], np.round(relative, 4).tolist(), target_delta, n_steps)


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

    from .models import face_baseline_template, load_song_chunks

    settings = settings_from_args(args)
    songs, skipped = select_songs(load_metadata(settings.metadata_path), args.artist, args.song,
                                  require_body_detection=not args.include_incorrect_body_detection)
    model_args = (args.model, args.checkpoint, settings.device, bool(args.randomise_weights),
                  args.seed)
    loaded, _, device = model_for_run(*model_args)
    instrument, visual_kind = loaded.instrument, loaded.visual_kind   # the work must not carry the model
    conventions = loaded.conventions
    encoder_options = loaded.encoder_options
    # kinds read back onto their own units (syllables, graph nodes/edges): regions module
    regions = attribution_regions(visual_kind)
    condition_baseline = None
    if regions is not None:
        condition_baseline = getattr(args, f"{visual_kind}_baseline", None) or regions.baselines[0]
        if condition_baseline not in regions.baselines:
            raise ValueError(f"{visual_kind} baseline {condition_baseline!r}: expected one of "
                             f"{regions.baselines}")
    config = SaliencyConfig(
        method=args.method, n_steps=args.num_steps,
        internal_batch_size=args.internal_batch_size or default_internal_batch_size(
            device, args.num_steps, args.chunk_batch or default_chunk_batch(device)),
        chunk_batch=args.chunk_batch or default_chunk_batch(device),
        face_baseline=args.face_baseline, body_baseline=args.body_baseline,
        audio_baseline=args.audio_baseline, target_relative_delta=args.target_relative_delta,
        max_steps=args.max_steps)
    # one template for the whole run, so every song is attributed from the same face
    mean_face, face_template = face_baseline_template(config.face_baseline, loaded,
                                                      settings.dataset_path, songs)
    if face_template:
        log.info("dataset_mean face baseline: %d frames of %d song(s), radius %.3f",
                 face_template["frames"], face_template["songs"], face_template["radius"])

    top = None if not (args.correlation_filter_top or args.correlation_filter_bottom) \
        else bool(args.correlation_filter_top)
    fraction = args.correlation_filter_percentage if top is not None else None
    label = cf.filter_label(fraction, top)
    selection = count_settings = None
    if top is not None:
        aggregated = cf.load_aggregated(settings.results_dir)
        count_settings = cf.count_settings(aggregated)
        pool = cf.chunk_counts(aggregated,
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
        "attribution": "mean |attribution| per keypoint over x/y and the frames where the model "
                       "input has the keypoint (visual_mask); null = no data; audio share = "
                       "sum|A_audio| / (sum|A_audio| + sum|A_keypoints present|)",
        "config": asdict(config),
        "face_baseline_template": face_template,
        "integration_steps": ("published fixed steps" if config.target_relative_delta is None
                              else f"doubled until relative delta < {config.target_relative_delta}"),
        "include_incorrect_body_detection": bool(args.include_incorrect_body_detection),
        **({"frames": {"baseline": args.frames_baseline, "grid": args.grid,
                       "attribution": "sum |attribution| over colour channels and frames per "
                                      "grid cell of the crop, as a share of the chunk's total"}}
           if visual_kind in PIXEL_KINDS else {}),
        **({"points3d": {"baseline": args.points_baseline,
                         "attribution": "sum |attribution| over x, y, z and frames per 3D point, "
                                        "as a share of the chunk's total"}}
           if visual_kind in POINT_KINDS else {}),
        "correlation_filter": {"label": label, "fraction": fraction, "top": top,
                               "strong_window_counts": count_settings}}

    if regions is not None:
        settings_record.update(attribution=regions.describe,
                               condition_baseline=condition_baseline)
    checkpoint_file = loaded.path
    # what a song's result depends on besides its files; how the steps are batched into forward
    # passes does not change it (tests: internal batching)
    rerun_settings = {**settings_record,
                      "config": {k: v for k, v in settings_record["config"].items()
                                 if k != "internal_batch_size"},
                      "seed": args.seed if args.randomise_weights else None}

    def work(song) -> str | None:
        out_path = out_dir / f"{song.artist}_{song.song}.json"
        if instrument not in song.instruments:
            raise SongSkipped(f"no {instrument} in layout {list(song.layout or ())}")
        wanted = None
        if selection is not None:
            wanted = set(selection.get((song.artist, song.song), []))
            if not wanted:
                raise SongSkipped(f"no chunk of this song is in the {label} correlation selection")
        song_dir = song.folder(settings.dataset_path)
        # the re-run rule (core.freshness): redone when the checkpoint, a wav or the keypoints
        # change, or with other settings (steps, baselines, the chunks the filter selects)
        inputs = [checkpoint_file, *model_input_files(song_dir, instrument),
                  *condition_input_files(visual_kind, song_dir, instrument)]
        run_settings = {**rerun_settings,
                        "chunks": None if wanted is None else sorted(wanted)}
        if is_up_to_date([out_path], inputs, args.force, run_settings):
            return UP_TO_DATE
        inputs_before = snapshot(inputs)
        chunks = load_song_chunks(song_dir, song, instrument, visual_kind, conventions,
                                  encoder_options)
        if wanted is not None:
            missing = sorted(wanted - {int(c.index) for c in chunks})
            if missing:
                log.warning("%s: selected chunk(s) %s not available (dropped by the separation "
                            "stage's chunking)", song.key, missing)
            chunks = [c for c in chunks if int(c.index) in wanted]
        if not chunks:
            raise SongSkipped("no 4-s chunk to attribute")
        _, model, device = model_for_run(*model_args)
        title = f"{config.method} · {args.model} · {song.artist}/{song.song}"
        if regions is not None:               # the kind's own units (regions)
            found = regions.song_saliency(model, chunks, config, device, RegionContext(
                song_dir, song, instrument, encoder_options, condition_baseline))
            figure_data = found.pop("figure_data")
            result = {"artist": song.artist, "song": song.song, **settings_record, **found}
            save_json(out_path, result)
            regions.save_figures(result, figure_data, figure_dir, out_path.stem, title)
        elif visual_kind in PIXEL_KINDS:      # attribution per pixel region (pixel_regions)
            found = frames_song_saliency(model, chunks, config.method, config.n_steps,
                                         config.internal_batch_size, config.chunk_batch, device,
                                         args.frames_baseline, args.grid)
            mean_crop = found.pop("mean_crop")
            result = {"artist": song.artist, "song": song.song, **settings_record, **found}
            save_json(out_path, result)
            save_region_figure(mean_crop, found["region_importance"],
                               figure_dir / f"{out_path.stem}_regions.png", title)
        elif visual_kind in POINT_KINDS:      # attribution per 3D point (point_regions)
            found = points_song_saliency(model, chunks, config.method, config.n_steps,
                                         config.internal_batch_size, config.chunk_batch, device,
                                         args.points_baseline)
            mean_points = found.pop("mean_points")
            result = {"artist": song.artist, "song": song.song, **settings_record, **found}
            save_json(out_path, result)
            save_point_figure(mean_points, found["point_importance"],
                              figure_dir / f"{out_path.stem}_points.png", title,
                              found["axis_importance"])
        else:
            result = {"artist": song.artist, "song": song.song, **settings_record,
                      **song_saliency(model, visual_kind, chunks, config, device, mean_face)}
            save_json(out_path, result)
            save_saliency_figures(result, figure_dir, out_path.stem, title)
        record_inputs([out_path], inputs_before, run_settings)
        return None

    summary = run_per_song(out_dir.name, songs, work, skipped=skipped, logger=log,
                           results_dir=settings.results_dir, settings=settings,
                           resources=SALIENCY_TASK)
    # the average covers this run's songs (and, with a filter, only the selected ones)
    song_files = [out_dir / f"{s.artist}_{s.song}.json" for s in songs
                  if selection is None or (s.artist, s.song) in selection]
    results = [load_json(p) for p in song_files if p.exists()]
    if results and regions is not None:
        average = {**settings_record, **regions.average(results)}
        save_json(out_dir / AVERAGE_NAME, average)
        if regions.save_average_figure is not None:
            regions.save_average_figure(average, figure_dir, f"{config.method} · {args.model} · "
                                                             f"mean of {len(results)} song(s)")
        print(f"saliency results: {out_dir}")
        print(f"saliency figures: {figure_dir}")
        if average.get("convergence_delta"):
            print(describe_convergence(average["convergence_delta"]))
    elif results and visual_kind in PIXEL_KINDS:
        save_json(out_dir / AVERAGE_NAME, {**settings_record, **average_frames_songs(results)})
        print(f"saliency results: {out_dir}")
    elif results and visual_kind in POINT_KINDS:
        save_json(out_dir / AVERAGE_NAME, {**settings_record, **average_points_songs(results)})
        print(f"saliency results: {out_dir}")
    elif results:
        average = {**settings_record, **average_songs(results)}
        save_json(out_dir / AVERAGE_NAME, average)
        save_saliency_figures(average, figure_dir, "_average",
                              f"{config.method} · {args.model} · mean of {len(results)} song(s)")
        print(f"saliency results: {out_dir}")
        print(f"saliency figures: {figure_dir}")
        if average.get("convergence_delta"):
            print(describe_convergence(average["convergence_delta"]))
    else:
        log.warning("no per-song results in %s: nothing to average", out_dir)
    return summary.exit_code


def describe_convergence(summary: dict) -> str:
    """One line for the run summary: the relative convergence deltas of Integrated Gradients."""
    def show(value):
        return "n/a" if value is None else f"{value:.4f}"
    return (f"Integrated Gradients convergence over {summary['n_chunks']} chunk(s): relative delta "
            f"|sum(attributions) - (F(x) - F(baseline))| / |F(x) - F(baseline)| median "
            f"{show(summary['relative_median'])}, max {show(summary['relative_max'])}")


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
