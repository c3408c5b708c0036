"""The ``frames`` kind's data: RGB crops around the queried performer at 25 fps, cached per song.

Box (from the pose stage's keypoints, so the query is a performer, as for keypoints)
    In every video frame the performer's valid points (finite, score at least the backend's default
    threshold, ``core.pose_files.default_threshold``; all 133 COCO-WholeBody points) give an extent;
    the crop is the square centred on that extent's midpoint whose side is the song's median of
    ``max(width, height) × (1 + 2 × BOX_MARGIN)`` (at least ``MIN_SIDE_PX``): one size per song, so
    the crop does not zoom with a hand that comes and goes, and the performer's own movement stays
    visible in it. A frame without valid points takes the centre of the nearest frame that has some
    (the camera is static). Parts of the square outside the picture are black.
Frame rate
    25-fps frame ``k`` is video frame ``round(k × fps / 25)`` (nearest; pixels are not blended);
    there are ``floor((F - 1) × 25 / fps) + 1`` of them for ``F`` keypoint frames, as for the
    keypoint kinds (``separation.data.resample_keypoints``), so the chunk grids agree.
Crop
    The square is cut from the RGB frame (``core.video.iter_frames``) and resized to
    ``crop_size × crop_size`` with area interpolation (OpenCV ``INTER_AREA``) → ``(3, S, S)`` uint8.
Presence mask
    ``(F25, 1)`` bool: the frame decoded and the song has a box. A chunk's window is
    ``(100, 3, S, S)`` uint8 and ``(100, 1)``, zero-padded past the end (``frames_window``).
Cache
    ``<song>/<instrument>/frames_<S>px.npz`` (``crops`` ``(F25, 3, S, S)`` uint8, ``present``
    ``(F25,)`` bool, ``centres`` ``(F25, 2)`` and ``side`` in video pixels), written atomically; it is
    rebuilt when the video, the keypoints, their scores or pose info change, or the crop settings do
    (``core.freshness``), so training decodes each video once.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from core.dataset import KEYPOINTS_NAME, POSE_INFO_NAME, SCORES_NAME, SongDataError, find_video
from core.freshness import is_up_to_date, record_inputs, snapshot
from core.io import atomic_path, load_npz
from core.metadata import SongInfo
from core.pose_files import default_threshold, load_instrument_pose
from core.runner import SongSkipped

log = logging.getLogger("separation.frames")

CACHE_VERSION = 1
BOX_MARGIN = 0.15          # of the performer's extent, on every side
MIN_SIDE_PX = 16.0
TARGET_FPS = 25


def cache_path(song_dir: str | Path, instrument: str, crop_size: int) -> Path:
    return Path(song_dir) / instrument / f"frames_{crop_size}px.npz"


def source_frames(n_keypoint_frames: int, fps: float, target_fps: float = TARGET_FPS) -> np.ndarray:
    """``(F25,)`` video frame index of every 25-fps frame (module docstring)."""
    if n_keypoint_frames == 0:
        return np.zeros(0, int)
    n_out = int(np.floor((n_keypoint_frames - 1) * target_fps / fps + 1e-9)) + 1
    return np.minimum(np.round(np.arange(n_out) * fps / target_fps).astype(int),
                      n_keypoint_frames - 1)


def performer_boxes(keypoints: np.ndarray, valid: np.ndarray, margin: float = BOX_MARGIN
                    ) -> tuple[np.ndarray, float]:
    """``(F, P, 2)`` pixels and ``(F, P)`` validity → per-frame square centres ``(F, 2)`` and the
    song's side (pixels) (module docstring). ``ValueError`` when no frame has a valid point."""
    has = valid.any(axis=1)
    if not has.any():
        raise ValueError("no valid keypoint in any frame")
    pts = np.where(valid[..., None], keypoints, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)              # all-NaN frames → NaN
        low, high = np.nanmin(pts, axis=1), np.nanmax(pts, axis=1)    # (F, 2)
    centres = (low + high) / 2
    extent = (high - low).max(axis=1)
    side = max(float(np.median(extent[has])) * (1 + 2 * margin), MIN_SIDE_PX)
    frames, known = np.arange(len(has)), np.flatnonzero(has)
    after_pos = np.searchsorted(known, frames)                        # first known frame ≥ f
    after = known[np.minimum(after_pos, len(known) - 1)]
    before = known[np.maximum(after_pos - 1, 0)]
    nearest = np.where(np.abs(frames - before) <= np.abs(after - frames), before, after)
    return centres[nearest], side


