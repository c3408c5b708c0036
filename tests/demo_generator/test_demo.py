"""The demo concert generator (``demo_generator``): files, layout, ground truth, music.

One short dataset (every song cut to ``SECONDS``) is generated per module through the real CLI
and inspected by the tests; only the determinism test renders one more song.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli
from core.dataset import find_stems
from core import syllables as sy
from core.metadata import load_metadata, skip_reason
from core.video import iter_frames, probe_video
from demo_generator import audio as da
from demo_generator import concerts as demo
from demo_generator import video as dv

SECONDS = 2.0
N_FRAMES = int(SECONDS * 30)


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_cli") / "demo data"
    run_cli("demo_generator.main", str(out), "--seconds", str(SECONDS), check=True)
    return out


def song_dirs(root):
    return {f"{s.artist}/{s.song}": root / s.artist / s.song for s in demo.DEMO_SONGS}


def truth_of(song_dir) -> dict:
    return json.loads((song_dir / demo.GROUND_TRUTH_NAME).read_text(encoding="utf-8"))


def frame_onset_envelope(signal: np.ndarray, sr: int, n_frames: int, fps: float = 30.0):
    """Published audio feature, computed here independently of the generator: librosa
    onset_strength (hop 1024) linearly interpolated to the video frame times f / fps."""
    import librosa

    env = librosa.onset.onset_strength(y=signal.astype(np.float32), sr=sr, hop_length=1024)
    times = librosa.frames_to_time(np.arange(len(env)), sr=sr, hop_length=1024)
    return np.interp(np.arange(n_frames) / fps, times, env)


def load_instrument(song_dir, instrument):
    """(samples,) the instrument's stems averaged (two mridangam mics), and the sample rate."""
    signals, rates = zip(*(sf.read(str(p), dtype="float64") for p in find_stems(song_dir, instrument)))
    assert set(rates) == {da.SAMPLE_RATE}
    return np.mean(signals, axis=0), rates[0]


# ------------------------------------------------------------------------------------------------
# Metadata and files
# ------------------------------------------------------------------------------------------------

def test_metadata_has_the_published_shape_and_the_special_songs(demo_root):
    raw = json.loads((demo_root / "dataset_metadata.json").read_text(encoding="utf-8"))
    assert set(raw) == {"Demo Artist A", "Demo Artist B"}
    assert "Varnam Śrī" in raw["Demo Artist A"]                    # space + non-ASCII in a path
    fields = {"layout", "moving_camera", "fps", "duration", "correct_body_detection",
              "face_false_positive_frames"}
    songs = load_metadata(demo_root / "dataset_metadata.json")
    assert len(songs) == len(demo.DEMO_SONGS) >= 4
    for song in songs:
        entry = raw[song.artist][song.song]
        assert set(entry) == fields
        assert entry["correct_body_detection"] is True
        assert sorted(song.instruments) == ["mridangam", "violin", "vocal"]
        assert entry["duration"] >= SECONDS and int(30 * entry["duration"]) == N_FRAMES
        assert (demo_root / song.artist / song.song / demo.VIDEO_NAME).is_file()  # files exist
    layouts = [s.layout for s in songs]
    assert layouts.count(("mridangam", "vocal", "violin")) >= len(songs) - 1
    assert ("violin", "vocal", "mridangam") in layouts
    assert [s.key for s in songs if s.moving_camera] == ["Demo Artist B/Tillana Pan"]
    null_fps = [s for s in songs if s.fps is None]
    assert [s.key for s in null_fps] == ["Demo Artist B/Alapana No Fps"]
    assert skip_reason(null_fps[0]) == "null fps in metadata"
    assert all(s.fps == 30.0 for s in songs if s is not null_fps[0])
    assert [s.face_false_positive_frames for s in songs if s.face_false_positive_frames] == [((10, 20),)]


