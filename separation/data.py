"""Chunk dataset over the dataset tree: audio at 16384 Hz and keypoints at 25 fps, cut into 4-s chunks.

Audio
    target  = the instrument's stem (``core.audio.load_stem``: matching stems averaged, soxr HQ
              resampling to 16384 Hz);
    mixture = the provided mixture (``core.dataset.find_mixture``) or else the sum of the stems of
              every instrument in the song's layout. Both are zero-padded to the longer length.
Keypoints
    The performer's ``(F, 133, 2)`` keypoints (``core.pose_files.load_instrument_pose``); ``face`` =
    133-layout points 23–90 (``core.keypoints.FACE``), ``body`` = ``core.keypoints.BODY_55``,
    ``face_body`` = face then body (123 points). A point is missing when it is NaN or its score is below
    the backend's default threshold (``core.pose_files.default_threshold``); for the vocalist's face,
    frames in the metadata's ``face_false_positive_frames`` ranges are missing too.
    Resampling video fps → 25 fps: output frame ``k`` is at source position ``s = k × fps / 25``;
    ``p(k) = (1 - w) p[floor s] + w p[floor s + 1]`` with ``w = s - floor s``; missing if a neighbour with
    non-zero weight is missing.
    Normalisation (per frame), by the model's input conventions (``separation.conventions``):
      face, ``registered`` (project-trained models): similarity registration (rotation, translation,
            scale) onto VoViT's mean face fitted on the convention's fit points (default the stable
            brows, nose and eyes; ``core.face.register_faces``), then ``(p - c) / r`` with ``c`` the
            mean face's centroid and ``r`` its largest point distance from ``c`` (mean-face units:
            a registered face has radius about 1, like the mean face);
      face, ``raw`` (official VoViT): the keypoint file's pixel coordinates, unchanged;
      body: ``(p - c_f) / r_f`` with ``c_f`` the mean of the frame's valid points and ``r_f`` their
            largest distance from ``c_f``.
    Missing points are set to 0 and marked False in ``visual_mask``.
Mixture scale
    A chunk's mixture and target are divided by ``scale`` (``Chunk.scale``; the convention's
    ``mixture_normalisation``: the chunk's own mixture peak, or the whole song's), so chunks are at the
    model's input scale; ``× scale`` gives the song's level back.
Chunks
    Chunk ``c`` covers samples ``[65536 c, 65536 c + 65535)`` (starts at ``4c`` s) and 25-fps frames
    ``[100 c, 100 c + 100)``. A frame is "missing" when fewer than 10 % of its points are valid (hands are
    often not found, so a frame with the upper body alone still counts); a chunk
    with more than ``max_missing_fraction`` (default 0.25) missing frames is skipped and counted in the
    log. Only whole chunks inside the audio are used.
Training crops
    ``SongArrays.crop(k)`` cuts a 4-s window at any 25-fps frame ``k`` (sample ``round(k × 16384 / 25)``),
    so training sees every offset, not only the chunk grid; ``usable_start_frames`` applies the same
    missing-frame rule.
Mix-and-separate
    ``remix(target_a, mixture_b, target_b)`` = ``target_a + (mixture_b - target_b)``: the target of one
    chunk over the accompaniment (other stems and bleed) of another chunk or song.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import load_audio, load_stem
from core.dataset import SongDataError, find_mixture
from core.face import FACE_FIT_POINTS, load_mean_face, register_faces
from core.keypoints import BODY_55, FACE
from core.metadata import SongInfo, frame_ranges_mask
from core.motion_prep import normalise_per_frame
from core.pose_files import default_threshold, load_instrument_pose
from core.runner import SongSkipped

from .conventions import InputConventions, mixture_scale, peak
from .vovit import CHUNK_SAMPLES, CHUNK_VIDEO_FRAMES, SAMPLE_RATE, VIDEO_FPS

log = logging.getLogger("separation.data")

CHUNK_STRIDE_SAMPLES = int(4 * SAMPLE_RATE)       # 65536: chunk c starts at 4c seconds
MIN_VALID_POINTS_FRACTION = 0.1   # hands are often not found: an upper body alone still counts
MAX_MISSING_FRACTION = 0.25


@dataclass
class Chunk:
    """One 4-s training/evaluation example."""
    index: int                        # chunk number c (starts at 4c s)
    mixture: np.ndarray               # (65535,) float32
    target: np.ndarray                # (65535,) float32
    visual: np.ndarray | None         # the kind's chunk input (separation.conditions): keypoints
                                      # (2, 100, J) float32, normalised, 0 = missing; frames
                                      # (100, 3, S, S) uint8; None for "none"
    visual_mask: np.ndarray | None    # (100, M) bool, True = observed (M = J points, 1 for frames)
    song: str = ""                    # "artist/song"
    scale: float = 1.0                # mixture and target were divided by this (module docstring)


def visual_indices(visual: str) -> tuple[int, ...]:
    """133-layout indices of the model's points, in model order (face then body for face_body)."""
    if visual == "face":
        return tuple(FACE)
    if visual == "body":
        return tuple(BODY_55)
    if visual == "face_body":
        return tuple(FACE) + tuple(BODY_55)
    raise ValueError(f"no keypoints for visual input {visual!r}")


