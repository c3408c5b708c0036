"""Training loop on synthetic songs: song split, crops, atomic resumable checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.metadata import load_metadata
from separation.checkpoint import load_checkpoint
from separation.conventions import PROJECT
from separation.training import (CropSampler, TrainOptions, collect_songs, resume_path,
                                 split_songs, train)

from sep_synthetic import synthetic_dataset, tiny_config  # noqa: F401 (fixture)


def test_split_is_by_song_and_seeded():
    keys = [f"a/{i}" for i in range(6)]
    train_keys, val_keys = split_songs(keys, 0.34, seed=3)
    assert len(val_keys) == 2 and not set(train_keys) & set(val_keys)
    assert sorted(train_keys + val_keys) == keys
    assert split_songs(keys, 0.34, seed=3) == (train_keys, val_keys)
    assert split_songs(keys, 0.34, 0, val_songs=["a/5"])[1] == ["a/5"]
    with pytest.raises(ValueError, match="a/9"):
        split_songs(keys, 0.34, 0, val_songs=["a/9"])


def test_crops_are_windows_of_the_song(synthetic_dataset):
    songs = load_metadata(synthetic_dataset / "dataset_metadata.json")
    by_song, skipped = collect_songs(synthetic_dataset, songs, "vocal", "face")
    assert sorted(by_song) == ["Art/Song One", "Art/Song Two"]
    assert any("Art/No Pose" in line and "no keypoints for vocal" in line for line in skipped)
    song = by_song["Art/Song One"]
    # 9 s of audio: a 4-s window can start at 25-fps frames 0 .. 125 (5 s).
    assert song.usable_start_frames().tolist() == list(range(126))
    sampler = CropSampler([song], np.random.default_rng(0))
    chunk = sampler.sample()
    # at the model's input scale (PROJECT: chunk_peak): the window divided by its own peak
    starts = [k for k in range(126)
              if np.allclose(song.mixture[song.start_sample(k):song.start_sample(k) + 65535],
                             chunk.mixture * chunk.scale, rtol=0, atol=1e-6)]
    assert len(starts) == 1
    assert np.abs(chunk.mixture).max() == pytest.approx(1.0, rel=1e-6)
    assert np.array_equal(chunk.visual_mask, song.visual_mask[starts[0]:starts[0] + 100])
    # a remixed example is a new chunk: its mixture is at peak 1 too, the target scaled with it
    mixtures, _, _ = CropSampler([song, by_song["Art/Song Two"]],
                                 np.random.default_rng(1)).batch(6, remix_probability=1.0)
    np.testing.assert_allclose(np.abs(mixtures).max(axis=1), 1.0, rtol=1e-6)


@pytest.mark.slow
def test_training_writes_checkpoints_and_resumes(synthetic_dataset, tmp_path):
    songs = load_metadata(synthetic_dataset / "dataset_metadata.json")
    by_song, _ = collect_songs(synthetic_dataset, songs, "vocal", "face")
    out = tmp_path / "m.pt"
    opts = TrainOptions(steps=3, batch_size=2, eval_every=1, max_minutes=0.0)
    train(tiny_config("face"), by_song, out, opts, torch.device("cpu"), "vocal",
          val_songs=["Art/Song Two"])
    assert out.exists() and resume_path(out).exists()          # stopped by time: resumable
    _, meta = load_checkpoint(out)
    assert [h["step"] for h in meta["history"]] == [1]
    assert meta["train_songs"] == ["Art/Song One"] and meta["val_songs"] == ["Art/Song Two"]
    assert meta["conventions"] == PROJECT
    assert np.isfinite(meta["history"][0]["sdr"])

    opts.max_minutes = None
    train(tiny_config("face"), by_song, out, opts, torch.device("cpu"), "vocal",
          val_songs=["Art/Song Two"])
    _, meta = load_checkpoint(out)
    assert [h["step"] for h in meta["history"]] == [1, 2, 3]   # continued, not restarted
    assert not resume_path(out).exists()
    assert not list(tmp_path.glob(".*part*"))


def test_training_leaves_out_failed_body_detection_unless_asked(tmp_path):
    """Training (every model kind, so a visual model and its audio-only baseline see the same
    songs) skips ``correct_body_detection: false`` songs by default; separate/evaluate do not."""
    import argparse
    import json

    from core.settings import load_settings
    from separation.commands import selected_songs

    entry = {"layout": ["vocal", "violin"], "fps": 30.0, "duration": 8.0}
    (tmp_path / "dataset_metadata.json").write_text(json.dumps(
        {"A": {"bad": {**entry, "correct_body_detection": False}, "good": entry}}))
    settings = load_settings(env_file=None, environ={})

    def run(command, include=False):
        args = argparse.Namespace(command=command, artist=None, song=None,
                                  include_incorrect_body_detection=include)
        kept, skipped = selected_songs(args, tmp_path, settings)
        return [s.song for s in kept], [s.reason for s in skipped]

    kept, reasons = run("train")
    assert kept == ["good"] and "correct_body_detection is false" in reasons[0]
    assert run("train", include=True)[0] == ["bad", "good"]
    assert run("evaluate")[0] == ["bad", "good"]
