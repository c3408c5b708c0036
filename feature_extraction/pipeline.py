"""Per-song work of the stage: read keypoints/stems/feature files, call the pure feature modules,
write the JSON outputs (docs/CONTRACTS.md "Features") atomically (``core.io.atomic_path``; NaN →
null as ``core.io.save_json``, with a vectorised conversion for long arrays).

Consistency checks (each a named ``SongDataError`` for the song; other songs continue):
keypoints missing or all NaN after score masking, pose fps ≠ metadata fps (> 0.01), keypoint frame
count more than one second away from ``int(fps × duration)``, stem missing or empty, stem duration
more than one second away from the metadata duration, feature files missing or with another fps.

Frame counts: motion files have one value per keypoint frame (the video's frames), audio files one
per ``int(fps × duration)`` frame (published rule); the two agree within the one-second tolerance
checked above and the correlation uses their common first ``min`` frames.
Moving-camera songs get audio features only (post-processing makes no keypoints for them).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import load_stem
from core.dataset import (AUDIO_FEATURES_NAME, CORRELATION_DIR, CORRELATIONS_NAME,
                          KEYPOINTS_NAME, MOTION_FEATURES_NAME, POSE_INFO_NAME, SCORES_NAME,
                          SPECIFIC_MOTION_FEATURES_NAME, SongDataError, find_stems)
from core.freshness import is_up_to_date, record_inputs, snapshot
from core.io import UnreadableFileError, load_json, null_to_nan, save_json
from core.keypoints import (BODY_PARTS, FACE, LOWER_BODY, RIGHT_ARM_AND_HAND, RIGHT_ELBOW,
                            RIGHT_SHOULDER, RIGHT_WRIST, part_of)
from core.metadata import SongInfo, body_detection_skip
from core.motion_prep import (SAVGOL_ORDER, SAVGOL_WINDOW, describe_motion_prep, finite_points,
                              mask_low_scores, points_to_drop, prepare_motion)
from core.pose_files import InstrumentPose, default_threshold, load_instrument_pose
from core.runner import UP_TO_DATE, Finished, SongSkipped
from core.threads import one_blas_thread

from . import audio as audio_mod
from . import correlation as corr
from .motion import feature_units, general_motion_features, speed_pca
from .violin import VIOLIN_UNITS, violin_motion_features
from .vocal import VOCAL_UNITS, vocal_motion_features

log = logging.getLogger("feature_extraction")
_AUDIO_LOCK = threading.Lock()

MOTION_FILE = MOTION_FEATURES_NAME
VIOLIN_FILE = SPECIFIC_MOTION_FEATURES_NAME["violin"]
VOCAL_FILE = SPECIFIC_MOTION_FEATURES_NAME["vocal"]
AUDIO_FILE = AUDIO_FEATURES_NAME
CORRELATIONS_FILE = CORRELATIONS_NAME
SUMMARY_FIGURE = "strong_window_share.png"
AGGREGATED_FILE = "aggregated_strong_windows.json"
MOTION_TYPES = ("general", "violin", "vocal")
# Body part each specialised feature describes (CONTRACTS: pairs carry a body_part).
SPECIAL_FEATURE_PARTS = {"wrist_speed": "right_arm", "elbow_angle": "right_arm",
                         "arm_extension": "right_arm", "mouth_area": "face", "jaw_to_nose": "face"}


@dataclass(frozen=True)
class FeatureOptions:
    extract: str | None = "both"            # both | motion | audio | None
    motion_type: str | None = None          # general | violin | vocal | None = every applicable
    threshold: float | None = None          # -ct; None = default for the backend's score scale
    all_body_parts: bool = False
    pca: int = 0
    f0: bool = False
    force: bool = False
    workers: int = 1                        # performers processed at once (threads)
    motion_prep: str = "published"          # published | robust (core.motion_prep)
    include_incorrect_body_detection: bool = False   # core.metadata.body_detection_skip


# --- helpers -----------------------------------------------------------------------------------

def feature_document(song: SongInfo, instrument: str, fps: float, features: dict, units: dict,
                     settings: dict, **extra) -> dict:
    """The common JSON shape of every feature file; values rounded to 7 significant digits (the
    float32 resolution of the keypoints; also keeps the files small)."""
    features = {name: round_significant(values, 7) for name, values in features.items()}
    lengths = {len(v) for v in features.values()}
    if len(lengths) > 1:
        raise ValueError(f"features of unequal length: {lengths}")
    doc = {"artist": song.artist, "song": song.song, "instrument": instrument, "fps": fps,
           "n_frames": lengths.pop() if lengths else 0, "units": units, "settings": settings,
           "features": features}
    doc.update(extra)
    return doc


def layout_position(song: SongInfo, instrument: str) -> tuple[int, int]:
    """(stage position from the left, number of layout slots) — the metadata layout is the truth."""
    layout = list(song.layout or ())
    return layout.index(instrument), len(layout)


def check_pose(pose: InstrumentPose, song: SongInfo, instrument: str) -> None:
    fps_pose = pose.info.get("fps")
    if fps_pose is not None and abs(float(fps_pose) - song.fps) > 0.01:
        raise SongDataError(f"{instrument}: keypoints were made at {fps_pose} fps but the metadata "
                            f"says {song.fps} fps")
    expected = song.n_frames
    if abs(pose.n_frames - expected) > max(2, round(song.fps)):
        raise SongDataError(f"{instrument}: {pose.n_frames} keypoint frames, but fps × duration = "
                            f"{song.fps} × {song.duration} = {expected} frames")


def motion_types_for(instrument: str, requested: str | None) -> list[str]:
    applicable = ["general"] + [t for t in ("violin", "vocal") if t == instrument]
    return [t for t in applicable if requested in (None, t)]


def motion_output(song_dir: Path, instrument: str, motion_type: str) -> Path:
    name = {"general": MOTION_FILE, "violin": VIOLIN_FILE, "vocal": VOCAL_FILE}[motion_type]
    return song_dir / instrument / name


def threshold_settings(pose: InstrumentPose, threshold: float | None) -> tuple[float, dict]:
    if threshold is not None:
        return threshold, {"score_threshold": threshold, "score_threshold_source": "command line (-ct)"}
    value = default_threshold(pose.info)
    return value, {"score_threshold": value,
                   "score_threshold_source": f"default for score scale "
                                             f"{pose.info.get('score_scale', 'unknown')!r}"}


def _require_finite(features: dict[str, np.ndarray], what: str) -> None:
    if not any(np.isfinite(v).any() for v in features.values()):
        raise SongDataError(f"{what}: every value is NaN (no usable keypoints)")


# --- extraction --------------------------------------------------------------------------------

def extract_motion_documents(song: SongInfo, song_dir: Path, instrument: str,
                             motion_types: list[str], options: FeatureOptions
                             ) -> dict[str, dict | Exception]:
    """Compute the requested motion feature documents of one performer (not written).

    The keypoints are loaded and checked once; the general preparation is shared with the violin
    features when both drop the same points. Returns {motion type: document, or the exception that
    made that document impossible}; a problem with the keypoints themselves raises.
    """
    pose = load_instrument_pose(song_dir, instrument)
    check_pose(pose, song, instrument)
    threshold, base = threshold_settings(pose, options.threshold)
    base.update({"pose_backend": pose.info.get("backend"), "pose_model": pose.info.get("model"),
                 "score_scale": pose.info.get("score_scale"),
                 "pose_post_processing": (pose.info.get("settings") or {}).get("post_processing")})
    if not (finite_points(pose.keypoints) & (pose.scores >= threshold)).any():
        raise SongDataError(f"{instrument}: no keypoint has a score ≥ {threshold} "
                            f"(all-NaN track after masking)")
    fps = song.fps
    position, n_slots = layout_position(song, instrument)
    smoothing = {"method": "savitzky_golay", "window": SAVGOL_WINDOW, "order": SAVGOL_ORDER,
                 "nan_aware": "finite runs ≥ window smoothed, shorter runs and gaps untouched"}

    def body_settings(dropped) -> dict:
        return {**base, "stage_position": position, "layout": list(song.layout or ()),
                "all_body_parts": options.all_body_parts, "removed_points": list(dropped),
                "removed_parts": sorted({part_of(i) for i in dropped}),
                "lower_body_removed": set(LOWER_BODY) <= set(dropped),
                "motion_preprocessing": describe_motion_prep(options.motion_prep),
                "normalisation": ("per frame: minus the mean of all finite points, divided by the "
                                  "largest distance from it" if options.motion_prep == "published"
                                  else "per frame: minus the mean of the kept well-scored points, "
                                       "divided by the largest distance from it"),
                "smoothing": smoothing, "derivative": "numpy.gradient x fps"}

    docs: dict[str, dict | Exception] = {}
    dropped_general = points_to_drop(position, n_slots, options.all_body_parts)
    general = None
    if "general" in motion_types:
        try:
            general = prepare_motion(pose.keypoints, pose.scores, threshold, dropped_general,
                                     variant=options.motion_prep)
            features = general_motion_features(general.values, fps, general.points)
            _require_finite(features, f"{instrument} motion features")
            settings = body_settings(dropped_general)
            settings["body_parts"] = {name: list(idx) for name, idx in BODY_PARTS.items()}
            extra = {}
            if options.pca > 0:
                settings["pca_components"] = options.pca
                try:
                    components, pca_info = speed_pca(general.keypoints, fps, options.pca)
                    features.update(components)
                    extra["pca"] = pca_info
                except ValueError as exc:
                    # the speed and acceleration features are still valid: write them, say why
                    # there is no PCA
                    log.warning("%s: %s: no PCA: %s", song.key, instrument, exc)
                    settings["pca_not_computed"] = str(exc)
            docs["general"] = feature_document(song, instrument, fps, features,
                                               feature_units(features), settings, **extra)
        except Exception as exc:  # noqa: BLE001 -- reported per document by the caller
            docs["general"] = exc
    if "violin" in motion_types:
        try:
            # the bowing arm is what these features describe: never drop it for stage-edge occlusion
            dropped = tuple(sorted(set(dropped_general) - set(RIGHT_ARM_AND_HAND)))
            arm = (general if general is not None and dropped == dropped_general else
                   prepare_motion(pose.keypoints, pose.scores, threshold, dropped,
                                  smooth_points=(RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST),
                                  variant=options.motion_prep))
            features = violin_motion_features(arm.values, fps, arm.points)
            _require_finite(features, f"{instrument} violin features")
            settings = body_settings(dropped)
            settings["bowing_arm"] = {"shoulder": RIGHT_SHOULDER, "elbow": RIGHT_ELBOW,
                                      "wrist": RIGHT_WRIST}
            docs["violin"] = feature_document(song, instrument, fps, features, VIOLIN_UNITS,
                                              settings)
        except Exception as exc:  # noqa: BLE001
            docs["violin"] = exc
    if "vocal" in motion_types:
        try:
            faces = mask_low_scores(pose.keypoints[:, list(FACE)], pose.scores[:, list(FACE)],
                                    threshold)
            features = vocal_motion_features(faces, song.face_false_positive_frames)
            _require_finite(features, f"{instrument} vocal features")
            settings = {**base, "face_points": "133-layout 23-90",
                        "registration": "Kabsch rigid (rotation+translation, no scale) on face "
                                        "points 0-47 onto VoViT speech mean face",
                        "smoothing": smoothing,
                        "face_false_positive_frames": [list(r) for r in
                                                       song.face_false_positive_frames]}
            docs["vocal"] = feature_document(song, instrument, fps, features, VOCAL_UNITS, settings)
        except Exception as exc:  # noqa: BLE001
            docs["vocal"] = exc
    return docs


def with_f0(options: FeatureOptions, instrument: str) -> bool:
    """``--f0`` applies to the melodic performers only."""
    return options.f0 and instrument in ("vocal", "violin")


def extract_audio(song: SongInfo, song_dir: Path, instrument: str, options: FeatureOptions) -> dict:
    """Compute one audio feature document (not written)."""
    sr = audio_mod.SAMPLE_RATE
    y = load_stem(song_dir, instrument, sr)
    stem_seconds = len(y) / sr
    if abs(stem_seconds - song.duration) > 1.0:
        raise SongDataError(f"{instrument}: stem lasts {stem_seconds:.2f} s but the metadata "
                            f"duration is {song.duration} s")
    f0 = with_f0(options, instrument)
    features = audio_mod.audio_features(y, song.fps, song.n_frames, sr, with_f0=f0)
    settings = {"sample_rate": sr, "frame_length": audio_mod.N_FFT, "hop_length": audio_mod.HOP_LENGTH,
                "n_mels": audio_mod.N_MELS, "stems": [p.name for p in find_stems(song_dir, instrument)],
                "stems_combined": "mean", "stem_seconds": stem_seconds,
                "to_video_frames": "linear interpolation at frame times i / fps, i < int(fps x duration)"}
    if f0:
        settings["f0"] = {"method": "librosa.pyin", "sample_rate": audio_mod.F0_SAMPLE_RATE,
                          "frame_length": audio_mod.F0_FRAME, "hop_length": audio_mod.F0_HOP,
                          "fmin": audio_mod.F0_FMIN, "fmax": audio_mod.F0_FMAX}
    units = {name: audio_mod.AUDIO_UNITS[name] for name in features}
    return feature_document(song, instrument, song.fps, features, units, settings)


def job_settings(kind: str, instrument: str, motion_type: str | None,
                 options: FeatureOptions) -> dict:
    """The options one output's values depend on: asked with others (``--motion-prep robust``
    after the published order, another ``-ct``), the output is stale (``core.freshness``)."""
    if kind == "audio":
        return {"f0": with_f0(options, instrument)}
    return {"motion_prep": options.motion_prep, "score_threshold": options.threshold,
            "all_body_parts": options.all_body_parts,
            "pca": options.pca if motion_type == "general" else None}


def extraction_jobs(song: SongInfo, song_dir: Path, options: FeatureOptions) -> list[tuple]:
    """(kind, instrument, motion_type or None, output path, input paths, settings) for everything
    this run produces; the inputs and settings decide when an existing output is stale
    (``core.freshness``)."""
    jobs = []
    for instrument in song.instruments:
        if options.extract in ("both", "motion"):
            pose_inputs = [song_dir / instrument / name
                           for name in (KEYPOINTS_NAME, SCORES_NAME, POSE_INFO_NAME)]
            for motion_type in motion_types_for(instrument, options.motion_type):
                jobs.append(("motion", instrument, motion_type,
                             motion_output(song_dir, instrument, motion_type), pose_inputs,
                             job_settings("motion", instrument, motion_type, options)))
        if options.extract in ("both", "audio"):
            jobs.append(("audio", instrument, None, song_dir / instrument / AUDIO_FILE,
                         find_stems(song_dir, instrument),
                         job_settings("audio", instrument, None, options)))
    return jobs


def extract_song(song: SongInfo, dataset_path: Path, options: FeatureOptions) -> str | None:
    """Write every requested feature file of one song; existing files are kept unless ``force``.

    All instruments are attempted (``options.workers`` performers at a time, on threads; the audio
    part of one performer at a time, to bound memory); if any failed, a ``SongDataError`` lists
    every failure. BLAS runs on one thread (``one_blas_thread``).
    """
    with one_blas_thread():
        return _extract_song(song, dataset_path, options)


def _extract_song(song: SongInfo, dataset_path: Path, options: FeatureOptions) -> str | None:
    song_dir = song.folder(dataset_path)
    if not song_dir.is_dir():
        raise SongDataError(f"song folder {song_dir} does not exist")
    jobs = extraction_jobs(song, song_dir, options)
    no_motion = ("moving camera: no keypoints, so no motion features" if song.moving_camera else
                 body_detection_skip(song, options.include_incorrect_body_detection))
    if no_motion and any(job[0] == "motion" for job in jobs):
        # post-processing makes no keypoints for a moving camera, and the published work left
        # songs with failed pose estimation out of motion analysis: audio features only
        jobs = [job for job in jobs if job[0] != "motion"]
        if not jobs:
            raise SongSkipped(no_motion)
        log.warning("%s: audio features only, no motion features: %s", song.key, no_motion)
    todo = [job for job in jobs if not is_up_to_date([job[3]], job[4], options.force, job[5])]
    if not todo:
        return UP_TO_DATE
    inputs_before = {job[3]: snapshot(job[4]) for job in todo}   # what each output is made from
    settings_of = {job[3]: job[5] for job in todo}

    def write(path: Path, doc: dict) -> None:
        save_json(path, doc, indent=None)
        record_inputs([path], inputs_before[path], settings_of[path])
        log.debug("%s: wrote %s", song.key, path)

    def instrument_work(instrument: str) -> list[str]:
        """Compute and write this performer's files; returns its failure messages."""
        failures = []
        motion_jobs = {job[2]: job[3] for job in todo if job[0] == "motion" and job[1] == instrument}
        if motion_jobs:
            try:
                docs = extract_motion_documents(song, song_dir, instrument, list(motion_jobs),
                                                options)
            except Exception as exc:  # noqa: BLE001 -- report all instruments, then fail the song
                docs = {motion_type: exc for motion_type in motion_jobs}
            for motion_type, doc in docs.items():
                if isinstance(doc, Exception):
                    failures.append(f"{instrument} {motion_type} motion: {doc}")
                else:
                    write(motion_jobs[motion_type], doc)
            del docs
        for kind, inst, _, path, *_ in todo:
            if kind == "audio" and inst == instrument:
                try:
                    # one stem in memory at a time: an hour-long 48 kHz stem costs ~2 GB while it
                    # loads (core.audio), two at once would approach the 4 GB budget
                    with _AUDIO_LOCK:
                        doc = extract_audio(song, song_dir, instrument, options)
                    write(path, doc)
                except Exception as exc:  # noqa: BLE001
                    failures.append(f"{instrument} audio: {exc}")
        return failures

    instruments = [inst for inst in song.instruments if any(job[1] == inst for job in todo)]
    workers = max(1, min(options.workers, len(instruments)))
    if workers == 1:
        per_instrument = [instrument_work(inst) for inst in instruments]
    else:
        # numpy, scipy and the FFTs release the GIL, so performers run side by side on the cores
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=workers) as pool:
            per_instrument = list(pool.map(instrument_work, instruments))
    failures = [message for messages in per_instrument for message in messages]
    if failures:
        raise SongDataError("; ".join(failures))
    return None


