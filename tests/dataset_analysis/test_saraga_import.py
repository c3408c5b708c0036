"""Saraga Audiovisual import: a synthetic mirdata-layout tree with spaces and non-ASCII names."""
from __future__ import annotations

import json
import os
import unicodedata

import numpy as np
import pytest

from conftest import run_cli
from da_media import media
from core.audio import load_stem
from core.dataset import find_mixture, find_stems, find_video
from core.metadata import load_metadata, select_songs
from core.pose_files import load_instrument_pose
from dataset_analysis.saraga_import import (IMPORT_RECORD_NAME, assemble_segments,
                                            duration_for_frames, import_saraga, normalize_segment,
                                            parse_segment_name, segment_start_frame,
                                            stem_link_name)

FPS, N_FRAMES = 30, 60                      # every synthetic video: 2 s at 30 fps
KNOWN = ("Abhiram Bode", "Devi Pavane")     # in the shipped reference metadata
UNKNOWN = ("Bhairavi Ensemble", "Ennadu Nī Kṛpa")   # spaces + non-ASCII, not in the reference
BROKEN = ("Bhairavi Ensemble", "Ghana Rāga")        # corrupt wav + corrupt video


def segment_arrays(length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 60, (length, 133, 2)).astype(np.float32),
            rng.uniform(0, 10, (length, 133)).astype(np.float32))


@pytest.fixture(scope="module")
def saraga_src(tmp_path_factory):
    """A Saraga download: audio/visual/gesture roots; returns (root, {segment name: arrays})."""
    root = tmp_path_factory.mktemp("saraga") / "Saraga AV dl"
    segments = {}
    for artist, song in (KNOWN, UNKNOWN):
        audio = root / "saraga audio" / artist / song
        for i, part in enumerate(("vocal", "violin", "mridangam-left", "mridangam-right")):
            media.wav(audio / f"{song}.multitrack-{part}.wav", 2.0, seed=i)
        media.wav(audio / f"{song}.wav", 2.0, seed=9)
        media.video(root / "saraga visual" / artist / song / f"{song}.mov", N_FRAMES, FPS)
    gesture = root / "saraga gesture" / KNOWN[0] / KNOWN[1]
    # singer: two segments named in frames (10-40 and 45-55); violin: one named in seconds (0-1 s =
    # 30 frames); mridangam: mmpose-style person axis (L, 1, 133, 2) named in frames.
    for folder, name, start, end, length, seed in (("singer", "singer", 10, 40, 30, 1),
                                                   ("singer", "singer", 45, 55, 10, 2),
                                                   ("violin", "violin", 0, 1, 30, 3),
                                                   ("mridangam", "mridangam", 5, 25, 20, 4)):
        kpts, scores = segment_arrays(length, seed)
        segments[(folder, start)] = (kpts, scores)
        if folder == "mridangam":
            kpts, scores = kpts[:, None], scores[:, None]
        (gesture / folder).mkdir(parents=True, exist_ok=True)
        np.save(gesture / folder / f"{name}_{start}_{end}_kpts.npy", kpts)
        np.save(gesture / folder / f"{name}_{start}_{end}_scores.npy", scores)
    # The unknown song's singer has a segment in seconds too.
    kpts, scores = segment_arrays(30, 5)
    ug = root / "saraga gesture" / UNKNOWN[0] / UNKNOWN[1] / "singer"
    ug.mkdir(parents=True)
    np.save(ug / "singer_1_2_kpts.npy", kpts)
    np.save(ug / "singer_1_2_scores.npy", scores)
    segments[("unknown singer", 1)] = (kpts, scores)
    # A song with a corrupt vocal wav and a corrupt video, but a good violin stem.
    audio = root / "saraga audio" / BROKEN[0] / BROKEN[1]
    media.garbage(audio / f"{BROKEN[1]}.multitrack-vocal.wav")
    media.wav(audio / f"{BROKEN[1]}.multitrack-violin.wav", 2.0)
    media.garbage(root / "saraga visual" / BROKEN[0] / BROKEN[1] / f"{BROKEN[1]}.mov")
    return root, segments


