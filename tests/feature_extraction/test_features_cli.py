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
    # the counts are the published own-stem strong windows (motion features without pca_* x own
    # rms and onset strength), recomputed here from the pairs
    starts = np.array(doc["window_start_frames"])
    published = [p for p in doc["pairs"] if p["performer"] == "vocal" and not p["control"]
                 and p["audio_feature"] in ("rms", "onset_env")
                 and not p["motion_feature"].startswith("pca_")]
    assert chunks["0"]["vocal"] == sum(np.array(p["strong"])[starts < 120].sum() for p in published)
    assert [p["counted"] for p in doc["pairs"]].count(True) == len(
        [p for p in doc["pairs"] if not p["control"] and p["audio_feature"] in ("rms", "onset_env")
         and not p["motion_feature"].startswith("pca_")])
    assert doc["settings"]["strong_window_features"] == "published"
    assert aggregated["_settings"]["strong_window_features"] == "published"
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


@pytest.mark.slow
def test_count_all_features_option_counts_every_own_stem_pair_and_resets_the_aggregate(extracted,
                                                                                         tmp_path):
    """--strong-window-features all counts spectral centroid and the pca_* components too; the
    aggregate records its rule and is recounted, never mixed, when the rule changes."""
    root = fresh_copy(extracted, tmp_path)
    aggregate_path = root / "results" / "correlation" / "aggregated_strong_windows.json"
    published = load_json(aggregate_path)["Synth Artist"]["Synth Song"]
    assert main(["--correlate", "--strong-window-features", "all", "--dataset_path", str(root)]) == 0
    aggregated = load_json(aggregate_path)
    assert aggregated["_settings"]["strong_window_features"] == "all"
    assert aggregated["_settings"]["published"] is False
    doc = load_json(root / SONG / "correlation" / "correlations.json")
    assert doc["settings"]["strong_window_features"] == "all"
    starts = np.array(doc["window_start_frames"])
    for performer in INSTRUMENTS:
        own = [p for p in doc["pairs"] if p["performer"] == performer and not p["control"]]
        assert all(p["counted"] for p in own)
        assert {p["audio_feature"] for p in own} == {"rms", "onset_env", "spectral_centroid"}
        assert any(p["motion_feature"].startswith("pca_") for p in own)
        expected = sum(np.array(p["strong"])[starts < 120].sum() for p in own)
        assert aggregated["Synth Artist"]["Synth Song"]["0"][performer] == expected
        # the published count is a subset of these pairs: never larger
        assert published["0"][performer] <= expected
    assert sum(c["total"] for c in aggregated["Synth Artist"]["Synth Song"].values()) > \
        sum(c["total"] for c in published.values())
    # back to the published rule: recounted, equal to the first run
    assert main(["--correlate", "--dataset_path", str(root)]) == 0
    assert load_json(aggregate_path)["Synth Artist"]["Synth Song"] == published


def test_motion_prep_option_is_recorded_and_changes_the_values(tmp_path):
    root = make_dataset(tmp_path / "d", seconds=3.0)
    path = root / SONG / "violin" / "motion_features.json"
    assert main(["--extract", "motion", "--motion_type", "general", "--dataset_path",
                 str(root)]) == 0
    published = load_json(path)
    assert published["settings"]["motion_preprocessing"]["variant"] == "published"
    assert published["settings"]["motion_preprocessing"]["published"] is True
    assert main(["--extract", "motion", "--motion_type", "general", "-f", "--motion-prep", "robust",
                 "--dataset_path", str(root)]) == 0
    robust = load_json(path)
    assert robust["settings"]["motion_preprocessing"]["order"][0] == \
        "mask points with score < threshold"
    # the published order normalises over the hips, legs and feet too (different centre and
    # scale), so the same motion has other magnitudes: the option reaches the computation
    a, b = (np.array(doc["features"]["speed"], dtype=float) for doc in (published, robust))
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert np.abs(a / b - 1).max() > 0.01


def test_songs_with_failed_body_detection_get_no_motion_features_unless_asked(tmp_path, capsys):
    root = make_dataset(tmp_path / "d", seconds=3.0)
    metadata = load_json(root / "dataset_metadata.json")
    metadata["Synth Artist"]["Synth Song"]["correct_body_detection"] = False
    save_json(root / "dataset_metadata.json", metadata)
    assert main(["--extract", "both", "--correlate", "--dataset_path", str(root)]) == 0
    err = capsys.readouterr().err
    assert "correct_body_detection is false" in err and "--include-incorrect-body-detection" in err
    assert (root / SONG / "vocal" / "audio_features.json").exists()
    assert not (root / SONG / "vocal" / "motion_features.json").exists()
    assert not (root / SONG / "correlation" / "correlations.json").exists()
    assert "skipped Synth Artist/Synth Song: correct_body_detection is false" in err
    assert main(["--extract", "motion", "--correlate", "--include-incorrect-body-detection",
                 "--dataset_path", str(root)]) == 0
    assert (root / SONG / "vocal" / "motion_features.json").exists()
    assert (root / SONG / "correlation" / "correlations.json").exists()
