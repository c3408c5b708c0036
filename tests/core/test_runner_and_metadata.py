import json
import logging

import pytest

from core.metadata import MetadataError, load_metadata, select_songs
from core.runner import UP_TO_DATE, SongSkipped, run_per_song


@pytest.fixture
def metadata_file(tmp_path):
    entry = {"layout": ["mridangam", "vocal", "violin"], "moving_camera": False, "fps": 30.0,
             "duration": 10.0, "correct_body_detection": True, "face_false_positive_frames": [[3, 5]],
             "some_future_field": 1}
    data = {"A": {"ok": entry, "pan": {**entry, "moving_camera": True},
                  "nofps": {**entry, "fps": None}},
            "B": {"odd": {**entry, "layout": ["vocal", "sitar"]},
                  "nolayout": {**entry, "layout": None}}}
    path = tmp_path / "dataset_metadata.json"
    path.write_text(json.dumps(data))
    return path


def test_load_and_select_with_reasons(metadata_file):
    songs = load_metadata(metadata_file)
    assert [s.key for s in songs] == ["A/ok", "A/pan", "A/nofps", "B/odd", "B/nolayout"]
    assert songs[0].face_false_positive_frames == ((3, 5),) and songs[0].n_frames == 300
    assert songs[0].extra == {"some_future_field": 1}
    kept, skipped = select_songs(songs, skip_moving_camera=True)
    assert [s.key for s in kept] == ["A/ok"]
    reasons = {s.song.key: s.reason for s in skipped}
    assert "moving camera" in reasons["A/pan"]
    assert reasons["A/nofps"] == "null fps in metadata"
    assert "sitar" in reasons["B/odd"]
    assert reasons["B/nolayout"] == "null layout in metadata"


def test_filters_and_instrument_expectation(metadata_file):
    songs = load_metadata(metadata_file)
    kept, skipped = select_songs(songs, artist="A", expected_instruments=("vocal", "violin"))
    assert kept == [] and "does not match INSTRUMENTS" in skipped[0].reason
    with pytest.raises(MetadataError, match="no song matches"):
        select_songs(songs, artist="Nobody")


@pytest.mark.parametrize("text, message", [("{not json", "not valid JSON"),
                                           ('["list"]', "artist -> song"),
                                           ('{"A": ["s"]}', "artist -> song")])
def test_bad_metadata_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(MetadataError, match=message):
        load_metadata(path)


def test_runner_isolates_failures_and_counts_outcomes(metadata_file, caplog):
    songs = load_metadata(metadata_file)[:4]
    outcomes = {"A/ok": None, "A/pan": UP_TO_DATE}

    def work(song):
        if song.key == "A/nofps":
            raise SongSkipped("not today")
        if song.key == "B/odd":
            raise FileNotFoundError("video.mov missing")
        return outcomes[song.key]
    with caplog.at_level(logging.INFO):
        summary = run_per_song("stage", songs, work, progress_bar=False)
    assert summary.done == ["A/ok"] and summary.up_to_date == ["A/pan"]
    assert summary.skipped == ["A/nofps: not today"]
    assert summary.failed == ["B/odd: FileNotFoundError: video.mov missing"]
    assert summary.exit_code == 1
    assert "B/odd" in caplog.text


def test_frame_ranges_mask_is_inclusive_and_clipped_to_the_video():
    from core.metadata import frame_ranges_mask
    mask = frame_ranges_mask([(2, 3), (-5, 0), (8, 40)], 10)
    assert mask.tolist() == [True, False, True, True, False, False, False, False, True, True]
