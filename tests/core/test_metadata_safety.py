"""Metadata from someone else: names cannot leave the dataset, one bad entry never stops the others,
and a song listed twice is not silently resolved (issue 11, causes 3, 6 and 13)."""
import json
import logging

import pytest

from core.metadata import MetadataError, SongInfo, load_metadata, name_problem, select_songs
from core.runner import run_per_song

ENTRY = {"layout": ["vocal", "violin"], "fps": 30.0, "duration": 10.0}


@pytest.mark.parametrize("name, problem", [
    ("..", "would leave its folder"), (".", "would leave its folder"),
    ("a/b", "path separator"), ("/etc", "path separator"), ("..\\x", "path separator"),
    ("", "is empty"), ("   ", "is empty"), (" lead", "white space"), ("trail ", "white space"),
    ("nul\x00byte", "control character"), ("new\nline", "control character"), (3, "not a string"),
])
def test_unsafe_names_have_a_reason(name, problem):
    assert problem in name_problem(name)


@pytest.mark.parametrize("name", ["Varnam Śrī", "A. B. Artist", "x..y", "..hidden-looking", "ok_1"])
def test_ordinary_names_pass(name):
    assert name_problem(name) is None


def write(tmp_path, text: str):
    path = tmp_path / "dataset_metadata.json"
    path.write_text(text)
    return path


def test_unsafe_names_and_malformed_fields_fail_only_their_song(tmp_path, caplog):
    data = {"..": {"s": ENTRY}, "A": {"/abs/path": ENTRY, "ok": ENTRY, "str fps": {**ENTRY, "fps": "30"},
                                      "bad inst": {**ENTRY, "layout": ["vocal", "../violin"]}}}
    songs = load_metadata(write(tmp_path, json.dumps(data)))
    assert [s.key for s in songs] == ["../s", "A//abs/path", "A/ok", "A/str fps", "A/bad inst"]
    problems = {s.key: s.problem for s in songs}
    assert problems["A/ok"] is None
    assert problems["../s"] == ("bad entry in dataset_metadata.json: artist name '..' would leave "
                                "its folder")
    assert "song name '/abs/path' contains a path separator" in problems["A//abs/path"]
    assert problems["A/str fps"] == ("bad entry in dataset_metadata.json: fps must be a positive "
                                     "number or null, got '30'")
    assert "layout instrument '../violin' contains a path separator" in problems["A/bad inst"]
    kept, skipped = select_songs(songs, require=("fps",))
    assert [s.key for s in kept] == ["A/ok"]
    assert all(s.is_error for s in skipped) and len(skipped) == 4

    ran = []
    with caplog.at_level(logging.INFO):
        summary = run_per_song("stage", kept, lambda song: ran.append(song.key), skipped,
                               progress_bar=False)
    assert ran == ["A/ok"] and summary.done == ["A/ok"]
    assert summary.exit_code == 1 and len(summary.failed) == 4 and summary.skipped == []
    assert "A/str fps: bad entry in dataset_metadata.json: fps must be" in caplog.text


def test_a_song_listed_twice_is_failed_not_silently_resolved(tmp_path):
    text = ('{"A": {"s": {"layout": ["vocal", "violin"], "fps": 30, "duration": 10},'
            ' "s": {"layout": ["violin", "vocal"], "fps": 30, "duration": 10}, "t": {"fps": 30}},'
            ' "B": {"u": {"fps": 30}}, "B": {"u": {"fps": 24}, "v": {"fps": 25}}}')
    songs = load_metadata(write(tmp_path, text))
    by_key = {s.key: s for s in songs}
    assert list(by_key) == ["A/s", "A/t", "B/u", "B/v"]
    assert by_key["A/s"].problem == ("listed 2 times in dataset_metadata.json; which entry is "
                                     "meant is ambiguous (keep one)")
    assert by_key["A/s"].layout is None
    assert by_key["B/u"].problem.startswith("listed 2 times")
    assert by_key["A/t"].problem is None and by_key["B/v"].fps == 25.0   # both B objects count


def test_folder_refuses_unsafe_names_and_symlinks_out_of_the_dataset(tmp_path):
    dataset, outside = tmp_path / "data", tmp_path / "elsewhere"
    (dataset / "A").mkdir(parents=True)
    outside.mkdir()
    (dataset / "A" / "link").symlink_to(outside)
    assert SongInfo("A", "s", None, 30.0, 1.0).folder(dataset) == dataset / "A" / "s"
    with pytest.raises(MetadataError, match="outside"):
        SongInfo("A", "link", None, 30.0, 1.0).folder(dataset)
    with pytest.raises(MetadataError, match="would leave its folder"):
        SongInfo("..", "s", None, 30.0, 1.0).folder(dataset)
    with pytest.raises(MetadataError, match="path separator"):
        SongInfo("A", "/etc", None, 30.0, 1.0).folder(dataset)
