"""Split labels relative to a checkpoint's recorded run (``separation.splits``), and the evaluate
CLI's use of them: no training or validation song is ever called held out."""
from __future__ import annotations

import json

import pytest
import torch

from separation.checkpoint import save_checkpoint
from separation.splits import checkpoint_key, song_split, split_difference
from separation.vovit import VoViT

from sep_synthetic import synthetic_dataset, tiny_config  # noqa: F401 (fixture)
from test_sep_cli import run_main_in_process


def run_meta(tmp_path, train, val, test=()):
    """A checkpoint's meta trained on ``tmp_path/seed0`` (main) and ``tmp_path/seed1`` (extra)."""
    return {"train_songs": list(train), "val_songs": list(val), "test_songs": list(test),
            "run": {"dataset_path": str(tmp_path / "seed0"),
                    "extra_dataset": [str(tmp_path / "seed1")]}}


def test_labels_are_prefix_aware(tmp_path):
    """The same song name in the main and the extra dataset are two songs."""
    meta = run_meta(tmp_path, train=["seed1:A/Song", "A/Other"], val=["A/Song"])
    assert song_split("A/Song", tmp_path / "seed1", meta) == "train"
    assert song_split("A/Song", tmp_path / "seed0", meta) == "validation"
    assert song_split("A/Other", tmp_path / "seed0", meta) == "train"
    assert song_split("A/Other", tmp_path / "seed1", meta) == "test"       # never used
    # a dataset the run never saw: its songs cannot match a training song by name
    assert checkpoint_key("A/Other", tmp_path / "fresh", meta) == "fresh:A/Other"
    assert song_split("A/Other", tmp_path / "fresh", meta) == "test"
    # a dataset that moved keeps its name, and so its songs' keys
    moved = tmp_path / "elsewhere" / "seed1"
    assert song_split("A/Song", moved, meta) == "train"
    # paths are compared resolved
    assert song_split("A/Song", tmp_path / "seed0" / ".." / "seed0", meta) == "validation"
    # no run recorded (a hand-made checkpoint): plain keys
    assert song_split("A/Song", tmp_path, {"train_songs": ["A/Song"]}) == "train"


def test_split_difference_names_songs_that_differ_and_ignores_equal_runs(tmp_path):
    model = run_meta(tmp_path, train=["seed1:A/Song"], val=["A/Song"])
    assert split_difference(model, json.loads(json.dumps(model))) is None
    other = run_meta(tmp_path, train=["seed1:A/Song", "seed1:A/Extra"], val=["A/Song"])
    diff = split_difference(model, other)
    assert list(diff) == ["train_only_model", "train_only_baseline"]
    assert diff["train_only_model"] == [] and diff["train_only_baseline"][0].endswith("|A/Extra")
    # the same key in different datasets is a different song
    elsewhere = {**model, "run": {"dataset_path": str(tmp_path / "x"),
                                  "extra_dataset": [str(tmp_path / "y" / "seed1")]}}
    diff = split_difference(model, elsewhere)
    assert diff is not None and set(diff) == {"train_only_model", "train_only_baseline",
                                              "validation_only_model", "validation_only_baseline"}


@pytest.mark.slow
def test_evaluate_labels_songs_and_warns_about_a_baseline_on_other_songs(synthetic_dataset,
                                                                         tmp_path, capsys):
    root = synthetic_dataset
    torch.manual_seed(0)
    run = {"dataset_path": str(root), "extra_dataset": []}
    model = save_checkpoint(tmp_path / "m.pt", VoViT(tiny_config("face")).eval(), instrument="vocal",
                            train_songs=["Art/Song One"], val_songs=["Art/Song Two"], run=run)
    baseline = save_checkpoint(tmp_path / "b.pt", VoViT(tiny_config("none")).eval(),
                               instrument="vocal", train_songs=["Art/Song Two"], val_songs=[], run=run)
    code, out, err = run_main_in_process(capsys, "evaluate", "--dataset_path", str(root),
                                         "--checkpoint", str(model), "--baseline", str(baseline))
    assert code == 0, err[-3000:]
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("Art/Song")}
    assert "train" in rows["One"].split() and "validation" in rows["Two"].split()
    assert "WARNING: the baseline" in out
    result = json.loads((root / "results" / "separation" / "eval_vocal_face_small.json").read_text())
    splits = {r["key"]: (r["split"], r["held_out"]) for r in result["songs"]}
    assert splits == {"Art/Song One": ("train", False), "Art/Song Two": ("validation", False)}
    assert result["overall"]["held_out"]["n_songs"] == 0
    assert result["overall"]["validation"]["n_songs"] == 1
    assert result["baseline_split_difference"]["train_only_baseline"][0].endswith("|Art/Song Two")
    # --held_out evaluates only test songs: here none
    code, out, _ = run_main_in_process(capsys, "evaluate", "--dataset_path", str(root), "-f",
                                       "--checkpoint", str(model), "--held_out")
    assert code == 0 and "Art/Song" not in out