# --- pure functions over arrays --------------------------------------------------------------------

def resample_keypoints(points: np.ndarray, valid: np.ndarray, fps: float,
                       target_fps: float = VIDEO_FPS, n_out: int | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation in time (module docstring).

    ``points`` (F, P, 2) float, ``valid`` (F, P) bool → ``(F25, P, 2)`` float64, ``(F25, P)`` bool.
    ``n_out`` defaults to the frames that fit: ``floor((F - 1) × 25 / fps) + 1``.
    """
    n_in = points.shape[0]
    if n_in == 0:
        return np.zeros((0,) + points.shape[1:]), np.zeros((0, points.shape[1]), bool)
    if n_out is None:
        n_out = int(np.floor((n_in - 1) * target_fps / fps + 1e-9)) + 1
    position = np.arange(n_out) * (fps / target_fps)
    lower = np.clip(np.floor(position + 1e-9).astype(int), 0, n_in - 1)
    upper = np.clip(lower + 1, 0, n_in - 1)
    weight = np.clip(position - lower, 0.0, 1.0)
    weight[lower == upper] = 0.0
    beyond = position > n_in - 1 + 1e-9
    clean = np.where(valid[..., None], points, 0.0).astype(np.float64)
    out = (1 - weight)[:, None, None] * clean[lower] + weight[:, None, None] * clean[upper]
    ok = valid[lower] & (valid[upper] | (weight[:, None] < 1e-9))
    ok &= ~beyond[:, None]
    return np.where(ok[..., None], out, 0.0), ok


def normalise_body(points: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``(F, P, 2)`` → per-frame centred and scaled points (module docstring; the shared
    ``core.motion_prep.normalise_per_frame``); invalid points and degenerate frames → 0."""
    out, _, _ = normalise_per_frame(np.where(valid[..., None], points, np.nan))
    return np.where(valid[..., None] & np.isfinite(out), out, 0.0)


def _mean_face_frame(mean_face: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre ``(2,)`` and radius (largest distance from the centre) of the mean face: the fixed
    frame both ``normalise_face`` and ``normalised_mean_face`` map faces into."""
    centre = mean_face.mean(axis=0)
    return centre, float(np.linalg.norm(mean_face - centre, axis=1).max())


def normalise_face(points: np.ndarray, valid: np.ndarray, mean_face: np.ndarray | None = None,
                   fit_points: str = "stable") -> tuple[np.ndarray, np.ndarray]:
    """``(F, 68, 2)`` pixels → similarity-registered to the mean face on ``fit_points``
    (``core.face.FACE_FIT_POINTS``), in mean-face units (module docstring).

    Returns the normalised points and the validity (frames without a registration become invalid).
    """
    mean_face = load_mean_face() if mean_face is None else mean_face
    registered = register_faces(np.where(valid[..., None], points, np.nan), mean_face,
                                FACE_FIT_POINTS[fit_points], similarity=True)
    centre, radius = _mean_face_frame(mean_face)
    out = (registered - centre) / radius
    ok = valid & np.isfinite(out).all(axis=-1)
    return np.where(ok[..., None], out, 0.0), ok


def normalised_mean_face(conventions: InputConventions) -> np.ndarray:
    """VoViT's mean face in the model's face input space, ``(68, 2)`` float32 (the saliency baseline
    for the face input: what ``face_input`` makes of a face identical to the mean face; pixels for
    ``raw`` coordinates)."""
    mean_face = load_mean_face()
    if conventions.face_coordinates == "raw":
        return mean_face.astype(np.float32)
    centre, radius = _mean_face_frame(mean_face)
    return ((mean_face - centre) / radius).astype(np.float32)


def mean_face_input(faces: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The mean of face inputs over the frames that have all 68 points: ``faces`` ``(F, 68, 2)``
    (model input space, ``load_song_visual(..., "face", ...)``), ``mask`` ``(F, 68)`` →
    ``(68, 2)`` float32 and the number of frames averaged. Frames with a missing point are left
    out rather than averaged as zeros; with none left the mean is NaN."""
    full = mask.all(axis=1)
    if not full.any():
        return np.full(faces.shape[1:], np.nan, dtype=np.float32), 0
    return faces[full].astype(np.float64).mean(axis=0).astype(np.float32), int(full.sum())


def face_input(points: np.ndarray, valid: np.ndarray, conventions: InputConventions
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(F, 68, 2)`` pixels → the model's face input by the conventions' ``face_coordinates``
    (module docstring) and its validity; missing points 0."""
    if conventions.face_coordinates == "raw":
        return np.where(valid[..., None], points, 0.0), valid.copy()
    return normalise_face(points, valid, fit_points=conventions.face_fit_points)


def normalise_visual(points: np.ndarray, valid: np.ndarray, visual: str,
                     conventions: InputConventions) -> tuple[np.ndarray, np.ndarray]:
    """Model-order points ``(F, J, 2)`` → model input ``(F, J, 2)`` float32 and mask ``(F, J)``."""
    if visual == "face":
        out, ok = face_input(points, valid, conventions)
    elif visual == "body":
        out, ok = normalise_body(points, valid), valid.copy()
    elif visual == "face_body":
        face, face_ok = face_input(points[:, :68], valid[:, :68], conventions)
        body = normalise_body(points[:, 68:], valid[:, 68:])
        out = np.concatenate([face, body], axis=1)
        ok = np.concatenate([face_ok, valid[:, 68:]], axis=1)
    else:
        raise ValueError(f"unknown visual input {visual!r}")
    return out.astype(np.float32), ok


def missing_frames(mask: np.ndarray) -> np.ndarray:
    """``(F, J)`` bool → ``(F,)`` bool: frames with fewer than 10 % of their points observed."""
    return mask.mean(axis=1) < MIN_VALID_POINTS_FRACTION


def chunk_count(n_samples: int) -> int:
    """Whole 4-s chunks in a signal of ``n_samples`` samples at 16384 Hz."""
    if n_samples < CHUNK_SAMPLES:
        return 0
    return (n_samples - CHUNK_SAMPLES) // CHUNK_STRIDE_SAMPLES + 1


def visual_window(visual: np.ndarray, mask: np.ndarray, start_frame: int,
                  n_frames: int = CHUNK_VIDEO_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``[start, start + n)`` of ``(F, J, 2)`` / ``(F, J)`` as ``(2, n, J)`` and ``(n, J)``,
    zero-padded (mask False) past the end."""
    f, j = mask.shape
    out = np.zeros((n_frames, j, 2), np.float32)
    out_mask = np.zeros((n_frames, j), bool)
    stop = min(f, start_frame + n_frames)
    if stop > start_frame:
        out[:stop - start_frame] = visual[start_frame:stop]
        out_mask[:stop - start_frame] = mask[start_frame:stop]
    return np.ascontiguousarray(out.transpose(2, 0, 1)), out_mask


def remix(target_a: np.ndarray, mixture_b: np.ndarray, target_b: np.ndarray) -> np.ndarray:
    """Mix-and-separate: target of one chunk over the accompaniment of another (module docstring)."""
    return (target_a + (mixture_b - target_b)).astype(np.float32)


# --- file edges ------------------------------------------------------------------------------------

def load_song_audio(song_dir: str | Path, song_info: SongInfo, instrument: str
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(mixture, target)`` float32 at 16384 Hz, same length (module docstring)."""
    target = load_stem(song_dir, instrument, SAMPLE_RATE)
    mixture_path = find_mixture(song_dir)
    if mixture_path is not None:
        mixture = load_audio(mixture_path, SAMPLE_RATE)
    else:
        stems = [target if name == instrument else load_stem(song_dir, name, SAMPLE_RATE)
                 for name in (song_info.instruments or (instrument,))]
        if instrument not in (song_info.instruments or ()):
            stems.append(target)
        length = max(len(s) for s in stems)
        mixture = np.zeros(length, np.float32)
        for s in stems:
            mixture[:len(s)] += s
    length = max(len(mixture), len(target))
    return (np.pad(mixture, (0, length - len(mixture))).astype(np.float32),
            np.pad(target, (0, length - len(target))).astype(np.float32))


def load_song_visual(song_dir: str | Path, song_info: SongInfo, instrument: str, visual: str, *,
                     conventions: InputConventions) -> tuple[np.ndarray, np.ndarray]:
    """The performer's keypoints at 25 fps as model input (by ``conventions``): ``(F25, J, 2)``
    float32 and ``(F25, J)`` mask.

    Raises ``SongSkipped`` (a named skip) when the instrument has no keypoints or none is usable.
    """
    try:
        pose = load_instrument_pose(song_dir, instrument)
    except SongDataError as exc:
        raise SongSkipped(str(exc)) from exc
    fps = pose.info.get("fps") or song_info.fps
    if not fps:
        raise SongDataError(f"{song_info.key}: no fps for the {instrument} keypoints")
    indices = list(visual_indices(visual))
    points = pose.keypoints[:, indices]
    valid = np.isfinite(points).all(axis=-1) & (pose.scores[:, indices] >= default_threshold(pose.info))
    if instrument == "vocal" and visual in ("face", "face_body"):
        # Metadata's face false-positive ranges (inclusive video frames) are not the singer's face.
        valid[frame_ranges_mask(song_info.face_false_positive_frames, len(valid)),
              :len(FACE)] = False
    if not valid.any():
        raise SongSkipped(f"no usable {visual} keypoints for {instrument} "
                          f"(all NaN or below the score threshold)")
    points25, valid25 = resample_keypoints(points, valid, float(fps))
    return normalise_visual(points25, valid25, visual, conventions)


@dataclass
class SongArrays:
    """A whole song for one target instrument, ready for cropping into chunks."""
    key: str                          # "artist/song"
    mixture: np.ndarray               # (N,) float32, 16384 Hz
    target: np.ndarray                # (N,) float32
    visual: np.ndarray | None         # the kind's 25-fps input (F25, ...), e.g. (F25, J, 2)
                                      # float32 normalised keypoints; None for "none"
    visual_mask: np.ndarray | None    # (F25, M) bool
    conventions: InputConventions = InputConventions()   # how crops are scaled (module docstring)
    kind: str = "none"                # the condition kind (separation.conditions) of visual

    @property
    def song_peak(self) -> float:
        """Absolute peak of the whole song's mixture (``separation.conventions.peak``)."""
        return peak(self.mixture)

    def start_sample(self, start_frame: int) -> int:
        """First sample of the window starting at 25-fps frame ``start_frame``."""
        return int(round(start_frame * SAMPLE_RATE / VIDEO_FPS))

    def usable_start_frames(self, max_missing_fraction: float = MAX_MISSING_FRACTION,
                            step: int = 1) -> np.ndarray:
        """25-fps start frames (every ``step``) whose 4-s window lies inside the audio and has at
        most ``max_missing_fraction`` missing frames."""
        last = (len(self.mixture) - CHUNK_SAMPLES) * VIDEO_FPS / SAMPLE_RATE
        starts = np.arange(0, int(np.floor(last)) + 1, step) if last >= 0 else np.zeros(0, int)
        if self.visual_mask is None or len(starts) == 0:
            return starts
        missing = np.concatenate([missing_frames(self.visual_mask),
                                  np.ones(CHUNK_VIDEO_FRAMES, bool)]).astype(np.float64)
        window_missing = np.convolve(missing, np.ones(CHUNK_VIDEO_FRAMES), "valid")
        return starts[window_missing[starts] / CHUNK_VIDEO_FRAMES <= max_missing_fraction]

    def grid_chunks(self, max_missing_fraction: float = MAX_MISSING_FRACTION) -> list[Chunk]:
        """The usable chunks on the 4-s grid (chunk c starts at 4c s): what evaluation, saliency
        and validation use."""
        usable = set(self.usable_start_frames(max_missing_fraction).tolist())
        return [self.crop(c * CHUNK_VIDEO_FRAMES, index=c)
                for c in range(chunk_count(len(self.mixture))) if c * CHUNK_VIDEO_FRAMES in usable]

    def crop(self, start_frame: int, index: int = -1) -> Chunk:
        """The 4-s chunk starting at 25-fps frame ``start_frame`` (``index`` = its chunk number), at
        the model's input scale (module docstring)."""
        from .conditions import condition_window     # conditions builds on this module

        start = self.start_sample(start_frame)
        window_visual = window_mask = None
        if self.visual is not None:
            window_visual, window_mask = condition_window(self.kind, self.visual, self.visual_mask,
                                                          start_frame, CHUNK_VIDEO_FRAMES)
        mixture = self.mixture[start:start + CHUNK_SAMPLES]
        song_peak = self.song_peak if self.conventions.mixture_normalisation == "song_peak" else 1.0
        scale = mixture_scale(mixture, song_peak, self.conventions.mixture_normalisation)
        return Chunk(index, (mixture / scale).astype(np.float32),
                     (self.target[start:start + CHUNK_SAMPLES] / scale).astype(np.float32),
                     window_visual, window_mask, self.key, scale)


def load_song_arrays(song_dir: str | Path, song_info: SongInfo, instrument: str,
                     visual: str, *, conventions: InputConventions,
                     options: dict | None = None) -> SongArrays:
    """Audio and (for visual models) the kind's 25-fps condition of one song (module docstring;
    ``separation.conditions.prepare_condition``; ``options`` = the model config's encoder
    options)."""
    from .conditions import prepare_condition     # conditions builds on this module

    mixture, target = load_song_audio(song_dir, song_info, instrument)
    values, mask = prepare_condition(visual, song_dir, song_info, instrument,
                                     conventions=conventions, options=options)
    return SongArrays(song_info.key, mixture, target, values, mask, conventions, visual)


def song_chunks(song_dir: str | Path, song_info: SongInfo, instrument: str, visual: str,
                max_missing_fraction: float = MAX_MISSING_FRACTION, *,
                conventions: InputConventions, options: dict | None = None) -> list[Chunk]:
    """All usable 4-s chunks of one song for one target instrument (module docstring), prepared by
    the model's input ``conventions`` (recorded in its checkpoint) and encoder ``options``.

    ``visual="none"``: audio only, every whole chunk is used. Raises ``SongSkipped`` when the
    instrument has no keypoints (for a visual model), ``SongDataError`` when stems are missing.
    """
    song = load_song_arrays(song_dir, song_info, instrument, visual, conventions=conventions,
                            options=options)
    chunks = song.grid_chunks(max_missing_fraction)
    skipped = chunk_count(len(song.mixture)) - len(chunks)
    if skipped:
        log.info("%s/%s: skipped %d of %d chunks with > %.0f%% frames missing keypoints",
                 song_info.key, instrument, skipped, skipped + len(chunks),
                 100 * max_missing_fraction)
    return chunks