@pytest.fixture(scope="module")
def imported(saraga_src, tmp_path_factory):
    src, segments = saraga_src
    dst = tmp_path_factory.mktemp("imported") / "data set ü"
    result = run_cli("dataset_analysis.main", "import-saraga", str(src), str(dst))
    return dst, segments, result


def test_pure_helpers():
    assert stem_link_name("Devi Pavane.multitrack-mridangam-left.wav", "Devi Pavane") == \
        "mridangam-left_multitrack.wav"
    assert stem_link_name("Devi Pavane.wav", "Devi Pavane") == "mixture.wav"
    assert stem_link_name("notes.wav", "Devi Pavane") is None
    name = parse_segment_name("singer_0_2599_kpts.npy")
    assert (name.performer_file_name, name.start, name.end, name.kind) == ("singer", 0, 2599, "kpts")
    assert parse_segment_name("singer_kpts.npy") is None
    # Devi Pavane: 2599.033 s at 30 fps = 77971 frames in a file named 0_2599 -> seconds.
    assert segment_start_frame(0, 2599, 77971, 30.0) == (0, "seconds")
    assert segment_start_frame(100, 400, 300, 30.0) == (100, "frames")
    assert segment_start_frame(10, 20, 300, 30.0) == (300, "seconds")
    with pytest.raises(ValueError, match="neither"):
        segment_start_frame(0, 10, 77, 30.0)
    with pytest.raises(ValueError, match="expected"):
        normalize_segment(np.zeros((5, 17, 2)), np.zeros((5, 17)))
    kpts, scores = normalize_segment(np.ones((4, 133, 3)), None)
    assert kpts.shape == (4, 133, 2) and scores.shape == (4, 133)


@pytest.mark.parametrize("fps", [30.0, 24.0, 25.0, 29.97, 30000 / 1001])
def test_duration_gives_back_the_frame_count(fps):
    assert int(30.0 * (123 / 30.0)) == 122          # the float trap the nudge avoids
    for n in range(1, 3000):
        duration = duration_for_frames(n, fps)
        assert int(fps * duration) == n and abs(duration - n / fps) < 1e-9


