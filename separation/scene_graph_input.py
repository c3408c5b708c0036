"""The ``scene_graph`` kind's data: every performer's body keypoints → the scene graph's node
features per 25-fps frame (``separation.scene_graph``), for the queried performer in its scene.

Performers
    The query is the instrument asked for; the others are the song's layout (left to right, the
    stage order ``scene_input`` wants) without the query, each read from
    ``<song>/<name>/keypoints.npy`` (+ scores, pose info: ``core.pose_files``). A layout performer
    without keypoint files is left out (logged); a song with no other performer (one performer,
    or none of the others posed) is a named skip (``SongSkipped``): a scene graph of one node is a
    pose model.
Keypoints
    ``core.keypoints.BODY_55`` of the 133-layout, valid when finite and scored at least the
    backend's default threshold (``core.pose_files.default_threshold``), resampled to 25 fps by
    ``separation.data.resample_keypoints`` (linear; a frame needs both neighbours) onto the
    query's 25-fps frames (an accompanist's file with fewer frames is absent past its end).
Frame size
    ``frame_size`` of the query's ``pose_info.json`` (width, height in pixels), else the video's
    (``core.video.probe_video``); a song with neither is a named skip.
Arrays (``prepare_scene_graph``)
    ``values`` ``(F25, N, D)`` float32: per frame the ``scene_input`` nodes (query first, N =
    ``max_nodes`` of the encoder options, D = ``scene_graph.N_FEATURES``); ``mask`` ``(F25, N)`` bool,
    node present (its feature 0). A frame is "missing" (``separation.data.missing_frames``) only
    when fewer than 10 % of the N slots are present, i.e. (for N ≤ 10) when nobody is: a frame
    where the query alone is missing is what this kind is for. ``scene_graph_window`` cuts the
    ``(N, 100, D)`` chunk input (the encoder's ``input_shape``) and ``(100, N)`` mask.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core.dataset import (KEYPOINTS_NAME, POSE_INFO_NAME, SCORES_NAME, SongDataError,
                          find_video)
from core.keypoints import BODY_55
from core.pose_files import default_threshold, load_instrument_pose
from core.runner import SongSkipped

from .data import resample_keypoints
from .scene_graph import SceneGraphConfig, node_features, scene_input

log = logging.getLogger("separation.scene_graph")


def other_performers(song_info, song_dir: str | Path, instrument: str) -> list[str]:
    """The layout's performers other than ``instrument``, left to right, that have keypoints."""
    song_dir = Path(song_dir)
    others = []
    for name in song_info.instruments:
        if name == instrument:
            continue
        if (song_dir / name / KEYPOINTS_NAME).is_file():
            others.append(name)
        else:
            log.info("%s: %s has no %s; left out of %s's scene graph", song_info.key, name,
                     KEYPOINTS_NAME, instrument)
    return others


def frame_size(info: dict, song_dir: str | Path) -> tuple[int, int]:
    """(width, height) pixels from the pose info, else the video (module docstring)."""
    size = info.get("frame_size")
    if size and len(size) == 2 and all(isinstance(v, (int, float)) and v > 0 for v in size):
        return int(size[0]), int(size[1])
    from core.video import probe_video

    video = probe_video(find_video(song_dir))            # SongDataError when there is none
    return video.width, video.height


def body_at_25fps(song_dir: Path, song_info, name: str, n_out: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, dict]:
    """One performer's body points ``(F25, 55, 2)`` pixels, validity ``(F25, 55)`` and pose info."""
    pose = load_instrument_pose(song_dir, name)
    fps = pose.info.get("fps") or song_info.fps
    if not fps:
        raise SongDataError(f"{song_info.key}: no fps for the {name} keypoints")
    indices = list(BODY_55)
    points = pose.keypoints[:, indices]
    valid = np.isfinite(points).all(axis=-1) & (pose.scores[:, indices]
                                                >= default_threshold(pose.info))
    points25, valid25 = resample_keypoints(points, valid, float(fps), n_out=n_out)
    return points25, valid25, pose.info


def prepare_scene_graph(song_dir: str | Path, song_info, instrument: str, *, conventions=None,
                        options: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(values (F25, N, D), mask (F25, N))`` of the queried performer's scene (module
    docstring); ``options``: the model's encoder options (``SceneGraphConfig``)."""
    song_dir = Path(song_dir)
    config = SceneGraphConfig.from_options(dict(options or {}))
    others = other_performers(song_info, song_dir, instrument)
    if not others:
        raise SongSkipped(f"no scene graph for {instrument}: no other performer with keypoints "
                          f"(layout {list(song_info.layout or ())})")
    try:
        query, query_valid, info = body_at_25fps(song_dir, song_info, instrument)
        size = frame_size(info, song_dir)
    except SongDataError as exc:
        raise SongSkipped(f"no scene graph for {instrument}: {exc}") from exc
    n_frames = len(query)
    nodes = [node_features(query, query_valid, instrument, size)]
    for name in others:
        points, valid, _ = body_at_25fps(song_dir, song_info, name, n_out=n_frames)
        nodes.append(node_features(points, valid, name, size))
    values = scene_input(nodes[0], nodes[1:], config.max_nodes)           # (N, F25, D)
    values = np.ascontiguousarray(values.transpose(1, 0, 2))              # (F25, N, D)
    return values, values[..., 0] > 0.5


def scene_graph_window(values: np.ndarray, mask: np.ndarray, start_frame: int, n_frames: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``[start, start + n)`` of ``(F25, N, D)`` / ``(F25, N)`` → ``(N, n, D)`` float32 and
    ``(n, N)`` bool, zero-padded (absent) past the end."""
    out = np.zeros((n_frames,) + values.shape[1:], np.float32)
    out_mask = np.zeros((n_frames, mask.shape[1]), bool)
    stop = min(len(values), start_frame + n_frames)
    if stop > start_frame:
        out[:stop - start_frame] = values[start_frame:stop]
        out_mask[:stop - start_frame] = mask[start_frame:stop]
    return np.ascontiguousarray(out.transpose(1, 0, 2)), out_mask


def scene_graph_input_files(song_dir: str | Path, instrument: str) -> list[Path]:
    """Every performer's pose files in the song folder and the video (frame size): what
    ``prepare_scene_graph`` may read besides the audio (the re-run rule, ``core.freshness``)."""
    song_dir = Path(song_dir)
    files = []
    for keypoints in sorted(song_dir.glob(f"*/{KEYPOINTS_NAME}")):
        files += [keypoints, keypoints.with_name(SCORES_NAME), keypoints.with_name(POSE_INFO_NAME)]
    try:
        files.append(find_video(song_dir))
    except SongDataError:
        pass
    return files
