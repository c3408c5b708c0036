"""Streaming video I/O with PyAV: probe, iterate frames, write H.264 mp4/mov.

Frames are never all held in memory: ``iter_frames`` decodes one at a time and ``VideoWriter``
encodes one at a time. Frames are ``(H, W, 3)`` uint8 RGB arrays.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from .dataset import SongDataError


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    n_frames: int          # from the container; counted by decoding when the container lacks it
    width: int
    height: int
    duration: float        # seconds
    codec: str
    container_frames: int = 0   # what the container promises (0 = not stored); see n_frames


def _open(path: str | Path):
    import av

    path = Path(path)
    if not path.exists():
        raise SongDataError(f"video {path} does not exist")
    if path.stat().st_size == 0:
        raise SongDataError(f"video {path} is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except Exception as exc:  # av raises several InvalidDataError flavours
        raise SongDataError(f"video {path} cannot be opened: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise SongDataError(f"{path} has no video stream")
    return container


def probe_video(path: str | Path, count_frames: bool = False) -> VideoInfo:
    """Read fps, size, frame count and duration; ``count_frames`` decodes to count exactly."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate:
            raise SongDataError(f"video {path} has no frame rate")
        fps = float(rate)
        n_frames = int(stream.frames or 0)   # the container's promise; decoding may find fewer
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = n_frames / fps
        if count_frames or n_frames == 0:
            n_frames = _count_decodable_frames(container)
            duration = duration or n_frames / fps
        return VideoInfo(Path(path), fps, n_frames, stream.codec_context.width,
                         stream.codec_context.height, duration, stream.codec_context.name,
                         int(stream.frames or 0))
    except SongDataError:
        raise
    except Exception as exc:
        raise SongDataError(f"video {path} cannot be decoded: {exc}") from exc
    finally:
        container.close()


def _count_decodable_frames(container) -> int:
    """Frames that decode, stopping at the first damaged packet (a truncated file ends there);
    a video where not even the first frame decodes raises."""
    counted = 0
    try:
        for _ in container.decode(video=0):
            counted += 1
    except Exception:
        if counted == 0:
            raise
    return counted


def iter_frames(path: str | Path, start: int = 0, stop: int | None = None,
                threads: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, (H, W, 3) uint8 RGB)`` for frames ``start <= i < stop``.

    Decoding errors part-way (a truncated file) raise ``SongDataError`` with the frame index.
    """
    container = _open(path)
    try:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                if index < start:
                    continue
                if stop is not None and index >= stop:
                    break
                yield index, frame.to_ndarray(format="rgb24")
        except Exception as exc:
            if isinstance(exc, GeneratorExit):
                raise
            raise SongDataError(f"video {path}: decoding failed after frame {index} (truncated or "
                                f"damaged file?): {exc}") from exc
        if index < 0:
            raise SongDataError(f"video {path} has no decodable frames")
    finally:
        container.close()


class VideoWriter:
    """Write RGB frames to an H.264 (yuv420p, browser-playable) video, one frame at a time.

    Use as a context manager; ``path`` gets written directly, so wrap it in
    ``core.io.atomic_path`` for atomic output.
    """

    def __init__(self, path: str | Path, fps: float, width: int, height: int, crf: int = 23,
                 preset: str = "veryfast", container_format: str | None = None):
        import av

        if width % 2 or height % 2:
            raise ValueError(f"H.264 yuv420p needs even frame sizes, got {width}x{height}")
        self.container = av.open(str(path), mode="w", format=container_format)
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(crf), "preset": preset}
        self.width, self.height = width, height

    def write(self, frame: np.ndarray) -> None:
        import av

        if frame.shape != (self.height, self.width, 3):
            raise ValueError(f"frame shape {frame.shape} != {(self.height, self.width, 3)}")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.container.close()
