"""``report``: statistics on a tiny tree against values computed by hand."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli
from core.io import save_npy
from core.keypoints import BODY_PARTS
from core.metadata import load_metadata
from core.pose_files import InstrumentPose, save_instrument_pose
from da_media import media
from dataset_analysis import stats
from dataset_analysis.report import NO_KEYPOINTS, write_report

HEAD = list(BODY_PARTS["head"])


def tiny_metadata(root):
    """S1: 10 frames; S2: all null; S3: one hour at 24 fps, moving camera, failed body detection."""
    return media.metadata(root, {
        "Artist A": {"S1": media.entry(layout=["vocal", "violin"], fps=10.0, duration=1.0,
                                       face_false_positive_frames=[[0, 1], [1, 3], [8, 20]]),
                     "S2": media.entry(layout=None, fps=None, duration=None)},
        "Artist B": {"S3": media.entry(fps=24.0, duration=3600.0, moving_camera=True,
                                       correct_body_detection=False)}})


def vocal_pose():
    """Frames 0-2 empty; head scores 2.0 in frames 3-6 and 4.0 in 7-9; the nose is lost in frame 5."""
    keypoints = np.ones((10, 133, 2), np.float32)
    keypoints[:3] = np.nan
    keypoints[5, 0] = np.nan
    scores = np.full((10, 133), 5.0, np.float32)
    scores[:3] = 0.0
    scores[3:7, HEAD] = 2.0
    scores[7:, HEAD] = 4.0
    scores[5, 0] = 100.0          # belongs to a missing point: must not count
    return keypoints, scores


@pytest.fixture
def posed_tree(tmp_path):
    root = tmp_path / "tree"
    tiny_metadata(root)
    keypoints, scores = vocal_pose()
    save_instrument_pose(root / "Artist A" / "S1" / "vocal",
                         InstrumentPose(keypoints, scores, {"score_scale": "simcc"}))
    save_instrument_pose(root / "Artist A" / "S1" / "violin",
                         InstrumentPose(np.ones((10, 133, 2), np.float32),
                                        np.full((10, 133), 0.3, np.float32),
                                        {"score_scale": "probability"}))
    save_npy(root / "Artist B" / "S3" / "mridangam" / "keypoints.npy", np.zeros((5, 17, 2)))
    return root


def test_metadata_statistics_by_hand(tmp_path):
    songs = load_metadata(tiny_metadata(tmp_path))
    assert stats.fps_survey(songs) == {10.0: 1, 24.0: 1, None: 1}
    assert stats.null_field_counts(songs) == {"layout": 1, "fps": 1, "duration": 1,
                                              "correct_body_detection": 0}
    assert stats.total_duration_hours(songs) == pytest.approx(3601 / 3600)
    per_artist = stats.duration_per_artist(songs)
    assert (per_artist["Artist A"].songs, per_artist["Artist A"].seconds,
            per_artist["Artist A"].null_duration) == (2, 1.0, 1)
    assert per_artist["Artist B"].hours == pytest.approx(1.0)
    avoid = stats.songs_to_avoid(songs)
    assert list(avoid) == ["Artist A/S2", "Artist B/S3"]
    assert len(avoid["Artist B/S3"]) == 2 and "moving camera" in avoid["Artist B/S3"][0]
    # Ranges [0,1], [1,3], [8,20] inside 10 frames cover frames 0-3 and 8-9.
    assert stats.face_false_positive_share(songs[0]) == pytest.approx(0.6)
    totals = stats.face_false_positive_totals(songs)
    assert totals["false_positive_frames"] == 6 and totals["total_frames"] == 10 + 86400


def test_confidence_statistics_exclude_missing_points():
    keypoints, scores = vocal_pose()
    head = stats.confidence_stats(keypoints, scores, threshold=3.0)["head"]
    expected = np.array([2.0] * 19 + [4.0] * 15)   # 7 frames x 5 points, minus the lost nose
    assert head["n"] == 34
    assert head["mean"] == pytest.approx(expected.mean())
    assert head["std"] == pytest.approx(expected.std())
    assert head["share_below"] == pytest.approx(19 / 34)
    assert (head["min"], head["max"]) == (2.0, 4.0)
    assert stats.all_nan_frame_share(keypoints) == pytest.approx(0.3)


def test_accumulator_merges_songs_exactly():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 9, 100), rng.uniform(0, 9, 57)
    acc = stats.ScoreAccumulator(3.0)
    acc.add(a)
    acc.add(b)
    both = np.concatenate([a, b])
    summary = acc.summary()
    assert summary["mean"] == pytest.approx(both.mean()) and summary["std"] == pytest.approx(both.std())
    assert summary["share_below"] == pytest.approx((both < 3.0).mean())


def test_report_numbers_and_files(posed_tree):
    songs = load_metadata(posed_tree / "dataset_metadata.json")
    out = posed_tree / "results" / "dataset_report"
    path = write_report(songs, out, "tiny", posed_tree, show_progress=False)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    kp = report["keypoints"]
    assert [(p["song"], p["instrument"], p["all_nan_frames"]) for p in kp["performers"]] == [
        ("Artist A/S1", "vocal", 3), ("Artist A/S1", "violin", 0)]
    assert kp["all_nan_share_per_instrument"] == {"vocal": pytest.approx(0.3), "violin": 0.0}
    head = kp["confidence"]["simcc"]["vocal"]["head"]
    assert head["n"] == 34 and head["share_below"] == pytest.approx(19 / 34)
    violin_face = kp["confidence"]["probability"]["violin"]["face"]
    assert violin_face["threshold"] == 0.5 and violin_face["share_below"] == 1.0   # 0.3 < 0.5
    assert len(kp["problems"]) == 1 and "Artist B/S3/mridangam" in kp["problems"][0]
    meta = report["metadata"]
    assert meta["fps"] == [{"fps": 10.0, "songs": 1}, {"fps": 24.0, "songs": 1},
                           {"fps": None, "songs": 1}]
    assert meta["face_false_positives"]["false_positive_frames"] == 6
    text = path.read_text(encoding="utf-8")
    assert "| vocal | head | 34 | 2.88 |" in text          # 98 / 34 = 2.882
    assert "| Artist B/S3 | moving camera" in text and "Unreadable keypoint files" in text
    for name in ("layouts", "fps", "duration_per_artist", "all_nan_frames", "confidence"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_report_cli_without_keypoints_says_so(tmp_path):
    root = tmp_path / "bare"
    tiny_metadata(root)
    result = run_cli("dataset_analysis.main", "report", "--dataset_path", str(root))
    assert result.returncode == 0, result.stderr[-2000:]
    text = (root / "results" / "dataset_report" / "report.md").read_text(encoding="utf-8")
    assert text.count(NO_KEYPOINTS) == 2 and "- songs: 3" in text
    assert not (root / "results" / "dataset_report" / "confidence.png").exists()
