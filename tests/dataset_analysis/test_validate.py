"""``validate``: judging probed facts against the metadata, and the CLI on a tiny broken tree."""
from __future__ import annotations

import json

import pytest

from conftest import run_cli
from core.metadata import parse_song
from da_media import media
from dataset_analysis.validate import (BLOCKING, OK, WARNING, SongCheck, SongFacts, StemFacts,
                                       evaluate)


def song(**overrides):
    return parse_song("Artist", "Song", media.entry(**overrides))


def stems(duration=2.0, **broken):
    def one(name):
        if name in broken:
            return [StemFacts(f"{name}_x.wav", error=broken[name])]
        return [StemFacts(f"{name}_x.wav", 48000, int(48000 * duration), duration)]
    return {name: one(name) for name in ("mridangam", "vocal", "violin")}


def good_facts(**overrides):
    facts = SongFacts(folder_exists=True, video_name="v.mov", video_fps=30.0, video_duration=2.0,
                      video_frames=60, video_size=(64, 48), stems=stems())
    for key, value in overrides.items():
        setattr(facts, key, value)
    return facts


def codes(issues):
    return {(i.severity, i.code) for i in issues}


def test_clean_song_has_no_issue():
    info = song()
    check = SongCheck(info, good_facts(), evaluate(info, good_facts()))
    assert check.issues == [] and check.status == OK


@pytest.mark.parametrize("facts, expected", [
    (SongFacts(folder_exists=False), {(BLOCKING, "no_folder")}),
    (good_facts(video_name=None, video_error="no .mov video in x"), {(BLOCKING, "no_video")}),
    (good_facts(video_error="video v.mov cannot be opened"), {(BLOCKING, "bad_video")}),
    (good_facts(video_fps=24.0), {(BLOCKING, "fps_mismatch")}),
    (good_facts(video_fps=29.97), set()),                                   # within 0.05 fps
    (good_facts(video_duration=3.5), {(WARNING, "duration_mismatch")}),
    (good_facts(stems={**stems(), "vocal": []}), {(BLOCKING, "no_stem")}),
    (good_facts(stems=stems(violin="cannot be read: bad header")), {(BLOCKING, "bad_wav")}),
    (good_facts(stems=stems(duration=5.0)), {(WARNING, "duration_mismatch")}),
])
def test_each_problem_has_its_severity(facts, expected):
    assert codes(evaluate(song(), facts)) == expected


def test_problems_of_a_song_every_stage_skips_are_only_warnings():
    info = song(fps=None, layout=None)
    issues = evaluate(info, SongFacts(folder_exists=False))
    assert codes(issues) == {(WARNING, "skipped"), (WARNING, "no_folder")}
    unknown = song(layout=["vocal", "sitar"])
    assert codes(evaluate(unknown, good_facts(video_name=None, video_error="none"))) == {
        (WARNING, "unknown_instrument"), (WARNING, "no_video")}


def test_layout_warnings_and_other_instruments_without_stems():
    info = song(layout=["mridangam", None, "tanpura", "vocal", "violin"], moving_camera=True)
    facts = good_facts(stems={**stems(), "tanpura": []})
    assert codes(evaluate(info, facts)) == {(WARNING, "null_layout_slot"), (WARNING, "moving_camera"),
                                            (WARNING, "no_stem")}
    assert SongCheck(info, facts, evaluate(info, facts)).status == WARNING


@pytest.fixture(scope="module")
def tiny_tree(tmp_path_factory):
    """Five songs: ok, missing video, fps mismatch (metadata 24, video 30), corrupt wav, null fields."""
    root = tmp_path_factory.mktemp("validate") / "data"
    names = ["Fine Song", "No Vídeo", "Wrong fps", "Bad Wav", "Null Song"]
    entries = {n: media.entry() for n in names}
    entries["Wrong fps"]["fps"] = 24.0
    entries["Null Song"].update(fps=None, duration=None, layout=None)
    media.metadata(root, {"Ärtist One": entries})
    for name in names[:4]:
        folder = root / "Ärtist One" / name
        for i, stem in enumerate(("vocal_a.wav", "violin_a.wav", "mridangam_left.wav")):
            media.wav(folder / stem, 2.0, seed=i)
        if name != "No Vídeo":
            media.video(folder / "video.mov", 60, 30)
    media.garbage(root / "Ärtist One" / "Bad Wav" / "violin_a.wav")
    media.wav(root / "Stray Artist" / "Unlisted" / "vocal.wav", 0.5)
    media.wav(root / "results" / "separation" / "vocal_estimate.wav", 0.5)   # not a song folder
    return root