def test_every_wav_is_48k_mono_with_the_song_duration(demo_root):
    for key, song_dir in song_dirs(demo_root).items():
        names = sorted(p.name for p in song_dir.glob("*.wav"))
        assert names == ["mixture.wav", "mridangam_left.wav", "mridangam_right.wav",
                         "violin_close.wav", "vocal_close.wav"], key
        for name in names:
            info = sf.info(str(song_dir / name))
            assert (info.samplerate, info.channels) == (48_000, 1), (key, name)
            assert info.frames == int(SECONDS * 48_000), (key, name)
        assert [p.name for p in find_stems(song_dir, "mridangam")] == ["mridangam_left.wav",
                                                                      "mridangam_right.wav"]
        stems = {i: load_instrument(song_dir, i)[0] for i in ("vocal", "violin", "mridangam")}
        for instrument, signal in stems.items():
            assert 0.02 < np.sqrt(np.mean(signal ** 2)) and np.abs(signal).max() <= 1.0, instrument
        # the mixture is the sum of the stems (mics averaged) plus a quiet drone
        mixture, _ = sf.read(str(song_dir / "mixture.wav"), dtype="float64")
        residual = mixture - sum(stems.values())
        assert np.sqrt(np.mean(residual ** 2)) < 0.2 * np.sqrt(np.mean(mixture ** 2)), key


def test_video_is_1280x720_30fps_h264_with_one_frame_per_30th_second(demo_root):
    for key, song_dir in song_dirs(demo_root).items():
        info = probe_video(song_dir / demo.VIDEO_NAME, count_frames=True)
        assert (info.width, info.height, info.codec) == (1280, 720, "h264"), key
        assert info.fps == pytest.approx(30.0) and info.n_frames == N_FRAMES, key


# ------------------------------------------------------------------------------------------------
# Ground truth
# ------------------------------------------------------------------------------------------------

def test_ground_truth_boxes_are_in_frame_ordered_and_disjoint(demo_root):
    for key, song_dir in song_dirs(demo_root).items():
        truth = truth_of(song_dir)
        assert (truth["fps"], truth["n_frames"], truth["width"], truth["height"]) == (30, N_FRAMES,
                                                                                   1280, 720)
        by_position = sorted(truth["performers"].items(), key=lambda kv: kv[1]["position"])
        assert [inst for inst, _ in by_position] == truth["layout"]
        boxes = np.array([p["boxes"] for _, p in by_position])            # (3, F, 4)
        faces = np.array([p["face_centre"] for _, p in by_position])      # (3, F, 2)
        assert boxes.shape == (3, N_FRAMES, 4) and faces.shape == (3, N_FRAMES, 2)
        assert (boxes[..., 0] >= 0).all() and (boxes[..., 2] <= 1280).all(), key
        assert (boxes[..., 1] >= 0).all() and (boxes[..., 3] <= 720).all(), key
        width, height = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
        assert (width > 300).all() and (height > 440).all(), key            # large enough to detect
        # left to right and no overlap: each box ends before the next one starts
        assert (boxes[:-1, :, 2] < boxes[1:, :, 0]).all(), key
        inside = ((faces[..., 0] > boxes[..., 0]) & (faces[..., 0] < boxes[..., 2])
                  & (faces[..., 1] > boxes[..., 1]) & (faces[..., 1] < boxes[..., 1] + height / 2))
        assert inside.all(), key                                           # faces in the upper half


def test_moving_camera_shifts_every_box_by_the_camera_offset(demo_root):
    truth = truth_of(song_dirs(demo_root)["Demo Artist B/Tillana Pan"])
    static = truth_of(song_dirs(demo_root)["Demo Artist A/Varnam Śrī"])
    camera = np.array(truth["camera_offset_px"], dtype=float)
    assert np.ptp(camera) > 5 and (np.array(static["camera_offset_px"]) == 0).all()
    checked = 0
    for instrument, performer in truth["performers"].items():
        boxes = np.array(performer["boxes"])
        if (boxes[:, 0] <= 0).any() or (boxes[:, 2] >= 1280).any():
            continue                                    # clipped at the frame edge
        # rotating the sprite by theta about its bottom centre moves the box centre by
        # h sin(theta) / 2 (h = sprite height ~ box height); sway and camera move it rigidly
        theta = np.deg2rad(np.array(performer["rotation_deg"]))
        centre = (boxes[:, 0] + boxes[:, 2]) / 2
        rest = (centre - np.array(performer["sway_px"])[:, 0] + camera
                - (boxes[:, 3] - boxes[:, 1]) * np.sin(theta) / 2)
        assert np.ptp(rest) < 1.5, instrument
        checked += 1
    assert checked >= 1


