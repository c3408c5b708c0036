"""The ``text`` kind's input (separation.text_input): posteriorgrams at exactly the STFT frames."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core import syllables as sy
from core.dataset import SongDataError
from separation.data import CHUNK_STRIDE_SAMPLES
from separation.text_input import (chunk_frame_times, frame_times, load_song_text, per_syllable,
                                   song_text_frames, text_chunks)
from separation.vovit import CHUNK_SAMPLES, N_FRAMES, SAMPLE_RATE, stft


def test_frame_centres_are_the_stft_frames_of_the_chunk():
    times = chunk_frame_times(2)
    assert times.shape == (N_FRAMES,) == (256,)
    np.testing.assert_array_equal(times[[0, 1, 64, 255]], [8.0, 8 + 1 / 64, 9.0, 8 + 255 / 64])
    np.testing.assert_array_equal(frame_times(1000)[:2], [1000 / 16384, 1256 / 16384])
    # independent check with the model's STFT: a click at the time of frame k peaks in frame k
    for k in (0, 17, 128, 255):
        wave = torch.zeros(1, CHUNK_SAMPLES)
        wave[0, round(chunk_frame_times(0)[k] * SAMPLE_RATE)] = 1.0
        energy = stft(wave).abs().pow(2).sum(dim=1)[0]                     # (frames,)
        assert energy.shape == (N_FRAMES,) and int(energy.argmax()) == k


def write_alignment(song_dir, performer="vocal"):
    return sy.save_alignment(song_dir / performer / sy.ALIGNMENT_NAME, [4.5, 5.0, 7.9],
                             [5.0, 5.5, 8.1], ["pa", "dha", "ni"])


def test_chunks_from_an_alignment_know_the_answer_frame_by_frame(tmp_path):
    write_alignment(tmp_path)
    post, present = text_chunks(tmp_path, "vocal", [0, 1, 2])
    assert post.shape == (3, N_FRAMES, sy.N_CLASSES) and post.dtype == np.float32
    assert present.shape == (3, N_FRAMES) and present.all()     # gaps are known silence
    names = np.array(sy.INVENTORY)[post.argmax(-1)]
    assert (names[0] == sy.SILENCE).all()
    # chunk 1 frame k is at 4 + k/64 s: [4.5, 5.0) = frames 32..63, [5.0, 5.5) = 64..95,
    # [7.9, 8.1) from frame ceil(3.9 * 64) = 250 to the chunk's end, then chunk 2 frames 0..6
    expected = np.full(N_FRAMES, sy.SILENCE, dtype=object)
    expected[32:64], expected[64:96], expected[250:] = "pa", "dha", "ni"
    assert list(names[1]) == list(expected)
    assert list(names[2][:8]) == ["ni"] * 7 + [sy.SILENCE]
    # a training crop at any start sample is cut by the same rule
    text = load_song_text(tmp_path, "vocal")
    window, _ = text.window(CHUNK_STRIDE_SAMPLES + 32 * 256)                # starts at 4.5 s
    assert list(np.array(sy.INVENTORY)[window.argmax(-1)][:65]) == ["pa"] * 32 + ["dha"] * 32 + [
        sy.SILENCE]
    empty, empty_present = text_chunks(tmp_path, "vocal", [])
    assert empty.shape == (0, N_FRAMES, sy.N_CLASSES) and empty_present.shape == (0, N_FRAMES)


def test_chunks_from_a_posteriorgram_file_are_interpolated_and_absent_outside_it(tmp_path):
    folder = tmp_path / "vocal"
    folder.mkdir()
    values = np.zeros((501, 2), np.float32)        # 100 fps, frames at 0.00 .. 5.00 s
    values[449:, 0] = 1.0                          # "sa" from 4.49 s
    values[:, 1] = 1.0 - values[:, 0]              # "ri" before
    np.save(folder / sy.POSTERIORGRAM_NAME, values)
    (folder / sy.POSTERIORGRAM_INFO_NAME).write_text(json.dumps({"fps": 100.0,
                                                                 "classes": ["sa", "ri"]}))
    post, present = text_chunks(tmp_path, "vocal", [1], source="posteriorgram")
    # chunk 1: frame k at 4 + k/64 s; the file ends at 5.0 s = frame 64
    np.testing.assert_array_equal(present[0], np.arange(N_FRAMES) <= 64)
    sa, ri = sy.CLASS_INDEX["sa"], sy.CLASS_INDEX["ri"]
    np.testing.assert_allclose(post[0, 32, [sa, ri]], [1.0, 0.0])            # 4.5 s
    np.testing.assert_allclose(post[0, 0, [sa, ri]], [0.0, 1.0])             # 4.0 s
    # frame 31 (4.484375 s) sits at file position 448.4375, between "ri" (448) and "sa" (449)
    np.testing.assert_allclose(post[0, 31, [sa, ri]], [0.4375, 0.5625], atol=1e-6)
    assert (post[0, 65:].argmax(-1) == 0).all()                              # absent → silence


def test_missing_or_malformed_text_is_a_song_data_error_naming_the_file(tmp_path):
    with pytest.raises(SongDataError, match=r"vocal/syllables.tsv does not exist"):
        text_chunks(tmp_path, "vocal", [0])
    (tmp_path / "vocal").mkdir()
    (tmp_path / "vocal" / sy.ALIGNMENT_NAME).write_text("0\t1\tsa\n0.5\t2\tzz\n", encoding="utf-8")
    with pytest.raises(SongDataError, match=r"syllables.tsv line 2: interval"):
        text_chunks(tmp_path, "vocal", [0])
    with pytest.raises(SongDataError, match="syllable_posteriorgram.json does not exist"):
        text_chunks(tmp_path, "vocal", [0], source="posteriorgram")
    with pytest.raises(ValueError, match="text source must be one of"):
        load_song_text(tmp_path, "vocal", source="lyrics")


def test_the_song_wide_grid_holds_every_chunk_and_crops_take_their_own_frames(tmp_path):
    write_alignment(tmp_path)
    n_samples = 3 * CHUNK_STRIDE_SAMPLES + 100
    song, present = song_text_frames(tmp_path, "vocal", n_samples)
    assert song.shape == (n_samples // 256 + 1, sy.N_CLASSES) and present.all()
    chunks, _ = text_chunks(tmp_path, "vocal", [0, 1, 2])
    for c in range(3):
        np.testing.assert_array_equal(song[256 * c:256 * c + 256], chunks[c])
    # a 25-fps crop at video frame 113 starts at sample round(113 * 16384 / 25) = 74056, off the
    # 256-sample grid: its frame 0 is at 74056 / 16384 = 4.52 s ("pa"), its frame 30 at 4.989 s
    crop, _ = load_song_text(tmp_path, "vocal").window(round(113 * 16384 / 25))
    names = np.array(sy.INVENTORY)[crop.argmax(-1)]
    assert names[0] == "pa" and names[30] == "pa" and names[31] == "dha"      # 5.0036 s


def test_per_syllable_sums_frame_values_over_each_syllable_and_the_silence():
    alignment = sy.parse_alignment("0.5\t1.0\tsa\n1.0\t1.25\tpa\n1.3\t1.31\tni\n2.0\t3.5\tśrī\n")
    times = np.arange(0, 2.5, 0.25)                 # 0, .25, ..., 2.25: ni has no frame centre
    values = np.arange(10, dtype=float)             # value i at frame i
    out = per_syllable(values, times, alignment)
    assert out == [
        {"start_s": 0.5, "end_s": 1.0, "syllable": "sa", "value": 2 + 3, "frames": 2},
        {"start_s": 1.0, "end_s": 1.25, "syllable": "pa", "value": 4, "frames": 1},
        {"start_s": 2.0, "end_s": 3.5, "syllable": "śrī", "value": 8 + 9, "frames": 2},
        {"syllable": sy.SILENCE, "value": 0 + 1 + 5 + 6 + 7, "frames": 5}]
    assert sum(d["value"] for d in out) == values.sum()
    with pytest.raises(ValueError, match="equal 1-d shapes"):
        per_syllable(values[:3], times, alignment)


def test_a_run_over_songs_fails_the_song_with_a_bad_alignment_and_carries_on(tmp_path):
    from core.metadata import SongInfo
    from core.runner import run_per_song

    songs = [SongInfo("A", name, ("vocal",), 30.0, 8.0) for name in ("good", "bad", "missing")]
    write_alignment(tmp_path / "A" / "good")
    (tmp_path / "A" / "bad" / "vocal").mkdir(parents=True)
    (tmp_path / "A" / "bad" / "vocal" / sy.ALIGNMENT_NAME).write_text("0\t1\tsa\n2\t1\tri\n")
    summary = run_per_song("text", songs, lambda s: text_chunks(tmp_path / s.artist / s.song,
                                                                "vocal", [0, 1]),
                           progress_bar=False)
    assert summary.done == ["A/good"] and summary.exit_code == 1
    assert len(summary.failed) == 2
    assert "A/bad: " in summary.failed[0] and "line 2: end 1.0 is not after start 2.0" \
        in summary.failed[0]
    assert "A/missing: " in summary.failed[1] and "does not exist" in summary.failed[1]
