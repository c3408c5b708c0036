"""Generate a small synthetic Carnatic-concert dataset (video, stems, metadata, ground truth).

Usage::

    python -m demo_generator.main OUT_DIR [--seconds S] [--seed N] [-f]

Layout written (see docs/CONTRACTS.md, "Demo dataset")::

    OUT_DIR/dataset_metadata.json
    OUT_DIR/<Artist>/<Song>/video.mov            1280x720, 30 fps, H.264
    OUT_DIR/<Artist>/<Song>/vocal_close.wav      48 kHz mono PCM_16
    OUT_DIR/<Artist>/<Song>/violin_close.wav
    OUT_DIR/<Artist>/<Song>/mridangam_left.wav   two mridangam mics (users average them)
    OUT_DIR/<Artist>/<Song>/mridangam_right.wav
    OUT_DIR/<Artist>/<Song>/mixture.wav          vocal + violin + mean(mridangam mics) + drone
    OUT_DIR/<Artist>/<Song>/demo_ground_truth.json
    OUT_DIR/<Artist>/<Song>/vocal/syllables.tsv  what the singer sings (core.syllables alignment)
    OUT_DIR/.demo_complete.json                  written last; a complete dataset is not redone

Songs (``DEMO_SONGS``) exercise the pipeline's special cases: a non-ASCII song name with a space, a
reversed layout, a moving camera (``moving_camera: true``) and a song whose metadata has
``fps: null`` (its files exist; stages must skip it with a reason).

Audio (``demo_generator.audio``) and animation (``demo_generator.video``) are documented in their modules. Each
performer moves with ITS OWN stem: ``driver = motion_driver(onset_envelope(stem))``, where the
onset envelope is librosa's ``onset_strength`` (hop 1024 at 48 kHz) linearly interpolated to the
video frame times ``f / fps`` (the published audio-feature definition), and the mridangam stem is
the mean of its two microphone files. The driver sets the SPEED of the performer's motion
coordinate (``demo_generator.video.stroke_motion``: one stroke per onset, alternating direction), which
scales the sway, rotation, head nod and tilt and the violinist's bow travel; so the keypoint speeds
that the feature stage measures follow the own stem's onset envelope. The singer's jaw drops with
the vocal stem's RMS (frame 2048, hop 1024, / its 95th percentile). Each microphone has its own noise
floor (``MIC_NOISE_DB``) so that the -25 dB bleed does not give every stem the others' onsets
during its rests.

Ground truth per performer (besides the contract's ``position``, ``boxes``, ``face_centre``):
``driver`` (F,), ``motion_coordinate`` (F,) in [-1, 1], ``sway_px`` (F, 2), ``rotation_deg`` (F,),
``head_roll_deg`` (F,), ``<region>_shift_px`` (F, 2) for the local warps (head, jaw, arm),
``source_image``; per song the camera offset and the score (vocal notes and f0, bow
changes and bow position, mridangam strokes on the tala grid).

Sung syllables: the singer knows what it sings, so each song has the vocalist's syllable alignment
``vocal/syllables.tsv`` (``core.syllables``): one svara syllable per note, named by the note's
pitch relative to the tonic (``audio.svara_syllables``: sa ri ga ma pa dha ni), over the time the
note is heard (``audio.sung_syllables``), cut at the song's end; rests are silence.

Determinism: every random draw comes from ``numpy.random.SeedSequence([seed, song index])``, so the
same seed gives byte-identical wavs, metadata and ground truth; libx264 is deterministic for
identical input and settings.
"""
from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import save_wav
from core.io import atomic_path, load_json, save_json
from core.log import progress
from core.metadata import duration_for_frames
from core.syllables import ALIGNMENT_NAME, save_alignment
from core.threads import one_blas_thread

from . import audio as da
from . import video as dv

log = logging.getLogger(__name__)

# 3: benchmark scenes (demo_generator.scenes), shared close-mic mixer; 4: singers' syllable
# alignments (a dataset of version 3 lacks them and is regenerated); 5: the ``appearance`` scenes'
# singers write theirs too (every scene kind's singers do: the kinds benchmark has a text row), and
# BLAS on one thread (keypoints and motion no longer depend on OMP_NUM_THREADS in their last bits)
GENERATOR_VERSION = 5
COMPLETE_MARKER = ".demo_complete.json"
GROUND_TRUTH_NAME = "demo_ground_truth.json"
VIDEO_NAME = "video.mov"
SAMPLES_PER_FRAME = da.SAMPLE_RATE // dv.FPS          # 1600: frames and samples line up exactly
# Source levels before the common normalisation (linear gains).
LEVELS = {"vocal": 0.5, "violin": 0.35, "mridangam": 0.45, "drone": 0.05}
STEM_FILES = {"vocal": ("vocal_close.wav",), "violin": ("violin_close.wav",),
              "mridangam": ("mridangam_left.wav", "mridangam_right.wav")}