def test_rendered_frame_shows_the_performers_where_the_truth_says(demo_root):
    """Pixels inside a performer's box differ from the empty stage; the gap between boxes shows it."""
    song_dir = song_dirs(demo_root)["Demo Artist A/Varnam Śrī"]
    truth = truth_of(song_dir)
    stage = dv.render_stage(dv.FRAME_WIDTH + 2 * dv.PAN_MARGIN)[:, dv.PAN_MARGIN:dv.PAN_MARGIN + 1280]
    _, frame = next(iter_frames(song_dir / demo.VIDEO_NAME))
    diff = np.abs(frame.astype(int) - stage.astype(int)).mean(axis=2)        # (720, 1280)
    covered = np.zeros(diff.shape, bool)
    for performer in truth["performers"].values():
        x0, y0, x1, y1 = np.round(performer["boxes"][0]).astype(int)
        assert diff[y0 + 20:y1 - 20, x0 + 20:x1 - 20].mean() > 25
        covered[max(y0 - 3, 0):y1 + 3, max(x0 - 3, 0):x1 + 3] = True
    assert diff[~covered].mean() < 6                       # elsewhere: the stage (+ codec noise)


# ------------------------------------------------------------------------------------------------
# Music (known answers)
# ------------------------------------------------------------------------------------------------

def test_mridangam_strokes_lie_on_the_adi_tala_grid_and_are_heard_there(demo_root):
    import librosa

    song_dir = song_dirs(demo_root)["Demo Artist A/Varnam Śrī"]
    score = truth_of(song_dir)["audio"]["mridangam"]
    step = 60.0 / (score["tempo_bpm"] * score["strokes_per_beat"])
    assert score["beats_per_cycle"] == 8 and 80 <= score["tempo_bpm"] <= 90
    assert score["grid_step_s"] == pytest.approx(step)
    times, grid = np.array(score["times_s"]), np.array(score["grid_index"])
    np.testing.assert_allclose(times, score["grid_offset_s"] + grid * step, atol=1e-9)
    assert len(times) >= 4 and (np.diff(grid) > 0).all()
    beats = grid[grid % score["strokes_per_beat"] == 0]            # every beat carries a stroke
    assert list(beats) == list(range(0, grid.max() + 1, score["strokes_per_beat"]))
    samam = [k for k, g in zip(score["kinds"], grid) if g % 32 == 0]
    assert set(samam) == {"tham"}

    signal, sr = load_instrument(song_dir, "mridangam")
    hop = 256
    onsets = librosa.onset.onset_detect(y=signal.astype(np.float32), sr=sr, hop_length=hop,
                                        units="time", backtrack=False)
    tolerance = 0.03
    heard = [np.min(np.abs(onsets - t)) < tolerance for t in times if t < SECONDS - 0.05]
    assert np.mean(heard) >= 0.9, (times, onsets)
    # no onsets off the grid (the first 50 ms left out: the noise floor starting from the
    # zero padding of the analysis frame reads as an onset at t ~ 0)
    assert all(np.min(np.abs(times - o)) < tolerance for o in onsets if o > 0.05), onsets


def test_vocal_pitch_follows_the_raga_inside_its_range(demo_root):
    import librosa

    song_dir = song_dirs(demo_root)["Demo Artist A/Varnam Śrī"]
    audio = truth_of(song_dir)["audio"]
    low, high = audio["vocal_f0_range_hz"]
    assert low == pytest.approx(146.83 * 2 ** (-5 / 12)) and high == pytest.approx(2 * 146.83)
    semitones = np.array(audio["vocal_note_semitones"])
    assert set(np.mod(semitones, 12).astype(int)) <= set(audio["raga_semitones"])
    assert np.all((semitones >= -5) & (semitones <= 12))

    signal, sr = load_instrument(song_dir, "vocal")
    f0 = librosa.yin(signal.astype(np.float32), fmin=80, fmax=400, sr=sr, frame_length=4096,
                     hop_length=1600, center=True)[:N_FRAMES]            # one per video frame
    rms = librosa.feature.rms(y=signal.astype(np.float32), frame_length=4096,
                              hop_length=1600)[0][:N_FRAMES]
    voiced = rms > 0.3 * rms.max()
    assert voiced.sum() >= 10
    measured = f0[voiced]
    assert np.all((measured > 0.97 * low) & (measured < 1.03 * high)), measured
    expected = np.array(audio["vocal_f0_hz_at_frames"])[:N_FRAMES][voiced]
    cents = 1200 * np.abs(np.log2(measured / expected))
    assert np.median(cents) < 30


