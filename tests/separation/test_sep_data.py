"""Chunk dataset on synthetic songs: resampling, normalisation, missing frames, chunk indices."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from core.face import load_mean_face
from core.metadata import load_metadata
from core.runner import SongSkipped
from separation.conventions import PROJECT
from separation.data import (chunk_count, mean_face_input, normalise_body, normalise_face,
                             normalised_mean_face, remix, resample_keypoints, song_chunks, visual_window)
from separation.vovit import CHUNK_SAMPLES

from sep_synthetic import synthetic_dataset, synthetic_keypoints  # noqa: F401 (fixture)


def songs_by_name(root):
    return {s.song: s for s in load_metadata(root / "dataset_metadata.json")}


def test_resampling_known_linear_motion_30_to_25_fps():
    frames = np.arange(61, dtype=np.float64)                 # 2 s at 30 fps
    points = np.stack([10 + 3 * frames, 5 - 2 * frames], -1)[:, None, :]   # x = 10 + 3 f, y = 5 - 2 f
    valid = np.ones((61, 1), bool)
    out, ok = resample_keypoints(points, valid, fps=30.0)
    assert out.shape == (51, 1, 2) and ok.all()
    source = np.arange(51) * 30 / 25                          # 25-fps frame k is at 30-fps frame 1.2 k
    np.testing.assert_allclose(out[:, 0, 0], 10 + 3 * source, atol=1e-9)
    np.testing.assert_allclose(out[:, 0, 1], 5 - 2 * source, atol=1e-9)


def test_resampling_propagates_missing_neighbours_only():
    points = np.zeros((31, 1, 2))
    valid = np.ones((31, 1), bool)
    valid[7] = False                                          # 30-fps frame 7 missing
    _, ok = resample_keypoints(points, valid, fps=30.0)
    # 25-fps frame 5 sits exactly on 30-fps frame 6; frame 6 (at 7.2) needs frames 7 and 8.
    assert ok[5, 0] and not ok[6, 0] and ok[7, 0]
    assert (~ok[:, 0]).sum() == 1


def test_body_normalisation_is_centred_and_unit_radius():
    rng = np.random.default_rng(0)
    pts = rng.normal(300, 50, (4, 55, 2))
    valid = np.ones((4, 55), bool)
    valid[0, :5] = False
    out = normalise_body(pts, valid)
    for f in range(4):
        v = out[f][valid[f]]
        np.testing.assert_allclose(v.mean(0), 0, atol=1e-9)
        assert np.linalg.norm(v, axis=1).max() == pytest.approx(1.0)
    assert (out[0, :5] == 0).all()
    # Scale and translation invariance: the same pose twice as large, elsewhere, gives the same.
    np.testing.assert_allclose(normalise_body(2 * pts + 100, valid), out, atol=1e-9)


def test_face_normalisation_removes_rotation_translation_and_scale():
    kp = synthetic_keypoints(3, np.random.default_rng(0))
    face = kp[:, 23:91].astype(np.float64)                   # the mean face ×1.5, moving
    angle = 0.3
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 2.0 * face @ rot.T + np.array([50.0, -20.0])
    valid = np.ones((3, 68), bool)
    a, ok_a = normalise_face(face, valid)
    b, ok_b = normalise_face(moved, valid)
    assert ok_a.all() and ok_b.all()
    np.testing.assert_allclose(a, b, atol=1e-6)
    # a similarity copy of the mean face registers onto it: mean-face units, radius 1
    np.testing.assert_allclose(a, np.broadcast_to(normalised_mean_face(PROJECT), a.shape), atol=1e-6)


def test_mean_face_input_averages_only_complete_frames():
    faces = np.zeros((4, 68, 2), np.float32)
    faces[0], faces[1], faces[2] = 1.0, 3.0, 100.0
    mask = np.ones((4, 68), bool)
    mask[2, 5] = False                                        # one point missing: frame left out
    mask[3] = False                                           # a missing face (input zeros)
    mean, frames = mean_face_input(faces, mask)
    assert frames == 2 and mean.shape == (68, 2)
    np.testing.assert_array_equal(mean, np.full((68, 2), 2.0, np.float32))
    empty, none = mean_face_input(faces, np.zeros((4, 68), bool))
    assert none == 0 and np.isnan(empty).all()


def test_raw_face_coordinates_are_the_pixels_unchanged():
    from separation.conventions import OFFICIAL_VOVIT
    from separation.data import normalise_visual

    kp = synthetic_keypoints(4, np.random.default_rng(0))
    face = kp[:, 23:91].astype(np.float64)
    valid = np.ones((4, 68), bool)
    valid[1, :5] = False
    out, ok = normalise_visual(face, valid, "face", OFFICIAL_VOVIT)
    np.testing.assert_allclose(out[valid], face[valid].astype(np.float32))
    assert (out[1, :5] == 0).all() and (ok == valid).all()
    np.testing.assert_allclose(normalised_mean_face(OFFICIAL_VOVIT), load_mean_face(), rtol=1e-6)


@pytest.mark.slow
def test_registered_demo_faces_are_brought_to_the_mean_face_size(posed_demo_dataset):
    """Issue 14: the mean-face saliency baseline should be a typical input. On the vocalists' demo
    faces (MediaPipe landmarks; frames with all 68 points) the face input, registered by a
    similarity on the stable points, has a median radius (largest distance from its centroid, in
    mean-face units where the mean face's is 1) of 0.877, against 0.64 for the old rigid
    registration computed here on the same frames. Within 5 % of VoViT's mean face is out of reach:
    what remains is face shape, not scale (the demo's jaw contour is narrower relative to brows,
    nose and eyes than in VoViT's 3DDFA mean face; a fit on all 68 points only reaches 0.92 and
    cancels most of the jaw opening). The ``dataset_mean`` saliency baseline is within 5 % of these
    faces (tests/gradient_saliency, ``test_dataset_mean_face_is_a_typical_registered_demo_face``)."""
    from core.face import register_faces
    from core.metadata import load_metadata
    from separation.conventions import OFFICIAL_VOVIT
    from separation.data import load_song_visual

    def radius(faces):
        return np.linalg.norm(faces - faces.mean(axis=1, keepdims=True), axis=2).max(axis=1)

    ours, rigid = [], []
    mean_face = load_mean_face()
    centre = mean_face.mean(axis=0)
    scale = np.linalg.norm(mean_face - centre, axis=1).max()
    for song in load_metadata(posed_demo_dataset / "dataset_metadata.json"):
        if "vocal" not in song.instruments or not song.fps:
            continue
        try:
            faces, mask = load_song_visual(song.folder(posed_demo_dataset), song, "vocal", "face",
                                           conventions=PROJECT)
            pixels, _ = load_song_visual(song.folder(posed_demo_dataset), song, "vocal", "face",
                                         conventions=OFFICIAL_VOVIT)
        except SongSkipped:
            continue
        full = mask.all(axis=1)
        ours.append(radius(faces[full]))
        rigid.append(radius((register_faces(pixels[full], mean_face) - centre) / scale))
    ours, rigid = np.concatenate(ours), np.concatenate(rigid)
    assert len(ours) > 100
    assert 0.85 <= np.median(ours) <= 1.05
    assert np.median(rigid) < 0.7 and np.median(ours) - np.median(rigid) > 0.15


def test_song_chunks_indices_shapes_and_audio(synthetic_dataset):
    songs = songs_by_name(synthetic_dataset)
    song = songs["Song One"]                                  # 9 s -> chunks at 0 s and 4 s
    chunks = song_chunks(song.folder(synthetic_dataset), song, "vocal", "face_body",
                         conventions=PROJECT)
    assert [c.index for c in chunks] == [0, 1]
    assert chunk_count(9 * 16384) == 2 and chunk_count(CHUNK_SAMPLES - 1) == 0
    for c in chunks:
        assert c.mixture.shape == (CHUNK_SAMPLES,) and c.target.shape == (CHUNK_SAMPLES,)
        assert c.visual.shape == (2, 100, 123) and c.visual.dtype == np.float32
        assert c.visual_mask.shape == (100, 123) and c.visual_mask.all()
        assert c.song == "Art/Song One"
    # No mixture file: the mixture is the sum of the layout's stems (vocal + violin).
    import soundfile as sf
    folder = song.folder(synthetic_dataset)
    vocal, _ = sf.read(folder / "vocal_close.wav", dtype="float32")
    violin, _ = sf.read(folder / "violin_close.wav", dtype="float32")
    start = 65536
    raw_mixture = (vocal + violin)[start:start + CHUNK_SAMPLES]
    # PROJECT convention (chunk_peak): mixture and target divided by the chunk mixture's own peak.
    assert chunks[1].scale == pytest.approx(np.abs(raw_mixture).max(), rel=1e-6)
    assert np.abs(chunks[1].mixture).max() == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(chunks[1].target * chunks[1].scale,
                               vocal[start:start + CHUNK_SAMPLES], atol=1e-6)
    np.testing.assert_allclose(chunks[1].mixture * chunks[1].scale, raw_mixture, atol=1e-6)
    # VoViT's convention (song_peak): every chunk divided by the whole song's peak.
    from separation.conventions import OFFICIAL_VOVIT
    official = song_chunks(folder, song, "vocal", "none", conventions=OFFICIAL_VOVIT)
    song_peak = np.abs(vocal + violin).max()
    assert [c.scale for c in official] == pytest.approx([song_peak] * 2, rel=1e-6)
    np.testing.assert_allclose(official[1].mixture * song_peak, raw_mixture, atol=1e-6)
    audio_only = song_chunks(folder, song, "vocal", "none", conventions=PROJECT)
    assert audio_only[0].visual is None and len(audio_only) == 2


def test_chunks_with_missing_frames_are_skipped_and_counted(tmp_path, caplog):
    from sep_synthetic import write_metadata, write_song

    rng = np.random.default_rng(1)
    # 30-fps frames 0-59 (the first 2 s, half of chunk 0) have no keypoints.
    write_song(tmp_path, "Art", "Gappy", 9.0, rng, missing_frames=tuple(range(60)))
    write_metadata(tmp_path, {"Art": {"Gappy": {"layout": ["vocal", "violin"], "fps": 30.0,
                                                "duration": 9.0}}})
    song = songs_by_name(tmp_path)["Gappy"]
    with caplog.at_level(logging.INFO, logger="separation.data"):
        chunks = song_chunks(song.folder(tmp_path), song, "vocal", "face", conventions=PROJECT)
    assert [c.index for c in chunks] == [1]
    assert "skipped 1 of 2 chunks" in caplog.text
    # With a lenient threshold the chunk is kept, its missing frames zero and masked.
    kept = song_chunks(song.folder(tmp_path), song, "vocal", "face", max_missing_fraction=0.6,
                       conventions=PROJECT)
    assert [c.index for c in kept] == [0, 1]
    assert not kept[0].visual_mask[:50].any() and kept[0].visual_mask[51:].all()
    assert (kept[0].visual[:, :50] == 0).all()


def test_song_without_keypoints_is_a_named_skip(synthetic_dataset):
    song = songs_by_name(synthetic_dataset)["No Pose"]
    with pytest.raises(SongSkipped, match="no keypoints for vocal"):
        song_chunks(song.folder(synthetic_dataset), song, "vocal", "face", conventions=PROJECT)
    # The audio-only model does not need keypoints.
    assert len(song_chunks(song.folder(synthetic_dataset), song, "vocal", "none",
                           conventions=PROJECT)) == 1


def test_visual_window_pads_past_the_end_and_remix_swaps_accompaniment():
    visual = np.ones((120, 5, 2), np.float32)
    mask = np.ones((120, 5), bool)
    window, wmask = visual_window(visual, mask, 50)
    assert window.shape == (2, 100, 5) and wmask[:70].all() and not wmask[70:].any()
    assert (window[:, 70:] == 0).all()
    a_target, b_target, b_mix = np.ones(4), np.full(4, 2.0), np.full(4, 5.0)
    np.testing.assert_allclose(remix(a_target, b_mix, b_target), np.full(4, 4.0))


def test_face_false_positive_frames_count_as_missing_for_the_singer(tmp_path):
    from sep_synthetic import write_metadata, write_song

    write_song(tmp_path, "Art", "Fp", 9.0, np.random.default_rng(2))
    write_metadata(tmp_path, {"Art": {"Fp": {"layout": ["vocal", "violin"], "fps": 30.0,
                                             "duration": 9.0,
                                             "face_false_positive_frames": [[0, 59]]}}})
    song = songs_by_name(tmp_path)["Fp"]
    # 30-fps frames 0-59 = the first 2 s: half of chunk 0 is not the singer's face -> skipped ...
    assert [c.index for c in song_chunks(song.folder(tmp_path), song, "vocal", "face",
                                         conventions=PROJECT)] == [1]
    # ... but the body input and the violinist are unaffected.
    assert len(song_chunks(song.folder(tmp_path), song, "vocal", "body", conventions=PROJECT)) == 2
    assert len(song_chunks(song.folder(tmp_path), song, "violin", "face", conventions=PROJECT)) == 2


def test_normalised_mean_face_is_the_fixed_point_of_face_normalisation():
    from core.face import load_mean_face
    from separation.data import normalised_mean_face

    out, ok = normalise_face(load_mean_face()[None], np.ones((1, 68), bool))
    assert ok.all()
    np.testing.assert_allclose(out[0], normalised_mean_face(PROJECT), atol=1e-6)
    assert np.linalg.norm(normalised_mean_face(PROJECT), axis=1).max() == pytest.approx(1.0)