def test_assemble_segments_places_clips_and_notes_overlaps():
    a = np.full((4, 133, 2), 1.0, np.float32), np.full((4, 133), 5.0, np.float32)
    b = np.full((4, 133, 2), 2.0, np.float32), np.full((4, 133), 6.0, np.float32)
    kpts, scores, notes = assemble_segments([(7, *b), (2, *a), (4, *b)], 9)
    assert kpts.shape == (9, 133, 2) and scores.shape == (9, 133)
    row = kpts[:, 0, 0]
    np.testing.assert_array_equal(np.isnan(row), [1, 1, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(row[2:], [1, 1, 2, 2, 2, 2, 2])   # later segment wins the overlap
    assert scores[0, 0] == 0 and scores[2, 0] == 5 and scores[8, 0] == 6
    assert any("clipped by 2" in n for n in notes) and any("overlaps" in n for n in notes)


def test_import_cli_reports_the_corrupt_song_and_imports_the_others(imported):
    dst, _, result = imported
    assert result.returncode == 1, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert f"{BROKEN[0]}/{BROKEN[1]}" in output
    assert "vocal.wav cannot be read" in output and "unreadable" in output
    assert "2 done" in result.stdout and "1 failed" in result.stdout


def test_imported_metadata_is_accepted_by_the_loader(imported):
    dst, _, _ = imported
    songs = {s.key: s for s in load_metadata(dst / "dataset_metadata.json")}
    assert set(songs) == {"/".join(KNOWN), "/".join(UNKNOWN), "/".join(BROKEN)}
    known, unknown, broken = (songs["/".join(k)] for k in (KNOWN, UNKNOWN, BROKEN))
    assert known.fps == FPS and known.duration == pytest.approx(2.0) and known.n_frames == N_FRAMES
    assert known.layout == ("mridangam", "vocal", "violin")          # from the reference metadata
    assert len(known.face_false_positive_frames) == 20               # carried over from the reference
    assert unknown.layout is None and unknown.fps == FPS
    assert any("not in the shipped reference" in n for n in unknown.extra["import_notes"])
    assert broken.fps is None and broken.duration == pytest.approx(2.0)   # from the good stem
    kept, skipped = select_songs(songs.values(), skip_moving_camera=True)
    assert [s.key for s in kept] == ["/".join(KNOWN)]
    assert {s.reason for s in skipped} == {"null layout in metadata", "null layout, fps in metadata"}


def test_imported_media_are_links_the_shared_finders_match(imported, saraga_src):
    dst, _, _ = imported
    src, _ = saraga_src
    for artist, song in (KNOWN, UNKNOWN):
        folder = dst / artist / song
        video = find_video(folder)
        assert video.name == f"{song}.mov" and video.is_symlink()
        assert os.path.samefile(video, src / "saraga visual" / artist / song / f"{song}.mov")
        assert [p.name for p in find_stems(folder, "vocal")] == ["vocal_multitrack.wav"]
        assert [p.name for p in find_stems(folder, "violin")] == ["violin_multitrack.wav"]
        assert [p.name for p in find_stems(folder, "mridangam")] == [
            "mridangam-left_multitrack.wav", "mridangam-right_multitrack.wav"]
        assert find_mixture(folder).name == "mixture.wav"
        assert all(p.is_symlink() for p in folder.glob("*.wav"))
        assert load_stem(folder, "mridangam", 8000).shape == (16000,)
    broken = dst / BROKEN[0] / BROKEN[1]
    assert [p.name for p in broken.iterdir() if not p.name.startswith(".")] == \
        ["violin_multitrack.wav"]                     # corrupt files are not linked
    assert not (broken / IMPORT_RECORD_NAME).exists()  # so a re-run retries it


def test_gesture_segments_become_full_length_keypoints(imported):
    dst, segments, _ = imported
    folder = dst / KNOWN[0] / KNOWN[1]
    vocal = load_instrument_pose(folder, "vocal")
    assert vocal.keypoints.shape == (N_FRAMES, 133, 2) and vocal.scores.shape == (N_FRAMES, 133)
    found = ~np.isnan(vocal.keypoints).all(axis=(1, 2))
    expected = np.zeros(N_FRAMES, bool)
    expected[10:40] = expected[45:55] = True
    np.testing.assert_array_equal(found, expected)
    np.testing.assert_array_equal(vocal.keypoints[10:40], segments[("singer", 10)][0])
    np.testing.assert_array_equal(vocal.scores[45:55], segments[("singer", 45)][1])
    assert (vocal.scores[~expected] == 0).all()
    assert vocal.info["backend"] == "saraga-gesture" and vocal.info["score_scale"] == "simcc"
    assert vocal.info["position"] == 1 and vocal.info["n_performers"] == 3
    assert vocal.info["frame_size"] == [64, 48] and vocal.info["fps"] == FPS
    face = np.load(folder / "vocal" / "face_keypoints.npy")
    np.testing.assert_array_equal(face, vocal.keypoints[:, 23:91])
    violin = load_instrument_pose(folder, "violin")             # named 0_1 in seconds
    np.testing.assert_array_equal(violin.keypoints[:30], segments[("violin", 0)][0])
    assert np.isnan(violin.keypoints[30:]).all() and violin.info["position"] == 2
    mridangam = load_instrument_pose(folder, "mridangam")       # (L, 1, 133, 2) squeezed
    np.testing.assert_array_equal(mridangam.keypoints[5:25], segments[("mridangam", 5)][0])
    assert mridangam.info["position"] == 0
    unknown = load_instrument_pose(dst / UNKNOWN[0] / UNKNOWN[1], "vocal")
    np.testing.assert_array_equal(unknown.keypoints[30:], segments[("unknown singer", 1)][0])
    assert unknown.info["position"] is None                      # layout unknown


def test_rerun_skips_done_songs_keeps_edits_and_force_redoes(saraga_src, tmp_path):
    src, _ = saraga_src
    dst = tmp_path / "dst"
    first = import_saraga(src, dst, artist=KNOWN[0], progress_bar=False)
    assert first.done == ["/".join(KNOWN)] and first.exit_code == 0
    metadata = json.loads((dst / "dataset_metadata.json").read_text(encoding="utf-8"))
    metadata[KNOWN[0]][KNOWN[1]]["layout"] = ["vocal", "violin", "mridangam"]   # a hand edit
    (dst / "dataset_metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    again = import_saraga(src, dst, artist=KNOWN[0], progress_bar=False)
    assert again.up_to_date == ["/".join(KNOWN)] and again.done == []
    assert load_metadata(dst / "dataset_metadata.json")[0].layout == ("vocal", "violin", "mridangam")
    forced = import_saraga(src, dst, artist=KNOWN[0], force=True, mode="copy", progress_bar=False)
    assert forced.done == ["/".join(KNOWN)]
    assert load_metadata(dst / "dataset_metadata.json")[0].layout == ("mridangam", "vocal", "violin")
    video = dst / KNOWN[0] / KNOWN[1] / f"{KNOWN[1]}.mov"
    assert video.is_file() and not video.is_symlink()           # --copy made a real file


def test_decomposed_unicode_names_match_the_reference(tmp_path):
    """A song folder written in NFD (as macOS unpacks it) still finds its reference layout."""
    src = tmp_path / "nfd"
    artist = unicodedata.normalize("NFD", "Abhiram Bode")
    song = "Devi Pavane"
    media.video(src / "saraga visual" / artist / song / f"{song}.mov", 30, FPS)
    import_saraga(src, tmp_path / "dst", progress_bar=False)
    (info,) = load_metadata(tmp_path / "dst" / "dataset_metadata.json")
    assert info.layout == ("mridangam", "vocal", "violin") and info.duration == pytest.approx(1.0)


def test_missing_source_folders_is_a_clear_error(tmp_path):
    result = run_cli("dataset_analysis.main", "import-saraga", str(tmp_path), str(tmp_path / "out"))
    assert result.returncode == 1 and "none of the Saraga folders" in result.stderr
    assert not (tmp_path / "out" / "dataset_metadata.json").exists()   # nothing half-imported


@pytest.mark.slow
def test_feature_stage_accepts_the_imported_tree(saraga_src, tmp_path):
    """The real feature CLI runs on an imported song: keypoints, stems and metadata fit together."""
    pytest.importorskip("feature_extraction.main")
    src, _ = saraga_src
    dst = tmp_path / "imported"
    assert import_saraga(src, dst, artist=KNOWN[0], progress_bar=False).exit_code == 0
    result = run_cli("feature_extraction.main", "--dataset_path", str(dst), "--extract", "both")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    folder = dst / KNOWN[0] / KNOWN[1]
    for instrument in ("vocal", "violin", "mridangam"):
        motion = json.loads((folder / instrument / "motion_features.json").read_text())
        assert motion["n_frames"] == N_FRAMES and motion["fps"] == FPS
        speed = np.array([np.nan if v is None else v for v in motion["features"]["speed"]])
        assert np.isfinite(speed).any()        # the gesture segments carried real motion
        assert (folder / instrument / "audio_features.json").exists()


def test_link_falls_back_to_hard_link_then_copy(tmp_path, monkeypatch):
    from dataset_analysis import saraga_import

    source = tmp_path / "sóurce file.wav"
    source.write_bytes(b"abc")
    assert saraga_import.link_file(source, tmp_path / "a" / "s.wav") == "symlink"

    def refuse(*args):
        raise OSError("not supported here")
    monkeypatch.setattr(saraga_import.os, "symlink", refuse)
    assert saraga_import.link_file(source, tmp_path / "a" / "s.wav") == "hardlink"   # replaces
    assert os.path.samefile(tmp_path / "a" / "s.wav", source)
    assert not (tmp_path / "a" / "s.wav").is_symlink()
    monkeypatch.setattr(saraga_import.os, "link", refuse)
    assert saraga_import.link_file(source, tmp_path / "b.wav") == "copy"
    copy = tmp_path / "b.wav"
    assert copy.read_bytes() == b"abc" and not os.path.samefile(copy, source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b.wav", "sóurce file.wav"]  # no temps
