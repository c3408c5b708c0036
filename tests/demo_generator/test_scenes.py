"""Benchmark scenes (``demo_generator.scenes``): splits and seeds, determinism, same-timbre by
construction, ground-truth keypoints that follow the animation (and agree with MediaPipe)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli
from core.dataset import find_stems
from core.metadata import load_metadata
from core import syllables as sy
from core.pose_files import default_threshold, load_instrument_pose
from demo_generator import audio as da
from demo_generator import scenes
from demo_generator import video as dv
from demo_generator.concerts import GENERATOR_VERSION, GROUND_TRUTH_NAME
from demo_generator.measure_sprite_landmarks import load_sprite_landmarks, sprite_source_record

SECONDS = 6.0
KINDS = ("duet", "shadow", "concert")


@pytest.fixture(scope="module")
def scene_root(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenes") / "scenes"
    run_cli("demo_generator.main", str(out), "--scenes", "--scene_kinds", *KINDS,
            "--train", "1", "--validation", "1", "--test", "1", "--seconds", str(SECONDS), check=True)
    return out


def stem(song_dir, name):
    signals = [sf.read(str(p), dtype="float64")[0] for p in find_stems(song_dir, name)]
    return np.mean(signals, axis=0)


# ------------------------------------------------------------------------------------------------
# Dataset, splits, seeds
# ------------------------------------------------------------------------------------------------

def test_splits_come_from_disjoint_recorded_seeds(scene_root):
    splits = json.loads((scene_root / scenes.SPLITS_FILE).read_text(encoding="utf-8"))
    assert splits["generator_version"] == GENERATOR_VERSION >= 3
    assert splits["target"] == "vocal" and splits["kinds"] == list(KINDS)
    songs = {s.key: s for s in load_metadata(scene_root / "dataset_metadata.json")}
    keys = {split: set(keys) for split, keys in splits["splits"].items()}
    assert {k: len(v) for k, v in keys.items()} == {"train": 3, "validation": 3, "test": 3}
    assert set().union(*keys.values()) == set(songs) == set(splits["scenes"])
    seeds = {split: {splits["scenes"][k]["seed"] for k in ks} for split, ks in keys.items()}
    assert seeds["train"] == {10000} and seeds["validation"] == {20000}
    assert seeds["test"] == {30000}
    assert not (seeds["train"] & seeds["test"]) and not (seeds["validation"] & seeds["test"])
    for key, scene in splits["scenes"].items():
        truth = json.loads((scene_root / key / GROUND_TRUTH_NAME).read_text(encoding="utf-8"))
        assert (truth["seed"], truth["split"], truth["scene_kind"]) == (
            scene["seed"], scene["split"], scene["kind"])
        assert scene["same_timbre"] is (scene["kind"] != "concert") is truth["same_timbre"]
        song = songs[key]
        assert sorted(song.layout) == sorted(p.name for p in scenes.SCENE_KINDS[scene["kind"]].performers)
        assert song.fps == 30.0 and not song.moving_camera and song.duration >= SECONDS


def test_a_complete_scene_dataset_is_not_redone_and_bad_counts_are_refused(scene_root, tmp_path):
    marker = scene_root / scenes.COMPLETE_MARKER
    before = marker.stat().st_mtime_ns
    scenes.generate_scenes(scene_root, {"train": 1, "validation": 1, "test": 1}, KINDS, SECONDS)
    assert marker.stat().st_mtime_ns == before
    result = run_cli("demo_generator.main", str(tmp_path / "x"), "--scenes", "--train", "-1")
    assert result.returncode == 2 and "counts must be >= 0" in result.stderr
    with pytest.raises(ValueError, match="unknown scene kind"):
        scenes.generate_scenes(tmp_path / "y", {"train": 1}, ("quartet",))
    with pytest.raises(ValueError, match="outside"):
        scenes.scene_seed("train", scenes.MAX_SCENES_PER_SPLIT)


def test_a_set_rendered_with_video_serves_a_request_without_and_not_the_reverse(tmp_path):
    counts = {"train": 0, "validation": 0, "test": 0}
    marker = tmp_path / scenes.COMPLETE_MARKER
    tmp_path.mkdir(exist_ok=True)
    marker.write_text(json.dumps(scenes._settings(counts, KINDS, SECONDS, True)), encoding="utf-8")
    before = marker.read_bytes()
    scenes.generate_scenes(tmp_path, counts, KINDS, SECONDS, render=False)
    assert marker.read_bytes() == before            # complete: nothing redone
    marker.write_text(json.dumps(scenes._settings(counts, KINDS, SECONDS, False)), encoding="utf-8")
    scenes.generate_scenes(tmp_path, counts, KINDS, SECONDS, render=True)
    assert json.loads(marker.read_text(encoding="utf-8"))["video"] is True     # redone with video


def test_same_seed_same_bytes(tmp_path):
    kind = scenes.SCENE_KINDS["shadow"]
    first = scenes.generate_scene(kind, tmp_path / "a", 10007, seconds=3.0)
    again = scenes.generate_scene(kind, tmp_path / "b", 10007, seconds=3.0)
    assert first["layout"] == again["layout"]
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) >= 5 + 3 * 3
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    other = scenes.generate_scene(kind, tmp_path / "c", 10008, seconds=3.0)
    assert (tmp_path / "c" / "mixture.wav").read_bytes() != (tmp_path / "a" / "mixture.wav").read_bytes()
    assert other["seed"] == 10008


# ------------------------------------------------------------------------------------------------
# Same timbre by construction
# ------------------------------------------------------------------------------------------------

def mean_mfcc(signal, sr=da.SAMPLE_RATE):
    """Timbre summary: MFCC 1-12 (40 mel bands up to 8 kHz) averaged over the loud frames."""
    import librosa

    mel = librosa.feature.melspectrogram(y=signal.astype(np.float32), sr=sr, n_fft=4096,
                                         hop_length=2048, n_mels=40, fmax=8000)
    loud = mel.sum(axis=0) > 0.1 * mel.sum(axis=0).max()
    return librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=13)[1:, loud].mean(axis=1)


def test_the_shadowing_violin_has_the_voice_timbre_only_in_same_timbre_scenes(scene_root):
    """Known answer: in ``shadow`` and ``concert`` the violin plays the singer's notes a little
    late; with the matched timbre (``shadow``, one synthesiser) its MFCC summary is close to the
    singer's, with the violin timbre (``concert``) it is far. The duet singers stay in the vocal
    register."""
    splits = json.loads((scene_root / scenes.SPLITS_FILE).read_text(encoding="utf-8"))
    distance = {"shadow": [], "concert": []}
    for key, scene in splits["scenes"].items():
        truth = json.loads((scene_root / key / GROUND_TRUTH_NAME).read_text(encoding="utf-8"))
        if scene["kind"] == "duet":
            for name in ("vocal", "singer"):
                notes = np.array(truth["performers"][name]["notes"]["semitones"])
                assert np.all((notes >= da.VOCAL_LOWEST) & (notes <= da.VOCAL_HIGHEST))
            continue
        a, b = (mean_mfcc(stem(scene_root / key, n)) for n in ("vocal", "violin"))
        distance[scene["kind"]].append(float(np.sqrt(np.mean((a - b) ** 2))))
    assert max(distance["shadow"]) < 0.3 * min(distance["concert"]), distance


def test_call_and_response_alternates_and_either_voice_may_start():
    starters = set()
    for seed in range(12):
        lines = da.compose_call_and_response(np.random.default_rng(seed), 12.0)
        assert len(lines) == 2
        for line in lines:
            bounds = np.array(line.phrases)
            assert (bounds[1:, 0] >= bounds[:-1, 1] + 0.2 - 1e-9).all()   # never overlaps itself
        events = sorted((a, v) for v, line in enumerate(lines) for a, _ in line.phrases)
        assert all(v1 != v2 for (_, v1), (_, v2) in zip(events, events[1:]))  # turns alternate
        starters.add(events[0][1])
        overlaps = [e - s2 for (s1, _), (s2, _) in zip(events, events[1:])
                    for (a, e) in [next(p for line in lines for p in line.phrases if p[0] == s1)]]
        assert max(overlaps) <= da.CALL_OVERLAP_S[1] + 1e-9
    assert starters == {0, 1}


def test_shadow_repeats_each_phrase_late_with_the_leader_drawn_per_phrase():
    leaders = []
    for seed in range(6):
        a, b = da.compose_shadow_lines(np.random.default_rng(seed), 12.0)
        np.testing.assert_array_equal(a.note_semitones, b.note_semitones)
        delays = b.note_starts - a.note_starts
        for (sa, _), (sb, _) in zip(a.phrases, b.phrases):
            delay = sb - sa
            assert da.SHADOW_DELAY_S[0] <= abs(delay) <= da.SHADOW_DELAY_S[1]
            leaders.append(delay > 0)
        assert np.all(np.abs(delays) >= da.SHADOW_DELAY_S[0] - 1e-9)
    assert 0.25 < np.mean(leaders) < 0.75


def test_singers_write_their_syllable_alignments_and_the_violinist_does_not(scene_root):
    """Text as the cue in the duet: both singers have the same voice, and each one's alignment
    marks exactly its own notes (the ground truth's notes, heard until the next own note)."""
    splits = json.loads((scene_root / scenes.SPLITS_FILE).read_text(encoding="utf-8"))
    for key, scene in splits["scenes"].items():
        truth = json.loads((scene_root / key / GROUND_TRUTH_NAME).read_text(encoding="utf-8"))
        for name, performer in truth["performers"].items():
            path = scene_root / key / name / sy.ALIGNMENT_NAME
            if not performer.get("syllables"):
                assert not path.exists(), path
                continue
            assert performer["timbre"] == "voice"
            alignment = sy.load_alignment(path)
            notes = performer["notes"]
            starts = np.array(notes["starts_s"])
            ends = np.minimum(starts + np.array(notes["durations_s"]), SECONDS)
            heard = [(a, min(e, *starts[i + 1:], np.inf), y) for i, (a, e, y)
                     in enumerate(zip(starts, ends, notes["svara"]))]
            heard = sorted((a, e, y) for a, e, y in heard if e > a)
            np.testing.assert_allclose(alignment.starts, [h[0] for h in heard], atol=1e-6)
            np.testing.assert_allclose(alignment.ends, [h[1] for h in heard], atol=1e-6)
            assert list(alignment.syllables) == [h[2] for h in heard]
        singers = {n for n, p in truth["performers"].items() if p.get("syllables")}
        assert singers == ({"vocal", "singer"} if scene["kind"] == "duet" else {"vocal"})
        if scene["kind"] == "duet":
            # who sings when is in the alignments: the target's own stem is loud in its own
            # syllables and quiet (bleed) where only the other singer's alignment has one
            signal = stem(scene_root / key, "vocal")
            hop = da.SAMPLE_RATE // 100
            rms = np.sqrt(np.mean(signal[:len(signal) // hop * hop].reshape(-1, hop) ** 2, axis=1))
            centres = (np.arange(len(rms)) + 0.5) / 100
            own, other = (sy.alignment_posteriorgram(
                sy.load_alignment(scene_root / key / n / sy.ALIGNMENT_NAME), centres)[:, 0] == 0
                for n in ("vocal", "singer"))
            own_tail = sy.alignment_posteriorgram(sy.load_alignment(
                scene_root / key / "vocal" / sy.ALIGNMENT_NAME), centres - 0.2)[:, 0] == 0
            only_other = other & ~own & ~own_tail
            assert own.sum() > 50 and only_other.sum() > 20
            # measured 14-18x on the fixture's three duets (the -25 dB bleed alone is 17.8x)
            assert np.median(rms[own]) > 10 * np.median(rms[only_other])


def test_svara_syllables_name_the_raga_notes():
    assert da.svara_syllables([0, 1, 4, 5, 7, 8, 11, 12, -5]) == [
        "sa", "ri", "ga", "ma", "pa", "dha", "ni", "sa", "pa"]


# ------------------------------------------------------------------------------------------------
# Ground-truth keypoints
# ------------------------------------------------------------------------------------------------

def test_keypoints_are_pose_output_and_the_jaw_follows_the_own_stem(scene_root):
    """Each performer's keypoints load like pose output; in the duets the singer's chin (relative
    to the nose bridge) drops with the own stem's loudness, not with the other singer's."""
    import librosa

    splits = json.loads((scene_root / scenes.SPLITS_FILE).read_text(encoding="utf-8"))
    own, other = [], []
    for key, scene in splits["scenes"].items():
        song_dir = scene_root / key
        for name in ("vocal", "singer", "violin", "mridangam"):
            if not (song_dir / name).is_dir():
                continue
            pose = load_instrument_pose(song_dir, name)
            assert pose.keypoints.shape == (int(SECONDS * 30), 133, 2)
            assert pose.keypoints.dtype == np.float32 and pose.scores.shape == (int(SECONDS * 30), 133)
            assert pose.info["backend"] == scenes.POSE_BACKEND and "ground truth" in pose.info["model"]
            assert default_threshold(pose.info) == 0.5
            face = pose.keypoints[:, 23:91]
            assert 0.9 < np.isfinite(face).all(axis=-1).mean() < 1.0        # a few dropouts
            assert np.isnan(pose.keypoints[:, 91:]).all()                    # hands: not measured
        if scene["kind"] != "duet":
            continue
        for name, partner in (("vocal", "singer"), ("singer", "vocal")):
            pose = load_instrument_pose(song_dir, name)
            drop = pose.keypoints[:, 23 + 8, 1] - pose.keypoints[:, 23 + 27, 1]   # chin - nose top
            rms = {who: np.interp(np.arange(len(drop)) / 30.0,
                                  librosa.times_like(r := librosa.feature.rms(
                                      y=stem(song_dir, who).astype(np.float32), hop_length=1024)[0],
                                      sr=da.SAMPLE_RATE, hop_length=1024), r)
                   for who in (name, partner)}
            ok = np.isfinite(drop)
            own.append(np.corrcoef(drop[ok], rms[name][ok])[0, 1])
            other.append(np.corrcoef(drop[ok], rms[partner][ok])[0, 1])
    assert min(own) > 0.6 and max(other) < min(own) - 0.3, (own, other)


def test_landmarks_land_where_the_backward_warp_shows_them():
    """``landmarks_in_frame`` inverts the sprite's backward warp: src(y) = p to 0.01 px."""
    renderer = dv.PerformerRenderer("vocal", dv.SLOT_CENTRES_X[1], "violin",
                                    scenes.SCENE_MOTION["vocal"])
    points, _ = load_sprite_landmarks("violin")
    known = np.isfinite(points).all(axis=1)
    state = dv.performer_states("vocal", np.array([0.9]), rms=np.array([1.4]),
                                amplitudes=scenes.SCENE_MOTION["vocal"])[0]
    frame_points = renderer.landmarks_in_frame(state, dv.PAN_MARGIN, points)
    assert np.isnan(frame_points[~known]).all()
    m = renderer.affine(state, dv.PAN_MARGIN)
    in_sprite = np.linalg.solve(m[:, :2], (frame_points[known] - m[:, 2]).T).T
    np.testing.assert_allclose(renderer.source_of(state, in_sprite), points[known], atol=0.01)
    chin = int(np.flatnonzero(known).tolist().index(23 + 8))           # iBUG point 8 among the known
    moved = in_sprite[chin] - points[known][chin]
    assert moved[1] > 0.5 * scenes.SINGER_JAW_PX * 1.4      # the jaw dropped by most of its shift


def test_sprite_landmarks_record_their_sprite_source(monkeypatch):
    for key in dv.SPRITE_SOURCES:
        points, scores = load_sprite_landmarks(key)
        assert points.shape == (133, 2) and scores.shape == (133,)
        assert np.isfinite(points[23:91]).all()           # every sprite's face was found
        assert sprite_source_record(key)["image"] == dv.SPRITE_SOURCES[key].image
    from dataclasses import replace

    monkeypatch.setitem(dv.SPRITE_SOURCES, "vocal", replace(dv.SPRITE_SOURCES["vocal"], scale=1.1))
    with pytest.raises(ValueError, match="changed since its landmarks were measured"):
        load_sprite_landmarks("vocal")


def test_ground_truth_keypoints_agree_with_mediapipe_on_the_rendered_video(tmp_path):
    """Render a short duet with video, run MediaPipe Holistic on each singer's crop of one frame:
    its 68 face points lie within a few pixels of the generator's keypoints (what a real pose
    estimator would have written)."""
    import mediapipe as mp

    from core.video import iter_frames
    from pose_estimation.mapping import holistic_to_wholebody, landmarks_to_array

    song_dir = tmp_path / "duet"
    truth = scenes.generate_scene(scenes.SCENE_KINDS["duet"], song_dir, 30001, seconds=1.0,
                                  render=True)
    written = {name: np.load(song_dir / name / "keypoints.npy") for name in ("vocal", "singer")}
    frame_index = next(f for f in range(10, 30)                  # a frame without a face dropout
                       if all(np.isfinite(k[f, 23:91]).all() for k in written.values()))
    frame = next(f for i, f in iter_frames(song_dir / "video.mov") if i == frame_index)
    for name in ("vocal", "singer"):
        x0, y0, x1, y1 = np.array(truth["performers"][name]["boxes"][frame_index]).astype(int)
        crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
        with mp.solutions.holistic.Holistic(static_image_mode=True,
                                            min_detection_confidence=0.3) as holistic:
            result = holistic.process(crop)
        found, _ = holistic_to_wholebody(None, landmarks_to_array(result.face_landmarks), None, None,
                                         (x0, y0, x1 - x0, y1 - y0))
        assert np.isfinite(found[23:91]).all(), f"MediaPipe found no face for {name}"
        error = np.linalg.norm(found[23:91] - written[name][frame_index, 23:91], axis=1)
        assert np.median(error) < 3.0 and error.max() < 10.0, (name, np.median(error), error.max())


def test_appearance_scenes_tie_the_register_to_the_photograph_and_stand_still(tmp_path):
    """``appearance``: the query wears either photograph (both occur over a few seeds), the
    ``violin`` photograph's singer sings exactly an octave above the ``vocal`` one's notes, the other
    singer wears the other photograph, and nobody moves (keypoints vary by detection noise only)."""
    kind = scenes.SCENE_KINDS["appearance"]
    worn = []
    for seed in range(6):
        truth = scenes.generate_scene(kind, tmp_path / f"s{seed}", seed, seconds=5.0)
        performers = truth["performers"]
        assert {performers["vocal"]["appearance"], performers["singer"]["appearance"]} == \
            {"vocal", "violin"}
        worn.append(performers["vocal"]["appearance"])
        for name in ("vocal", "singer"):
            notes = np.asarray(performers[name]["notes"]["semitones"])
            shift = 12 if performers[name]["appearance"] == "violin" else 0
            assert np.isin(notes - shift, da.raga_notes()).all()
            # every singer writes its alignment (the kinds benchmark's text row reads it)
            alignment = sy.load_alignment(tmp_path / f"s{seed}" / name / sy.ALIGNMENT_NAME)
            assert performers[name]["syllables"] and len(alignment.syllables) > 0
            assert notes.min() >= da.VOCAL_LOWEST + shift and notes.max() <= da.VOCAL_HIGHEST + shift
            pose = load_instrument_pose(tmp_path / f"s{seed}", name)
            body = pose.keypoints[:, :13]
            spread = np.nanstd(body, axis=0)                          # per point and axis, pixels
            assert np.nanmax(spread) < 3 * scenes.JITTER_PX["body"], np.nanmax(spread)
    assert set(worn) == {"vocal", "violin"}, worn
    # the same scene without the register rule: the same lines, the violin wearer's 12 lower
    from dataclasses import replace

    plain = scenes.generate_scene(replace(kind, register_by_appearance=()), tmp_path / "plain", 0,
                                  seconds=5.0)["performers"]
    shifted = scenes.generate_scene(kind, tmp_path / "s0b", 0, seconds=5.0)["performers"]
    for name in ("vocal", "singer"):
        shift = 12 if shifted[name]["appearance"] == "violin" else 0
        assert np.array_equal(np.asarray(shifted[name]["notes"]["semitones"]),
                              np.asarray(plain[name]["notes"]["semitones"]) + shift)
    # the transposition itself: +12 semitones on every note and gamaka neighbour
    line = da.compose_call_and_response(np.random.default_rng(0), 5.0)[0]
    up = scenes.transpose(line, 12)
    assert np.array_equal(up.note_semitones, line.note_semitones + 12)
    assert np.array_equal(np.isnan(up.gamaka), np.isnan(line.gamaka))
    assert scenes.transpose(line, 0) is line


def test_syllables_scenes_leave_the_alignment_as_the_only_cue(tmp_path):
    """``syllables``: two still singers with the same voice, register and photograph; each writes
    its own alignment, and the two alignments differ (the cue is there, and only there)."""
    kind = scenes.SCENE_KINDS["syllables"]
    for seed in (0, 1):
        truth = scenes.generate_scene(kind, tmp_path / f"s{seed}", seed, seconds=5.0)
        performers = truth["performers"]
        assert truth["same_timbre"] and truth["kind"]["still"]
        alignments = {}
        for name in ("vocal", "singer"):
            p = performers[name]
            assert (p["timbre"], p["appearance"], p["still"], p["syllables"]) == (
                "voice", "vocal", True, True)
            notes = np.asarray(p["notes"]["semitones"])
            assert np.isin(notes, da.raga_notes()).all()
            assert notes.min() >= da.VOCAL_LOWEST and notes.max() <= da.VOCAL_HIGHEST
            pose = load_instrument_pose(tmp_path / f"s{seed}", name)
            assert np.nanmax(np.nanstd(pose.keypoints[:, :13], axis=0)) < 3 * scenes.JITTER_PX["body"]
            alignments[name] = sy.load_alignment(tmp_path / f"s{seed}" / name / sy.ALIGNMENT_NAME)
        times = np.arange(0, 5.0, 0.01)
        a, b = (sy.alignment_posteriorgram(alignments[n], times).argmax(1)
                for n in ("vocal", "singer"))
        assert (a != b).mean() > 0.3


def test_occluded_scenes_hide_the_query_once_per_chunk_from_their_own_random_stream(tmp_path):
    """``occluded``: per 4-s chunk one stretch of 0.5-0.8 s (clipped at the end) in which every
    point of the query is missing, exactly the frames inside it; the shadowing violinist stays
    seen; the audio and the other keypoints are the scene's without the occlusion."""
    from dataclasses import replace

    kind = scenes.SCENE_KINDS["occluded"]
    assert [p.timbre for p in kind.performers[:2]] == ["voice", "voice"]
    for seed in (0, 1):
        folder = tmp_path / f"o{seed}"
        truth = scenes.generate_scene(kind, folder, seed, seconds=9.0)
        intervals = truth["performers"]["vocal"]["occluded_s"]
        assert "occluded_s" not in truth["performers"]["violin"]
        # one in each whole chunk (0-4 s, 4-8 s); the last, partial chunk's only if it starts
        # before the end
        assert len(intervals) in (2, 3)
        for c, (start, end) in enumerate(intervals):
            assert 4 * c <= start < end <= min(4 * c + 4, 9.0)
            if end < 9.0:
                assert 0.5 - 1e-6 <= end - start <= 0.8 + 1e-6
        pose = load_instrument_pose(folder, "vocal")
        times = np.arange(len(pose.keypoints)) / dv.FPS
        hidden = np.zeros(len(times), bool)
        for start, end in intervals:
            hidden |= (times >= start - 1e-6) & (times < end - 1e-6)
        gone = np.isnan(pose.keypoints).all(axis=(1, 2)) & (pose.scores == 0).all(axis=1)
        np.testing.assert_array_equal(gone, hidden)
        violin = load_instrument_pose(folder, "violin")
        assert not np.isnan(violin.keypoints[hidden]).all(axis=(1, 2)).any()
        plain = tmp_path / f"p{seed}"
        scenes.generate_scene(replace(kind, occlude_target_s=()), plain, seed, seconds=9.0)
        for name in ("mixture.wav", "vocal_close.wav", "violin/keypoints.npy",
                     "mridangam/keypoints.npy"):
            assert (folder / name).read_bytes() == (plain / name).read_bytes(), name
        unoccluded = load_instrument_pose(plain, "vocal")
        np.testing.assert_array_equal(pose.keypoints[~hidden], unoccluded.keypoints[~hidden])
