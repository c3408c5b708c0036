"""File edges of the separation benchmark (``separation.benchmark`` has the definitions): train the
rows on a scene dataset with the one training loop, evaluate them on its test scenes (and on demo
songs) with ``evaluate``'s chunk scorer, write ``separation_benchmark.json`` and its figure.

The scene dataset is ``demo_generator.scenes``' layout: ``dataset_metadata.json`` plus
``scene_splits.json`` (``splits``: train / validation / test song keys; ``scenes``: per key its
``kind`` and ``same_timbre``; ``generator_version``). Training uses the train scenes, model
selection the validation scenes, the numbers the test scenes (recorded in each checkpoint as
``test_songs``, so ``evaluate`` labels them ``test``).

A row whose checkpoint is finished (present, no resume state) and was trained with the same
settings is reused; one with a resume state resumes; one trained with other settings is refused
unless ``force`` (then retrained).
"""
from __future__ import annotations

import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.dataset import SongDataError
from core.io import load_json, save_figure, save_json
from core.metadata import load_metadata
from core.provenance import git_commit
from core.runner import SongSkipped

from . import benchmark as bm
from . import vovit
from .checkpoint import read_checkpoint
from .data import load_song_arrays
from .metrics import SDR_NAME, SI_SDR_NAME
from .training import TrainOptions, collect_songs, resume_path, train

log = logging.getLogger("separation.benchmark")

SPLITS_FILE = "scene_splits.json"
METADATA_FILE = "dataset_metadata.json"
JSON_NAME = "separation_benchmark.json"
FIGURE_NAME = "separation_benchmark.png"
TARGET = "vocal"          # the queried performer of every scene (demo_generator.scenes.TARGET)


@dataclass
class BenchmarkSettings:
    """What every row shares (the issue: same data, steps, batch, lr and seed)."""
    preset: str = "small"
    steps: int = 150
    batch_size: int = 4
    lr: float = 2e-3
    seed: int = 0
    eval_every: int = 50
    remix_probability: float = 0.5
    rows: tuple[str, ...] = bm.DEFAULT_ROWS
    sizes: dict = field(default_factory=dict)      # config size overrides (tests: a tiny model)
    n_resamples: int = bm.BOOTSTRAP_RESAMPLES

    def train_options(self) -> TrainOptions:
        return TrainOptions(steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                            eval_every=self.eval_every, remix_probability=self.remix_probability,
                            seed=self.seed)

    def config(self, row: bm.BenchmarkRow) -> vovit.VoViTConfig:
        return vovit.make_config(row.visual, self.preset, cross_modal=row.cross_modal,
                                 audio_net=row.audio_net, **self.sizes)


class BenchmarkError(ValueError):
    """A bad scene dataset or a checkpoint trained with other settings (exit 2)."""


def load_scene_splits(scene_root: Path) -> dict:
    """``scene_splits.json`` of a scene dataset, checked: three splits, disjoint, every key known."""
    path = Path(scene_root) / SPLITS_FILE
    if not path.is_file():
        raise BenchmarkError(f"{scene_root} is not a scene dataset: no {SPLITS_FILE} "
                             f"(python -m demo_generator.main DIR --scenes writes one)")
    doc = load_json(path)
    splits = {s: list(doc.get("splits", {}).get(s, [])) for s in ("train", "validation", "test")}
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        shared = set(splits[a]) & set(splits[b])
        if shared:
            raise BenchmarkError(f"{path}: {a} and {b} share {', '.join(sorted(shared))}")
    unknown = [k for keys in splits.values() for k in keys if k not in doc.get("scenes", {})]
    if unknown:
        raise BenchmarkError(f"{path}: no kind recorded for {', '.join(unknown)}")
    if not splits["train"] or not splits["validation"] or not splits["test"]:
        raise BenchmarkError(f"{path}: the benchmark needs train, validation and test scenes, "
                             f"got {', '.join(f'{k} {len(v)}' for k, v in splits.items())}")
    return {**doc, "splits": splits}


def songs_by_key(dataset_root: Path) -> dict:
    return {s.key: s for s in load_metadata(Path(dataset_root) / METADATA_FILE)}


# --- training --------------------------------------------------------------------------------------

def finished_checkpoint(path: Path) -> bool:
    return path.exists() and not resume_path(path).exists()


