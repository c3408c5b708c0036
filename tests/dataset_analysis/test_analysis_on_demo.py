"""End to end: ``validate`` and ``report`` through the real CLI on the generated demo dataset."""
from __future__ import annotations

import json

import pytest

from conftest import run_cli
from core.metadata import load_metadata
from dataset_analysis.report import NO_KEYPOINTS


@pytest.mark.slow   # the shared demo_dataset fixture is generated once per session (about a minute)
def test_validate_and_report_on_the_demo(demo_dataset, tmp_path):
    songs = load_metadata(demo_dataset / "dataset_metadata.json")
    out = tmp_path / "validation.json"
    result = run_cli("dataset_analysis.main", "validate", "--dataset_path", str(demo_dataset),
                     "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["songs"]) == {s.key for s in songs} and report["blocking_songs"] == []
    for song in songs:
        entry = report["songs"][song.key]
        assert entry["files"]["video"]["fps"] == pytest.approx(30.0)
        codes = {i["code"] for i in entry["issues"]}
        assert ("skipped" in codes) == (song.fps is None)
        assert ("moving_camera" in codes) == song.moving_camera
        assert all(len(entry["files"]["stems"][i]) >= 1 for i in ("vocal", "violin", "mridangam"))

    folder = tmp_path / "report"
    result = run_cli("dataset_analysis.main", "report", "--dataset_path", str(demo_dataset),
                     "--out", str(folder))
    assert result.returncode == 0, result.stderr[-3000:]
    stats = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert stats["metadata"]["n_songs"] == len(songs)
    has_keypoints = any((s.folder(demo_dataset) / i / "keypoints.npy").exists()
                        for s in songs for i in s.instruments)
    assert (NO_KEYPOINTS in (folder / "report.md").read_text(encoding="utf-8")) != has_keypoints
