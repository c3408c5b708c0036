"""Benchmark scenes: synthetic concerts where a known answer says whether vision is needed.

A *scene* is a song of the dataset layout (``<Artist>/<Song>/``: close-mic stems, ``mixture.wav``,
per performer ``<name>/keypoints.npy`` ...) whose performers are described by a ``SceneKind``. The
separation benchmark queries one performer, ``TARGET`` ("vocal"), by its keypoints and asks for its
stem.

Why vision is necessary in the same-timbre kinds
------------------------------------------------
* ``duet``: two singers with the SAME synthesised voice (``audio.synth_vocal``: same formants,
  same harmonic roll-off) in the same register (the same raga notes, ``audio.raga_notes``) sing in
  call and response with partial overlap (``audio.compose_call_and_response``); which of them
  starts, how long each sings and the overlaps are random, and both levels are drawn from the same
  distribution. The two voices are therefore *exchangeable*: for every scene in which the target
  sings a phrase there is an equally likely scene in which the other singer sings it. No function
  of the audio alone can tell which of two simultaneous or alternating phrases belongs to the
  query; the query's motion (its jaw follows its own stem's loudness, its sway its own onsets) can.
* ``shadow``: a singer and a violinist whose instrument has the singer's voice (matched timbre:
  the same synthesiser), the violinist shadowing the line a few hundred ms late as Carnatic
  violinists do (``audio.compose_shadow_lines``) -- but who leads is drawn per phrase, so "the
  first one is the singer" is no cue either. The violinist moves like a violinist (bowing arm,
  head), the singer like a singer.
* ``duet_lookalike``: ``duet`` with both singers wearing the same photograph (for encoders that
  read appearance: then only motion decides).
* ``appearance``: appearance alone decides. Two singers with the same synthesised voice sing in
  call and response, but each photograph has its own register (``SceneKind.register_by_appearance``:
  the ``violin`` sprite's singer an octave above the ``vocal`` sprite's), as an instrument's look
  tells its sound in Sound of Pixels; which photograph the queried performer wears is drawn per
  scene (``SceneKind.swap_appearance``), so the query's register is a coin flip for the audio
  alone; both stand still (``SceneKind.still``: no sway, nod or jaw; keypoints move by detection
  noise only), so motion carries no cue either. A keypoint model can still tell the two people
  apart by the shape of their landmarks (their geometry is part of their appearance). Like every
  singer here, each writes its syllable alignment, so the ``text`` condition (which knows when the
  query sings) has its cue in this scene too: appearance alone decides among the visual kinds.
* ``syllables``: the text is the only cue (for the ``text`` condition). Two singers with the same
  voice, register and photograph, both still (as in ``appearance``), sing in call and response;
  each writes its syllable alignment. The query's alignment says when it sings which svara; the
  audio cannot tell the exchangeable voices apart, and neither motion, appearance nor the place on
  stage (drawn per scene) can.
* ``occluded``: ``shadow`` with the query's keypoints missing for part of every 4-s chunk
  (``SceneKind.occlude_target_s``: one stretch of ``U(0.5, 0.8)`` s per chunk, placed uniformly in
  it, all 133 points NaN with score 0; at most 0.8 s, so the chunk stays within the 25 %
  missing-frame rule of ``separation.data`` and every kind is scored on it). While the query is
  unseen, only the shadowing accompanist's motion (a context the ``scene_graph`` condition reads)
  says which of the two same-timbre lines is not the query's.
* ``concert`` (mixed timbres, the demo's trio): vocal, violin (violin timbre) and mridangam; an
  audio-only model can tell the voice by its timbre.
Every kind has a mridangam accompanist and the tanpura drone in the mixture, like the demo.

Performers
----------
``PerformerSpec``: the layout name (= stem file prefix = keypoint folder), the timbre (``voice``,
``violin``, ``mridangam``), the motion style (a key of ``SCENE_MOTION``), the appearance (a sprite,
key of ``video.SPRITE_SOURCES``) and whether the performer's sung syllables are part of the scene's
text (``syllables``: the svara syllable of every note is in the ground truth either way; a
performer with ``syllables`` also gets its alignment ``<name>/syllables.tsv``, written like the
demo's, ``core.syllables``; the singers have it, a violinist does not sing). A new
kind of scene is a new ``SceneKind`` entry (and, for a new way of sharing the melody, an
arrangement in ``ARRANGEMENTS``).

Motion and keypoints
--------------------
Each performer moves with its OWN stem exactly as in the demo concerts
(``concerts.own_stem_motion``: driver from the stem's onset envelope, jaw from its RMS), with
``SCENE_MOTION`` amplitudes (the singers open the jaw ``SINGER_JAW_PX`` at full voice, about a
tenth of the face height, instead of the demo's 3 px). The keypoints are the ground truth of that
animation, written in the pose post-processing format (``core.pose_files``) so that every later
stage reads them like pose output; ``pose_info.json`` says ``backend: "generator_ground_truth"``.
They are made realistic thus:

1. the 133 COCO-WholeBody landmarks of each sprite were measured once with MediaPipe Holistic on
   the still photograph (``measure_sprite_landmarks``; points it did not find stay missing, e.g.
   hands); their scores are Holistic's;
2. per frame they are moved by the same local warps (head nod and roll, jaw, bowing arm) and
   whole-body sway as the video (``video.PerformerRenderer.landmarks_in_frame``);
3. detection noise: Gaussian jitter of ``JITTER_PX`` (face / body / hands) per point and frame;
   a whole part (face, body, each hand) is missing in a frame with probability ``PART_DROPOUT``
   and single points with ``POINT_DROPOUT`` (NaN, score 0); scores are the measured ones times
   ``U(0.9, 1)``.

Video is optional (``render_video``): the same renderers write ``video.mov`` as in the demo.

3D points (synthetic)
---------------------
For the ``points3d`` condition each performer also gets ``<name>/world_points.npy`` ``(F, 33, 3)``
metres and ``world_points.json`` (``core.world_points``: MediaPipe's pose world landmark layout,
origin between the hips, x right, y down, z away from the camera). The generator animates a 2D
picture and has no depth, so the points are SYNTHETIC, derived by a fixed depth model from what
the scene stored (``write_scene_world_points``: a pure function of the scene folder; its seed is
the scene's):

1. x, y: the performer's keypoints (``keypoints.npy``: the ground truth with its detection noise,
   dropouts and occlusions), each of the 33 points from the COCO-WholeBody point at the same body
   spot (``core.world_points.COCO_FOR_WORLD_POINT``), in metres by one scale per performer: the
   median shoulder distance in pixels is ``SHOULDER_WIDTH_M``; the origin (the hips' midpoint,
   hidden on a seated performer) is ``TORSO_M`` below the frame's shoulder midpoint (the song's
   median one when a shoulder is missing);
2. z: a fixed template per point (``DEPTH_TEMPLATE_M``: a seated performer facing the camera,
   hands and knees in front of the torso) plus a lean about the hips driven by the performer's
   own motion coordinate (the ground truth's ``motion_coordinate``, the same driver as its sway and
   nods): a point ``h = -y`` above the hips moves ``-h sin(LEAN_RAD m_f)`` towards the camera
   (0 for a ``still`` performer), plus Gaussian depth noise of ``DEPTH_NOISE_M``;
3. missing where the 2D point is missing (or the sprite has no such point, e.g. unseen hands).
The random stream is ``SeedSequence([seed, crc32(kind), crc32("world_points")])``, one child per
performer in layout order, apart from every other stream: the scene's other files are the same
with or without the 3D points (byte-identical).

Splits and seeds
----------------
Scene ``i`` of split ``s`` has seed ``SPLIT_SEED_BASE[s] + i`` (train 10000+, validation 20000+,
test 30000+: disjoint by construction); its random streams come from
``numpy.random.SeedSequence([seed, crc32(kind name)])``. ``scene_splits.json`` records the
generator version, every scene's kind, split, seed and whether it is same-timbre. The test split
is for the final evaluation only (never for model selection or early stopping).
"""
from __future__ import annotations

