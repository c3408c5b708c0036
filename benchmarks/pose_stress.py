"""Pose stress table: recall and face-centre error of every performer of every stress scene
(``demo_generator.stress``: wide shots at 720p and 1080p, performers at 1/4-1/2 of the frame
height, crowds and posters of faces, occlusion, dim and uneven light) with the default MediaPipe
backend; writes ``benchmarks/results/pose_stress.json``.

Recall = share of frames whose detected body lies in the performer's ground-truth box; face error
= median distance from the detected to the true face centre, in face sizes
(``pose_estimation.evaluation``). Goal (issue 17): recall >= 0.95 for every performer.

Usage::

    python benchmarks/pose_stress.py [--dataset DIR] [--seconds 4] [--workers 3] [--scenes ...]

Without ``--dataset`` the scenes are rendered into (or reused from)
``benchmarks/results/.scratch/stress``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "2")

RESULTS = REPO_ROOT / "benchmarks" / "results" / "pose_stress.json"
SCRATCH = REPO_ROOT / "benchmarks" / "results" / ".scratch" / "stress"
GOAL_RECALL = 0.95


def readme_table(result: dict) -> str:
    """pose_estimation/README.md's stress table, rendered from the committed JSON."""
    lines = ["| scene | resolution | performer (photo) | face px | recall | face-centre error "
             "(face sizes) |", "|---|---|---|---|---|---|"]
    for r in result["performers"]:
        lines.append(f"| {r['scene']} | {r['resolution']} | {r['performer']} ({r['appearance']}) | "
                     f"{r['face_px']:.0f} | {r['recall']:.3f} | {r['face_error_median']:.3f} |")
    lines.append(f"\nLowest recall {result['lowest_recall']:.3f} over {len(result['performers'])} "
                 f"performers ({result['seconds']:g} s per scene, {result['workers']} workers; goal "
                 f">= {result['goal_recall']}; `benchmarks/results/pose_stress.json`, "
                 f"{result['measured_at']}).")
    return "\n".join(lines)


def main() -> int:
    from core.log import native_stderr_silenced, quiet_native_environment

    quiet_native_environment()
    from core.io import load_json
    from core.video import iter_frames
    from demo_generator.stress import (GROUND_TRUTH_NAME, STRESS_ARTIST, STRESS_SCENES,
                                       STRESS_SECONDS, VIDEO_NAME, generate_stress)
    from pose_estimation.evaluation import score_performers
    from pose_estimation.mediapipe_backend import MediaPipeOptions, estimate_poses

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=SCRATCH)
    parser.add_argument("--seconds", type=float, default=STRESS_SECONDS)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--scenes", nargs="+", default=[s.name for s in STRESS_SCENES])
    parser.add_argument("--no-json", action="store_true")
    args = parser.parse_args()

    generate_stress(args.dataset, args.seconds, tuple(args.scenes))
    rows = []
    for name in args.scenes:
        song = args.dataset / STRESS_ARTIST / name
        truth = load_json(song / GROUND_TRUTH_NAME)
        started = time.process_time()
        with native_stderr_silenced():                  # MediaPipe's native log lines
            frames = [persons for _, persons in estimate_poses(
                iter_frames(song / VIDEO_NAME), MediaPipeOptions(n_workers=args.workers))]
        main_cpu = time.process_time() - started
        for performer, score in score_performers(frames, truth).items():
            spec = truth["performers"][performer]
            rows.append({"scene": name, "resolution": f"{truth['width']}x{truth['height']}",
                         "performer": performer, "appearance": spec["appearance"],
                         "face_px": round(spec["face_size"], 1),
                         "recall": round(score["recall"], 3),
                         "face_error_median": round(score["face_error_median"], 3),
                         "frames": score["frames"],
                         "people_per_frame": round(sum(map(len, frames)) / max(len(frames), 1), 2),
                         "main_process_cpu_s": round(main_cpu, 1)})
            r = rows[-1]
            print(f"{name:22s} {r['resolution']:9s} {performer:10s} {r['appearance']:9s} "
                  f"face {r['face_px']:5.1f} px  recall {r['recall']:.3f}  face error "
                  f"{r['face_error_median']:.3f}  ({r['people_per_frame']:.2f} people/frame)",
                  flush=True)
    worst = min(r["recall"] for r in rows)
    print(f"{len(rows)} performers; lowest recall {worst:.3f} (goal >= {GOAL_RECALL}: "
          f"{'met' if worst >= GOAL_RECALL else 'NOT met'})")
    if not args.no_json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({
            "script": "benchmarks/pose_stress.py", "seconds": args.seconds, "workers": args.workers,
            "goal_recall": GOAL_RECALL, "lowest_recall": worst,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "performers": rows}, indent=2) + "\n")
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
