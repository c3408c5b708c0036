"""``core.metadata`` on the shipped reference metadata (227 Saraga Audiovisual songs).

Every expected number is counted independently here from the raw JSON, never through the loader.
"""
from __future__ import annotations

import json

import pytest

from core.metadata import KNOWN_INSTRUMENTS, REQUIRED_FIELDS, load_metadata, select_songs
from core.settings import REFERENCE_METADATA


@pytest.fixture(scope="module")
def raw():
    return json.loads(REFERENCE_METADATA.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def songs():
    return load_metadata(REFERENCE_METADATA)


def raw_entries(raw):
    return [(artist, song, entry) for artist, by_song in raw.items() for song, entry in by_song.items()]


def test_published_totals(raw, songs):
    assert len(raw) == 36 and len(raw_entries(raw)) == 227
    assert len(songs) == 227 and len({s.artist for s in songs}) == 36
    hours = sum(e["duration"] for _, _, e in raw_entries(raw) if e["duration"] is not None) / 3600
    assert hours == pytest.approx(48.7, abs=0.05)
    assert sum(s.duration for s in songs if s.duration) / 3600 == pytest.approx(hours)
    assert [s.key for s in songs] == [f"{a}/{t}" for a, t, _ in raw_entries(raw)]   # file order kept


def test_fields_survive_loading(raw, songs):
    by_key = {s.key: s for s in songs}
    for artist, song, entry in raw_entries(raw):
        info = by_key[f"{artist}/{song}"]
        assert info.fps == entry["fps"] and info.duration == entry["duration"]
        assert info.layout == (tuple(entry["layout"]) if entry["layout"] is not None else None)
        assert info.moving_camera is entry["moving_camera"]
        assert info.correct_body_detection == entry["correct_body_detection"]
        assert info.face_false_positive_frames == tuple(map(tuple, entry["face_false_positive_frames"]))
    assert sum(1 for s in songs if s.layout and None in s.layout) == \
        sum(1 for _, _, e in raw_entries(raw) if e["layout"] and None in e["layout"]) == 7
    assert {"tanpura", "ghatam", "morsing"} <= {i for s in songs for i in s.instruments}


def test_pose_stage_selection_matches_an_independent_count(raw, songs):
    """The pose stage needs layout, fps and duration; nothing else skips a song here."""
    expected_skipped = {f"{a}/{t}" for a, t, e in raw_entries(raw)
                        if any(e[name] is None for name in REQUIRED_FIELDS)
                        or any(i is not None and i not in KNOWN_INSTRUMENTS for i in e["layout"] or [])}
    kept, skipped = select_songs(songs)
    assert {s.song.key for s in skipped} == expected_skipped
    assert (len(kept), len(skipped)) == (217, 10)
    # In this file the three fields are null together, so every reason names all three.
    assert {s.reason for s in skipped} == {"null layout, fps, duration in metadata"}


def test_post_processing_also_skips_moving_camera(raw, songs):
    moving = {f"{a}/{t}" for a, t, e in raw_entries(raw)
              if e["moving_camera"] and all(e[n] is not None for n in REQUIRED_FIELDS)}
    kept, skipped = select_songs(songs, skip_moving_camera=True)
    reasons = {s.song.key: s.reason for s in skipped}
    assert {k for k, r in reasons.items() if r.startswith("moving camera")} == moving
    assert len(moving) == 11 and (len(kept), len(skipped)) == (206, 21)


def test_filters_on_the_reference(songs):
    kept, skipped = select_songs(songs, artist="Abhiram Bode")
    assert len(kept) == 5 and skipped == []
    kept, skipped = select_songs(songs, artist="Ramya Kiranmayi", song="Neevera Kula")
    assert kept == [] and [s.reason for s in skipped] == ["null layout, fps, duration in metadata"]
