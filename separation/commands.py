"""The sub-commands: file edges around ``training``, ``inference``, ``metrics`` and ``official``."""
from __future__ import annotations

import argparse
import functools
import logging
import shlex
import sys
from pathlib import Path

import numpy as np

from core.audio import load_audio, save_wav
from core.dataset import find_mixture, model_input_files
from core.device import resolve_device
from core.freshness import is_up_to_date, record_inputs, snapshot
from core.io import file_sha256, load_json, save_json
from core.metadata import load_metadata, select_songs
from core.provenance import git_commit
from core.runner import UP_TO_DATE, Finished, SongSkipped, TaskResources, run_per_song
from core.settings import DEFAULT_METADATA_NAME, Settings, settings_from_args

from .checkpoint import load_checkpoint
from .conventions import InputConventions
from .conditions import condition_input_files, prepare_condition
from .data import load_song_audio, song_chunks
from .inference import estimate_chunks, hop_samples, separate_song
from .metrics import SDR_NAME, SI_SDR_NAME, chunk_metrics, mean_ignoring_nan
from .splits import SPLIT_LABELS, checkpoint_key, song_split, split_difference
from .training import TrainOptions, collect_songs, resume_path, train
from .encoders import encoder_kind
from .vovit import CHUNK_SECONDS, SAMPLE_RATE, make_config

log = logging.getLogger("separation")

# Ray task resources of separate/evaluate: one song's model passes. One CPU (torch then runs one
# thread: Ray sets OMP_NUM_THREADS, see README "Running on a cluster"), and one GPU when --device
# asks for CUDA.
SEPARATION_TASK = TaskResources(cpus=1, gpus=1)


@functools.lru_cache(maxsize=4)
def model_on_device(checkpoint: str, device_spec: str | None, expect_visual: str | None = None):
    """``(model, meta, device)`` for a checkpoint, loaded once per process: the stage's process
    loads it up front (a bad checkpoint fails before any song) and the per-song work asks again,
    so a Ray worker loads its own copy on the device Ray gave it."""
    device = resolve_device(device_spec)
    model, meta = load_checkpoint(checkpoint, map_location=device, expect_visual=expect_visual)
    return model, meta, device


def selected_songs(args, dataset_path: Path, settings: Settings):
    """Songs of ``dataset_path`` chosen by -a/-s and the INSTRUMENTS setting, like every stage;
    for training also without ``correct_body_detection: false`` songs unless
    ``--include-incorrect-body-detection`` (``core.metadata.body_detection_skip``)."""
    songs = load_metadata(Path(dataset_path) / DEFAULT_METADATA_NAME)
    training = getattr(args, "command", None) == "train"
    return select_songs(songs, getattr(args, "artist", None), getattr(args, "song", None),
                        expected_instruments=settings.instruments,
                        require_body_detection=training and not getattr(
                            args, "include_incorrect_body_detection", False))


# --- train -----------------------------------------------------------------------------------------

