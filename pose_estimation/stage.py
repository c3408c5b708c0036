"""Per-song work of the pose stage: ``pose_song`` (video → pickle) and ``post_song`` (pickle →
per-instrument keypoints). Files are read and written only here; the logic lives in the pure
modules (``tracking``, ``mapping``, ``postprocess``) and the backends.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.dataset import POSE_INFO_NAME, POSE_PICKLE_NAME, KEYPOINTS_NAME, SCORES_NAME, \
    FACE_KEYPOINTS_NAME, SongDataError, find_video
from core.freshness import is_up_to_date, record_inputs, snapshot
from core.io import save_pickle
from core.log import progress
from core.metadata import SongInfo
from core.pose_files import InstrumentPose, save_face_keypoints, save_instrument_pose
from core.runner import UP_TO_DATE, SongSkipped, TaskResources
from core.world_points import (LAYOUT as WORLD_LAYOUT, N_WORLD_POINTS, remove_world_points,
                               save_world_points, world_points_info)
from core.video import VideoInfo, iter_frames, probe_video

from .backends import Backend
from .pose_record import load_record, make_record
from .postprocess import describe_wall_art_rule, face_points, split_performers

log = logging.getLogger(__name__)

# Ray task resources (core.runner.TaskResources). Post-processing is one numpy process.
POST_TASK = TaskResources(cpus=1)


def pose_task(backend: str, mediapipe_workers: int) -> TaskResources:
    """MediaPipe keeps one core per Holistic worker process busy (the main process decodes and
    detects faces in the gaps; README speed table), so a pose task asks for one CPU per worker
    (at least one: 0 workers = in-process). MMPose and RTMLib run one batched model per song: one
    CPU, and a GPU when ``--device`` asks for CUDA."""
    if backend == "mediapipe":
        return TaskResources(cpus=max(1, mediapipe_workers))
    return TaskResources(cpus=1, gpus=1)


@dataclass
class PoseJob:
    dataset_path: Path
    backend: Backend
    force: bool = False
    progress_bar: bool = True


def check_all_frames_decoded(n_decoded: int, info: VideoInfo) -> None:
    """``SongDataError`` when the video decodes to fewer frames than its container promises (a
    truncated or damaged file: the pose file would silently cover only the start of the song).
    Up to a second's worth of frames may go missing (edit lists, a last frame the decoder drops)."""
    missing = info.n_frames - n_decoded
    if missing > max(2, round(info.fps)):
        raise SongDataError(f"video {info.path}: the container promises {info.n_frames} frames but "
                            f"only {n_decoded} decode (truncated or damaged file)")


def pose_song(song: SongInfo, job: PoseJob) -> str | None:
    """Run the backend over the song's video and write ``pose_estimation_30fps.pkl`` atomically.

    Skipped when the pickle was made from the video as it is now (``core.freshness``); a pickle
    without its video (e.g. received from another lab) is kept.
    """
    song_dir = song.folder(job.dataset_path)
    out = song_dir / POSE_PICKLE_NAME
    try:
        video = find_video(song_dir)
    except SongDataError:
        if out.exists() and not job.force:
            return UP_TO_DATE
        raise
    if is_up_to_date([out], [video], job.force):
        return UP_TO_DATE
    inputs = snapshot([video])
    info = probe_video(video)
    frames: list[list[dict]] = []
    stream = job.backend.estimate(iter_frames(video))
    if job.progress_bar:
        stream = progress(stream, desc=f"pose {song.song}", total=info.n_frames, unit="frame")
    for frame_index, persons in stream:
        if frame_index != len(frames):
            raise RuntimeError(f"backend returned frame {frame_index}, expected {len(frames)}")
        frames.append(persons)
    if not frames:
        raise SongDataError(f"video {video} has no decodable frames")
    check_all_frames_decoded(len(frames), info)
    if song.fps is not None and abs(info.fps - song.fps) > 0.01:
        log.warning("%s: video has %.3f fps, metadata says %.3f; the video's rate is recorded",
                    song.key, info.fps, song.fps)
    record = make_record(job.backend.name, job.backend.model, info.fps, (info.width, info.height),
                         video.name, frames)
    save_pickle(out, record)
    record_inputs([out], inputs)
    n_people = np.mean([len(p) for p in frames])
    log.info("%s: %d frames, %.1f people per frame -> %s", song.key, len(frames), n_people, out)
    return None