def same_training(payload: dict, config: vovit.VoViTConfig, settings: BenchmarkSettings,
                  splits: dict) -> str | None:
    """None when a finished checkpoint (``read_checkpoint``'s dict) was trained as this benchmark
    would train it (architecture version, input conventions, config, options, scenes), else what
    differs."""
    from .conventions import PROJECT

    extra, stored_config = payload["extra"], payload["config"]
    options = extra.get("options") or {}
    wanted = asdict(settings.train_options())
    differ = [k for k in ("steps", "batch_size", "lr", "seed", "eval_every", "remix_probability")
              if options.get(k) != wanted[k]]
    if stored_config != config.to_dict():
        differ.append("model config")
    if payload.get("architecture_version") != vovit.ARCHITECTURE_VERSION:
        differ.append("architecture version")
    if payload.get("conventions") != PROJECT.to_dict():
        differ.append("input conventions")
    if sorted(extra.get("val_songs") or ()) != sorted(splits["validation"]):
        differ.append("validation scenes")
    if sorted(extra.get("train_songs") or ()) != sorted(splits["train"]):
        differ.append("training scenes")
    return ", ".join(differ) or None


def train_rows(scene_root: Path, splits: dict, checkpoints_dir: Path, settings: BenchmarkSettings,
               device: torch.device, force: bool = False, command: str = "",
               allow_unfinished: bool = False) -> dict[str, Path]:
    """Train (or reuse / resume) every row's checkpoint → ``{row: path}``.

    ``allow_unfinished``: a row whose training was stopped before ``steps`` (a resume state next
    to its checkpoint) is used as it is, its best validation step so far, instead of resuming; the
    JSON then says ``finished: false`` and how many steps it ran (for a time budget that ran
    out: an honest partial row, never a silent one)."""
    songs = songs_by_key(scene_root)
    missing = [k for keys in splits["splits"].values() for k in keys if k not in songs]
    if missing:
        raise BenchmarkError(f"{scene_root}/{METADATA_FILE} lacks {', '.join(missing[:3])}"
                             f"{' ...' if len(missing) > 3 else ''}")
    used = [songs[k] for k in splits["splits"]["train"] + splits["splits"]["validation"]]
    commit = git_commit()
    paths, loaded = {}, {}
    for name in settings.rows:
        row = bm.ROW_BY_NAME[name]
        config = settings.config(row)
        path = Path(checkpoints_dir) / f"{bm.checkpoint_stem(TARGET, config.name)}.pt"
        paths[name] = path
        unfinished = path.exists() and resume_path(path).exists()
        if (finished_checkpoint(path) or (allow_unfinished and unfinished)) and not force:
            payload = read_checkpoint(path)
            why = same_training(payload, config, settings, splits["splits"])
            if why is None:
                log.info("%s: reusing %s (%s, same settings)", name, path,
                         "UNFINISHED" if unfinished else "finished")
                continue
            raise BenchmarkError(f"{path} was trained with other {why} than this benchmark: "
                                 f"use -f to retrain it")
        data_key = (row.visual, config.encoder)
        if data_key not in loaded:
            by_song, skipped = collect_songs(scene_root, used, TARGET, row.visual,
                                             options=config.encoder_options)
            for line in skipped:
                log.warning("not used for training: %s", line)
            loaded[data_key] = by_song
        run_info = {"command": command, "benchmark_row": name, "dataset_path": str(scene_root),
                    "extra_dataset": [], "visual": row.visual, "preset": settings.preset,
                    "cross_modal": row.cross_modal, "audio_net": row.audio_net,
                    "device": str(device),
                    "git_commit": commit,
                    "generator_version": splits.get("generator_version"),
                    "scene_splits": SPLITS_FILE}
        log.info("%s: training %s → %s", name, config.name, path)
        train(config, loaded[data_key], path, settings.train_options(), device, TARGET,
              val_songs=splits["splits"]["validation"], force=force, run_info=run_info,
              test_songs=splits["splits"]["test"])
    return paths


# --- evaluation ------------------------------------------------------------------------------------

def song_chunk_sets(dataset_root: Path, song, inputs: set) -> dict:
    """Per model input ``(visual, encoder options, conventions)``, the song's usable grid chunks
    ``{input: {index: Chunk}}`` prepared by those conventions."""
    out = {}
    for visual, encoder, conventions in sorted(inputs, key=str):
        arrays = load_song_arrays(song.folder(Path(dataset_root)), song, TARGET, visual,
                                  conventions=conventions, options=dict(encoder))
        out[visual, encoder, conventions] = {c.index: c for c in arrays.grid_chunks()}
    return out


def model_input_key(model, conventions) -> tuple:
    """What a model's chunks depend on: its kind, encoder options and input conventions."""
    return model.config.visual, model.config.encoder, conventions