def run_train(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    dataset_path = Path(settings.require("dataset_path"))
    device = resolve_device(settings.device)
    out = Path(args.out)
    if out.exists() and not args.force and not resume_path(out).exists():
        log.info("%s exists and training finished; use -f to train again", out)
        return 0
    encoder = dict(getattr(args, "encoder", ()) or ())
    audio_net = getattr(args, "audio_net", "vovit")
    audio = dict(getattr(args, "audio", ()) or ())
    if audio and audio_net != "unet":
        raise ValueError("--audio options are for --audio_net unet")
    config = make_config(args.visual, args.preset, cross_modal=args.cross_modal,
                         audio_net=audio_net, encoder=encoder, audio=audio)
    if encoder and not config.encoder:
        raise ValueError(f"visual={args.visual} takes no --encoder options")
    kind = encoder_kind(args.visual)
    # bad encoder options or weights for a kind without them fail here (exit 2), before any song
    condition_encoder = kind.build(config) if kind else None
    if getattr(args, "visual_weights", None) and not hasattr(condition_encoder, "load_pretrained"):
        raise ValueError(f"visual={args.visual} takes no --visual_weights")
    conventions = InputConventions(args.mixture_normalisation, args.face_coordinates,
                                   args.face_fit_points)
    by_song, skipped = {}, []
    roots = [(dataset_path, "")] + [(Path(d), f"{Path(d).name}:") for d in args.extra_dataset]
    for root, prefix in roots:
        songs, skips = selected_songs(args, root, settings)
        skipped += [f"{prefix}{s}" for s in skips]
        chunks, bad = collect_songs(root, songs, args.instrument, args.visual, conventions,
                                    config.encoder_options)
        by_song.update({prefix + key: value for key, value in chunks.items()})
        skipped += [prefix + line for line in bad]
    val_songs = args.val_songs
    if args.same_songs_as:
        from .checkpoint import read_checkpoint
        other = read_checkpoint(args.same_songs_as)["extra"]
        wanted = set(other.get("train_songs", [])) | set(other.get("val_songs", []))
        skipped += [f"{k}: not a song of {args.same_songs_as}" for k in by_song if k not in wanted]
        by_song = {k: v for k, v in by_song.items() if k in wanted}
        val_songs = val_songs or other.get("val_songs")
    for line in skipped:
        log.info("not used for training: %s", line)
    opts = TrainOptions(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                        eval_every=args.eval_every, remix_probability=args.remix_probability,
                        seed=args.seed, max_minutes=args.max_minutes)
    run_info = {"command": "python -m separation.main " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                "dataset_path": str(dataset_path), "extra_dataset": list(args.extra_dataset),
                "visual": args.visual, "preset": args.preset, "cross_modal": args.cross_modal,
                "audio_net": audio_net,
                "device": str(device), "git_commit": git_commit(),
                "include_incorrect_body_detection": bool(args.include_incorrect_body_detection)}
    visual_weights = getattr(args, "visual_weights", None)
    if visual_weights:
        run_info["visual_weights"] = {"path": str(visual_weights),
                                      "sha256": file_sha256(visual_weights)}
    extra = train(config, by_song, out, opts, device, args.instrument, val_songs,
                  args.force, run_info, visual_weights=visual_weights)
    best = extra.get("best_val") or {}
    log.info("wrote %s (best validation: %s)", out,
             ", ".join(f"{k} {v:.3f}" for k, v in best.items() if isinstance(v, float)) or "none")
    return 0


# --- separate --------------------------------------------------------------------------------------

def load_mixture(song_dir: Path, song, instrument: str) -> np.ndarray:
    """The mixture at 16384 Hz: the provided mixture file, else the sum of the layout's stems."""
    provided = find_mixture(song_dir)
    if provided is not None:
        return load_audio(provided, SAMPLE_RATE)
    return load_song_audio(song_dir, song, instrument)[0]


def run_separate(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    dataset_path = Path(settings.require("dataset_path"))
    _, meta, _ = model_on_device(str(args.checkpoint), settings.device)
    config, instrument = meta["config"], meta.get("instrument")
    if instrument is None:
        raise ValueError(f"checkpoint {args.checkpoint} does not record its instrument")
    hop = hop_samples(args.hop_seconds)
    songs, skips = selected_songs(args, dataset_path, settings)

    def work(song):
        song_dir = song.folder(dataset_path)
        out = song_dir / instrument / f"separated_{config.name}.wav"
        # the re-run rule (core.freshness): redone when the checkpoint, a wav or the keypoints change
        inputs = [Path(args.checkpoint), *model_input_files(song_dir, instrument),
                  *condition_input_files(config.visual, song_dir, instrument)]
        if is_up_to_date([out], inputs, args.force):
            return UP_TO_DATE
        if instrument not in song.instruments:
            raise SongSkipped(f"no {instrument} in the layout {list(song.layout or ())}")
        inputs_before = snapshot(inputs)
        model, _, device = model_on_device(str(args.checkpoint), settings.device)
        visual, mask = prepare_condition(config.visual, song_dir, song, instrument,
                                         conventions=meta["conventions"],
                                         options=config.encoder_options)
        mixture = load_mixture(song_dir, song, instrument)
        estimate = separate_song(model, mixture, visual, mask, device, hop=hop,
                                 conventions=meta["conventions"])
        save_wav(out, estimate, SAMPLE_RATE)      # refuses NaN/inf: never a silent bad file
        record_inputs([out], inputs_before)
        log.info("%s: wrote %s (%.1f s)", song.key, out, len(estimate) / SAMPLE_RATE)
        return None

    return run_per_song(f"separate[{config.name}/{instrument}]", songs, work, skips, log,
                        results_dir=settings.results_dir, settings=settings,
                        resources=SEPARATION_TASK).exit_code


# --- evaluate --------------------------------------------------------------------------------------

METHODS = ("model", "mixture", "baseline")


def evaluate_song_chunks(model, baseline, chunks, device) -> dict:
    """Per-chunk and per-song SDR / SI-SDR for model, mixture and (optional) baseline. The chunks are
    at the model's input scale (``Chunk.scale``); both metrics ignore a scale common to estimate and
    target."""
    mixtures = np.stack([c.mixture for c in chunks])
    targets = np.stack([c.target for c in chunks])
    visuals = None if chunks[0].visual is None else np.stack([c.visual for c in chunks])
    results = {"model": chunk_metrics(estimate_chunks(model, mixtures, visuals, device), targets),
               "mixture": chunk_metrics(mixtures, targets)}
    if baseline is not None:
        results["baseline"] = chunk_metrics(estimate_chunks(baseline, mixtures, None, device),
                                            targets)
    rows = []
    for i, chunk in enumerate(chunks):
        row = {"index": chunk.index, "start_s": CHUNK_SECONDS * chunk.index}
        for method, values in results.items():
            row[f"{method}_sdr"] = values["sdr"][i]
            row[f"{method}_si_sdr"] = values["si_sdr"][i]
        rows.append(row)
    song = {f"{m}_{k}": mean_ignoring_nan(v[k]) for m, v in results.items() for k in ("sdr", "si_sdr")}
    return {"chunks": rows, "song": song}


def format_table(rows: list[dict], warnings: list[str] = ()) -> str:
    """Plain-text table of per-song means (dB); ``-`` = not available. ``split`` is the song's
    split relative to the checkpoint (``separation.splits``: only ``test`` is held out);
    ``warnings`` are printed under the table."""
    head = (f"{'song':40s} {'split':>10s} {'n':>3s} | {'SDR model':>9s} {'mixture':>8s} "
            f"{'baseline':>8s} | {'SI-SDR model':>12s} {'mixture':>8s} {'baseline':>8s}")
    lines = [head, "-" * len(head)]

    def cell(value, width):
        return f"{value:{width}.2f}" if isinstance(value, float) and np.isfinite(value) \
            else f"{'-':>{width}s}"

    for r in rows:
        s = r["song_means"]
        lines.append(f"{r['key'][:40]:40s} {r['split']:>10s} "
                     f"{r['n_chunks']:>3d} | {cell(s.get('model_sdr'), 9)} "
                     f"{cell(s.get('mixture_sdr'), 8)} {cell(s.get('baseline_sdr'), 8)} | "
                     f"{cell(s.get('model_si_sdr'), 12)} {cell(s.get('mixture_si_sdr'), 8)} "
                     f"{cell(s.get('baseline_si_sdr'), 8)}")
    lines += [f"WARNING: {w}" for w in warnings]
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    dataset_path = Path(settings.require("dataset_path"))
    _, meta, _ = model_on_device(str(args.checkpoint), settings.device)
    config, instrument = meta["config"], meta.get("instrument")
    baseline_meta = None
    if args.baseline:
        _, baseline_meta, _ = model_on_device(str(args.baseline), settings.device, "none")
        if baseline_meta.get("instrument") != instrument:
            raise ValueError(f"baseline {args.baseline} separates {baseline_meta.get('instrument')}, "
                             f"but {args.checkpoint} separates {instrument}")
        ours, theirs = (meta["conventions"].mixture_normalisation,
                        baseline_meta["conventions"].mixture_normalisation)
        if ours != theirs:      # both run on the same chunks, scaled by one rule
            raise ValueError(f"baseline {args.baseline} expects mixture normalisation {theirs}, "
                             f"but {args.checkpoint} expects {ours}")
    warnings = []
    baseline_difference = None
    if baseline_meta is not None:
        baseline_difference = split_difference(meta, baseline_meta)
        if baseline_difference:
            warnings.append(f"the baseline {args.baseline} was trained or selected on other songs "
                            f"than {args.checkpoint} (baseline_split_difference in the JSON)")
    songs, skips = selected_songs(args, dataset_path, settings)
    split_of = {s.key: song_split(s.key, dataset_path, meta) for s in songs}
    if args.held_out:
        songs = [s for s in songs if split_of[s.key] == "test"]

    def work(song):
        song_dir = song.folder(dataset_path)
        out = song_dir / instrument / f"separation_eval_{config.name}.json"
        # the re-run rule (core.freshness): redone when a checkpoint, a wav or the keypoints
        # change, or the evaluation is asked with another baseline or the song's split changed
        inputs = [Path(args.checkpoint), *([Path(args.baseline)] if args.baseline else []),
                  *model_input_files(song_dir, instrument),
                  *condition_input_files(config.visual, song_dir, instrument)]
        run_settings = {"baseline": str(args.baseline) if args.baseline else None,
                        "split": split_of[song.key]}
        if is_up_to_date([out], inputs, args.force, run_settings):
            return Finished(load_json(out), up_to_date=True)
        if instrument not in song.instruments:
            raise SongSkipped(f"no {instrument} in the layout {list(song.layout or ())}")
        inputs_before = snapshot(inputs)
        chunks = song_chunks(song_dir, song, instrument, config.visual,
                             conventions=meta["conventions"], options=config.encoder_options)
        if not chunks:
            raise SongSkipped("no usable 4-s chunk (too short or keypoints missing)")
        model, _, device = model_on_device(str(args.checkpoint), settings.device)
        baseline = model_on_device(str(args.baseline), settings.device, "none")[0] \
            if args.baseline else None
        result = evaluate_song_chunks(model, baseline, chunks, device)
        record = {"artist": song.artist, "song": song.song, "key": song.key,
                  "instrument": instrument, "model": config.name,
                  "checkpoint": str(args.checkpoint),
                  "baseline": str(args.baseline) if args.baseline else None,
                  "split": split_of[song.key],
                  "checkpoint_key": checkpoint_key(song.key, dataset_path, meta),
                  "held_out": split_of[song.key] == "test",
                  "metrics": {"sdr": SDR_NAME, "si_sdr": SI_SDR_NAME},
                  "n_chunks": len(chunks), "chunks": result["chunks"],
                  "song_means": result["song"]}
        save_json(out, record)
        record_inputs([out], inputs_before, run_settings)
        return Finished(record)

    summary = run_per_song(f"evaluate[{config.name}/{instrument}]", songs, work, skips, log,
                           results_dir=settings.results_dir, settings=settings,
                           resources=SEPARATION_TASK)
    rows: list[dict] = list(summary.values.values())      # song order
    if rows:
        table = format_table(rows, warnings)
        print(f"\n{instrument} with {config.name} ({args.checkpoint}); per-song means over chunks, "
              f"dB; SDR = {SDR_NAME}, SI-SDR = {SI_SDR_NAME}\n{table}\n")
        overall = {}
        subsets = [("all", rows), ("held_out", [r for r in rows if r["split"] == "test"])]
        subsets += [(label, [r for r in rows if r["split"] == label]) for label in SPLIT_LABELS]
        for subset, picked in subsets:
            overall[subset] = {k: mean_ignoring_nan([r["song_means"].get(k, np.nan) for r in picked])
                               for k in (f"{m}_{x}" for m in METHODS for x in ("sdr", "si_sdr"))}
            overall[subset]["n_songs"] = len(picked)
        results_dir = settings.results_dir / "separation"
        save_json(results_dir / f"eval_{instrument}_{config.name}.json",
                  {"instrument": instrument, "model": config.name,
                   "checkpoint": str(args.checkpoint), "baseline": args.baseline,
                   "metrics": {"sdr": SDR_NAME, "si_sdr": SI_SDR_NAME},
                   "split_note": "split of each song relative to the checkpoint's recorded run; "
                                 "held_out = test (never trained or selected on)",
                   "baseline_split_difference": baseline_difference,
                   "warnings": warnings, "songs": rows, "overall": overall})
        log.info("wrote %s", results_dir / f"eval_{instrument}_{config.name}.json")
    return summary.exit_code



# --- import-vovit ----------------------------------------------------------------------------------

def run_import_vovit(args: argparse.Namespace) -> int:
    from .official import import_vovit

    dropped = import_vovit(args.path, args.out, args.instrument)
    print(f"dropped {len(dropped)} non-parameter key(s)"
          + (": " + ", ".join(dropped) if dropped else ""))
    log.info("wrote %s (official VoViT weights, input conventions: song-peak mixture, raw face "
             "coordinates)", args.out)
    return 0


# --- benchmark -------------------------------------------------------------------------------------

def run_benchmark(args: argparse.Namespace) -> int:
    from demo_generator.scenes import BENCHMARK_KINDS, SCENE_KINDS, generate_scenes

    from . import benchmark as bm
    from .benchmark_run import BenchmarkSettings, load_scene_splits, train_rows
    from .benchmark_run import run_benchmark as run

    unknown = [r for r in args.rows or () if r not in bm.ROW_BY_NAME]
    if unknown:
        raise ValueError(f"unknown benchmark row(s) {', '.join(unknown)}; "
                         f"known: {', '.join(bm.ROW_BY_NAME)}")
    rows = tuple(args.rows) if args.rows else bm.DEFAULT_ROWS
    kinds = tuple(args.kinds or BENCHMARK_KINDS)
    unknown_kinds = [k for k in kinds if k not in SCENE_KINDS]
    if unknown_kinds:
        raise ValueError(f"unknown scene kind(s) {', '.join(unknown_kinds)}; "
                         f"known: {', '.join(SCENE_KINDS)}")
    if bm.AUDIO_ONLY not in rows and not args.train_only:
        raise ValueError(f"the benchmark needs the audio-only row {bm.AUDIO_ONLY!r} as reference")
    device = resolve_device(args.device)
    out = Path(args.out)
    scenes = Path(args.scenes_dir) if args.scenes_dir else out / "scenes"
    # reused when complete with the same settings; rendered when a row reads the video (frames)
    generate_scenes(scenes, {"train": args.train, "validation": args.validation,
                             "test": args.test}, kinds,
                    render=bm.rows_need_video(rows))
    settings = BenchmarkSettings(preset=args.preset, steps=args.steps,
                                 batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                 eval_every=args.eval_every, rows=rows)
    command = "python -m separation.main " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    checkpoints = Path(args.checkpoints_dir) if args.checkpoints_dir else out / "checkpoints"
    if args.train_only:
        paths = train_rows(scenes, load_scene_splits(scenes), checkpoints, settings, device,
                           args.force, command)
        log.info("trained %s", ", ".join(str(p) for p in paths.values()))
        return 0
    doc = run(scenes, out, checkpoints, settings, device,
              Path(args.demo_dataset) if args.demo_dataset else None, args.force, command,
              allow_unfinished=args.allow_unfinished)
    print(format_benchmark(doc))
    return 0


def format_benchmark(doc: dict) -> str:
    """The benchmark's table: per scene group and row, SI-SDR and the gain over audio-only."""
    lines = [f"separation benchmark (target {doc['target']}; mean [95% CI] over test chunks, dB; "
             f"SI-SDR = {SI_SDR_NAME})"]
    for group, body in doc["scenes"].items():
        lines.append(f"\n{group} ({'same' if body['same_timbre'] else 'mixed'} timbre, "
                     f"{body['n_chunks']} chunks)")
        for row, m in body["models"].items():
            gain = m.get("si_sdr_minus_audio_only")
            gain_text = "-" if not gain else \
                f"{gain['mean']:+.2f} [{gain['ci95'][0]:+.2f}, {gain['ci95'][1]:+.2f}]"
            lines.append(f"  {row:16s} SI-SDR {m['si_sdr']['mean']:6.2f}  "
                         f"over mixture {m['si_sdr_minus_mixture']['mean']:+6.2f}  "
                         f"over audio-only {gain_text}")
    verdict = doc.get("verdict") or {}
    if verdict.get("best_row"):
        gain = verdict["gain"]
        lines.append(f"\ngoal (>= +{verdict['goal_db']:g} dB SI-SDR over audio-only on "
                     f"{verdict['group']}, CI excluding 0): "
                     f"{'MET' if verdict['met'] else 'NOT MET'} by {verdict['best_row']} "
                     f"({gain['mean']:+.2f} dB [{gain['ci95'][0]:+.2f}, {gain['ci95'][1]:+.2f}])")
    return "\n".join(lines)