def post_outputs(song_dir: Path, layout: tuple[str | None, ...]) -> list[Path]:
    """Every file ``post_song`` writes; all must exist for the song to count as finished."""
    paths = []
    for instrument in layout:
        if instrument is None:
            continue
        folder = song_dir / instrument
        paths += [folder / KEYPOINTS_NAME, folder / SCORES_NAME, folder / POSE_INFO_NAME]
    if "vocal" in layout:
        paths.append(song_dir / "vocal" / FACE_KEYPOINTS_NAME)
    return paths


@dataclass
class PostJob:
    dataset_path: Path
    force: bool = False
    wall_art_rule: str = "published"        # postprocess.WALL_ART_RULES


def post_song(song: SongInfo, job: PostJob) -> str | None:
    """Split the song's pose pickle into per-instrument keypoint files (published procedure)."""
    if song.moving_camera:
        raise SongSkipped("moving camera (post-processing assumes a static camera)")
    layout = tuple(song.layout or ())
    named = [i for i in layout if i is not None]
    if len(set(named)) != len(named):
        raise SongDataError(f"layout {list(layout)} names an instrument twice; outputs would collide")
    song_dir = song.folder(job.dataset_path)
    outputs = post_outputs(song_dir, layout)
    pose_file = song_dir / POSE_PICKLE_NAME
    # redone for another wall-art rule, or a layout corrected in the metadata (same instruments
    # in another order would otherwise keep each performer's keypoints under the wrong name)
    settings = {"wall_art_rule": job.wall_art_rule, "layout": list(layout)}
    if is_up_to_date(outputs, [pose_file], job.force, settings):
        return UP_TO_DATE
    inputs = snapshot([pose_file])
    record = load_record(pose_file)
    frame_wh = tuple(int(v) for v in record["frame_size"])
    tracks = split_performers(record["frames"], len(layout), frame_wh, job.wall_art_rule)
    # the face file first: pose_info.json, written last of all, marks a finished song
    if "vocal" in layout:
        save_face_keypoints(song_dir, face_points(tracks.keypoints[layout.index("vocal")]))
    for position, instrument in enumerate(layout):
        if instrument is None:
            continue
        info = {"backend": record["backend"], "model": record["model"],
                "score_scale": record["score_scale"], "fps": record["fps"],
                "frame_size": list(frame_wh), "position": position, "n_performers": len(layout),
                "layout": list(layout), "video": record.get("video"),
                "cluster_centre": tracks.centres[position].tolist(),
                "presence": float(tracks.presence[position]),
                "settings": {"post_processing": describe_wall_art_rule(job.wall_art_rule)}}
        save_world_points_of(song_dir / instrument, tracks, position, record)
        save_instrument_pose(song_dir / instrument,
                             InstrumentPose(tracks.keypoints[position], tracks.scores[position], info))
    record_inputs(outputs, inputs, settings)
    log.info("%s: %s", song.key, ", ".join(
        f"{inst} at x={tracks.centres[p][0]:.0f} in {tracks.presence[p]:.0%} of frames"
        for p, inst in enumerate(layout) if inst is not None))
    return None


def save_world_points_of(folder: Path, tracks, position: int, record: dict) -> None:
    """The performer's ``world_points.npy`` / ``.json`` (``core.world_points``) when the pose record
    has world points; otherwise any earlier ones are removed (they belonged to another pose file and
    would not match the new keypoints). Optional outputs: not in ``post_outputs``, so a backend
    without them (MMPose, rtmlib) is never "unfinished"."""
    if tracks.world_points is None:
        remove_world_points(folder)
        return
    if tracks.world_points.shape[2] != N_WORLD_POINTS:
        raise SongDataError(f"the pose record's world points have {tracks.world_points.shape[2]} "
                            f"points per person; the {WORLD_LAYOUT} layout has {N_WORLD_POINTS}")
    save_world_points(folder, tracks.world_points[position], world_points_info(
        f"{record['backend']} ({record['model']}): pose world landmarks", synthetic=False,
        fps=record["fps"]))
