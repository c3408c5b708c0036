"""Render overlay clips: choose the frames, stream the video through the drawer, add audio, write atomically.

Clip frames: ``first = round(start × fps)``, ``stop = round(end × fps)`` (exclusive), with ``stop``
clipped to the video's frame count (with a warning). The output is
``<song>/<start>_<end>_test.mp4`` with the numbers written as the published tool did (``%g`` of the
seconds: ``0_20_test.mp4``, ``12.5_32.5_test.mp4``); ``end`` is the clipped end when the video is
shorter (``stop / fps``, rounded to 0.01 s). Frames are decoded, drawn and encoded one at a time
(``core.video``; encoding on a worker thread, a few frames queued at most); the video keeps the
source's frame rate and size. Frames before ``first`` are decoded and dropped (``core.video`` has no
seek yet). Skeletons are prepared for the clip's frames only; feature normalisation uses the whole
song.

``<song>/feature_timeseries.png`` (``figures.py``) is rewritten each time a clip is rendered with
features. A song whose clip exists and was drawn from its inputs as they are now (video, keypoints,
feature files, wavs with ``--add_audio``; ``core.freshness``) is skipped unless ``force`` (``-f``).
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from core.dataset import SongDataError, find_video
from core.io import atomic_path
from core.log import progress
from core.metadata import SongInfo
from core.freshness import is_up_to_date, record_inputs, snapshot
from core.runner import UP_TO_DATE, RunSummary, TaskResources, run_per_song
from core.video import VideoInfo, VideoWriter, iter_frames, probe_video
from .draw import FrameDrawer
from .figures import FIGURE_NAME, feature_figure
from .inputs import load_song_inputs, overlay_input_paths
from .plan import song_plans
from .soundtrack import clip_soundtrack, mux_audio

log = logging.getLogger("visualization")

DEFAULT_CLIP_SECONDS = 20.0


@dataclass(frozen=True)
class RenderOptions:
    start_s: float = 0.0
    end_s: float | None = None            # None = start + 20 s
    features: bool = True                 # False = --no_features: skeleton and legend only
    add_audio: bool = False
    threshold: float | None = None        # None = per-backend default (core.pose_files)
    force: bool = False


def format_seconds(value: float) -> str:
    """How clip bounds appear in file names: ``0``, ``20``, ``12.5`` (``%g`` of the value to 0.01 s)."""
    return f"{round(value, 2):g}"


def clip_frames(video: VideoInfo, start_s: float, end_s: float | None) -> tuple[int, int]:
    """``(first, stop)`` frame indices of the clip (module docstring); warns when an explicit
    ``end_s`` is clipped (``end_s`` None = start + 20 s, clipped silently apart from an info line)."""
    asked_end = end_s
    if start_s < 0:
        raise ValueError(f"start time {start_s} s is negative")
    end_s = start_s + DEFAULT_CLIP_SECONDS if end_s is None else end_s
    if end_s <= start_s:
        raise ValueError(f"end time {end_s} s is not after start time {start_s} s")
    first = int(round(start_s * video.fps))
    stop = int(round(end_s * video.fps))
    if first >= video.n_frames:
        raise SongDataError(f"start time {start_s} s is past the end of {video.path.name} "
                            f"({video.n_frames / video.fps:.2f} s)")
    if stop > video.n_frames:
        # an explicit -et past the end deserves a warning; the 20-s default on a short video does not
        level = logging.INFO if asked_end is None else logging.WARNING
        log.log(level, "end time %g s is past the end of %s (%.2f s): clip shortened to %.2f s",
                end_s, video.path.name, video.n_frames / video.fps, video.n_frames / video.fps)
        stop = video.n_frames
    return first, stop


def clip_path(song_dir: Path, video: VideoInfo, first: int, stop: int) -> Path:
    return song_dir / f"{format_seconds(first / video.fps)}_{format_seconds(stop / video.fps)}_test.mp4"


class BackgroundEncoder:
    """Encode frames on a worker thread while the caller decodes and draws the next ones.

    PyAV and OpenCV release the GIL in their C code, so drawing frame n+1 overlaps encoding frame n.
    At most ``depth`` frames wait in the queue, so memory stays bounded (streaming is kept). An
    encoding error is re-raised in the caller at the next ``write`` or at ``finish``.
    """

    def __init__(self, writer: VideoWriter, depth: int = 4):
        self.writer = writer
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="overlay-encoder", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while True:
            frame = self.queue.get()
            if frame is None:
                return
            if self.error is None:
                try:
                    self.writer.write(frame)
                except BaseException as exc:  # noqa: BLE001 -- handed to the caller
                    self.error = exc

    def write(self, frame) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(frame)

    def finish(self) -> None:
        """Wait for every queued frame to be encoded; raise the worker's error if there was one."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def write_overlay_video(video_path: Path, out_path: Path, drawer: FrameDrawer, first: int, stop: int,
                        fps: float, width: int, height: int, soundtrack=None) -> int:
    """Stream frames ``first``..``stop`` through ``drawer`` into ``out_path`` (atomic); frames written.

    ``soundtrack``: ``(samples, sample_rate)`` to mux in, or None.
    """
    written = 0
    with atomic_path(out_path) as tmp:
        video_target = tmp if soundtrack is None else tmp.with_name(tmp.stem + ".video.mp4")
        try:
            with VideoWriter(video_target, fps=fps, width=width, height=height,
                             container_format="mp4") as writer:
                encoder = BackgroundEncoder(writer)
                try:
                    frames = iter_frames(video_path, first, stop)
                    for index, frame in progress(frames, desc=out_path.name, total=stop - first,
                                                 unit="frame"):
                        if not frame.flags.writeable or not frame.flags.c_contiguous:
                            frame = frame.copy()
                        encoder.write(drawer.draw(frame, index))
                        written += 1
                finally:
                    encoder.finish()
            if soundtrack is not None:
                samples, sr = soundtrack
                mux_audio(video_target, samples, sr, written / fps, tmp)
        finally:
            if soundtrack is not None:
                video_target.unlink(missing_ok=True)
    return written


