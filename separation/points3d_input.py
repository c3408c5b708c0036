"""The ``points3d`` kind's data: the performer's metric 3D points at 25 fps, normalised per
performer (``separation.points3d``).

Points
    ``<song>/<instrument>/world_points.npy`` ``(F, 33, 3)`` metres (``core.world_points``: MediaPipe's
    pose world landmarks written by post-processing, or the benchmark scenes' synthetic depth). A
    point is present when its three coordinates are finite. A performer without the file is a named
    skip (``SongSkipped``); a damaged file, another shape or layout, or another number of points than
    the model's ``n_points`` is a ``SongDataError`` naming the file.
Frame rate
    The file's ``fps`` (``world_points.json``), else the performer's ``pose_info.json``, else the
    metadata's; resampled to 25 fps by ``separation.data.resample_keypoints`` (linear; a point needs
    both neighbours), so the frames are the keypoint kinds' frames.
Normalisation (per performer)
    Per frame the points are centred on the mean of its present points ``c_f``; the performer's scale
    ``s`` is the median over its frames (with at least 2 points) of the root-mean-square distance of
    the points from ``c_f``; values are ``(p - c_f) / s``. One scale per performer and song (not per
    frame), so leaning towards the camera or stretching an arm stays visible as a change of shape,
    and performers of any size or distance give inputs of the same range.
Arrays
    ``prepare_points3d`` → ``values`` ``(F25, N, 3)`` float32 (0 where missing) and ``mask``
    ``(F25, N)`` bool; a frame is "missing" (``separation.data.missing_frames``) when fewer than 10 %
    of the points are present. ``points3d_window`` cuts the chunk input ``(100, N, 4)`` (x, y, z,
    present as 0/1: the encoder's ``input_shape``) and the ``(100, N)`` mask, zero-padded (absent)
    past the end.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from core.dataset import POSE_INFO_NAME, SongDataError
from core.io import UnreadableFileError, load_json
from core.runner import SongSkipped
from core.world_points import WORLD_POINTS_NAME, load_world_points, world_points_files

from .data import resample_keypoints
from .points3d import Points3DConfig


def normalise_points(points: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(F, N, 3)`` points and ``(F, N)`` presence → normalised ``(F, N, 3)`` float32 (0 where
    missing), the presence (frames where no scale or centre exists lose their points) and the
    performer's scale (module docstring)."""
    pts = np.where(valid[..., None], points, np.nan).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)                  # frames without points
        centre = np.nanmean(pts, axis=1, keepdims=True)                  # (F, 1, 3)
        radius = np.sqrt(np.nanmean(((pts - centre) ** 2).sum(-1), axis=1))   # (F,)
    usable = valid.sum(axis=1) >= 2
    scales = radius[usable & (radius > 0)]
    if not len(scales):
        return np.zeros(points.shape, np.float32), np.zeros(valid.shape, bool), float("nan")
    scale = float(np.median(scales))
    out = (pts - centre) / scale
    ok = valid & np.isfinite(out).all(axis=-1)
    return np.where(ok[..., None], out, 0.0).astype(np.float32), ok, scale


def points_fps(info: dict, song_dir: Path, instrument: str, song_info) -> float:
    """The frame rate of the points (module docstring); ``SongDataError`` when none is known."""
    fps = info.get("fps")
    pose_info = Path(song_dir) / instrument / POSE_INFO_NAME
    if not fps and pose_info.is_file():
        try:
            fps = (load_json(pose_info) or {}).get("fps")
        except UnreadableFileError as exc:
            raise SongDataError(str(exc)) from None
    fps = fps or getattr(song_info, "fps", None)
    if not fps or not float(fps) > 0:
        raise SongDataError(f"{song_info.key}: no fps for the {instrument} 3D points")
    return float(fps)


def prepare_points3d(song_dir: str | Path, song_info, instrument: str, *, conventions=None,
                     options: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(values (F25, N, 3), mask (F25, N))`` of the performer (module docstring); ``options``:
    the model's encoder options (``Points3DConfig``)."""
    song_dir = Path(song_dir)
    config = Points3DConfig.from_options(dict(options or {}))
    try:
        points, info = load_world_points(song_dir, instrument)
    except FileNotFoundError as exc:
        raise SongSkipped(f"no 3D points for {instrument}: {exc} (post-processing writes them "
                          f"from a MediaPipe pose file; benchmark scenes generated before they "
                          f"existed get them with python -m demo_generator.main DIR "
                          f"--add_world_points)") from None
    if points.shape[1] != config.n_points:
        raise SongDataError(f"{song_dir / instrument / WORLD_POINTS_NAME}: {points.shape[1]} points "
                            f"per frame, the model reads {config.n_points}")
    valid = np.isfinite(points).all(axis=-1)
    if not valid.any():
        raise SongSkipped(f"no usable 3D points for {instrument} (all NaN)")
    fps = points_fps(info, song_dir, instrument, song_info)
    points25, valid25 = resample_keypoints(points, valid, fps)
    values, mask, _ = normalise_points(points25, valid25)
    return values, mask


def points3d_window(values: np.ndarray, mask: np.ndarray, start_frame: int, n_frames: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``[start, start + n)`` of ``(F25, N, 3)`` / ``(F25, N)`` → ``(n, N, 4)`` float32
    (x, y, z, present) and ``(n, N)`` bool, zero-padded (absent) past the end."""
    out = np.zeros((n_frames, values.shape[1], 4), np.float32)
    out_mask = np.zeros((n_frames, mask.shape[1]), bool)
    stop = min(len(values), start_frame + n_frames)
    if stop > start_frame:
        out_mask[:stop - start_frame] = mask[start_frame:stop]
        out[:stop - start_frame, :, :3] = values[start_frame:stop]
    out[..., 3] = out_mask
    out[~out_mask, :3] = 0.0
    return out, out_mask


def points3d_input_files(song_dir: str | Path, instrument: str) -> list[Path]:
    """The performer's world-points files (the re-run rule, ``core.freshness``)."""
    return world_points_files(song_dir, instrument)
