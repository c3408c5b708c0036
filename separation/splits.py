"""Which split a song belongs to, relative to a checkpoint's recorded training run.

A checkpoint records the songs it was trained on (``train_songs``), selected on (``val_songs``,
used for validation and keeping the best step) and, when the run had one, kept for the final
evaluation (``test_songs``). Songs of the main dataset are keyed ``artist/song``; songs of an
``--extra_dataset DIR`` are keyed ``<DIR name>:artist/song`` (``run.extra_dataset``), so the same
song name in two datasets (e.g. two seeds of the demo) stays two songs.

``checkpoint_key`` maps a song of the dataset being evaluated to the key the checkpoint would have
given it: the dataset is matched to the run's datasets by resolved path, else by folder name (a
dataset that moved keeps its name); a dataset the run never saw gets its own ``<name>:`` prefix,
so none of its songs can match a recorded training song by name alone.

``song_split`` labels a song ``train``, ``validation`` or ``test``: ``test`` means "neither trained
nor selected on" (a recorded test song, or any song the run never used). Only ``test`` songs are
held out; evaluation never calls a training or validation song held out.
"""
from __future__ import annotations

from pathlib import Path

SPLIT_LABELS = ("train", "validation", "test")


def _resolved(path) -> str:
    return str(Path(path).expanduser().resolve())


def dataset_prefix(dataset_path, run: dict) -> str:
    """The key prefix the run gave songs of ``dataset_path`` ("" for its main dataset)."""
    main = run.get("dataset_path")
    extras = list(run.get("extra_dataset") or ())
    target = _resolved(dataset_path)
    if main and _resolved(main) == target:
        return ""
    for extra in extras:
        if _resolved(extra) == target:
            return f"{Path(extra).name}:"
    name = Path(target).name
    if main and Path(main).name == name:
        return ""
    for extra in extras:
        if Path(extra).name == name:
            return f"{name}:"
    return f"{name}:" if main else ""


def checkpoint_key(song_key: str, dataset_path, meta: dict) -> str:
    """``artist/song`` of ``dataset_path`` → the key the checkpoint's run used for it."""
    return dataset_prefix(dataset_path, meta.get("run") or {}) + song_key


def song_split(song_key: str, dataset_path, meta: dict) -> str:
    """``train`` | ``validation`` | ``test`` of a song relative to the checkpoint ``meta``."""
    key = checkpoint_key(song_key, dataset_path, meta)
    if key in set(meta.get("train_songs") or ()):
        return "train"
    if key in set(meta.get("val_songs") or ()):
        return "validation"
    return "test"


def split_difference(model_meta: dict, baseline_meta: dict) -> dict | None:
    """None when model and baseline were trained and selected on the same songs (and datasets);
    else what differs: ``{"train_only_model", "train_only_baseline", "validation_only_model",
    "validation_only_baseline"}`` (sorted song keys, each resolved to ``path|key`` when the two runs
    used different datasets so that equal names in different datasets do not look equal)."""
    def songs(meta, field):
        run = meta.get("run") or {}
        datasets = {"": run.get("dataset_path")}
        datasets.update({f"{Path(d).name}:": d for d in run.get("extra_dataset") or ()})
        out = set()
        for key in meta.get(field) or ():
            prefix = key.split(":", 1)[0] + ":" if ":" in key.split("/", 1)[0] else ""
            root = datasets.get(prefix)
            out.add(f"{_resolved(root) if root else '?'}|{key[len(prefix):]}")
        return out

    diff = {}
    for field, label in (("train_songs", "train"), ("val_songs", "validation")):
        a, b = songs(model_meta, field), songs(baseline_meta, field)
        if a != b:
            diff[f"{label}_only_model"] = sorted(a - b)
            diff[f"{label}_only_baseline"] = sorted(b - a)
    return diff or None