def test_validate_cli_names_blocking_songs_and_writes_the_report(tiny_tree, tmp_path):
    out = tmp_path / "report.json"
    result = run_cli("dataset_analysis.main", "validate", "--dataset_path", str(tiny_tree),
                     "--out", str(out))
    assert result.returncode == 1, result.stderr[-2000:]
    status = {line.split("  ")[-1].strip(): line.split()[0] for line in result.stdout.splitlines()
              if line.split() and line.split()[0] in ("OK", "WARNING", "BLOCKING")}
    assert status == {"Ärtist One/Fine Song": "OK", "Ärtist One/No Vídeo": "BLOCKING",
                      "Ärtist One/Wrong fps": "BLOCKING", "Ärtist One/Bad Wav": "BLOCKING",
                      "Ärtist One/Null Song": "WARNING", "Stray Artist/Unlisted": "WARNING"}
    assert "no_video" in result.stdout and "fps_mismatch" in result.stdout
    assert "block the pipeline" in result.stderr and "Ärtist One/No Vídeo" in result.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["blocking_songs"] == ["Ärtist One/No Vídeo", "Ärtist One/Wrong fps",
                                        "Ärtist One/Bad Wav"]
    assert report["status_counts"] == {"ok": 1, "warning": 1, "blocking": 3}
    assert report["unlisted_folders"] == ["Stray Artist/Unlisted"]
    songs = report["songs"]
    fps_issue = [i for i in songs["Ärtist One/Wrong fps"]["issues"] if i["code"] == "fps_mismatch"]
    assert "30.000 fps, metadata says 24" in fps_issue[0]["message"]
    bad = songs["Ärtist One/Bad Wav"]
    assert [i["code"] for i in bad["issues"]] == ["bad_wav"]
    assert bad["files"]["video"]["fps"] == 30.0 and bad["files"]["video"]["frames"] == 60
    assert [i["code"] for i in songs["Ärtist One/Null Song"]["issues"]] == ["skipped", "no_folder"]


def test_validate_passes_when_only_warnings_remain(tiny_tree):
    result = run_cli("dataset_analysis.main", "validate", "--dataset_path", str(tiny_tree),
                     "-s", "Fine Song")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tiny_tree / "results" / "validation_report.json").exists()


def test_validate_without_metadata_is_a_clear_error(tmp_path):
    result = run_cli("dataset_analysis.main", "validate", "--dataset_path", str(tmp_path))
    assert result.returncode == 1 and "does not exist" in result.stderr


def test_validate_blocks_unsafe_malformed_and_duplicate_entries_and_truncated_videos(tmp_path):
    """Issue 11 causes 3, 6, 10, 13: each is named, blocking, and nothing outside is looked at."""
    from crafted_inputs import write_truncated_video

    root = tmp_path / "data"
    good = media.entry(duration=4.0)
    text = json.dumps({"..": {"escape": good},
                       "A": {"/abs/path": good, "str fps": {**good, "fps": "30"}, "cut": good,
                             "twice": good}})
    # a song key listed twice: json.dumps cannot write it, so it is spliced into the text
    text = text.replace('"twice": {', '"twice": {"fps": 24}, "twice": {', 1)
    root.mkdir()
    (root / "dataset_metadata.json").write_text(text)
    folder = root / "A" / "cut"
    write_truncated_video(folder / "video.mov", 120, 30)
    for i, stem in enumerate(("vocal_a.wav", "violin_a.wav", "mridangam_left.wav")):
        media.wav(folder / stem, 4.0, seed=i)
    out = tmp_path / "report.json"
    result = run_cli("dataset_analysis.main", "validate", "--dataset_path", str(root), "--out",
                     str(out), "--count-frames")
    assert result.returncode == 1, result.stderr[-2000:]
    songs = json.loads(out.read_text())["songs"]
    issues = {key: [(i["severity"], i["code"], i["message"]) for i in song["issues"]]
              for key, song in songs.items()}
    assert issues["../escape"] == [(BLOCKING, "bad_metadata", "bad entry in dataset_metadata.json: "
                                    "artist name '..' would leave its folder")]
    assert issues["A//abs/path"][0][:2] == (BLOCKING, "bad_metadata")
    assert "song name '/abs/path' contains a path separator" in issues["A//abs/path"][0][2]
    assert issues["A/str fps"] == [(BLOCKING, "bad_metadata", "bad entry in dataset_metadata.json: "
                                    "fps must be a positive number or null, got '30'")]
    assert issues["A/twice"][0][:2] == (BLOCKING, "bad_metadata")
    assert "listed 2 times" in issues["A/twice"][0][2]
    cut = [i for i in issues["A/cut"] if i[1] == "truncated_video"]
    assert cut and cut[0][0] == BLOCKING
    assert "the container promises 120 frames but only" in cut[0][2]
    assert songs["A/cut"]["files"]["video"]["frames"] < 100
    assert "A/str fps" in result.stdout and "bad_metadata" in result.stdout
