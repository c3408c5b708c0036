"""Throughput, CPU time and memory of the default pose backend (MediaPipe) with 3 performers, at
720p and 1080p; writes ``benchmarks/results/pose_throughput.json`` (the README's figures).

For each video, in the same run:

* plain decoding frames/s (``core.video.iter_frames``), the baseline;
* pose frames/s at two video lengths, each in a fresh subprocess (steady state: after the first
  frame came out), and the ratio to decoding; on a shared machine wall-clock rates say more about
  the other processes than about this code, so:
* **CPU time per frame of the whole process tree** (main process + Holistic workers, from
  ``getrusage``), in steady state: the difference between the two lengths divided by the frame
  difference (start-up cancels), and the rate it allows on the machine's cores when nothing else
  runs (``cores / CPU time per frame``): the figure the goal (>= 15 frames/s on 2 idle cores for 3
  performers at 720p) is checked against;
* the performer finder's own CPU time per frame (``pose_estimation.finder``: scan, rules,
  following) and its share of the per-frame CPU time (goal: <= 10 % of the previous finder's
  total, 150 ms);
* peak resident memory of the main process and of the largest worker;
* the 1-minute load average before and after.

Usage::

    python benchmarks/pose_throughput.py [--videos V1 V2] [--frames 40 160] [--workers 3]
                                         [--no-json]

Without ``--videos`` it renders (or reuses, in ``benchmarks/results/.scratch``) the stress scenes
``wide_crowd_720p`` and ``wide_crowd_1080p`` (``demo_generator.stress``: three performers, one of
them full-body at a quarter of the frame height, crowd rows of faces behind).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "2")

RESULTS = REPO_ROOT / "benchmarks" / "results" / "pose_throughput.json"
SCRATCH = REPO_ROOT / "benchmarks" / "results" / ".scratch" / "stress"
DEFAULT_SCENES = ("wide_crowd_720p", "wide_crowd_1080p")
GOAL_FPS = 15.0
PREVIOUS_CPU_MS = 150.0          # issue 17: the previous finder's whole per-frame CPU time, 720p
FINDER_BUDGET = 0.10


def default_videos(n_frames: int) -> list[Path]:
    from demo_generator.stress import STRESS_ARTIST, STRESS_SECONDS, VIDEO_NAME, generate_stress

    generate_stress(SCRATCH, max(STRESS_SECONDS, n_frames / 30), DEFAULT_SCENES)
    return [SCRATCH / STRESS_ARTIST / name / VIDEO_NAME for name in DEFAULT_SCENES]


def measure_decode(video: Path, n_frames: int) -> float:
    from core.video import iter_frames

    start = time.perf_counter()
    count = sum(1 for _ in iter_frames(video, stop=n_frames))
    return count / (time.perf_counter() - start)


def measure_pose(video: Path, n_frames: int, workers: int, holistic_every: int = 1,
                 holistic_models: str = "full") -> dict:
    """Run in a fresh process (``--measure``): pose over the first ``n_frames`` frames."""
    import resource

    from core.log import quiet_native_environment
    quiet_native_environment()
    from core.video import iter_frames
    from pose_estimation.mediapipe_backend import MediaPipeOptions, estimate_poses

    stats: dict = {}
    start = time.perf_counter()
    first = None
    people = count = 0
    for _, persons in estimate_poses(iter_frames(video, stop=n_frames),
                                     MediaPipeOptions(n_workers=workers,
                                                      holistic_every=holistic_every,
                                                      holistic_models=holistic_models), stats):
        if first is None:
            first = time.perf_counter()
        count += 1
        people += len(persons)
    end = time.perf_counter()
    # the workers have been joined when the generator finished, so RUSAGE_CHILDREN includes them
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"frames": count, "cpu_s": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
            "finder_cpu_s": stats["finder_cpu_s"], "detector_calls": stats["detector_calls"],
            "people_per_frame": people / max(count, 1),
            "fps_overall": count / (end - start),
            "fps_steady": (count - 1) / (end - first) if count > 1 else float("nan"),
            "max_rss_main_mb": peak_rss_mb(own), "max_rss_worker_mb": children.ru_maxrss / 1024}


def peak_rss_mb(own) -> float:
    """This process's peak resident memory: ``VmHWM`` on Linux (``ru_maxrss`` survives exec, so
    a subprocess started by a big parent would report the parent's peak), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return own.ru_maxrss / 1024


