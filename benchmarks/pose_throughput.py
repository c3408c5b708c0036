"""Throughput and memory of the default pose backend (MediaPipe) on a 3-performer 720p demo video.

Prints, for the same video in the same run:

* plain decoding frames/s (``core.video.iter_frames``), the baseline;
* pose frames/s at two video lengths (steady state, i.e. after the first frame came out, and
  overall including worker start-up), and the ratio to decoding;
* peak resident memory (``resource.getrusage`` max RSS) of the main process and of the largest
  worker process, each length measured in a fresh subprocess — equal peaks for both lengths show
  memory is flat in video length (only the per-frame keypoint output grows, ~3.5 kB per person);
* CPU time per frame summed over the main process and the workers, and the rate it allows on the
  available cores when nothing else runs (``cores / CPU time per frame``, an upper bound that holds
  up under load, unlike frames/s);
* the 1-minute load average before and after (the machine may be shared: a load above the number
  of cores means the frames/s figures are pessimistic).

Usage::

    python benchmarks/pose_throughput.py [--video PATH] [--frames 150 300] [--workers 3]
                                         [--compare-workers 2]

Without ``--video`` it uses ``demo_data`` (``make demo``) if present, else generates a demo dataset
(``demo_generator.concerts.generate_demo``) in a temporary folder. Goal (issue): >= 8 frames/s with 3
performers on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("GLOG_minloglevel", "2")


def find_demo_video(min_frames: int) -> Path:
    from core.metadata import load_metadata

    demo = REPO_ROOT / "demo_data"
    if not (demo / "dataset_metadata.json").exists():
        from demo_generator.concerts import generate_demo

        demo = Path(tempfile.mkdtemp(prefix="pose_bench_")) / "demo_data"
        generate_demo(demo, seconds=max(min_frames / 30 + 0.5, 4))
    for song in load_metadata(demo / "dataset_metadata.json"):
        if song.fps and not song.moving_camera:
            return next(song.folder(demo).glob("*.mov"))
    raise SystemExit("no static-camera demo song found")


def measure_decode(video: Path, n_frames: int) -> float:
    from core.video import iter_frames

    start = time.perf_counter()
    count = sum(1 for _ in iter_frames(video, stop=n_frames))
    return count / (time.perf_counter() - start)


def measure_pose(video: Path, n_frames: int, workers: int) -> dict:
    """Run in a fresh process (``--measure``): pose over the first ``n_frames`` frames."""
    import resource

    from core.video import iter_frames
    from pose_estimation.mediapipe_backend import MediaPipeOptions, estimate_poses

    start = time.perf_counter()
    first = None
    people = 0
    count = 0
    for _, persons in estimate_poses(iter_frames(video, stop=n_frames),
                                     MediaPipeOptions(n_workers=workers)):
        if first is None:
            first = time.perf_counter()
        count += 1
        people += len(persons)
    end = time.perf_counter()
    # the workers have been joined when the generator finished, so RUSAGE_CHILDREN includes them
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return {"frames": count, "cpu_s": cpu_s, "people_per_frame": people / max(count, 1),
            "fps_overall": count / (end - start),
            "fps_steady": (count - 1) / (end - first) if count > 1 else float("nan"),
            "max_rss_main_mb": own.ru_maxrss / 1024, "max_rss_worker_mb": children.ru_maxrss / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=None)
    parser.add_argument("--frames", type=int, nargs="+", default=[150, 300],
                        help="video lengths (frames) to measure")
    parser.add_argument("--workers", type=int, default=3, help="Holistic worker processes")
    parser.add_argument("--compare-workers", type=int, nargs="*", default=[2],
                        help="other worker counts, measured at the longest length")
    parser.add_argument("--measure", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure_pose(args.video, args.measure, args.workers)))
        return 0

    video = args.video or find_demo_video(max(args.frames))
    from core.video import probe_video

    info = probe_video(video)
    load_before = os.getloadavg()[0]
    decode_fps = measure_decode(video, max(args.frames))

    def run(n_frames: int, workers: int) -> dict:
        out = subprocess.run([sys.executable, __file__, "--video", str(video), "--measure",
                              str(n_frames), "--workers", str(workers)], capture_output=True,
                             text=True, check=True)
        return {**json.loads(out.stdout.strip().splitlines()[-1]), "workers": workers}

    results = [run(n, args.workers) for n in args.frames]
    others = [run(max(args.frames), w) for w in args.compare_workers if w != args.workers]
    load_after = os.getloadavg()[0]

    n_cores = len(os.sched_getaffinity(0))
    print(f"video: {video} ({info.width}x{info.height}, {info.fps:g} fps, {info.n_frames} frames)")
    print(f"cpu cores: {os.cpu_count()}, affinity: {len(os.sched_getaffinity(0))}, "
          f"load average (1 min) before/after: {load_before:.2f} / {load_after:.2f}")
    print(f"plain decoding: {decode_fps:7.1f} frames/s (baseline)")
    for r in results + others:
        print(f"pose, {r['frames']:4d} frames, {r['people_per_frame']:.2f} people/frame, "
              f"{r['workers']} workers: {r['fps_steady']:6.2f} frames/s steady "
              f"({r['fps_overall']:.2f} incl. start-up), {r['fps_steady'] / decode_fps:.3f} x decoding; "
              f"peak RSS main {r['max_rss_main_mb']:.0f} MB, largest worker "
              f"{r['max_rss_worker_mb']:.0f} MB")
        print(f"    CPU time of all processes: {r['cpu_s']:.1f} s "
              f"({1000 * r['cpu_s'] / r['frames']:.0f} ms per frame incl. start-up)")
    if len(results) >= 2:
        growth = results[-1]["max_rss_main_mb"] - results[0]["max_rss_main_mb"]
        # start-up cost cancels in the difference: CPU per extra frame in steady state
        cpu_ms = 1000 * (results[-1]["cpu_s"] - results[0]["cpu_s"]) / (
            results[-1]["frames"] - results[0]["frames"])
        print(f"steady-state CPU time: {cpu_ms:.0f} ms per frame (all processes) -> at most "
              f"{n_cores * 1000 / cpu_ms:.1f} frames/s on {n_cores} otherwise idle cores")
        print(f"main-process peak RSS change from {results[0]['frames']} to {results[-1]['frames']} "
              f"frames: {growth:+.0f} MB")
    goal = results[-1]["fps_steady"] >= 8
    print(f"goal >= 8 frames/s with 3 performers: {'met' if goal else 'NOT met'}"
          f"{' (machine loaded: load > cores)' if max(load_before, load_after) > os.cpu_count() else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