# --- correlation -------------------------------------------------------------------------------

def load_feature_file(path: Path, song: SongInfo) -> dict[str, np.ndarray]:
    if not path.exists():
        raise SongDataError(f"{path} missing (run feature_extraction --extract first)")
    doc = load_json(path)
    if abs(float(doc.get("fps", song.fps)) - song.fps) > 0.01:
        raise SongDataError(f"{path}: fps {doc.get('fps')} disagrees with metadata fps {song.fps}")
    return {name: null_to_nan(values) for name, values in doc["features"].items()}


def round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round to ``digits`` significant digits (keeps JSON small); NaN and 0 unchanged."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(np.abs(values)))
        scale = np.where(np.isfinite(exponent), 10.0 ** (digits - 1 - exponent), 1.0)
        return np.round(values * scale) / scale


def counted_pairs(motion_features: list[str], audio_keys: list[tuple[str, str]], performer: str,
                  rule: str = "published") -> np.ndarray:
    """Which (motion feature, audio feature) pairs count towards a performer's strong-window count:
    ``(M, A)`` bool for motion feature names ``motion_features`` and ``audio_keys`` = (instrument,
    audio feature) pairs.

    ``"published"`` (DESIGN §5): the performer's motion features (without the optional ``pca_*``
    components) against their own stem's ``rms`` and ``onset_env`` (librosa ``onset_strength``)
    only. ``"all"`` (this
    project's option): every motion feature, ``pca_*`` included, against every audio feature of
    their own stem (``spectral_centroid``, ``f0`` when extracted, ...). Other stems never count:
    they are the control.
    """
    check_count_rule(rule)
    own = np.array([inst == performer for inst, _ in audio_keys], dtype=bool)
    if rule == "all":
        return np.broadcast_to(own, (len(motion_features), len(audio_keys))).copy()
    audio_ok = own & np.array([feature in corr.PUBLISHED_AUDIO_FEATURES for _, feature in audio_keys],
                              dtype=bool)
    motion_ok = np.array([not name.startswith("pca_") for name in motion_features], dtype=bool)
    return motion_ok[:, None] & audio_ok[None, :]


