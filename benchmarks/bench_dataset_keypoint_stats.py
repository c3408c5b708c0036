"""Throughput of the report's keypoint statistics (``dataset_analysis.stats.KeypointSurvey``).

The survey keeps running sums per (score scale, instrument, body part) so that a whole dataset
(227 songs × 3 performers × ~78k frames) never has to sit in memory. Baseline, measured in the same
run on the same arrays: keep every found score per part and call ``np.mean``/``np.std``/``np.min``/
``np.max`` on the concatenation at the end (what a straightforward implementation would do). Both
must agree; the script prints frames per second for each and the ratio survey / baseline.

    python benchmarks/bench_dataset_keypoint_stats.py [--frames 20000] [--performers 6]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run as a script from anywhere
from dataset_analysis import stats  # noqa: E402


def synthetic_performer(n_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(F, 133, 2)`` pixels with 5 % all-NaN frames and 3 % lost points; SimCC-like scores."""
    keypoints = rng.uniform(0, 1280, (n_frames, 133, 2)).astype(np.float32)
    keypoints[rng.random(n_frames) < 0.05] = np.nan
    keypoints[rng.random((n_frames, 133)) < 0.03] = np.nan
    scores = rng.normal(7.5, 1.5, (n_frames, 133)).astype(np.float32)
    return keypoints, scores


def baseline(performers, threshold: float) -> dict:
    kept: dict[str, list[np.ndarray]] = {}
    for keypoints, scores in performers:
        for part, values in stats.found_scores_by_part(keypoints, scores).items():
            kept.setdefault(part, []).append(values.astype(np.float64))
    out = {}
    for part, chunks in kept.items():
        values = np.concatenate(chunks)
        out[part] = {"n": values.size, "mean": values.mean(), "std": values.std(),
                     "min": values.min(), "max": values.max(),
                     "share_below": (values < threshold).mean()}
    return out


def survey(performers, threshold: float) -> dict:
    result = stats.KeypointSurvey()
    for i, (keypoints, scores) in enumerate(performers):
        result.add(f"song {i}", "vocal", keypoints, scores, "simcc", threshold)
    return result.confidence_table()["simcc"]["vocal"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000, help="frames per performer")
    parser.add_argument("--performers", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    performers = [synthetic_performer(args.frames, rng) for _ in range(args.performers)]
    total_frames = args.frames * args.performers
    timings = {}
    results = {}
    for name, fn in (("baseline (concatenate)", baseline), ("survey (running sums)", survey)):
        best = np.inf
        for _ in range(args.repeats):
            start = time.perf_counter()
            results[name] = fn(performers, 3.0)
            best = min(best, time.perf_counter() - start)
        timings[name] = best
        print(f"{name:<24} {total_frames / best:12.0f} frames/s  ({best:.3f} s for {total_frames} "
              f"frames x 133 points)")
    base, fast = results["baseline (concatenate)"], results["survey (running sums)"]
    for part in base:
        for key in ("n", "mean", "std", "min", "max", "share_below"):
            assert np.isclose(base[part][key], fast[part][key], rtol=1e-9), (part, key)
    ratio = timings["baseline (concatenate)"] / timings["survey (running sums)"]
    print(f"speed ratio survey / baseline: {ratio:.2f}x (results agree to 1e-9)")


if __name__ == "__main__":
    main()