def crop_square(image: np.ndarray, centre, side: float, size: int) -> np.ndarray:
    """``(H, W, 3)`` uint8 → ``(3, size, size)`` uint8: the square of ``side`` pixels centred on
    ``centre`` (x, y), black outside the picture, area-resized."""
    import cv2

    s = max(int(round(side)), 1)
    x0, y0 = int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2))
    canvas = np.zeros((s, s, 3), np.uint8)
    h, w = image.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + s, w), min(y0 + s, h)
    if sx1 > sx0 and sy1 > sy0:
        canvas[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    resized = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(resized.transpose(2, 0, 1))


def frames_window(crops: np.ndarray, mask: np.ndarray, start_frame: int, n_frames: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``[start, start + n)`` of ``(F25, 3, S, S)`` / ``(F25, 1)`` → ``(n, 3, S, S)`` uint8 and
    ``(n, 1)`` bool, zero-padded (mask False) past the end."""
    out = np.zeros((n_frames,) + crops.shape[1:], crops.dtype)
    out_mask = np.zeros((n_frames,) + mask.shape[1:], bool)
    stop = min(len(crops), start_frame + n_frames)
    if stop > start_frame:
        out[:stop - start_frame] = crops[start_frame:stop]
        out_mask[:stop - start_frame] = mask[start_frame:stop]
    return out, out_mask


def extract_crops(video: Path, centres: np.ndarray, side: float, frame_index: np.ndarray,
                  crop_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``video`` once; ``(F25, 3, S, S)`` crops of the wanted frames and ``(F25,)`` presence
    (frames the video lacks stay black and absent)."""
    from core.video import iter_frames

    crops = np.zeros((len(frame_index), 3, crop_size, crop_size), np.uint8)
    present = np.zeros(len(frame_index), bool)
    wanted: dict[int, list[int]] = {}
    for k, source in enumerate(frame_index):
        wanted.setdefault(int(source), []).append(k)
    if not wanted:
        return crops, present
    for index, image in iter_frames(video, 0, max(wanted) + 1):
        for k in wanted.get(index, ()):
            crops[k] = crop_square(image, centres[index], side, crop_size)
            present[k] = True
    return crops, present


def pose_input_files(song_dir: str | Path, instrument: str) -> list[Path]:
    folder = Path(song_dir) / instrument
    return [folder / KEYPOINTS_NAME, folder / SCORES_NAME, folder / POSE_INFO_NAME]


def frames_input_files(song_dir: str | Path, instrument: str) -> list[Path]:
    """What the crops are made from: the video and the performer's pose files."""
    try:
        video = [find_video(song_dir)]
    except SongDataError:
        video = []
    return video + pose_input_files(song_dir, instrument)


def load_song_frames(song_dir: str | Path, song_info: SongInfo, instrument: str, crop_size: int,
                     force: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The performer's crops at 25 fps ``(F25, 3, S, S)`` uint8 and presence ``(F25, 1)`` bool,
    from the cache when it is current (module docstring).

    Raises ``SongSkipped`` (a named skip) when the song has no video or the performer no usable
    keypoints."""
    song_dir = Path(song_dir)
    try:
        video = find_video(song_dir)
        pose = load_instrument_pose(song_dir, instrument)
    except SongDataError as exc:
        raise SongSkipped(f"no frames input for {instrument}: {exc}") from exc
    out = cache_path(song_dir, instrument, crop_size)
    inputs = [video, *pose_input_files(song_dir, instrument)]
    settings = {"version": CACHE_VERSION, "crop_size": crop_size, "margin": BOX_MARGIN,
                "fps": TARGET_FPS}
    if is_up_to_date([out], inputs, force, settings):
        cached = load_npz(out, ("crops", "present"))       # a dataset file: never unpickled
        return cached["crops"], cached["present"][:, None]
    before = snapshot(inputs)
    fps = pose.info.get("fps") or song_info.fps
    if not fps:
        raise SongDataError(f"{song_info.key}: no fps for the {instrument} keypoints")
    valid = np.isfinite(pose.keypoints).all(axis=-1) & (pose.scores >= default_threshold(pose.info))
    try:
        centres, side = performer_boxes(pose.keypoints, valid)
    except ValueError:
        raise SongSkipped(f"no usable keypoints for {instrument} to place the frames crop "
                          f"(all NaN or below the score threshold)") from None
    crops, present = extract_crops(video, centres, side, source_frames(pose.n_frames, float(fps)),
                                   crop_size)
    with atomic_path(out) as tmp:
        np.savez(tmp, crops=crops, present=present, centres=centres.astype(np.float32),
                 side=np.float32(side))
    record_inputs([out], before, settings)
    log.info("%s/%s: cached %d frame crops of %d px (%s)", song_info.key, instrument, len(crops),
             crop_size, out.name)
    return crops, present[:, None]
