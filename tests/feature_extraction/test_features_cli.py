"""The CLI end to end on small synthetic datasets: formats, skipping, error isolation, settings."""
import shutil

import numpy as np
import pytest

from conftest import run_cli
from core.io import load_json, save_json
from fe_synthetic import FPS, make_dataset
from feature_extraction.main import main

SONG = "Synth Artist/Synth Song"
INSTRUMENTS = ("vocal", "violin", "mridangam")
MOTION_FEATURES = {"speed", "acceleration"} | {
    f"{part}_{kind}" for part in ("head", "left_arm", "right_arm", "face", "left_hand",
                                  "right_hand") for kind in ("speed", "acceleration")}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """A synthetic song after a real CLI run of extraction (with PCA) and correlation."""
    root = make_dataset(tmp_path_factory.mktemp("fe") / "data", seconds=8.0,
                        face_false_positive_frames=[(10, 20)])
    result = run_cli("feature_extraction.main", "--extract", "both", "--correlate", "--pca", "2",
                     "--dataset_path", str(root))
    assert result.returncode == 0, result.stderr[-3000:]
    return root, result


def fresh_copy(extracted, tmp_path):
    root, _ = extracted
    return shutil.copytree(root, tmp_path / "data")


@pytest.mark.slow
def test_feature_files_follow_the_contract(extracted):
    root, _ = extracted
    song_dir = root / SONG
    n_frames = int(FPS * 8.0)
    for instrument in INSTRUMENTS:
        motion = load_json(song_dir / instrument / "motion_features.json")
        assert {"artist", "song", "instrument", "fps", "n_frames", "units", "settings",
                "features"} <= set(motion)
        assert motion["instrument"] == instrument and motion["n_frames"] == n_frames
        assert MOTION_FEATURES | {"pca_1", "pca_2"} == set(motion["features"])
        assert all(len(v) == n_frames for v in motion["features"].values())
        assert motion["units"]["speed"] == "normalised units/s"
        assert len(motion["pca"]["loadings"]) == 2
        assert len(motion["pca"]["loadings"][0]) == len(motion["pca"]["keypoint_indices"])
        settings = motion["settings"]
        assert settings["score_threshold"] == 0.5 and settings["smoothing"]["window"] == 5
        audio = load_json(song_dir / instrument / "audio_features.json")
        assert {"rms", "onset_env", "spectral_centroid"} == set(audio["features"])
        assert audio["n_frames"] == n_frames and audio["settings"]["hop_length"] == 1024
    # stage-edge performers lose the outer arm: null (NaN) everywhere, written as JSON null
    vocal = load_json(song_dir / "vocal" / "motion_features.json")
    assert all(v is None for v in vocal["features"]["left_arm_speed"])
    assert 9 in vocal["settings"]["removed_points"] and "left_arm" in vocal["settings"]["removed_parts"]
    violin = load_json(song_dir / "violin" / "violin_motion_features.json")
    assert set(violin["features"]) == {"wrist_speed", "elbow_angle", "arm_extension"}
    assert violin["units"]["elbow_angle"] == "degrees"
    singer = load_json(song_dir / "vocal" / "vocal_motion_features.json")
    assert all(v is None for v in singer["features"]["mouth_area"][10:21])
    assert singer["features"]["mouth_area"][21] is not None