def run_measure(video: Path, n_frames: int, workers: int, holistic_every: int = 1,
                holistic_models: str = "full") -> dict:
    out = subprocess.run([sys.executable, __file__, "--videos", str(video), "--measure",
                          str(n_frames), "--workers", str(workers), "--holistic-every",
                          str(holistic_every), "--holistic-models", holistic_models],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def benchmark_video(video: Path, lengths: list[int], workers: int, n_cores: int,
                    holistic_every: int = 1, holistic_models: str = "full") -> dict:
    from core.video import probe_video

    info = probe_video(video)
    decode_fps = measure_decode(video, max(lengths))
    runs = [run_measure(video, n, workers, holistic_every, holistic_models) for n in lengths]
    short, long = runs[0], runs[-1]
    frames = long["frames"] - short["frames"]
    cpu_ms = 1000 * (long["cpu_s"] - short["cpu_s"]) / frames
    finder_ms = 1000 * (long["finder_cpu_s"] - short["finder_cpu_s"]) / frames
    return {"video": video.name if video.parent.name == "" else f"{video.parent.name}/{video.name}",
            "width": info.width, "height": info.height, "workers": workers,
            "holistic_every": holistic_every, "holistic_models": holistic_models,
            "decode_fps": round(decode_fps, 1),
            "pose_fps_steady_wall": round(long["fps_steady"], 2),
            "ratio_to_decoding": round(long["fps_steady"] / decode_fps, 4),
            "people_per_frame": round(long["people_per_frame"], 2),
            "cpu_ms_per_frame": round(cpu_ms, 1),
            "max_fps_on_idle_cores": round(n_cores * 1000 / cpu_ms, 1),
            "finder_cpu_ms_per_frame": round(finder_ms, 1),
            "finder_share_of_cpu": round(finder_ms / cpu_ms, 3),
            "finder_share_of_previous_total": round(finder_ms / PREVIOUS_CPU_MS, 3),
            "detector_calls_per_frame": round((long["detector_calls"] - short["detector_calls"]) / frames, 2),
            "max_rss_main_mb": round(long["max_rss_main_mb"]),
            "max_rss_worker_mb": round(long["max_rss_worker_mb"]),
            "lengths": lengths, "runs": runs}


def by_height(result: dict, height: int, holistic_every: int = 1,
              holistic_models: str = "full") -> dict:
    return next(r for r in result["results"]
                if r["height"] == height and r.get("holistic_every", 1) == holistic_every
                and r.get("holistic_models", "full") == holistic_models)


def readme_paragraph(result: dict) -> str:
    """pose_estimation/README.md's speed paragraph, rendered from the committed JSON."""
    hd, full = by_height(result, 720), by_height(result, 1080)
    cores = result["cpu_cores"]
    met = "met" if hd["max_fps_on_idle_cores"] >= result["goal_fps_720p"] else "not met"
    return (
        f"CPU time of the whole process tree (main process + {hd['workers']} Holistic workers), "
        f"steady state, 3 performers: **{hd['cpu_ms_per_frame']:.0f} ms per frame at 720p** → at most "
        f"{hd['max_fps_on_idle_cores']:.1f} frames/s on {cores} idle cores (goal "
        f"{result['goal_fps_720p']:g}: {met}); **{full['cpu_ms_per_frame']:.0f} ms at 1080p** → "
        f"{full['max_fps_on_idle_cores']:.1f} frames/s. The performer finder's share: "
        f"{hd['finder_cpu_ms_per_frame']:.1f} ms per frame at 720p "
        f"({hd['finder_share_of_cpu']:.1%} of this run's per-frame CPU time, "
        f"{hd['finder_share_of_previous_total']:.1%} of the {result['previous_cpu_ms_720p']:.0f} ms "
        f"per frame measured before this finder, issue 17; budget 10 %), "
        f"{full['finder_cpu_ms_per_frame']:.1f} ms "
        f"at 1080p. Wall clock on the shared machine (load {result['load_before']:.1f}–"
        f"{result['load_after']:.1f}): {hd['pose_fps_steady_wall']:.2f} frames/s at 720p, "
        f"{hd['ratio_to_decoding']:.4f} × decoding ({hd['decode_fps']:.0f} frames/s); "
        f"{full['pose_fps_steady_wall']:.2f} frames/s at 1080p ({full['decode_fps']:.0f} "
        f"frames/s decoding). Peak RSS: main process {hd['max_rss_main_mb']} MB, largest worker "
        f"{hd['max_rss_worker_mb']} MB.{option_sentence(result)} "
        f"(`benchmarks/results/pose_throughput.json`, {result['measured_at']}.)")


def option_flags(r: dict) -> str:
    """The CLI options of a result row (empty for the default)."""
    flags = []
    if r.get("holistic_models", "full") != "full":
        flags.append(f"--holistic-models {r['holistic_models']}")
    if r.get("holistic_every", 1) > 1:
        flags.append(f"--holistic-every {r['holistic_every']}")
    return " ".join(flags)


def option_sentence(result: dict) -> str:
    """One sentence per measured option: its 720p figure (and 1080p where measured)."""
    sentences = []
    options = [r for r in result["results"] if option_flags(r)]
    for flags in dict.fromkeys(option_flags(r) for r in options):
        rows = sorted((r for r in options if option_flags(r) == flags), key=lambda r: r["height"])
        hd = rows[0]
        met = "meets" if hd["max_fps_on_idle_cores"] >= result["goal_fps_720p"] else "misses"
        figures = "; ".join(
            f"{r['height']}p: {r['cpu_ms_per_frame']:.0f} ms per frame → at most "
            f"{r['max_fps_on_idle_cores']:.1f} frames/s ({r['pose_fps_steady_wall']:.2f} frames/s "
            f"wall, {r['ratio_to_decoding']:.4f} × decoding)" for r in rows)
        sentences.append(f" With the option `{flags}`: {figures}; {met} the goal at "
                         f"{hd['height']}p.")
    return "".join(sentences)


def readme_table_row(result: dict) -> str:
    """The main README's speed-table row for pose, rendered from the committed JSON."""
    hd, full = by_height(result, 720), by_height(result, 1080)
    cores = result["cpu_cores"]
    return (f"| pose (MediaPipe, 3 performers; CPU time of all processes) | 720p: "
            f"{hd['cpu_ms_per_frame']:.0f} ms/frame → ≤ {hd['max_fps_on_idle_cores']:.1f} frames/s "
            f"on {cores} idle cores; 1080p: {full['cpu_ms_per_frame']:.0f} ms/frame → ≤ "
            f"{full['max_fps_on_idle_cores']:.1f}; {hd['pose_fps_steady_wall']:.2f} frames/s wall "
            f"at load {result['load_before']:.0f}–{result['load_after']:.0f} | decoding "
            f"{hd['decode_fps']:.0f} frames/s (720p), ratio {hd['ratio_to_decoding']:.4f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, nargs="+", default=None)
    parser.add_argument("--frames", type=int, nargs=2, default=[40, 160],
                        help="two video lengths (frames); steady-state CPU from their difference")
    parser.add_argument("--workers", type=int, default=3, help="Holistic worker processes")
    parser.add_argument("--holistic-every", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--holistic-models", default="full", help=argparse.SUPPRESS)
    parser.add_argument("--option-holistic-every", type=int, default=2,
                        help="also measure the first video with this --holistic-every (0: don't)")
    parser.add_argument("--option-holistic-models", nargs="*",
                        default=["lite", "full-no-hands", "lite-no-hands"],
                        help="also measure every video with each of these --holistic-models")
    parser.add_argument("--no-json", action="store_true", help=f"do not write {RESULTS.name}")
    parser.add_argument("--measure", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure_pose(args.videos[0], args.measure, args.workers,
                                      args.holistic_every, args.holistic_models)))
        return 0

    videos = args.videos or default_videos(max(args.frames))
    n_cores = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()[0]
    results = [benchmark_video(v, sorted(args.frames), args.workers, n_cores) for v in videos]
    if args.option_holistic_every > 1:
        results.append(benchmark_video(videos[0], sorted(args.frames), args.workers, n_cores,
                                       args.option_holistic_every))
    for models in args.option_holistic_models:
        results += [benchmark_video(v, sorted(args.frames), args.workers, n_cores,
                                    holistic_models=models) for v in videos]
    load_after = os.getloadavg()[0]
    print(f"cpu cores: {n_cores}; load average (1 min) before/after: {load_before:.2f} / "
          f"{load_after:.2f} (wall-clock rates below are pessimistic when load > cores; the CPU "
          f"time is what counts)")
    for r in results:
        option = f", {option_flags(r)}" if option_flags(r) else ""
        print(f"{r['video']} ({r['width']}x{r['height']}, {r['workers']} workers{option}, "
              f"{r['people_per_frame']:.2f} people/frame):")
        print(f"  decoding {r['decode_fps']:.1f} frames/s; pose {r['pose_fps_steady_wall']:.2f} "
              f"frames/s steady (wall clock, loaded), {r['ratio_to_decoding']:.4f} x decoding")
        print(f"  CPU time of the process tree: {r['cpu_ms_per_frame']:.0f} ms per frame -> at most "
              f"{r['max_fps_on_idle_cores']:.1f} frames/s on {n_cores} idle cores "
              f"(goal {GOAL_FPS:g} at 720p)")
        print(f"  finder: {r['finder_cpu_ms_per_frame']:.1f} ms per frame "
              f"({r['detector_calls_per_frame']:.2f} detector calls), {r['finder_share_of_cpu']:.1%} "
              f"of the CPU time, {r['finder_share_of_previous_total']:.1%} of the previous "
              f"{PREVIOUS_CPU_MS:.0f} ms (budget {FINDER_BUDGET:.0%})")
        print(f"  peak RSS main {r['max_rss_main_mb']} MB, largest worker {r['max_rss_worker_mb']} MB")
    if not args.no_json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        payload = {"script": "benchmarks/pose_throughput.py", "cpu_cores": n_cores,
                   "load_before": round(load_before, 2), "load_after": round(load_after, 2),
                   "goal_fps_720p": GOAL_FPS, "previous_cpu_ms_720p": PREVIOUS_CPU_MS,
                   "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "results": results}
        RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
