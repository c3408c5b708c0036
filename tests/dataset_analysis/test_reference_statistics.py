"""Report statistics on the shipped reference metadata against independent counts of the raw JSON."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from core.metadata import load_metadata
from core.settings import REFERENCE_METADATA
from dataset_analysis import stats
from dataset_analysis.report import collect_metadata_stats


@pytest.fixture(scope="module")
def raw_entries():
    raw = json.loads(REFERENCE_METADATA.read_text(encoding="utf-8"))
    return [(a, t, e) for a, by_song in raw.items() for t, e in by_song.items()]


@pytest.fixture(scope="module")
def songs():
    return load_metadata(REFERENCE_METADATA)


def test_layout_counts(raw_entries, songs):
    independent = Counter(tuple(e["layout"]) if e["layout"] is not None else None
                          for _, _, e in raw_entries)
    assert dict(stats.layout_counts(songs)) == independent
    assert independent[("mridangam", "vocal", "violin")] == 143 and independent[None] == 10
    assert sum(independent.values()) == 227


def test_fps_values_and_null_fields(raw_entries, songs):
    assert stats.fps_survey(songs) == {24.0: 11, 30.0: 206, None: 10}
    assert stats.fps_survey(songs) == dict(Counter(e["fps"] for _, _, e in raw_entries))
    independent_nulls = {name: sum(1 for _, _, e in raw_entries if e[name] is None)
                         for name in ("layout", "fps", "duration", "correct_body_detection")}
    assert stats.null_field_counts(songs) == independent_nulls
    assert independent_nulls["fps"] == 10


def test_durations_avoid_list_and_face_false_positives(raw_entries, songs):
    meta = collect_metadata_stats(songs)
    assert meta["n_artists"] == 36 and meta["total_hours"] == pytest.approx(48.73, abs=0.01)
    per_artist = Counter()
    for artist, _, e in raw_entries:
        per_artist[artist] += e["duration"] or 0.0
    assert {a: d["hours"] for a, d in meta["duration_per_artist"].items()} == \
        {a: pytest.approx(s / 3600) for a, s in per_artist.items()}
    avoid = {f"{a}/{t}" for a, t, e in raw_entries
             if e["layout"] is None or e["fps"] is None or e["duration"] is None
             or e["moving_camera"] or e["correct_body_detection"] is False}
    assert set(meta["songs_to_avoid"]) == avoid and len(avoid) == 31
    fp = meta["face_false_positives"]
    songs_with_ranges = sum(1 for _, _, e in raw_entries if e["face_false_positive_frames"])
    assert fp["songs_with_false_positives"] == songs_with_ranges
    # Independent count of one song: Devi Pavane's ranges do not overlap and lie inside the video.
    devi = next(e for a, t, e in raw_entries if (a, t) == ("Abhiram Bode", "Devi Pavane"))
    frames = sum(b - a + 1 for a, b in devi["face_false_positive_frames"])
    assert fp["per_song"]["Abhiram Bode/Devi Pavane"] == \
        pytest.approx(frames / int(devi["fps"] * devi["duration"]))