@pytest.mark.slow
def test_correlation_output_and_own_stem_beats_control(extracted):
    root, _ = extracted
    doc = load_json(root / SONG / "correlation" / "correlations.json")
    assert doc["window_frames"] == 15 and doc["window_s"] == 0.5 and doc["step_s"] == 0.1
    n_windows = len(doc["window_start_frames"])
    pair = doc["pairs"][0]
    assert {"performer", "motion_file", "motion_feature", "body_part", "audio_instrument",
            "audio_feature", "control", "r", "p", "strong"} <= set(pair)
    assert all(len(p["r"]) == n_windows == len(p["strong"]) for p in doc["pairs"])
    parts = {(p["motion_feature"], p["body_part"]) for p in doc["pairs"]}
    assert ("elbow_angle", "right_arm") in parts and ("mouth_area", "face") in parts
    assert ("speed", None) in parts and ("head_speed", "head") in parts
    for performer in INSTRUMENTS:
        own = [p["strong_share"] for p in doc["pairs"]
               if p["performer"] == performer and not p["control"]]
        for other in INSTRUMENTS:
            if other == performer:
                continue
            control = [p["strong_share"] for p in doc["pairs"]
                       if p["performer"] == performer and p["audio_instrument"] == other]
            assert np.mean(own) > np.mean(control), (performer, other)
    aggregated = load_json(root / "results" / "correlation" / "aggregated_strong_windows.json")
    chunks = aggregated["Synth Artist"]["Synth Song"]
    assert set(chunks) == {"0", "1"}                       # 8 s = two 4-s chunks
    for counts in chunks.values():
        assert counts["total"] == sum(counts[i] for i in INSTRUMENTS)
    # the counts are the own-stem strong windows, recomputed here from the pairs
    starts = np.array(doc["window_start_frames"])
    expected = sum(np.array(p["strong"])[starts < 120].sum() for p in doc["pairs"]
                   if p["performer"] == "vocal" and not p["control"])
    assert chunks["0"]["vocal"] == expected
    assert (root / SONG / "correlation" / "strong_window_share.png").stat().st_size > 1000


@pytest.mark.slow
def test_rerun_skips_finished_work_and_force_redoes_it(extracted, tmp_path, capsys):
    root = fresh_copy(extracted, tmp_path)
    target = root / SONG / "violin" / "audio_features.json"
    before = target.stat().st_mtime_ns
    assert main(["--extract", "both", "--correlate", "--dataset_path", str(root)]) == 0
    assert target.stat().st_mtime_ns == before
    assert "already up to date" in capsys.readouterr().err
    assert main(["--extract", "audio", "-f", "--dataset_path", str(root)]) == 0
    assert target.stat().st_mtime_ns != before


def test_threshold_override_and_default_per_score_scale(tmp_path):
    root = make_dataset(tmp_path / "simcc", seconds=3.0, score_scale="simcc")
    assert main(["--extract", "motion", "--motion_type", "general", "--dataset_path",
                 str(root)]) == 0
    settings = load_json(root / SONG / "vocal" / "motion_features.json")["settings"]
    assert settings["score_threshold"] == 3.0 and "simcc" in settings["score_threshold_source"]
    assert not (root / SONG / "violin" / "violin_motion_features.json").exists()
    # every synthetic score is 8: a threshold of 9 masks everything -> named failure per song
    assert main(["--extract", "motion", "-f", "-ct", "9", "--dataset_path", str(root)]) == 1
    assert main(["--extract", "motion", "-f", "-ct", "7.5", "--all_body_parts",
                 "--dataset_path", str(root)]) == 0
    settings = load_json(root / SONG / "vocal" / "motion_features.json")["settings"]
    assert settings["score_threshold"] == 7.5 and settings["all_body_parts"] is True
    assert 9 not in settings["removed_points"]