def render_song(song: SongInfo, dataset_path: Path, options: RenderOptions) -> str | None:
    """Render one clip (and the song's feature figure) for ``song``; the runner's per-song work."""
    song_dir = song.folder(dataset_path)
    video = probe_video(find_video(song_dir))
    first, stop = clip_frames(video, options.start_s, options.end_s)
    out_path = clip_path(song_dir, video, first, stop)
    figure_path = song_dir / FIGURE_NAME
    inputs = [video.path] + overlay_input_paths(song_dir, song.layout or (), options.features,
                                                options.add_audio)
    # drawn again for other drawing options or a corrected layout (the re-run rule's settings)
    settings = {"features": options.features, "add_audio": options.add_audio,
                "score_threshold": options.threshold, "layout": list(song.layout or ())}
    if is_up_to_date([out_path], inputs, options.force, settings):
        return UP_TO_DATE
    inputs_before = snapshot(inputs)

    inputs = load_song_inputs(song_dir, song.layout or (), with_features=options.features)
    if options.features and inputs.missing:
        if not any(p.feature_files for p in inputs.performers) and inputs.correlations is None:
            log.warning("%s: no feature files found (run feature_extraction): rendering the skeleton "
                        "only", song.key)
        else:
            log.warning("%s: feature file(s) missing, not drawn: %s", song.key,
                        ", ".join(inputs.missing))
    for performer in inputs.performers:
        if performer.pose.n_frames != video.n_frames:
            log.warning("%s: %s keypoints have %d frames, the video %d", song.key,
                        performer.instrument, performer.pose.n_frames, video.n_frames)
    plans = song_plans(inputs, video.n_frames, video.fps, options.threshold, frames=(first, stop))
    drawer = FrameDrawer(plans, video.width, video.height, video.fps, show_bars=options.features)

    soundtrack = None
    if options.add_audio:
        samples, sr, source = clip_soundtrack(song_dir, song.instruments, first / video.fps,
                                              (stop - first) / video.fps)
        log.info("%s: audio from the %s", song.key, source)
        soundtrack = (samples, sr)
    written = write_overlay_video(video.path, out_path, drawer, first, stop, video.fps, video.width,
                                  video.height, soundtrack)
    log.info("%s: wrote %s (%d frames)", song.key, out_path, written)
    if options.features:
        if feature_figure(inputs, video.n_frames, video.fps, song.key, figure_path):
            log.info("%s: wrote %s", song.key, figure_path)
        else:
            log.warning("%s: no features, no %s", song.key, FIGURE_NAME)
    record_inputs([out_path], inputs_before, settings)
    return None


# Ray task resources: decoding, drawing and encoding one clip keep about one core busy.
RENDER_TASK = TaskResources(cpus=1)


def render_songs(songs: list[SongInfo], dataset_path: Path, options: RenderOptions,
                 skipped=(), results_dir: Path | None = None, settings=None) -> RunSummary:
    """Render every song through ``core.runner.run_per_song`` (a failing song is named and skipped;
    given ``results_dir``, the outcomes are recorded there); ``settings`` chooses the executor
    (serial when None)."""
    return run_per_song("visualization", songs, lambda song: render_song(song, dataset_path, options),
                        skipped=skipped, logger=log, results_dir=results_dir, settings=settings,
                        resources=RENDER_TASK)