def check_count_rule(rule: str) -> str:
    if rule not in corr.COUNT_RULES:
        raise ValueError(f"unknown strong-window count rule {rule!r}: expected one of "
                         f"{corr.COUNT_RULES}")
    return rule


def count_settings(rule: str) -> dict:
    """The ``settings`` record of the strong-window count (correlations.json and the aggregate)."""
    check_count_rule(rule)
    return {"strong_window_features": rule, "published": rule == "published",
            "strong_definition": f"p < {corr.P_THRESHOLD} and |r| > {corr.R_THRESHOLD}",
            "counted_pairs": ("the performer's motion features (no pca_*) x their own stem's "
                              + " and ".join(corr.PUBLISHED_AUDIO_FEATURES)
                              if rule == "published" else
                              "every motion feature of the performer (pca_* included) x every "
                              "audio feature of their own stem"),
            "window_s": corr.WINDOW_S, "step_s": corr.STEP_S, "chunk_s": corr.CHUNK_S}


def correlate_song(song: SongInfo, dataset_path: Path, count_rule: str = "published") -> dict:
    """Sliding correlations of every performer's motion features with every instrument's audio
    features. Returns the correlations document plus ``_counts``: the chunk counts for the
    aggregated file (``{chunk: {instrument: n, "total": n}}``), counted by ``count_rule``
    (``counted_pairs``)."""
    song_dir = song.folder(dataset_path)
    fps = song.fps
    audio = {inst: load_feature_file(song_dir / inst / AUDIO_FILE, song) for inst in song.instruments}
    motion: dict[str, list[tuple[str, str, np.ndarray]]] = {}
    for inst in song.instruments:
        rows = []
        for name in (MOTION_FILE, VIOLIN_FILE, VOCAL_FILE):
            path = song_dir / inst / name
            if name != MOTION_FILE and not path.exists():
                continue
            for feature, values in load_feature_file(path, song).items():
                if np.isfinite(values).any():
                    rows.append((name, feature, values))
                else:
                    log.info("%s: %s %s is all NaN, left out of the correlation", song.key, inst,
                             feature)
        motion[inst] = rows
    lengths = [len(v) for feats in audio.values() for v in feats.values()] + \
              [len(v) for rows in motion.values() for _, _, v in rows]
    n_frames = min(lengths)
    if max(lengths) - n_frames > max(2, round(fps)):
        raise SongDataError(f"feature lengths disagree: {min(lengths)}..{max(lengths)} frames")
    grid = corr.window_grid(n_frames, fps)
    audio_keys = [(inst, feat) for inst in song.instruments for feat in audio[inst]]
    audio_matrix = np.stack([audio[inst][feat][:n_frames] for inst, feat in audio_keys])
    pairs, counts = [], {}
    for performer, rows in motion.items():
        if not rows:
            continue
        motion_matrix = np.stack([values[:n_frames] for _, _, values in rows])
        r, p, _ = corr.sliding_pearson(motion_matrix, audio_matrix, grid)
        strong = corr.strong_windows(r, p)
        counted = counted_pairs([feature for _, feature, _ in rows], audio_keys, performer,
                                count_rule)
        counts[performer] = corr.chunk_counts(strong[counted], grid, fps)
        for m, (file_name, feature, _) in enumerate(rows):
            body_part = SPECIAL_FEATURE_PARTS.get(feature)
            if body_part is None:
                body_part = next((part for part in BODY_PARTS if feature.startswith(part + "_")), None)
            for a, (inst, audio_feature) in enumerate(audio_keys):
                defined = np.isfinite(r[m, a])
                pairs.append({
                    "performer": performer, "motion_file": file_name, "motion_feature": feature,
                    "body_part": body_part, "audio_instrument": inst, "audio_feature": audio_feature,
                    "control": inst != performer, "counted": bool(counted[m, a]),
                    "strong_share": float(strong[m, a].sum() / defined.sum()) if defined.any()
                    else None,
                    "r": np.round(r[m, a], 4),
                    "p": round_significant(p[m, a], 3),
                    "strong": strong[m, a]})
    chunks = sorted({c for per in counts.values() for c in per})
    aggregated = {str(c): {**{inst: counts[inst].get(c, 0) for inst in counts},
                           "total": sum(counts[inst].get(c, 0) for inst in counts)} for c in chunks}
    return {"artist": song.artist, "song": song.song, "fps": fps, "n_frames": n_frames,
            "window_s": corr.WINDOW_S, "step_s": corr.STEP_S, "window_frames": grid.length,
            "window_start_frames": grid.starts, "chunk_s": corr.CHUNK_S,
            "strong_definition": f"p < {corr.P_THRESHOLD} and |r| > {corr.R_THRESHOLD}",
            "min_pairs_per_window": grid.min_pairs, "settings": count_settings(count_rule),
            "pairs": pairs, "_counts": aggregated}