MIXTURE_NAME = "mixture.wav"
PEAK = 0.9
# Self-noise + room noise of every microphone (white, independent per mic), dB re full scale (rms).
# Without it the stems are digitally silent between notes, and onset_strength (spectral flux of
# the dB mel spectrogram) shows the -25 dB bleed of the other instruments there at full contrast,
# making the stems' onset envelopes (and so the performers' drivers) needlessly alike.
MIC_NOISE_DB = -50.0


@dataclass(frozen=True)
class DemoSong:
    artist: str
    song: str
    seconds: float
    layout: tuple[str, ...]
    moving_camera: bool = False
    fps_known: bool = True                       # False -> "fps": null in the metadata
    face_false_positive_frames: tuple[tuple[int, int], ...] = ()


DEMO_SONGS = (
    DemoSong("Demo Artist A", "Varnam Śrī", 14.0, ("mridangam", "vocal", "violin"),
             face_false_positive_frames=((10, 20),)),
    DemoSong("Demo Artist A", "Kriti Reversed", 12.0, ("violin", "vocal", "mridangam")),
    DemoSong("Demo Artist B", "Tillana Pan", 10.0, ("mridangam", "vocal", "violin"),
             moving_camera=True),
    DemoSong("Demo Artist B", "Alapana No Fps", 10.0, ("mridangam", "vocal", "violin"),
             fps_known=False),
)


def frames_for(song: DemoSong, seconds: float | None) -> int:
    """Video frames of the (possibly cut) song: ``round(min(seconds, song length) * fps)``."""
    length = song.seconds if seconds is None else min(seconds, song.seconds)
    n = int(round(length * dv.FPS))
    if n < 1:
        raise ValueError(f"--seconds {seconds} leaves no video frame")
    return n


def song_metadata(song: DemoSong, n_frames: int) -> dict:
    return {"layout": list(song.layout), "moving_camera": song.moving_camera,
            "fps": float(dv.FPS) if song.fps_known else None,
            "duration": duration_for_frames(n_frames, dv.FPS),
            "correct_body_detection": True,
            "face_false_positive_frames": [list(r) for r in song.face_false_positive_frames]}


# ----------------------------------------------------------------------------------------------
# Audio
# ----------------------------------------------------------------------------------------------

@dataclass
class SongAudio:
    stems: dict[str, np.ndarray]        # file name -> (N,) float64 (already normalised and cut)
    mixture: np.ndarray
    instrument_stem: dict[str, np.ndarray]   # instrument -> the stem as users load it (mics averaged)
    vocal_line: da.VocalLine
    vocal_f0: np.ndarray                 # (N,) Hz (pitch also during rests: the held last note)
    bow: da.BowStrokes
    strokes: da.StrokeSchedule


def synthesize_song_audio(seed_seq: np.random.SeedSequence, full_seconds: float, n_samples: int
                          ) -> SongAudio:
    """All signals of one song, ``n_samples`` long. The score (notes, bow strokes, mridangam
    strokes) is composed for the full song, so a cut song plays the same music, only shorter."""
    rng_vocal, rng_violin, rng_mri, rng_drone, rng_noise = (np.random.default_rng(s)
                                                           for s in seed_seq.spawn(5))
    sr = da.SAMPLE_RATE
    line = da.compose_vocal_line(rng_vocal, full_seconds)
    vocal, f0 = da.synth_vocal(rng_vocal, line, n_samples, sr)
    bow = da.compose_bow_strokes(rng_violin, full_seconds)
    violin = da.synth_violin(rng_violin, line, bow, n_samples, sr)
    strokes = da.compose_mridangam(rng_mri, full_seconds)
    right_head, left_head = da.synth_mridangam(rng_mri, strokes, n_samples, sr)
    drone = da.tanpura_drone(rng_drone, n_samples, sr)

    stems, mixture = close_mic_recording(
        {"vocal_close.wav": LEVELS["vocal"] * vocal, "violin_close.wav": LEVELS["violin"] * violin},
        (LEVELS["mridangam"] * left_head, LEVELS["mridangam"] * right_head),
        LEVELS["drone"] * drone, rng_noise)
    by_instrument = {inst: np.mean([stems[f] for f in files], axis=0)
                     for inst, files in STEM_FILES.items()}
    return SongAudio(stems, mixture, by_instrument, line, f0, bow, strokes)