def evaluate_on_songs(dataset_root: Path, songs: list, models: dict, device: torch.device
                      ) -> tuple[list[dict], list[str]]:
    """Score every row on the songs' chunks usable by all rows (``bm.common_chunk_indices``).

    ``models``: ``{row: (model, input conventions)}``. Returns per-chunk records
    ``{"song", "index", "mixture_sdr",
    "mixture_si_sdr", "models": {row: {"sdr", "si_sdr"}}}`` and the skipped songs (with reasons).
    """
    from .commands import evaluate_song_chunks      # evaluate's scorer: one scoring path

    inputs = {model_input_key(model, conventions) for model, conventions in models.values()}
    records, skipped = [], []
    for song in songs:
        if TARGET not in song.instruments:
            skipped.append(f"{song.key}: no {TARGET} in the layout")
            continue
        try:
            chunk_sets = song_chunk_sets(dataset_root, song, inputs)
        except (SongSkipped, SongDataError) as exc:
            skipped.append(f"{song.key}: {exc}")
            log.warning("%s: skipped: %s", song.key, exc)
            continue
        common = bm.common_chunk_indices({v: list(c) for v, c in chunk_sets.items()})
        if not common:
            skipped.append(f"{song.key}: no 4-s chunk usable by every row")
            continue
        song_records = {i: {"song": song.key, "index": i, "models": {}} for i in common}
        for name, (model, conventions) in models.items():
            chunks = [chunk_sets[model_input_key(model, conventions)][i] for i in common]
            result = evaluate_song_chunks(model, None, chunks, device)
            for row in result["chunks"]:
                record = song_records[row["index"]]
                record["mixture_sdr"] = float(row["mixture_sdr"])
                record["mixture_si_sdr"] = float(row["mixture_si_sdr"])
                record["models"][name] = {"sdr": float(row["model_sdr"]),
                                          "si_sdr": float(row["model_si_sdr"])}
        records += [song_records[i] for i in common]
    return records, skipped


def row_metadata(path: Path) -> dict:
    """What the JSON reports about a trained row, from its checkpoint."""
    payload = read_checkpoint(path)
    extra = payload["extra"]
    history = extra.get("history") or []
    curve = bm.learning_curve(history)
    return {"checkpoint": path.name, "visual": payload["config"]["visual"],
            "cross_modal": payload["config"]["cross_modal"],
            "audio_net": payload["config"].get("audio_net", "vovit"),
            "parameters": int(sum(v.numel() for k, v in payload["state_dict"].items()
                                  if v.dtype.is_floating_point and k.endswith(("weight", "bias"))
                                  or "in_proj" in k or "edge_importance" in k)),
            "file_mb": round(path.stat().st_size / 1e6, 2),
            "steps": (extra.get("options") or {}).get("steps"), "best_step": extra.get("step"),
            "steps_run": history[-1]["step"] if history else None,
            "finished": not resume_path(path).exists(),
            "wall_time_s": history[-1].get("elapsed_s") if history else None,
            "best_validation": {k: extra.get("best_val", {}).get(k)
                                for k in ("loss", "sdr", "si_sdr")},
            "device": (extra.get("run") or {}).get("device"),
            "conventions": payload.get("conventions"),
            "architecture_version": payload.get("architecture_version"),
            "git_commit": (extra.get("run") or {}).get("git_commit"),
            "learning_curve": curve}