def correlation_outputs(song: SongInfo, dataset_path: Path) -> tuple[Path, Path]:
    folder = song.folder(dataset_path) / CORRELATION_DIR
    return folder / CORRELATIONS_FILE, folder / SUMMARY_FIGURE


def correlation_inputs(song: SongInfo, dataset_path: Path) -> list[Path]:
    """Every feature file the song's correlation may read (those that exist are its inputs)."""
    song_dir = song.folder(dataset_path)
    return [song_dir / inst / name for inst in song.instruments
            for name in (AUDIO_FILE, MOTION_FILE, VIOLIN_FILE, VOCAL_FILE)]


AGGREGATE_SETTINGS_KEY = "_settings"     # not an artist: how the aggregate's counts were made


def aggregate_for_rule(aggregated: dict, count_rule: str) -> dict:
    """The aggregate to extend with ``count_rule`` counts: ``aggregated`` itself when its counts were
    made with that rule, otherwise an empty one (counts of two rules are never mixed; an aggregate
    without a recorded rule predates the published default). Sets the ``_settings`` entry."""
    wanted = count_settings(count_rule)
    if aggregated.get(AGGREGATE_SETTINGS_KEY) != wanted:
        if aggregated:
            log.warning("the strong-window aggregate was counted with %s, this run counts with %r: "
                        "its songs are recounted, the others dropped",
                        (aggregated.get(AGGREGATE_SETTINGS_KEY) or {}).get(
                            "strong_window_features", "an unrecorded rule"), count_rule)
        aggregated = {}
    aggregated[AGGREGATE_SETTINGS_KEY] = wanted
    return aggregated