def test_bad_song_is_named_and_others_continue(tmp_path, capsys):
    root = make_dataset(tmp_path / "d", seconds=3.0, song="Good")
    make_dataset(tmp_path / "d2", seconds=3.0, song="Bad")
    shutil.move(tmp_path / "d2" / "Synth Artist" / "Bad", root / "Synth Artist" / "Bad")
    metadata = load_json(root / "dataset_metadata.json")
    metadata["Synth Artist"]["Bad"] = dict(metadata["Synth Artist"]["Good"])
    save_json(root / "dataset_metadata.json", metadata)
    bad = root / "Synth Artist" / "Bad"
    (bad / "mri_close.wav").unlink()                                  # missing stem
    info = load_json(bad / "violin" / "pose_info.json")
    info["fps"] = 25.0                                                # fps disagreement
    save_json(bad / "violin" / "pose_info.json", info)
    assert main(["--extract", "both", "--dataset_path", str(root)]) == 1
    assert (root / "Synth Artist" / "Good" / "mridangam" / "audio_features.json").exists()
    err = capsys.readouterr().err
    assert "no mridangam stem" in err and "25.0 fps" in err
    assert "FAILED  Synth Artist/Bad" in err and "Synth Artist/Good" not in err.split("FAILED")[-1]
    # the vocal outputs of the bad song were still written
    assert (bad / "vocal" / "audio_features.json").exists()


def test_duration_mismatch_and_missing_keypoints_are_named(tmp_path, capsys):
    root = make_dataset(tmp_path / "d", seconds=3.0)
    metadata = load_json(root / "dataset_metadata.json")
    metadata["Synth Artist"]["Synth Song"]["duration"] = 6.0
    save_json(root / "dataset_metadata.json", metadata)
    (root / SONG / "mridangam" / "keypoints.npy").unlink()
    assert main(["--extract", "both", "--dataset_path", str(root)]) == 1
    err = capsys.readouterr().err
    assert "stem lasts 3.00 s but the metadata duration is 6.0 s" in err
    assert "keypoint frames" in err and "no keypoints for mridangam" in err


def test_instruments_setting_mismatch_skips_the_song(tmp_path, capsys, monkeypatch):
    root = make_dataset(tmp_path / "d", seconds=3.0)
    monkeypatch.setenv("INSTRUMENTS", "vocal,violin")
    assert main(["--extract", "audio", "--dataset_path", str(root)]) == 0
    assert "does not match INSTRUMENTS" in capsys.readouterr().err
    assert not (root / SONG / "vocal" / "audio_features.json").exists()


def test_correlate_without_features_fails_with_a_named_error(tmp_path, capsys):
    root = make_dataset(tmp_path / "d", seconds=3.0)
    assert main(["--correlate", "--dataset_path", str(root)]) == 1
    assert "audio_features.json missing" in capsys.readouterr().err


def test_cli_needs_something_to_do():
    with pytest.raises(SystemExit):
        main(["--dataset_path", "/nonexistent"])


def test_empty_stem_and_all_nan_keypoints_are_named(tmp_path, capsys):
    import soundfile as sf

    root = make_dataset(tmp_path / "d", seconds=3.0)
    sf.write(root / SONG / "violin_close.wav", np.zeros(0, np.float32), 48_000)
    keypoints = np.load(root / SONG / "mridangam" / "keypoints.npy")
    np.save(root / SONG / "mridangam" / "keypoints.npy", np.full_like(keypoints, np.nan))
    assert main(["--extract", "both", "--dataset_path", str(root)]) == 1
    err = capsys.readouterr().err
    assert "violin stem(s)" in err and "empty" in err
    assert "mridangam general motion" in err and "all-NaN" in err
    assert (root / SONG / "vocal" / "motion_features.json").exists()


@pytest.mark.slow
def test_sequential_and_threaded_performers_write_identical_files(extracted, tmp_path):
    """--workers 3 (performers on threads) reproduces the default sequential run exactly."""
    root = fresh_copy(extracted, tmp_path)
    assert main(["--extract", "both", "-f", "--pca", "2", "--workers", "3",
                 "--dataset_path", str(root)]) == 0
    original = extracted[0] / SONG
    names = ("motion_features.json", "violin_motion_features.json",
             "vocal_motion_features.json", "audio_features.json")
    compared = 0
    for instrument in INSTRUMENTS:
        for name in names:
            if (original / instrument / name).exists():
                assert load_json(root / SONG / instrument / name) == \
                    load_json(original / instrument / name), (instrument, name)
                compared += 1
    assert compared == 3 * 2 + 2
