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


def test_run_summary_is_recorded_per_song_and_merged_across_runs(metadata_file, tmp_path):
    from core.metadata import Skip
    from core.runner import load_run_summaries, run_summary_path

    songs = load_metadata(metadata_file)
    ok, pan, nofps, odd = songs[:4]
    # a song name that itself contains ": " must not be cut at the wrong place
    tricky = type(ok)(artist="A", song="Raga: Todi", layout=ok.layout, fps=30.0, duration=10.0)

    def work(song):
        if song.key == "A/Raga: Todi":
            raise RuntimeError("boom: twice")
        return UP_TO_DATE if song.key == "A/pan" else None

    results = tmp_path / "results"
    run_per_song("separate[face_small/vocal]", [ok, pan, tricky], work,
                 skipped=[Skip(nofps, "null fps in metadata")], progress_bar=False,
                 results_dir=results)
    path = run_summary_path(results, "separate[face_small/vocal]")
    assert path.name == "separate[face_small_vocal].json"
    recorded = load_run_summaries(results)["separate[face_small/vocal]"]
    assert {k: (v["outcome"], v["reason"]) for k, v in recorded.items()} == {
        "A/ok": ("done", None), "A/pan": ("up_to_date", None),
        "A/nofps": ("skipped", "null fps in metadata"),
        "A/Raga: Todi": ("failed", "RuntimeError: boom: twice")}

    # a later run of one song updates that song and keeps the others' last outcome
    run_per_song("separate[face_small/vocal]", [tricky], lambda song: None, progress_bar=False,
                 results_dir=results)
    recorded = load_run_summaries(results)["separate[face_small/vocal]"]
    assert recorded["A/Raga: Todi"] == {**recorded["A/Raga: Todi"], "outcome": "done",
                                        "reason": None}
    assert recorded["A/nofps"]["reason"] == "null fps in metadata" and len(recorded) == 4
    # an unreadable record is ignored by readers and replaced by the next run
    path.write_text("{broken")
    assert load_run_summaries(results) == {}
    run_per_song("separate[face_small/vocal]", [odd], lambda song: None, progress_bar=False,
                 results_dir=results)
    assert list(load_run_summaries(results)["separate[face_small/vocal]"]) == ["B/odd"]


def test_run_without_results_dir_writes_nothing(metadata_file, tmp_path, monkeypatch):
    work_dir = tmp_path / "cwd"
    work_dir.mkdir()
    monkeypatch.chdir(work_dir)
    run_per_song("stage", load_metadata(metadata_file)[:1], lambda song: None, progress_bar=False)
    assert list(work_dir.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == \
        ["cwd", "dataset_metadata.json"]
