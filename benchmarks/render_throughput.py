"""Overlay rendering throughput on a 720p clip, against decode + encode of the same clip (the limit).

    .venv/bin/python benchmarks/render_throughput.py [--seconds 10] [--repeats 3] [--source demo]
                                                     [--demo_dir demo_data]

Data: the first song of the generated demo dataset (``demo_generator``, 1280x720, 30 fps) as
the video, with synthetic keypoints, feature files, correlations and PCA block for three performers
(``visualization.synthetic``), so every layer is drawn: skeletons with face and hands, correlation
halos, PCA brightness, five feature bars per performer, the legend. ``--source synthetic`` uses the
synthetic video instead (flat content: cheaper to encode).

Both paths go through ``visualization.render.write_overlay_video`` (decode with PyAV, H.264 encode on
a worker thread, atomic write); the limit uses a drawer that draws nothing. For reference the plain
single-threaded decode + encode loop (``core.video`` only) is timed as well. Each is timed ``--repeats`` times,
alternating, and the median is reported; the machine's load average is printed because the CPU may be
shared. Goal (issue 4): render >= 30 frames/s and >= 0.7 of the limit on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.video import VideoWriter, iter_frames, probe_video  # noqa: E402
from visualization.draw import FrameDrawer  # noqa: E402
from visualization.inputs import load_song_inputs  # noqa: E402
from visualization.plan import song_plans  # noqa: E402
from visualization.render import write_overlay_video  # noqa: E402
from visualization.synthetic import build_synthetic_song  # noqa: E402


class NoDrawing:
    """The limit: frames pass through untouched."""

    def draw(self, frame, index):
        return frame


def prepare(workdir: Path, seconds: float, source: str, demo_dir: Path | None) -> tuple[Path, int]:
    """Write the benchmark song; returns its folder and the frames to render (<= ``seconds``)."""
    if source == "demo":
        if demo_dir is None:
            from demo_generator.concerts import generate_demo

            demo_dir = generate_demo(workdir / "demo", seconds=seconds)
        video = sorted(Path(demo_dir).glob("*/*/video.mov"))[0]
        info = probe_video(video, count_frames=True)
        if (info.width, info.height, round(info.fps)) != (1280, 720, 30):
            raise SystemExit(f"demo video is {info.width}x{info.height} at {info.fps} fps, expected 720p30")
        seconds = min(seconds, info.n_frames / info.fps)
    song = build_synthetic_song(workdir / "data", "Bench", "Clip", seconds=seconds, fps=30.0,
                                width=1280, height=720)
    if source == "demo":
        shutil.copyfile(video, song.folder / "video.mov")
        print(f"video: demo song {video.parent.name!r} ({video.parent.parent.name})")
    else:
        print("video: synthetic")
    return song.folder, song.n_frames


def time_run(song_dir: Path, drawer, first: int, stop: int, video) -> float:
    out = song_dir / "bench_out.mp4"
    t0 = time.perf_counter()
    written = write_overlay_video(video.path, out, drawer, first, stop, video.fps, video.width,
                                  video.height)
    elapsed = time.perf_counter() - t0
    out.unlink()
    return written / elapsed


def time_plain_decode_encode(video, stop: int, out: Path) -> float:
    """Decode + encode on one thread, no drawing, no atomic write: the textbook limit."""
    t0 = time.perf_counter()
    with VideoWriter(out, fps=video.fps, width=video.width, height=video.height) as writer:
        for _, frame in iter_frames(video.path, 0, stop):
            writer.write(frame)
    elapsed = time.perf_counter() - t0
    out.unlink()
    return stop / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each path (default 3)")
    parser.add_argument("--source", choices=("demo", "synthetic"), default="demo")
    parser.add_argument("--demo_dir", type=Path, default=None,
                        help="an existing demo dataset (e.g. demo_data from make demo) instead of "
                             "generating one (saves a minute or two)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="render_bench_") as tmp:
        song_dir, n_frames = prepare(Path(tmp), args.seconds, args.source, args.demo_dir)
        video = probe_video(song_dir / "video.mov", count_frames=True)
        stop = min(video.n_frames, n_frames)
        t0 = time.perf_counter()
        inputs = load_song_inputs(song_dir, ("vocal", "violin", "mridangam"))
        plans = song_plans(inputs, video.n_frames, video.fps, None)
        drawer = FrameDrawer(plans, video.width, video.height, video.fps)
        setup_s = time.perf_counter() - t0
        print(f"clip: {stop} frames {video.width}x{video.height} @ {video.fps:g} fps; "
              f"inputs + per-frame plans: {setup_s * 1000:.0f} ms")
        print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
        limit, render, plain = [], [], []
        for _ in range(args.repeats):
            limit.append(time_run(song_dir, NoDrawing(), 0, stop, video))
            render.append(time_run(song_dir, drawer, 0, stop, video))
            plain.append(time_plain_decode_encode(video, stop, song_dir / "plain.mp4"))
        print(f"load average after: {os.getloadavg()[0]:.2f}")

    def runs(values):
        return ", ".join(f"{v:.1f}" for v in values)

    limit_fps, render_fps = statistics.median(limit), statistics.median(render)
    plain_fps = statistics.median(plain)
    print(f"decode+encode limit (same pipeline, no drawing): {limit_fps:7.1f} frames/s  ({runs(limit)})")
    print(f"decode+encode, one thread (no encoder thread):   {plain_fps:7.1f} frames/s  ({runs(plain)})")
    print(f"overlay render, everything on:                   {render_fps:7.1f} frames/s  ({runs(render)})")
    print(f"ratio render / limit:        {render_fps / limit_fps:5.2f}   (goal >= 0.70)")
    print(f"ratio render / one-thread:   {render_fps / plain_fps:5.2f}")
    print(f"real time (30 frames/s):     {'yes' if render_fps >= 30 else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