import json
import logging
import shutil
import time
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from core.audio import save_wav
from core.io import load_json, save_json
from core.keypoints import BODY, FACE, LEFT_HAND, RIGHT_HAND, NUM_KEYPOINTS
from core.metadata import check_inside, duration_for_frames
from core.pose_files import InstrumentPose, save_instrument_pose
from core.syllables import ALIGNMENT_NAME, save_alignment
from core.threads import one_blas_thread
from core.world_points import (COCO_FOR_WORLD_POINT, LEFT_SHOULDER, N_WORLD_POINTS, RIGHT_SHOULDER,
                               WORLD_POINT_NAMES, save_world_points, world_points_info)

from . import audio as da
from . import video as dv
from .concerts import (GENERATOR_VERSION, GROUND_TRUTH_NAME, LEVELS, MIXTURE_NAME,
                       MRIDANGAM_MICS, SAMPLES_PER_FRAME, VIDEO_NAME, close_mic_recording,
                       own_stem_motion, render_video)
from .measure_sprite_landmarks import load_sprite_landmarks

log = logging.getLogger(__name__)

TARGET = "vocal"                         # the performer the benchmark queries in every scene
SCENE_SECONDS = 12.0
SPLITS = ("train", "validation", "test")
SPLIT_SEED_BASE = {"train": 10_000, "validation": 20_000, "test": 30_000}
MAX_SCENES_PER_SPLIT = 10_000            # keeps the seed ranges disjoint
SPLITS_FILE = "scene_splits.json"
COMPLETE_MARKER = ".scenes_complete.json"
SINGER_JAW_PX = 10.0
SCENE_MOTION = {"vocal": {**dv.MOTION["vocal"], "jaw": SINGER_JAW_PX},
                "violin": dict(dv.MOTION["violin"]), "mridangam": dict(dv.MOTION["mridangam"])}