def run_benchmark(scene_root: Path, out_dir: Path, checkpoints_dir: Path,
                  settings: BenchmarkSettings, device: torch.device,
                  demo_dataset: Path | None = None, force: bool = False, command: str = "",
                  figure: bool = True, allow_unfinished: bool = False) -> dict:
    """Train, evaluate and write the benchmark (module docstring); returns the JSON document."""
    from .checkpoint import load_checkpoint

    scene_root, out_dir = Path(scene_root), Path(out_dir)
    splits = load_scene_splits(scene_root)
    paths = train_rows(scene_root, splits, checkpoints_dir, settings, device, force, command,
                       allow_unfinished)
    models = {}
    for name, path in paths.items():
        model, model_meta = load_checkpoint(path, map_location=device)
        models[name] = (model, model_meta["conventions"])
    meta = {name: row_metadata(path) for name, path in paths.items()}
    rows = list(paths)
    started = time.perf_counter()

    songs = songs_by_key(scene_root)
    test_keys = splits["splits"]["test"]
    records, skipped = evaluate_on_songs(scene_root, [songs[k] for k in test_keys], models, device)
    scenes_info = {k: splits["scenes"][k] for k in test_keys}
    groups = bm.scene_groups(scenes_info)
    scenes = {}
    for name, group in groups.items():
        chunks = [r for r in records if r["song"] in set(group["songs"])]
        scenes[name] = {**bm.group_results(chunks, rows, meta, group["same_timbre"],
                                           settings.n_resamples),
                        "kinds": group["kinds"], "split": "test", "n_songs": len(group["songs"]),
                        "dataset": "scenes"}
    demo_records, demo_skipped = [], []
    if demo_dataset is not None:
        demo_songs = list(songs_by_key(demo_dataset).values())
        demo_records, demo_skipped = evaluate_on_songs(demo_dataset, demo_songs, models, device)
        if demo_records:
            scenes[bm.DEMO_GROUP] = {
                **bm.group_results(demo_records, rows, meta, False, settings.n_resamples),
                "kinds": ["demo concert"], "split": "test (never trained on)",
                "n_songs": len({r["song"] for r in demo_records}),
                "dataset": "demo songs (demo_generator, keypoints from the pose stage)"}
    document = {
        "format": bm.BENCHMARK_FORMAT,
        "git_commit": git_commit(),
        "generator_version": splits.get("generator_version"),
        "architecture_version": getattr(vovit, "ARCHITECTURE_VERSION", None),
        "target": TARGET,
        "metrics": {"sdr": SDR_NAME, "si_sdr": SI_SDR_NAME},
        "statistics": (f"per row and scene group over test chunks: mean and 95% percentile "
                       f"bootstrap interval of the mean ({settings.n_resamples} resamples, seed "
                       f"{bm.BOOTSTRAP_SEED}); *_minus_mixture and *_minus_audio_only are paired "
                       f"per-chunk differences"),
        "selection": "each row keeps the step with the best validation loss (validation scenes "
                     "only); test scenes are used for these numbers only",
        "training": {**{k: v for k, v in asdict(settings).items() if k != "n_resamples"},
                     "command": command, "scene_counts": splits.get("counts"),
                     "scene_seconds": splits.get("seconds"), "kinds": splits.get("kinds")},
        "device": str(device), "torch": torch.__version__, "machine": platform.machine(),
        "rows": meta,
        "scenes": scenes,
        "verdict": None,
        "skipped": skipped + demo_skipped,
        "evaluation_wall_time_s": time.perf_counter() - started,
        "chunks": {"scenes": records, bm.DEMO_GROUP: demo_records},
    }
    document["verdict"] = bm.verdict(document)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_json(out_dir / JSON_NAME, document)
    if Path(checkpoints_dir).resolve() != out_dir.resolve():
        save_json(Path(checkpoints_dir) / JSON_NAME, document)
    if figure:
        plot_benchmark(document, out_dir / FIGURE_NAME)
    return document


def plot_benchmark(document: dict, path: Path) -> Path:
    """Left: SI-SDR − audio-only (mean, 95 % CI) per scene group and visual row; right: the rows'
    validation SI-SDR learning curves."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    groups = list(document["scenes"])
    rows = [r for r in document["rows"] if r != bm.AUDIO_ONLY]
    width = 0.8 / max(1, len(rows))
    for k, row in enumerate(rows):
        means, errs = [], [[], []]
        for g in groups:
            gain = document["scenes"][g]["models"].get(row, {}).get("si_sdr_minus_audio_only")
            mean = gain["mean"] if gain else np.nan
            means.append(mean)
            errs[0].append(mean - gain["ci95"][0] if gain else 0.0)
            errs[1].append(gain["ci95"][1] - mean if gain else 0.0)
        left.bar(np.arange(len(groups)) + (k - (len(rows) - 1) / 2) * width, means, width,
                 yerr=errs, capsize=3, label=row)
    left.axhline(0.0, color="k", lw=0.8)
    left.set_xticks(np.arange(len(groups)), groups, rotation=20)
    left.set_ylabel("SI-SDR − audio-only (dB), 95% CI")
    left.set_title("test chunks: gain over the audio-only row")
    left.legend(fontsize=8)
    for row, meta in document["rows"].items():
        curve = [c for c in meta["learning_curve"] if c.get("si_sdr") is not None]
        right.plot([c["step"] for c in curve], [c["si_sdr"] for c in curve], marker=".", label=row)
    right.set_xlabel("training step")
    right.set_ylabel("validation SI-SDR (dB)")
    right.set_title("learning curves (validation scenes)")
    right.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(path, fig)
