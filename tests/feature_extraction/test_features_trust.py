"""Issue 11 on the feature stage: damaged or hostile inputs are named and fail only their song,
the aggregate survives concurrent runs and a damaged copy, and changed inputs are redone."""
import json
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from core.io import load_json, save_json
from fe_synthetic import SR, make_dataset
from feature_extraction import pipeline
from feature_extraction.main import main

ARTIST = "Synth Artist"


def two_songs(tmp_path, seconds=3.0):
    """Songs "One" and "Two" of one artist in one dataset."""
    root = tmp_path / "data"
    make_dataset(root, seconds=seconds, song="One")
    first = load_json(root / "dataset_metadata.json")
    make_dataset(root, seconds=seconds, song="Two")
    metadata = load_json(root / "dataset_metadata.json")
    metadata[ARTIST] = {**first[ARTIST], **metadata[ARTIST]}
    save_json(root / "dataset_metadata.json", metadata)
    return root


def aggregate_path(root):
    return root / "results" / "correlation" / "aggregated_strong_windows.json"


def test_corrupt_keypoints_and_a_bad_entry_fail_only_their_song(tmp_path, capsys):
    """Causes 3, 13 and 14: random bytes in keypoints.npy, ``fps: "30"`` in one entry, an artist
    ``..`` whose song folder would be outside the dataset (a copy of a real song waits there)."""
    import shutil

    root = two_songs(tmp_path)
    bad = root / ARTIST / "One" / "violin" / "keypoints.npy"
    bad.write_bytes(np.random.default_rng(0).bytes(4000))
    metadata = load_json(root / "dataset_metadata.json")
    metadata[ARTIST]["Three"] = {**metadata[ARTIST]["Two"], "fps": "30"}
    metadata[".."] = {"escape": metadata[ARTIST]["Two"]}
    save_json(root / "dataset_metadata.json", metadata)
    shutil.copytree(root / ARTIST / "Two", tmp_path / "escape")     # what "../escape" would reach
    assert main(["--extract", "motion", "--dataset_path", str(root)]) == 1
    err = capsys.readouterr().err
    failed = sorted(line.split("FAILED  ")[1] for line in err.splitlines() if "FAILED" in line)
    assert len(failed) == 3
    assert failed[0] == ("../escape: bad entry in dataset_metadata.json: artist name '..' would "
                         "leave its folder")
    assert failed[1].startswith(f"Synth Artist/One: SongDataError: violin general motion: {bad} is "
                                f"not a readable .npy array: ")
    assert failed[2] == ("Synth Artist/Three: bad entry in dataset_metadata.json: fps must be a "
                         "positive number or null, got '30'")
    assert not list((tmp_path / "escape").rglob("*_features.json"))
    assert (root / ARTIST / "Two" / "violin" / "motion_features.json").exists()
    assert (root / ARTIST / "One" / "vocal" / "motion_features.json").exists()


def test_an_empty_stem_among_several_fails_the_song_by_name(tmp_path, capsys):
    """Cause 9: one of two mridangam stems with 0 samples is not averaged in as silence."""
    root = two_songs(tmp_path)
    empty = root / ARTIST / "One" / "mri_right.wav"
    sf.write(empty, np.zeros(0, np.float32), SR)
    assert main(["--extract", "audio", "--dataset_path", str(root)]) == 1
    err = capsys.readouterr().err
    assert f"mridangam audio: stem {empty} has 0.00 s of audio but mri_close.wav has 3.00 s" in err
    assert not (root / ARTIST / "One" / "mridangam" / "audio_features.json").exists()
    assert (root / ARTIST / "Two" / "mridangam" / "audio_features.json").exists()


def test_changed_inputs_are_redone_and_unchanged_ones_are_not(tmp_path, capsys):
    """Cause 11 for features: new keypoints (post-processing redone) make the motion features
    and the correlation stale; the audio features, whose stems did not change, stay."""
    root = make_dataset(tmp_path / "data", seconds=3.0)
    args = ["--extract", "both", "--correlate", "--dataset_path", str(root)]
    assert main(args) == 0
    song_dir = root / ARTIST / "Synth Song"
    watched = {name: song_dir / name for name in ("vocal/motion_features.json",
                                                  "vocal/vocal_motion_features.json",
                                                  "vocal/audio_features.json",
                                                  "violin/motion_features.json",
                                                  "correlation/correlations.json")}
    before = {name: path.stat().st_mtime_ns for name, path in watched.items()}
    keypoints = np.load(song_dir / "vocal" / "keypoints.npy")
    keypoints[:, :, 0] += 5.0 * np.sin(np.arange(len(keypoints)))[:, None]   # a different track
    np.save(song_dir / "vocal" / "keypoints.npy", keypoints)
    assert main(args) == 0
    after = {name: path.stat().st_mtime_ns for name, path in watched.items()}
    changed = {name for name in watched if after[name] != before[name]}
    assert changed == {"vocal/motion_features.json", "vocal/vocal_motion_features.json",
                       "correlation/correlations.json"}
    capsys.readouterr()
    assert main(args) == 0                                   # and now everything is current
    assert {name: path.stat().st_mtime_ns for name, path in watched.items()} == after
    assert "already up to date" in capsys.readouterr().err