MRIDANGAM_MICS = ("mridangam_left.wav", "mridangam_right.wav")


def close_mic_recording(melodic: dict[str, np.ndarray],
                        mridangam_heads: tuple[np.ndarray, np.ndarray] | None,
                        drone: np.ndarray, rng_noise: np.random.Generator
                        ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Close-mic stems and the mixture of a stage of sources (all ``(N,)``, at their levels).

    ``melodic``: stem file name -> source, one microphone each; ``mridangam_heads``: (left head,
    right head) heard by the two mridangam mics ``MRIDANGAM_MICS`` with crosstalk between the heads
    (``4/3 (own + 0.5 other)``, so the two mics average to left + right head); ``drone``: only in
    the mixture. Every mic also hears every other source at ``BLEED_DB``. Then one gain brings the
    loudest of stems and mixture to ``PEAK``, each mic gets its own noise floor (``MIC_NOISE_DB``),
    and the mixture is the sum of the (noisy) stems, mridangam mics averaged, plus the drone.
    Returns ``(stems by file name, mixture)``.
    """
    g = da.db_to_gain(da.BLEED_DB)
    n = len(drone)
    mridangam = np.zeros(n) if mridangam_heads is None else mridangam_heads[0] + mridangam_heads[1]
    stems = {}
    for name, source in melodic.items():
        others = sum(other for key, other in melodic.items() if key != name)
        stems[name] = source + g * (others + mridangam)
    if mridangam_heads is not None:
        left_head, right_head = mridangam_heads
        everyone = sum(melodic.values())
        stems[MRIDANGAM_MICS[0]] = (4 / 3) * (left_head + 0.5 * right_head) + g * everyone
        stems[MRIDANGAM_MICS[1]] = (4 / 3) * (right_head + 0.5 * left_head) + g * everyone

    def mix(stems):
        total = sum(stems[name] for name in melodic)
        if mridangam_heads is not None:
            total = total + 0.5 * (stems[MRIDANGAM_MICS[0]] + stems[MRIDANGAM_MICS[1]])
        return total

    gain = PEAK / max(np.abs(x).max() for x in [mix(stems) + drone, *stems.values()])
    noise = da.db_to_gain(MIC_NOISE_DB)
    stems = {name: gain * x + noise * rng_noise.standard_normal(n) for name, x in stems.items()}
    return stems, mix(stems) + gain * drone


def frame_envelopes(signal: np.ndarray, n_frames: int, sr: int = da.SAMPLE_RATE,
                    fps: float = dv.FPS) -> tuple[np.ndarray, np.ndarray]:
    """(onset envelope (F,), rms (F,)) at video frame times, published definition (hop 1024,
    rms frame 2048), linearly interpolated from librosa's frame times to ``f / fps``."""
    import librosa

    hop = 1024
    onset = librosa.onset.onset_strength(y=signal.astype(np.float32), sr=sr, hop_length=hop)
    rms = librosa.feature.rms(y=signal.astype(np.float32), frame_length=2048, hop_length=hop)[0]
    frame_times = np.arange(n_frames) / fps
    onset_t = librosa.frames_to_time(np.arange(len(onset)), sr=sr, hop_length=hop)
    rms_t = librosa.frames_to_time(np.arange(len(rms)), sr=sr, hop_length=hop)
    return (np.interp(frame_times, onset_t, onset).astype(np.float64),
            np.interp(frame_times, rms_t, rms).astype(np.float64))


def own_stem_motion(signal: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How a performer moves with their own stem ``signal`` (the stem as users load it, mics
    averaged): ``(driver, motion coordinate, loudness)``, each ``(F,)``. ``driver`` =
    ``motion_driver(onset envelope)``, motion = ``stroke_motion(driver)``, loudness = frame RMS /
    its 95th percentile clipped to [0, 1.5] (what the singer's jaw follows)."""
    onset, rms = frame_envelopes(signal, n_frames)
    driver = dv.motion_driver(onset)
    p95 = np.percentile(rms, 95)
    level = np.clip(rms / p95, 0, 1.5) if p95 > 0 else np.zeros_like(rms)
    return driver, dv.stroke_motion(driver), level


# ----------------------------------------------------------------------------------------------
# One song
# ----------------------------------------------------------------------------------------------

def generate_song(song: DemoSong, song_dir: Path, seed_seq: np.random.SeedSequence,
                  n_frames: int) -> dict:
    """Write one song's wavs, video and ground truth; return its ground-truth dict. BLAS runs on
    one thread (``core.threads``), so the files do not depend on ``OMP_NUM_THREADS``."""
    with one_blas_thread():
        return _generate_song(song, song_dir, seed_seq, n_frames)


def _generate_song(song: DemoSong, song_dir: Path, seed_seq: np.random.SeedSequence,
                   n_frames: int) -> dict:
    n_samples = n_frames * SAMPLES_PER_FRAME
    audio = synthesize_song_audio(seed_seq, song.seconds, n_samples)
    for name, signal in audio.stems.items():
        save_wav(song_dir / name, signal, da.SAMPLE_RATE, subtype="PCM_16")
    save_wav(song_dir / MIXTURE_NAME, audio.mixture, da.SAMPLE_RATE, subtype="PCM_16")
    save_alignment(song_dir / "vocal" / ALIGNMENT_NAME,
                   *da.sung_syllables(audio.vocal_line, n_samples / da.SAMPLE_RATE))

    frame_times = np.arange(n_frames) / dv.FPS
    drivers, motions, rms_levels = {}, {}, {}
    for inst, signal in audio.instrument_stem.items():
        drivers[inst], motions[inst], rms_levels[inst] = own_stem_motion(signal, n_frames)
    bow = da.bow_position(audio.bow, frame_times)
    states = {inst: dv.performer_states(inst, motions[inst],
                                        rms=rms_levels[inst] if inst == "vocal" else None)
              for inst in STEM_FILES}
    renderers = {inst: dv.PerformerRenderer(inst, dv.SLOT_CENTRES_X[pos])
                 for pos, inst in enumerate(song.layout)}
    cameras = dv.camera_offsets(n_frames, song.moving_camera)

    boxes, faces = render_video(song_dir / VIDEO_NAME, renderers, states, cameras,
                                f"{song.artist}/{song.song}")

    performers = {}
    for pos, inst in enumerate(song.layout):
        st = states[inst]
        entry = {"position": pos, "source_image": renderers[inst].sprite.source,
                 "boxes": np.round(boxes[inst], 3), "face_centre": np.round(faces[inst], 3),
                 "driver": np.round(drivers[inst], 6),
                 "motion_coordinate": np.round(motions[inst], 6),
                 "sway_px": np.round([s.sway for s in st], 4),
                 "rotation_deg": np.round([s.rotation_deg for s in st], 5),
                 "head_roll_deg": np.round([s.head_roll_deg for s in st], 5)}
        for name, _ in (st[0].local_shifts if st else []):
            entry[f"{name}_shift_px"] = np.round([dict(s.local_shifts)[name] for s in st], 4)
        performers[inst] = entry
    end = n_frames / dv.FPS
    keep = audio.strokes.times < end
    strokes = da.StrokeSchedule(audio.strokes.times[keep], list(np.array(audio.strokes.kinds)[keep]),
                                audio.strokes.amplitudes[keep], audio.strokes.grid_index[keep],
                                audio.strokes.offset, audio.strokes.step)
    line = audio.vocal_line
    notes = line.note_starts < end
    truth = {
        "fps": dv.FPS, "n_frames": n_frames, "width": dv.FRAME_WIDTH, "height": dv.FRAME_HEIGHT,
        "layout": list(song.layout), "moving_camera": song.moving_camera,
        "camera_offset_px": cameras - dv.PAN_MARGIN,
        "performers": performers,
        "audio": {
            "sample_rate": da.SAMPLE_RATE, "n_samples": n_samples,
            "stems": {inst: list(files) for inst, files in STEM_FILES.items()},
            "mixture": MIXTURE_NAME,
            "mixture_definition": "vocal + violin + mean(mridangam mics) + tanpura drone",
            "tonic_hz": da.TONIC_HZ, "raga": da.RAGA_NAME, "raga_semitones": list(da.RAGA_SEMITONES),
            "vocal_f0_range_hz": list(da.VOCAL_F0_RANGE_HZ),
            "vocal_f0_hz_at_frames": np.round(audio.vocal_f0[::SAMPLES_PER_FRAME], 3),
            "vocal_phrases_s": [[a, b] for a, b in line.phrases if a < end],
            "vocal_note_starts_s": line.note_starts[notes],
            "vocal_note_semitones": line.note_semitones[notes],
            "violin_delay_s": da.VIOLIN_DELAY_S,
            "bow_change_times_s": audio.bow.starts[audio.bow.starts < end],
            "bow_position_at_frames": np.round(bow, 4),
            "mridangam": strokes.to_json(),
        },
    }
    save_json(song_dir / GROUND_TRUTH_NAME, truth, indent=None)
    return truth


def render_video(path: Path, renderers: dict[str, "dv.PerformerRenderer"],
                 states: dict[str, list], cameras: np.ndarray, desc: str
                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Write the H.264 ``.mov`` of performers ``renderers`` animated by ``states`` (per performer,
    one ``PerformerState`` per frame) under camera offsets ``cameras`` (F,); returns the
    ground-truth person boxes ``(F, 4)`` and face centres ``(F, 2)`` per performer."""
    from core.video import VideoWriter

    n_frames = len(cameras)
    stage = dv.render_stage(dv.FRAME_WIDTH + 2 * dv.PAN_MARGIN)
    boxes = {name: np.zeros((n_frames, 4)) for name in renderers}
    faces = {name: np.zeros((n_frames, 2)) for name in renderers}
    with atomic_path(path) as tmp:
        with VideoWriter(tmp, dv.FPS, dv.FRAME_WIDTH, dv.FRAME_HEIGHT, container_format="mov"
                         ) as writer:
            for f in progress(range(n_frames), desc=desc, unit="frame"):
                cam = int(cameras[f])
                frame = stage[:, cam:cam + dv.FRAME_WIDTH].copy()
                for name, renderer in renderers.items():
                    renderer.draw(frame, states[name][f], cam)
                    boxes[name][f], faces[name][f] = renderer.ground_truth(states[name][f], cam)
                writer.write(frame)
    return boxes, faces


# ----------------------------------------------------------------------------------------------
# Whole dataset
# ----------------------------------------------------------------------------------------------

def _marker_content(seed: int, seconds: float | None) -> dict:
    return {"generator_version": GENERATOR_VERSION, "seed": seed, "seconds": seconds,
            "songs": [f"{s.artist}/{s.song}" for s in DEMO_SONGS]}


def is_complete(out_dir: Path, seed: int = 0, seconds: float | None = None) -> bool:
    """True when ``out_dir`` holds a finished demo dataset made with these settings."""
    marker = Path(out_dir) / COMPLETE_MARKER
    if not marker.is_file():
        return False
    try:
        return load_json(marker) == json.loads(json.dumps(_marker_content(seed, seconds)))
    except (OSError, ValueError):
        return False


def _remove_previous_outputs(out_dir: Path) -> None:
    """Delete the demo's own song folders and ``results/`` (nothing else in ``out_dir``)."""
    stale = [out_dir / song.artist / song.song for song in DEMO_SONGS] + [out_dir / "results"]
    stale = [path for path in stale if path.exists()]
    if stale:
        log.warning("regenerating the demo in %s: removing the previous demo songs and results "
                    "(their pose, feature and separation outputs belong to the old inputs)", out_dir)
    for path in stale:
        shutil.rmtree(path)


def generate_demo(out_dir, seconds: float | None = None, seed: int = 0, force: bool = False
                  ) -> Path:
    """Generate the demo dataset in ``out_dir`` and return ``out_dir`` as a ``Path``.

    ``seconds`` cuts every song to at most that length (``None``: full songs, 10-14 s each).
    A dataset already completed with the same ``seed`` and ``seconds`` is left as it is unless
    ``force``. Regenerating replaces the demo's song folders and its ``results/`` folder as a
    whole: outputs of later stages computed from the previous videos and stems would otherwise be
    taken for finished work on the new ones (every stage skips existing outputs).
    """
    out_dir = Path(out_dir)
    if seconds is not None and not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    if not force and is_complete(out_dir, seed, seconds):
        log.info("demo dataset in %s is complete (seed %d, seconds %s); use -f to regenerate",
                 out_dir, seed, seconds)
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / COMPLETE_MARKER
    marker.unlink(missing_ok=True)        # an interrupted regeneration must not look complete
    _remove_previous_outputs(out_dir)
    metadata: dict[str, dict] = {}
    started = time.perf_counter()
    for index, song in enumerate(DEMO_SONGS):
        n_frames = frames_for(song, seconds)
        song_dir = out_dir / song.artist / song.song
        generate_song(song, song_dir, np.random.SeedSequence([seed, index]), n_frames)
        metadata.setdefault(song.artist, {})[song.song] = song_metadata(song, n_frames)
        log.info("wrote %s (%d frames)", song_dir, n_frames)
    save_json(out_dir / "dataset_metadata.json", metadata, indent=2)
    save_json(marker, _marker_content(seed, seconds))
    log.info("demo dataset with %d songs written to %s in %.1f s", len(DEMO_SONGS), out_dir,
             time.perf_counter() - started)
    return out_dir