def test_the_singer_writes_the_syllables_it_sings(demo_root):
    """Each song's ``vocal/syllables.tsv`` has one svara syllable per note of the ground truth,
    named by the pitch: the ground-truth f0 (semitones above the tonic) reaches the syllable's
    svara inside its interval; and the vocal stem is loud inside the syllables and quiet (noise
    floor and bleed) away from them."""
    loud_inside, loud_outside = [], []
    for song_dir in song_dirs(demo_root).values():
        audio = truth_of(song_dir)["audio"]
        alignment = sy.load_alignment(song_dir / "vocal" / sy.ALIGNMENT_NAME)
        np.testing.assert_allclose(alignment.starts, audio["vocal_note_starts_s"], atol=1e-6)
        assert set(alignment.syllables) <= set(sy.SVARA_SYLLABLES) and len(alignment) >= 2
        assert alignment.ends[-1] <= SECONDS + 1e-6
        f0 = np.array(audio["vocal_f0_hz_at_frames"])[:N_FRAMES]
        names = [da.SVARA_NAMES[int(round(12 * np.log2(f / audio["tonic_hz"]))) % 12] for f in f0]
        frame_t = np.arange(N_FRAMES) / 30.0
        for start, end, syllable in zip(alignment.starts, alignment.ends, alignment.syllables):
            if end - start < 0.15:              # a note cut by the song's end: no frame past the glide
                continue
            inside = (frame_t >= start) & (frame_t < end)
            assert syllable in {names[f] for f in np.flatnonzero(inside)}, (start, syllable)
        # loudness per 10 ms, against the frame rule of core.syllables
        signal, sr = load_instrument(song_dir, "vocal")
        hop = sr // 100
        rms = np.sqrt(np.mean(signal[:len(signal) // hop * hop].reshape(-1, hop) ** 2, axis=1))
        centres = (np.arange(len(rms)) + 0.5) / 100
        sung = sy.alignment_posteriorgram(alignment, centres)[:, 0] == 0
        near = sy.alignment_posteriorgram(alignment, centres - 0.2)[:, 0] == 0   # release tail
        loud_inside.append(rms[sung])
        loud_outside.append(rms[~sung & ~near & (centres > 0.05)])
    inside, outside = np.concatenate(loud_inside), np.concatenate(loud_outside)
    assert len(outside) > 20
    # measured (seed 0, 2 s): medians 0.13-0.19 inside, 0.003-0.007 outside, per song
    assert np.median(inside) > 10 * np.median(outside), (np.median(inside), np.median(outside))


def test_sung_syllables_follow_the_pitch_contour_when_a_later_note_takes_over():
    """Known answer on a constructed line: the second note is cut where the third (listed after it)
    starts, a note listed after one that starts later is not heard at all, the last is cut at
    the end; each syllable's interval has the note's pitch in ``vocal_pitch_contour``."""
    line = da.VocalLine(note_starts=np.array([0.0, 1.0, 2.2, 1.5, 3.0]),
                        note_durations=np.array([1.0, 1.0, 0.5, 1.0, 1.0]),
                        note_semitones=np.array([0.0, 4.0, 7.0, 5.0, 11.0]),
                        gamaka=np.full(5, np.nan), gamaka_rate_hz=np.full(5, 5.0))
    starts, ends, names = da.sung_syllables(line, end_s=3.5)
    np.testing.assert_allclose(starts, [0.0, 1.0, 1.5, 3.0])
    np.testing.assert_allclose(ends, [1.0, 1.5, 2.5, 3.5])
    assert names == ["sa", "ga", "ma", "ni"]                 # 7 (pa, at 2.2 s) is overwritten
    contour = da.vocal_pitch_contour(line, 4.0)
    for start, end, name in zip(starts, ends, names):
        middle = contour[int((start + da.GLIDE_S + 0.01) * 1000):int(end * 1000) - 1]
        assert {da.SVARA_NAMES[int(round(p)) % 12] for p in middle} == {name}
    sy.parse_alignment(sy.format_alignment(starts, ends, names))        # a valid alignment


def test_violin_shadows_the_vocal_line_with_a_delay():
    """The pitch tracks of the violin and vocal stems (measured with YIN) line up best when the
    violin's is moved ``VIOLIN_DELAY_S`` earlier."""
    import librosa

    seconds = 4.0
    audio = demo.synthesize_song_audio(np.random.SeedSequence([0, 1]), seconds,
                                       int(seconds * da.SAMPLE_RATE))
    hop = 480                                                            # 10 ms
    tracks = {}
    for instrument in ("vocal", "violin"):
        signal = audio.instrument_stem[instrument].astype(np.float32)
        f0 = librosa.yin(signal, fmin=90, fmax=400, sr=da.SAMPLE_RATE, frame_length=2048,
                         hop_length=hop)
        rms = librosa.feature.rms(y=signal, frame_length=2048, hop_length=hop)[0]
        tracks[instrument] = np.where(rms > 0.2 * rms.max(), 12 * np.log2(f0 / da.TONIC_HZ), np.nan)
    lags = np.arange(0, 61)                                              # 0 .. 0.6 s
    errors = []
    for lag in lags:
        a, b = tracks["vocal"][:len(tracks["vocal"]) - lag], tracks["violin"][lag:]
        both = np.isfinite(a) & np.isfinite(b)
        errors.append(np.median(np.abs(a[both] - b[both])) if both.sum() > 50 else np.inf)
    best = lags[int(np.argmin(errors))] * hop / da.SAMPLE_RATE
    assert 0.2 <= da.VIOLIN_DELAY_S <= 0.4
    assert abs(best - da.VIOLIN_DELAY_S) <= 0.04, (best, errors)
    assert min(errors) < 0.5                                   # semitones: the same melody


# ------------------------------------------------------------------------------------------------
# Animation driven by the own stem
# ------------------------------------------------------------------------------------------------

def test_each_performer_moves_with_their_own_stem(demo_root):
    """The ground-truth sway SPEED correlates with the own stem's onset envelope (computed here
    from the wav files) clearly more than with any other stem's, over all songs together. (Not 1:
    the speed dips to zero where a stroke turns back, and the central difference smears each
    stroke over 3 frames.)"""
    speeds, envelopes = {}, {}
    for song_dir in song_dirs(demo_root).values():
        truth = truth_of(song_dir)
        for instrument, performer in truth["performers"].items():
            signal, sr = load_instrument(song_dir, instrument)
            envelopes.setdefault(instrument, []).append(frame_onset_envelope(signal, sr, N_FRAMES))
            speeds.setdefault(instrument, []).append(
                np.abs(np.gradient(np.array(performer["sway_px"])[:, 0])))
    for instrument, speed in speeds.items():
        speed = np.concatenate(speed)
        r = {other: np.corrcoef(speed, np.concatenate(env))[0, 1] for other, env in envelopes.items()}
        own = r.pop(instrument)
        assert own > 0.45 and all(own > other + 0.2 for other in r.values()), (instrument, own, r)


def test_stroke_motion_speed_is_the_driver_times_a_constant():
    rng = np.random.default_rng(0)
    t = np.arange(300)
    driver = np.clip(np.sin(2 * np.pi * t / 9.0), 0, None) * rng.uniform(0.3, 1.5, 300)
    m = dv.stroke_motion(driver)
    assert m[0] == 0 and np.abs(m).max() <= 1.0 + 1e-12 and np.abs(m).max() > 0.5
    step = np.abs(np.diff(m))
    trapezoid = 0.5 * (driver[1:] + driver[:-1])
    moving = trapezoid > 1e-9
    ratio = step[moving] / trapezoid[moving]
    # the same k everywhere, except frames where the coordinate bounced off +-1
    assert np.median(np.abs(ratio / np.median(ratio) - 1)) < 1e-9
    assert np.mean(np.abs(ratio / np.median(ratio) - 1) < 1e-9) > 0.9
    np.testing.assert_allclose(step[~moving], 0.0, atol=1e-8)  # no driver, no motion
    # strokes alternate: the coordinate turns back at driver minima
    assert (np.diff(np.sign(np.diff(m[m != 0]))) != 0).sum() >= 10
    np.testing.assert_array_equal(dv.stroke_motion(np.zeros(50)), np.zeros(50))


def test_motion_driver_scales_the_95th_percentile_to_one():
    env = np.r_[np.zeros(80), np.full(20, 4.0)]          # P95 = 4
    driver = dv.motion_driver(env, sigma_frames=0.0 + 1e-6)
    np.testing.assert_allclose(driver[:79], 0, atol=1e-9)
    np.testing.assert_allclose(driver[81:], 1.0, atol=1e-9)
    np.testing.assert_array_equal(dv.motion_driver(np.zeros(10)), np.zeros(10))


# ------------------------------------------------------------------------------------------------
# Determinism, skipping, CLI
# ------------------------------------------------------------------------------------------------

def test_same_seed_same_bytes_other_seed_other_music(demo_root, tmp_path):
    index = 0
    song = demo.DEMO_SONGS[index]
    first = song_dirs(demo_root)[f"{song.artist}/{song.song}"]
    again = tmp_path / "again"
    demo.generate_song(song, again, np.random.SeedSequence([0, index]), N_FRAMES)
    for name in ["vocal_close.wav", "violin_close.wav", "mridangam_left.wav",
                 "mridangam_right.wav", "mixture.wav", demo.GROUND_TRUTH_NAME, demo.VIDEO_NAME,
                 f"vocal/{sy.ALIGNMENT_NAME}"]:
        assert (again / name).read_bytes() == (first / name).read_bytes(), name
    other = demo.synthesize_song_audio(np.random.SeedSequence([1, index]), song.seconds,
                                       N_FRAMES * demo.SAMPLES_PER_FRAME)
    written, _ = sf.read(str(first / "vocal_close.wav"), dtype="float64")
    assert np.abs(other.stems["vocal_close.wav"] - written).max() > 0.1
    # the metadata is a pure function of the song list and the length
    meta = json.loads((demo_root / "dataset_metadata.json").read_text(encoding="utf-8"))
    assert meta[song.artist][song.song] == json.loads(json.dumps(demo.song_metadata(song, N_FRAMES)))


def test_complete_dataset_is_skipped_and_settings_are_checked(demo_root, caplog):
    video = song_dirs(demo_root)["Demo Artist A/Varnam Śrī"] / demo.VIDEO_NAME
    before = video.stat().st_mtime_ns
    assert demo.is_complete(demo_root, seed=0, seconds=SECONDS)
    assert not demo.is_complete(demo_root, seed=1, seconds=SECONDS)
    assert not demo.is_complete(demo_root, seed=0, seconds=None)
    with caplog.at_level("INFO"):
        assert demo.generate_demo(demo_root, seconds=SECONDS) == demo_root
    assert "complete" in caplog.text and video.stat().st_mtime_ns == before
    assert not any(p.name.startswith(".") and p.name != demo.COMPLETE_MARKER
                   for p in demo_root.rglob("*"))                       # no temp files left


def test_cli_help_and_bad_arguments():
    result = run_cli("demo_generator.main", "--help", check=True)
    assert "--seconds" in result.stdout and "--seed" in result.stdout and "-f" in result.stdout
    with pytest.raises(ValueError):
        demo.generate_demo("unused", seconds=0)
    with pytest.raises(ValueError):
        demo.generate_demo("unused", seconds=math.nan)


def test_regeneration_removes_outputs_computed_from_the_old_demo(tmp_path):
    root = demo.generate_demo(tmp_path / "demo", seconds=0.2)
    song_dir = song_dirs(root)["Demo Artist A/Varnam Śrī"]
    stale_pose = song_dir / "pose_estimation_30fps.pkl"
    stale_result = root / "results" / "correlation" / "aggregated_strong_windows.json"
    unrelated = root / "notes.txt"
    for path in (stale_pose, stale_result, unrelated):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("old")
    demo.generate_demo(root, seconds=0.2, force=True)
    assert not stale_pose.exists() and not stale_result.exists()
    assert unrelated.read_text() == "old"            # only the demo's own folders are replaced
    assert (song_dir / demo.VIDEO_NAME).exists() and demo.is_complete(root, seconds=0.2)