def read_aggregate(path: Path, force: bool, count_rule: str = "published") -> dict:
    """The aggregated strong-window counts made with ``count_rule`` (``aggregate_for_rule``;
    ``{"_settings": ...}`` when absent). A damaged file is an error naming it, unless ``force``:
    then it is started afresh (the songs of this run refill it)."""
    if not path.exists():
        return aggregate_for_rule({}, count_rule)
    try:
        aggregated = load_json(path)
        if not isinstance(aggregated, dict):
            raise UnreadableFileError(f"{path} is not an artist -> song -> counts object")
        return aggregate_for_rule(aggregated, count_rule)
    except UnreadableFileError as exc:
        if not force:
            raise UnreadableFileError(f"{exc}; run with -f to rebuild it") from None
        log.warning("%s; -f: starting it afresh with the songs of this run", exc)
        return aggregate_for_rule({}, count_rule)


def update_aggregate(path: Path, counts: dict[tuple[str, str], dict], force: bool,
                     count_rule: str = "published") -> None:
    """Merge ``{(artist, song): chunk counts}`` into the aggregated file under a file lock, so
    that runs on different songs at the same time (``-s``) never drop each other's songs: the
    file is re-read inside the lock, so only these songs' entries change (all others are dropped
    when the file holds counts of another rule: never mixed)."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        aggregated = read_aggregate(path, force, count_rule)
        for (artist, song), song_counts in counts.items():
            aggregated.setdefault(artist, {})[song] = song_counts
        save_json(path, aggregated)


def correlate_and_write(song: SongInfo, dataset_path: Path, aggregated: dict, force: bool,
                        count_rule: str = "published",
                        include_incorrect_body_detection: bool = False) -> str | Finished:
    """Per-song correlation work for the runner. ``aggregated`` (the aggregate file as it was, read
    for the same ``count_rule``: ``read_aggregate``) is only read; the song's chunk counts for it
    are returned as ``Finished(counts)``, and the stage's own process adds them (the work may run
    in a Ray worker)."""
    from .plots import strong_share_figure

    if song.moving_camera:
        raise SongSkipped("moving camera: no keypoints, so no motion-audio correlation")
    if reason := body_detection_skip(song, include_incorrect_body_detection):
        raise SongSkipped(reason)
    json_path, figure_path = correlation_outputs(song, dataset_path)
    inputs = correlation_inputs(song, dataset_path)
    known = aggregated.get(song.artist, {}).get(song.song)
    if known is not None and is_up_to_date([json_path, figure_path], inputs, force):
        return UP_TO_DATE
    before = snapshot(inputs)
    with one_blas_thread():
        doc = correlate_song(song, dataset_path, count_rule)
    counts = doc.pop("_counts")
    save_json(json_path, doc, indent=None)
    strong_share_figure(doc, figure_path)
    record_inputs([json_path, figure_path], before)
    return Finished(counts)