LEVEL_JITTER_DB = 2.0                    # every performer's level: its LEVELS entry +- U(2 dB)
JITTER_PX = {"face": 0.6, "body": 1.5, "hands": 2.0}
PART_DROPOUT = 0.02
POINT_DROPOUT = 0.005
POSE_BACKEND = "generator_ground_truth"
POSE_MODEL = ("ground truth from the generator (demo_generator.scenes): sprite landmarks measured "
              "once with MediaPipe Holistic, moved by the animation, plus detection noise")
PARTS = {"face": np.array(FACE), "body": np.array(BODY), "left_hand": np.array(LEFT_HAND),
         "right_hand": np.array(RIGHT_HAND)}


@dataclass(frozen=True)
class PerformerSpec:
    name: str                 # layout name = stem prefix = keypoint folder; TARGET is the query
    timbre: str               # voice | violin | mridangam
    motion: str               # motion style, a key of SCENE_MOTION
    appearance: str           # sprite, a key of video.SPRITE_SOURCES
    syllables: bool = False   # its sung syllables belong to the scene's text cue


@dataclass(frozen=True)
class SceneKind:
    name: str
    same_timbre: bool         # another performer shares the target's timbre and register
    arrangement: str          # a key of ARRANGEMENTS: how the melodic performers share the music
    performers: tuple[PerformerSpec, ...]
    description: str
    arrangement_options: tuple[tuple[str, object], ...] = ()   # keyword arguments of the
                                                               # arrangement, e.g. overlap_s
    # appearance as the cue (module docstring, ``appearance``); the defaults leave a kind's random
    # streams, and so its scenes, exactly as before
    swap_appearance: bool = False      # the two melodic performers swap photographs with p = 0.5
    register_by_appearance: tuple[tuple[str, int], ...] = ()   # sprite → semitones added to its line
    still: bool = False                # no motion: every animation amplitude 0
    # the query's keypoints missing for U(a, b) s in every 4-s chunk (module docstring,
    # ``occluded``); drawn from its own random stream, so the other kinds are unchanged
    occlude_target_s: tuple[float, ...] = ()


_MRIDANGAM = PerformerSpec("mridangam", "mridangam", "mridangam", "mridangam")
_SINGER = PerformerSpec("vocal", "voice", "vocal", "vocal", syllables=True)
SCENE_KINDS = {
    "duet": SceneKind("duet", True, "call_and_response", (
        _SINGER, PerformerSpec("singer", "voice", "vocal", "violin", syllables=True), _MRIDANGAM),
        "two singers, same voice and register, call and response with partial overlap"),
    "duet_lookalike": SceneKind("duet_lookalike", True, "call_and_response", (
        _SINGER, PerformerSpec("singer", "voice", "vocal", "vocal", syllables=True), _MRIDANGAM),
        "the duet with both singers wearing the same photograph"),
    "shadow": SceneKind("shadow", True, "shadow", (
        _SINGER,
        PerformerSpec("violin", "voice", "violin", "violin"), _MRIDANGAM),
        "a violin with the singer's timbre shadowing the line; the leader changes per phrase"),
    "concert": SceneKind("concert", False, "concert", (
        _SINGER,
        PerformerSpec("violin", "violin", "violin", "violin"), _MRIDANGAM),
        "the demo trio: vocal, violin (violin timbre) shadowing it, mridangam"),
    "appearance": SceneKind("appearance", True, "call_and_response", (
        _SINGER, PerformerSpec("singer", "voice", "vocal", "violin", syllables=True), _MRIDANGAM),
        "two still singers, same voice; each photograph sings in its own register, the query "
        "wears either", swap_appearance=True, register_by_appearance=(("violin", 12),),
        still=True),
    "syllables": SceneKind("syllables", True, "call_and_response", (
        _SINGER, PerformerSpec("singer", "voice", "vocal", "vocal", syllables=True), _MRIDANGAM),
        "two still singers, same voice, register and photograph, call and response; the query's "
        "syllable alignment is the only cue", still=True),
    "occluded": SceneKind("occluded", True, "shadow", (
        _SINGER, PerformerSpec("violin", "voice", "violin", "violin"), _MRIDANGAM),
        "the shadow scene with the query unseen for 0.5-0.8 s of every 4-s chunk; the shadowing "
        "accompanist's motion is the context", occlude_target_s=(0.5, 0.8)),
}
BENCHMARK_KINDS = ("duet", "shadow", "concert")


def _melodic(kind: SceneKind) -> list[PerformerSpec]:
    return [p for p in kind.performers if p.timbre in ("voice", "violin")]


def _call_and_response(rng, seconds, performers, **options):
    return da.compose_call_and_response(rng, seconds, n_voices=len(performers), **options)


def _shadow(rng, seconds, performers, **options):
    if len(performers) != 2:
        raise ValueError("the shadow arrangement needs exactly two melodic performers")
    return da.compose_shadow_lines(rng, seconds, **options)


def _concert(rng, seconds, performers, **options):
    line = da.compose_vocal_line(rng, seconds)      # a violin timbre delays it itself
    return [line] * len(performers)


ARRANGEMENTS = {"call_and_response": _call_and_response, "shadow": _shadow, "concert": _concert}