def test_files_made_with_other_options_are_redone_without_force(tmp_path, capsys):
    """Cause 11 for options: ``--motion-prep robust`` (or another ``-ct``) after a published run
    must not call the published numbers "up to date"; files the option does not touch stay."""
    root = make_dataset(tmp_path / "data", seconds=3.0)
    song_dir = root / ARTIST / "Synth Song"
    motion = song_dir / "violin" / "motion_features.json"
    audio = song_dir / "violin" / "audio_features.json"
    args = ["--extract", "both", "--dataset_path", str(root)]
    assert main(args) == 0
    audio_made = audio.stat().st_mtime_ns
    assert load_json(motion)["settings"]["motion_preprocessing"]["variant"] == "published"
    assert main(args + ["--motion-prep", "robust"]) == 0
    assert load_json(motion)["settings"]["motion_preprocessing"]["variant"] == "robust"
    assert audio.stat().st_mtime_ns == audio_made
    capsys.readouterr()
    assert main(args + ["--motion-prep", "robust"]) == 0
    assert "0 done, 1 already up to date" in capsys.readouterr().err
    assert main(args + ["--motion-prep", "robust", "-ct", "0.2"]) == 0
    assert load_json(motion)["settings"]["score_threshold"] == 0.2
    assert audio.stat().st_mtime_ns == audio_made


def test_damaged_aggregate_is_named_and_force_rebuilds_it(tmp_path, capsys):
    """Cause 14: a damaged aggregated_strong_windows.json stops the run with its name (exit 2,
    before any work); ``-f`` recovers."""
    root = make_dataset(tmp_path / "data", seconds=3.0)
    path = aggregate_path(root)
    path.parent.mkdir(parents=True)
    path.write_text('{"Synth Artist": {"Synth Song": {"0": ')
    assert main(["--extract", "both", "--correlate", "--dataset_path", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(f"{path} is not valid JSON: Expecting value: line 1 column 39 "
                            f"(char 38); run with -f to rebuild it")
    assert "Traceback" not in "\n".join(err)
    assert not (root / ARTIST / "Synth Song" / "vocal" / "audio_features.json").exists()
    assert main(["--extract", "both", "--correlate", "-f", "--dataset_path", str(root)]) == 0
    assert set(load_json(path)[ARTIST]["Synth Song"]) == {"0"}


def test_a_run_finishing_during_another_keeps_both_songs(tmp_path, monkeypatch):
    """Cause 7: run A correlates One; while it works, run B correlates Two and writes the
    aggregate. A's write must keep B's song (read-merge-write inside the lock)."""
    root = two_songs(tmp_path)
    assert main(["--extract", "both", "--dataset_path", str(root)]) == 0
    real = pipeline.correlate_and_write
    nested = []

    def correlate_while_another_run_finishes(song, dataset_path, aggregated, force, *options):
        if song.song == "One" and not nested:
            nested.append(main(["--correlate", "-s", "Two", "--dataset_path", str(root)]))
        return real(song, dataset_path, aggregated, force, *options)

    monkeypatch.setattr("feature_extraction.main.correlate_and_write",
                        correlate_while_another_run_finishes)
    assert main(["--correlate", "-s", "One", "--dataset_path", str(root)]) == 0
    assert nested == [0]
    assert set(load_json(aggregate_path(root))[ARTIST]) == {"One", "Two"}


def test_aggregate_updates_wait_for_the_lock(tmp_path):
    from filelock import FileLock

    path = tmp_path / "aggregated_strong_windows.json"
    rule = {"_settings": pipeline.count_settings("published")}     # counts of the published rule
    save_json(path, {**rule, "A": {"x": {"0": {"total": 1}}}})
    lock = FileLock(str(path) + ".lock")
    lock.acquire()
    writer = threading.Thread(target=pipeline.update_aggregate,
                              args=(path, {("A", "y"): {"0": {"total": 2}}}, False))
    writer.start()
    time.sleep(0.5)
    assert writer.is_alive() and set(load_json(path)["A"]) == {"x"}      # waiting, nothing written
    lock.release()
    writer.join(timeout=30)
    assert json.loads(path.read_text()) == {**rule, "A": {"x": {"0": {"total": 1}},
                                                           "y": {"0": {"total": 2}}}}