OCCLUSION_CHUNK_S = 4.0                  # separation's chunk: one occlusion per 4-s grid chunk


def occlusion_intervals(rng: np.random.Generator, seconds: float, length_s: tuple[float, float],
                        chunk_s: float = OCCLUSION_CHUNK_S) -> list[tuple[float, float]]:
    """One ``[start, end)`` stretch (s) per ``chunk_s`` chunk of a ``seconds`` scene, of length
    ``U(length_s)`` (at most the chunk; clipped to the scene), placed uniformly inside its chunk."""
    out = []
    for c in range(int(np.ceil(seconds / chunk_s - 1e-9))):
        start_c = c * chunk_s
        length = float(min(rng.uniform(*length_s), chunk_s))
        start = start_c + float(rng.uniform(0.0, chunk_s - length))
        if start < seconds:
            out.append((start, min(start + length, seconds)))
    return out


def occlude(keypoints: np.ndarray, scores: np.ndarray, intervals, fps: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Copies with every point of the frames whose time ``f / fps`` lies in an interval missing
    (NaN, score 0)."""
    times = np.arange(len(keypoints)) / fps
    hidden = np.zeros(len(keypoints), bool)
    for start, end in intervals:
        hidden |= (times >= start) & (times < end)
    keypoints, scores = keypoints.copy(), scores.copy()
    keypoints[hidden], scores[hidden] = np.nan, 0.0
    return keypoints, scores


def scene_seed(split: str, index: int) -> int:
    """The recorded seed of scene ``index`` of ``split`` (module docstring)."""
    if not 0 <= index < MAX_SCENES_PER_SPLIT:
        raise ValueError(f"scene index {index} outside 0..{MAX_SCENES_PER_SPLIT - 1}")
    return SPLIT_SEED_BASE[split] + index


def seed_sequence(kind: str, seed: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, zlib.crc32(kind.encode("utf-8"))])


# ----------------------------------------------------------------------------------------------
# Audio
# ----------------------------------------------------------------------------------------------

@dataclass
class SceneAudio:
    stems: dict[str, np.ndarray]            # file name -> (N,) float64
    mixture: np.ndarray                     # (N,)
    performer_stem: dict[str, np.ndarray]   # performer name -> its stem as users load it
    lines: dict[str, da.VocalLine]          # melodic performer -> what it plays
    levels_db: dict[str, float]             # performer -> level jitter (dB)
    layout: tuple[str, ...]                 # left-to-right performer names
    appearances: dict[str, str]             # performer -> sprite it wears in this scene


def synthesize_scene_audio(kind: SceneKind, seed_seq: np.random.SeedSequence, seconds: float,
                           n_samples: int) -> SceneAudio:
    """All signals of one scene (module docstring), ``n_samples`` long at 48 kHz."""
    rng_music, rng_drone, rng_noise, rng_stage, *rng_perf = (
        np.random.default_rng(s) for s in seed_seq.spawn(4 + len(kind.performers)))
    sr = da.SAMPLE_RATE
    melodic = _melodic(kind)
    lines = dict(zip((p.name for p in melodic),
                     ARRANGEMENTS[kind.arrangement](rng_music, seconds, melodic,
                                                    **dict(kind.arrangement_options))))
    layout = tuple(kind.performers[i].name for i in rng_stage.permutation(len(kind.performers)))
    levels_db = {p.name: float(rng_stage.uniform(-LEVEL_JITTER_DB, LEVEL_JITTER_DB))
                 for p in kind.performers}
    appearances = scene_appearances(kind, rng_stage)
    shift = dict(kind.register_by_appearance)
    lines = {name: transpose(line, shift.get(appearances[name], 0)) for name, line in lines.items()}
    sources, heads = {}, None
    for spec, rng in zip(kind.performers, rng_perf):
        gain = da.db_to_gain(levels_db[spec.name])
        if spec.timbre == "voice":
            signal, _ = da.synth_vocal(rng, lines[spec.name], n_samples, sr)
            sources[f"{spec.name}_close.wav"] = gain * LEVELS["vocal"] * signal
        elif spec.timbre == "violin":
            bow = da.compose_bow_strokes(rng, seconds)
            signal = da.synth_violin(rng, lines[spec.name], bow, n_samples, sr)
            sources[f"{spec.name}_close.wav"] = gain * LEVELS["violin"] * signal
        elif spec.timbre == "mridangam":
            right, left = da.synth_mridangam(rng, da.compose_mridangam(rng, seconds), n_samples, sr)
            heads = (gain * LEVELS["mridangam"] * left, gain * LEVELS["mridangam"] * right)
        else:
            raise ValueError(f"unknown timbre {spec.timbre!r}")
    drone = LEVELS["drone"] * da.tanpura_drone(rng_drone, n_samples, sr)
    stems, mixture = close_mic_recording(sources, heads, drone, rng_noise)
    by_performer = {}
    for spec in kind.performers:
        files = MRIDANGAM_MICS if spec.timbre == "mridangam" else (f"{spec.name}_close.wav",)
        by_performer[spec.name] = np.mean([stems[f] for f in files], axis=0)
    return SceneAudio(stems, mixture, by_performer, lines, levels_db, layout, appearances)


def scene_appearances(kind: SceneKind, rng: np.random.Generator) -> dict[str, str]:
    """Performer → sprite: the kind's, the two melodic performers' swapped with p = 0.5 when
    ``kind.swap_appearance`` (the only draw from ``rng`` then; none otherwise)."""
    appearances = {p.name: p.appearance for p in kind.performers}
    if kind.swap_appearance:
        a, b = (p.name for p in _melodic(kind))
        if rng.random() < 0.5:
            appearances[a], appearances[b] = appearances[b], appearances[a]
    return appearances


def transpose(line: da.VocalLine, semitones: int) -> da.VocalLine:
    """``line`` with every note (and gamaka neighbour) ``semitones`` higher."""
    if not semitones:
        return line
    return replace(line, note_semitones=line.note_semitones + semitones,
                   gamaka=line.gamaka + semitones)


# ----------------------------------------------------------------------------------------------
# Keypoints
# ----------------------------------------------------------------------------------------------

def detection_noise(keypoints: np.ndarray, scores: np.ndarray, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(F, 133, 2)`` keypoints and ``(133,)`` measured scores → noisy detections
    ``(F, 133, 2)`` float32 (NaN = missing) and ``(F, 133)`` float32 scores (module docstring,
    step 3)."""
    n_frames = len(keypoints)
    jitter = np.zeros(NUM_KEYPOINTS)
    jitter[PARTS["face"]] = JITTER_PX["face"]
    jitter[PARTS["body"]] = JITTER_PX["body"]
    jitter[np.r_[PARTS["left_hand"], PARTS["right_hand"]]] = JITTER_PX["hands"]
    noisy = keypoints + rng.standard_normal(keypoints.shape) * jitter[None, :, None]
    frame_scores = scores[None, :] * rng.uniform(0.9, 1.0, (n_frames, NUM_KEYPOINTS))
    missing = rng.random((n_frames, NUM_KEYPOINTS)) < POINT_DROPOUT
    for indices in PARTS.values():
        missing[:, indices] |= (rng.random(n_frames) < PART_DROPOUT)[:, None]
    missing |= ~np.isfinite(noisy).all(axis=-1)
    noisy[missing] = np.nan
    frame_scores[missing] = 0.0
    return noisy.astype(np.float32), frame_scores.astype(np.float32)


def exact_keypoints(renderer: dv.PerformerRenderer, states: list, cameras: np.ndarray,
                    landmarks: np.ndarray) -> np.ndarray:
    """``(F, 133, 2)`` frame pixels of the sprite ``landmarks`` ``(133, 2)`` under the animation."""
    return np.stack([renderer.landmarks_in_frame(state, float(cam), landmarks)
                     for state, cam in zip(states, cameras)])


# ----------------------------------------------------------------------------------------------
# One scene
# ----------------------------------------------------------------------------------------------

def scene_metadata(layout: tuple[str, ...], n_frames: int) -> dict:
    return {"layout": list(layout), "moving_camera": False, "fps": float(dv.FPS),
            "duration": duration_for_frames(n_frames, dv.FPS), "correct_body_detection": True,
            "face_false_positive_frames": []}


def generate_scene(kind: SceneKind, song_dir: Path, seed: int, seconds: float = SCENE_SECONDS,
                   render: bool = False, split: str | None = None) -> dict:
    """Write one scene (stems, mixture, keypoints per performer, ground truth, optionally the
    video) into ``song_dir``; return its ground-truth dict. BLAS runs on one thread
    (``core.threads``), so the files do not depend on ``OMP_NUM_THREADS``."""
    with one_blas_thread():
        return _generate_scene(kind, song_dir, seed, seconds, render, split)


def _generate_scene(kind: SceneKind, song_dir: Path, seed: int, seconds: float, render: bool,
                    split: str | None) -> dict:
    n_frames = int(round(seconds * dv.FPS))
    n_samples = n_frames * SAMPLES_PER_FRAME
    seed_seq = seed_sequence(kind.name, seed)
    audio_seq, pose_seq, occlusion_seq = seed_seq.spawn(3)    # the first two as spawn(2) gives
    audio = synthesize_scene_audio(kind, audio_seq, seconds, n_samples)
    for name, signal in audio.stems.items():
        save_wav(song_dir / name, signal, da.SAMPLE_RATE, subtype="PCM_16")
    save_wav(song_dir / MIXTURE_NAME, audio.mixture, da.SAMPLE_RATE, subtype="PCM_16")

    specs = {p.name: p for p in kind.performers}
    cameras = dv.camera_offsets(n_frames, moving=False)
    rng_pose = np.random.default_rng(pose_seq)
    states, renderers, performers = {}, {}, {}
    for position, name in enumerate(audio.layout):
        spec = specs[name]
        amplitudes = SCENE_MOTION[spec.motion]
        if kind.still:
            amplitudes = {k: (0.0, 0.0) if isinstance(v, tuple) else 0.0
                          for k, v in amplitudes.items()}
        driver, motion, loudness = own_stem_motion(audio.performer_stem[name], n_frames)
        states[name] = dv.performer_states(spec.motion, motion,
                                           rms=loudness if "jaw" in amplitudes else None,
                                           amplitudes=amplitudes)
        appearance = audio.appearances[name]
        renderers[name] = dv.PerformerRenderer(spec.motion, dv.SLOT_CENTRES_X[position],
                                               appearance, amplitudes)
        landmarks, measured_scores = load_sprite_landmarks(appearance)
        exact = exact_keypoints(renderers[name], states[name], cameras, landmarks)
        keypoints, scores = detection_noise(exact, measured_scores, rng_pose)
        occluded = []
        if kind.occlude_target_s and name == TARGET:
            occluded = occlusion_intervals(np.random.default_rng(occlusion_seq), seconds,
                                           kind.occlude_target_s)
            keypoints, scores = occlude(keypoints, scores, occluded, float(dv.FPS))
        info = {"backend": POSE_BACKEND, "model": POSE_MODEL, "score_scale": "probability",
                "fps": float(dv.FPS), "frame_size": [dv.FRAME_WIDTH, dv.FRAME_HEIGHT],
                "position": position, "n_performers": len(audio.layout),
                "layout": list(audio.layout), "video": VIDEO_NAME if render else None,
                "generator_version": GENERATOR_VERSION,
                "noise": {"jitter_px": JITTER_PX, "part_dropout": PART_DROPOUT,
                          "point_dropout": POINT_DROPOUT}}
        save_instrument_pose(song_dir / name, InstrumentPose(keypoints, scores, info))
        geometry = [renderers[name].ground_truth(s, float(c)) for s, c in zip(states[name], cameras)]
        entry = {"position": position, "timbre": spec.timbre, "motion": spec.motion,
                 "appearance": appearance, **({"still": True} if kind.still else {}), "source_image": renderers[name].sprite.source,
                 "level_db": round(audio.levels_db[name], 4),
                 "boxes": np.round([g[0] for g in geometry], 3),
                 "face_centre": np.round([g[1] for g in geometry], 3),
                 "driver": np.round(driver, 6), "motion_coordinate": np.round(motion, 6)}
        if occluded:
            entry["occluded_s"] = [[round(a, 6), round(b, 6)] for a, b in occluded]
        if name in audio.lines:
            line = audio.lines[name]
            sung = line.note_starts < seconds
            entry["notes"] = {"starts_s": line.note_starts[sung],
                              "durations_s": line.note_durations[sung],
                              "semitones": line.note_semitones[sung],
                              "svara": da.svara_syllables(line.note_semitones[sung])}
            entry["phrases_s"] = [[a, b] for a, b in line.phrases if a < seconds]
            entry["syllables"] = spec.syllables
            if spec.syllables:
                save_alignment(song_dir / name / ALIGNMENT_NAME,
                               *da.sung_syllables(line, n_samples / da.SAMPLE_RATE))
            # a violin timbre plays its line VIOLIN_DELAY_S late (audio.synth_violin)
            entry["plays_notes_late_s"] = da.VIOLIN_DELAY_S if spec.timbre == "violin" else 0.0
        performers[name] = entry
    if render:
        render_video(song_dir / VIDEO_NAME, renderers, states, cameras, song_dir.name)
    truth = {"generator_version": GENERATOR_VERSION, "scene_kind": kind.name,
             "same_timbre": kind.same_timbre, "split": split, "seed": seed, "target": TARGET,
             "fps": dv.FPS, "n_frames": n_frames, "width": dv.FRAME_WIDTH,
             "height": dv.FRAME_HEIGHT, "layout": list(audio.layout), "video": render,
             "kind": _kind_record(kind), "performers": performers,
             "audio": {"sample_rate": da.SAMPLE_RATE, "n_samples": n_samples,
                       "mixture": MIXTURE_NAME, "stems": sorted(audio.stems),
                       "mixture_definition": "sum of the close-mic stems (mridangam mics "
                                             "averaged) + tanpura drone",
                       "tonic_hz": da.TONIC_HZ, "raga": da.RAGA_NAME}}
    save_json(song_dir / GROUND_TRUTH_NAME, truth, indent=None)
    write_scene_world_points(song_dir)
    return truth


# ----------------------------------------------------------------------------------------------
# Synthetic 3D points (module docstring, "3D points")
# ----------------------------------------------------------------------------------------------

WORLD_POINTS_VERSION = 1                 # of the depth model below; recorded in world_points.json
SHOULDER_WIDTH_M = 0.36
TORSO_M = 0.50                           # shoulder midpoint to hip midpoint, seated
LEAN_RAD = 0.15                          # lean at |motion coordinate| = 1 (about 8.6 degrees)
DEPTH_NOISE_M = 0.01
DEPTH_TEMPLATE_M = dict(zip(WORLD_POINT_NAMES, (
    -0.10, -0.07, -0.07, -0.06, -0.07, -0.07, -0.06, 0.0, 0.0, -0.08, -0.08,   # face
    0.0, 0.0, -0.08, -0.08, -0.25, -0.25,                                     # shoulders .. wrists
    -0.27, -0.27, -0.28, -0.28, -0.27, -0.27,                                 # hands
    0.0, 0.0, -0.40, -0.40, -0.20, -0.20, -0.15, -0.15, -0.28, -0.28,         # hips .. feet
)))
assert len(DEPTH_TEMPLATE_M) == N_WORLD_POINTS


def lift_to_3d(keypoints: np.ndarray, motion: np.ndarray, still: bool,
               rng: np.random.Generator) -> np.ndarray:
    """One performer's ``(F, 133, 2)`` pixel keypoints (NaN = missing) and ``(F,)`` motion
    coordinate → synthetic ``(F, 33, 3)`` float32 metres (module docstring, steps 1–3).
    ``ValueError`` when no frame has both shoulders (no scale)."""
    points = keypoints[:, list(COCO_FOR_WORLD_POINT)].astype(np.float64)         # (F, 33, 2)
    shoulders = points[:, [LEFT_SHOULDER, RIGHT_SHOULDER]]
    both = np.isfinite(shoulders).all(axis=(1, 2))
    if not both.any():
        raise ValueError("no frame with both shoulders: no pixel scale for the 3D points")
    metres_per_px = SHOULDER_WIDTH_M / float(np.median(
        np.linalg.norm(shoulders[both, 0] - shoulders[both, 1], axis=1)))
    middle = shoulders.mean(axis=1)                                             # (F, 2)
    middle[~both] = np.median(middle[both], axis=0)
    hips = middle + np.array([0.0, TORSO_M / metres_per_px])
    xy = (points - hips[:, None]) * metres_per_px                               # (F, 33, 2)
    lean = np.zeros(len(points)) if still else LEAN_RAD * np.asarray(motion, np.float64)
    height = -xy[..., 1]                                                        # above the hips
    template = np.array([DEPTH_TEMPLATE_M[n] for n in WORLD_POINT_NAMES])
    z = template[None] - height * np.sin(lean)[:, None]
    z = z + rng.normal(0.0, DEPTH_NOISE_M, z.shape)
    out = np.concatenate([xy, z[..., None]], axis=-1)
    out[~np.isfinite(points).all(axis=-1)] = np.nan
    return out.astype(np.float32)


def depth_model_record() -> dict:
    """The depth model's constants, for ``world_points.json``."""
    return {"version": WORLD_POINTS_VERSION, "shoulder_width_m": SHOULDER_WIDTH_M,
            "torso_m": TORSO_M, "lean_rad_per_unit_motion": LEAN_RAD,
            "depth_noise_m": DEPTH_NOISE_M, "depth_template_m": DEPTH_TEMPLATE_M,
            "definition": "x, y: the 2D keypoints in metres (shoulder width scale, origin "
                          "torso_m below the shoulder midpoint); z: a fixed per-point template "
                          "plus a lean about the hips by lean_rad x the performer's motion "
                          "coordinate, plus Gaussian noise (demo_generator.scenes)"}


def write_scene_world_points(song_dir: str | Path) -> list[str]:
    """Write the synthetic 3D points of every performer of an already generated scene folder
    (module docstring, "3D points"), from the folder's own ``demo_ground_truth.json`` (seed, kind,
    motion coordinates) and ``<name>/keypoints.npy``; nothing else is touched. Returns the
    performers written. Pure: the same folder gives the same bytes."""
    from core.pose_files import load_instrument_pose

    song_dir = Path(song_dir)
    truth = load_json(song_dir / GROUND_TRUTH_NAME)
    layout = list(truth["layout"])
    children = np.random.SeedSequence([int(truth["seed"]),
                                       zlib.crc32(truth["scene_kind"].encode("utf-8")),
                                       zlib.crc32(b"world_points")]).spawn(len(layout))
    for name, child in zip(layout, children):
        performer = truth["performers"][name]
        pose = load_instrument_pose(song_dir, name)
        motion = np.asarray(performer["motion_coordinate"], np.float64)
        points = lift_to_3d(pose.keypoints, motion, bool(performer.get("still")),
                            np.random.default_rng(child))
        save_world_points(song_dir / name, points, world_points_info(
            "demo_generator.scenes: synthetic depth from the scene's 2D ground truth",
            synthetic=True, fps=float(truth["fps"]), generator_version=truth["generator_version"],
            depth_model=depth_model_record()))
    return layout


def add_world_points(out_dir: str | Path) -> int:
    """``write_scene_world_points`` for every scene of a generated scene dataset (the keys of its
    ``scene_splits.json``); returns the number of scenes. A key that resolves outside ``out_dir``
    (``../``, an absolute path, a link out) is a ``MetadataError`` before anything is written: the
    splits file is a file of the dataset, and nothing is ever written outside it."""
    out_dir = Path(out_dir)
    keys = list(load_json(out_dir / SPLITS_FILE)["scenes"])
    folders = [check_inside(out_dir / key, out_dir, f"scene {key!r}") for key in keys]
    for folder in folders:
        write_scene_world_points(folder)
    log.info("3D points written for %d scenes in %s", len(keys), out_dir)
    return len(keys)


def _kind_record(kind: SceneKind) -> dict:
    return {"name": kind.name, "same_timbre": kind.same_timbre, "arrangement": kind.arrangement,
            "arrangement_options": dict(kind.arrangement_options),
            "description": kind.description, "performers": [asdict(p) for p in kind.performers],
            **({"swap_appearance": True} if kind.swap_appearance else {}),
            **({"register_by_appearance": dict(kind.register_by_appearance)}
               if kind.register_by_appearance else {}),
            **({"still": True} if kind.still else {}),
            **({"occlude_target_s": list(kind.occlude_target_s)} if kind.occlude_target_s else {})}


# ----------------------------------------------------------------------------------------------
# A dataset of scenes
# ----------------------------------------------------------------------------------------------

def split_artist(split: str) -> str:
    return f"Scenes {split}"


def scene_song_name(kind: str, seed: int) -> str:
    return f"{kind} {seed}"


def scene_plan(counts: dict[str, int], kinds: tuple[str, ...]) -> list[dict]:
    """Every scene to generate: ``{"key", "artist", "song", "kind", "split", "seed"}``; ``counts``
    is scenes per kind and split."""
    plan = []
    for split in SPLITS:
        for kind in kinds:
            for index in range(counts.get(split, 0)):
                seed = scene_seed(split, index)
                artist, song = split_artist(split), scene_song_name(kind, seed)
                plan.append({"key": f"{artist}/{song}", "artist": artist, "song": song,
                             "kind": kind, "split": split, "seed": seed,
                             "same_timbre": SCENE_KINDS[kind].same_timbre})
    return plan


def _settings(counts, kinds, seconds, render) -> dict:
    return {"generator_version": GENERATOR_VERSION, "counts": {s: counts.get(s, 0) for s in SPLITS},
            "kinds": list(kinds), "seconds": seconds, "video": render}


def generate_scenes(out_dir, counts: dict[str, int] | None = None,
                    kinds: tuple[str, ...] = BENCHMARK_KINDS, seconds: float = SCENE_SECONDS,
                    render: bool = False, force: bool = False) -> Path:
    """Write a dataset of benchmark scenes into ``out_dir`` (``dataset_metadata.json``,
    ``scene_splits.json``, one folder per scene) and return ``out_dir``.

    ``counts``: scenes per kind in each split (default ``DEFAULT_COUNTS``). A dataset already
    completed with the same settings (one rendered with video also serves a request without) is
    left as it is unless ``force``; otherwise the previous
    scene folders are replaced.
    """
    out_dir = Path(out_dir)
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    unknown = [k for k in kinds if k not in SCENE_KINDS]
    if unknown:
        raise ValueError(f"unknown scene kind(s) {', '.join(unknown)}; known: {', '.join(SCENE_KINDS)}")
    if not seconds > 4.0:
        raise ValueError(f"scenes must be longer than one 4-s chunk, got {seconds} s")
    settings = _settings(counts, kinds, seconds, render)
    marker = out_dir / COMPLETE_MARKER
    if not force and marker.is_file():
        try:
            done = load_json(marker)
            # a set rendered with video also serves a request without (same files otherwise)
            if done == json.loads(json.dumps({**settings, "video": done.get("video") or render})):
                log.info("scenes in %s are complete (%s); use -f to regenerate", out_dir, done)
                return out_dir
        except (OSError, ValueError):
            pass
    out_dir.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    for split in SPLITS:
        stale = out_dir / split_artist(split)
        if stale.exists():
            shutil.rmtree(stale)
    plan = scene_plan(counts, kinds)
    started = time.perf_counter()
    metadata: dict[str, dict] = {}
    from core.log import progress

    for scene in progress(plan, desc="scenes", unit="scene"):
        truth = generate_scene(SCENE_KINDS[scene["kind"]], out_dir / scene["artist"] / scene["song"],
                               scene["seed"], seconds, render, scene["split"])
        metadata.setdefault(scene["artist"], {})[scene["song"]] = scene_metadata(
            tuple(truth["layout"]), truth["n_frames"])
    save_json(out_dir / "dataset_metadata.json", metadata, indent=2)
    save_json(out_dir / SPLITS_FILE, {
        **settings, "target": TARGET, "split_seed_base": SPLIT_SEED_BASE,
        "splits": {split: [s["key"] for s in plan if s["split"] == split] for split in SPLITS},
        "scenes": {s["key"]: {k: s[k] for k in ("kind", "split", "seed", "same_timbre")}
                   for s in plan},
        "scene_kinds": {k: _kind_record(SCENE_KINDS[k]) for k in kinds}})
    save_json(marker, settings)
    log.info("%d scenes written to %s in %.1f s", len(plan), out_dir, time.perf_counter() - started)
    return out_dir


DEFAULT_COUNTS = {"train": 24, "validation": 4, "test": 12}
