"""Throughput of the feature-extraction stage on a synthetic concert the size of a real one.

    .venv/bin/python benchmarks/features_throughput.py [--minutes 60] [--workdir DIR] [--keep]
        [--workers 1]

Data (written once under ``--workdir``): one song, ``--minutes`` long (default 60), three performers
(vocal, violin, mridangam), keypoints at 30 fps (F × 133 × 2 float32 with ~1% missing frames and
~3% low-score points), one 48 kHz PCM_16 stem per performer.

Phases, each in a fresh child process so that its peak memory (``ru_maxrss``) is its own:

* ``motion``       every motion feature file of the three performers (general + violin + vocal),
                   read from the .npy keypoints and written as JSON — goal ≤ 10 s
* ``audio``        the three audio feature files (read wav, STFT features, interpolate, write) —
                   goal ≤ 60 s
* ``correlation``  sliding correlation of every motion feature × every audio feature of every
                   instrument (read feature JSONs, compute) — goal ≤ 30 s; writing
                   ``correlations.json`` is timed separately

Baselines measured in the same run (same machine, same moment), reported as speed ratios:
the per-window Python loop with ``scipy.stats.pearsonr`` (extrapolated from 2 000 windows of one pair),
plain full-signal librosa calls on a 5-minute excerpt, and a per-column, per-run
``scipy.signal.savgol_filter`` loop on one performer's keypoints.
Goal ratios < 1 mean the goal is met. Extraction runs the performers of the song on ``--workers``
threads (default 1, as the CLI; on the shared development machine 2 threads never beat 1);
correlation is single-threaded. The machine may be shared: wall-clock time then overstates the
cost, so the CPU time (user + system, all threads) of each phase and the 1-minute load average
before and after it are printed too (a sequential phase on an idle machine has wall ≈ CPU). Both
exclude the one-off imports (librosa, scipy) of each child process.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FPS = 30.0
SR = 48_000
LAYOUT = ("vocal", "violin", "mridangam")
GOALS_S = {"motion": 10.0, "audio": 60.0, "correlation": 30.0}
MEMORY_GOAL_GB = 4.0
ARTIST, SONG = "Bench Artist", "Bench Song"


def make_data(root: Path, minutes: float) -> None:
    import soundfile as sf

    from core.io import save_json
    from core.pose_files import InstrumentPose, save_instrument_pose

    n_frames = int(FPS * minutes * 60)
    song_dir = root / ARTIST / SONG
    song_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for position, instrument in enumerate(LAYOUT):
        base = np.stack([rng.uniform(200, 400, 133) + 400 * position, rng.uniform(100, 600, 133)], 1)
        drift = np.cumsum(rng.normal(0, 0.3, (n_frames, 1, 2)), axis=0, dtype=np.float32)
        wobble = rng.normal(0, 1.5, (n_frames, 133, 2)).astype(np.float32)
        keypoints = (base[None].astype(np.float32) + drift + wobble)
        missing = rng.random(n_frames) < 0.01
        keypoints[missing] = np.nan
        scores = np.where(rng.random((n_frames, 133)) < 0.03, 1.0, 8.0).astype(np.float32)
        info = {"backend": "mmpose", "model": "synthetic", "score_scale": "simcc", "fps": FPS,
                "frame_size": [1920, 1080], "position": position, "n_performers": 3,
                "layout": list(LAYOUT)}
        save_instrument_pose(song_dir / instrument, InstrumentPose(keypoints, scores, info))
        del keypoints, wobble, scores
        prefix = "mri" if instrument == "mridangam" else instrument
        block = SR * 60
        with sf.SoundFile(song_dir / f"{prefix}_close.wav", "w", SR, 1, "PCM_16") as out:
            total = int(minutes * 60 * SR)
            for start in range(0, total, block):
                t = (start + np.arange(min(block, total - start))) / SR
                envelope = 0.3 + 0.25 * np.sin(2 * np.pi * (0.5 + position) * t) ** 2
                out.write((envelope * rng.standard_normal(len(t))).astype(np.float32) * 0.5)
    save_json(root / "dataset_metadata.json",
              {ARTIST: {SONG: {"layout": list(LAYOUT), "moving_camera": False, "fps": FPS,
                               "duration": minutes * 60, "correct_body_detection": True,
                               "face_false_positive_frames": [[100, 200]]}}})


def run_phase(phase: str, root: Path, workers: int) -> dict:
    """Inside the child process: run one phase, return timings and own peak RSS."""
    # heavy imports first: import time is start-up cost, not throughput
    import librosa  # noqa: F401
    import scipy.ndimage  # noqa: F401
    import scipy.signal  # noqa: F401

    from core.io import save_json
    from core.metadata import load_metadata
    from feature_extraction import pipeline

    song = load_metadata(root / "dataset_metadata.json")[0]
    song_dir = song.folder(root)
    options = pipeline.FeatureOptions(extract=phase, force=True, workers=workers)
    result = {}

    def cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    cpu_start = cpu_seconds()
    start = time.perf_counter()
    if phase in ("motion", "audio"):
        pipeline.extract_song(song, root, options)
        result["seconds"] = time.perf_counter() - start
        result["cpu_seconds"] = cpu_seconds() - cpu_start
    else:
        doc = pipeline.correlate_song(song, root)
        result["seconds"] = time.perf_counter() - start
        result["cpu_seconds"] = cpu_seconds() - cpu_start
        result["pairs"] = len(doc["pairs"])
        result["windows"] = len(doc["window_start_frames"])
        doc.pop("_counts")
        write_start = time.perf_counter()
        path = song_dir / "correlation" / "correlations.json"
        save_json(path, doc, indent=None)
        result["write_seconds"] = time.perf_counter() - write_start
        result["json_mb"] = path.stat().st_size / 1e6
    result["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    return result


def baselines(root: Path) -> dict:
    """Naive implementations timed on subsets, extrapolated to the full workload."""
    import librosa
    from scipy.signal import savgol_filter
    from scipy.stats import pearsonr

    from core.audio import load_audio
    from core.motion_prep import savgol_smooth
    from feature_extraction.audio import stft_features
    from feature_extraction.correlation import sliding_pearson, window_grid

    out = {}
    song_dir = root / ARTIST / SONG
    # correlation: one pair, per-window loop vs vectorised
    motion = json.loads((song_dir / "vocal" / "motion_features.json").read_text())["features"]
    audio = json.loads((song_dir / "vocal" / "audio_features.json").read_text())["features"]
    x = np.array([np.nan if v is None else v for v in motion["speed"]])
    y = np.array(audio["rms"])
    grid = window_grid(len(x), FPS)
    n_loop = 2000
    start = time.perf_counter()
    for s in grid.starts[:n_loop]:
        xs, ys = x[s:s + grid.length], y[s:s + grid.length]
        ok = np.isfinite(xs) & np.isfinite(ys)
        if ok.sum() >= grid.min_pairs:
            pearsonr(xs[ok], ys[ok])
    loop_per_window = (time.perf_counter() - start) / n_loop
    start = time.perf_counter()
    sliding_pearson(x, y, grid)
    vector_per_window = (time.perf_counter() - start) / grid.starts.size
    out["correlation_speedup_vs_loop"] = loop_per_window / vector_per_window
    out["correlation_loop_seconds_per_pair"] = loop_per_window * grid.starts.size
    # audio: plain librosa on a 5-minute excerpt vs blockwise
    y_audio = load_audio(song_dir / "vocal_close.wav", SR)[:SR * 300]
    start = time.perf_counter()
    librosa.feature.rms(y=y_audio, frame_length=2048, hop_length=1024)
    librosa.onset.onset_strength(y=y_audio, sr=SR, n_fft=2048, hop_length=1024)
    librosa.feature.spectral_centroid(y=y_audio, sr=SR, n_fft=2048, hop_length=1024)
    plain = time.perf_counter() - start
    start = time.perf_counter()
    stft_features(y_audio, SR)
    ours = time.perf_counter() - start
    out["audio_speedup_vs_plain_librosa"] = plain / ours
    # smoothing: per-column, per-run savgol_filter loop on one performer (first 10 minutes)
    kp = np.load(song_dir / "vocal" / "keypoints.npy")[:int(FPS * 600)].astype(np.float64)
    flat = kp.reshape(len(kp), -1)
    start = time.perf_counter()
    for col in range(flat.shape[1]):
        finite = np.isfinite(flat[:, col])
        edges = np.flatnonzero(np.diff(np.r_[0, finite.astype(int), 0]))
        for a, b in zip(edges[::2], edges[1::2]):
            if b - a >= 5:
                savgol_filter(flat[a:b, col], 5, 2, mode="interp")
    loop = time.perf_counter() - start
    start = time.perf_counter()
    savgol_smooth(kp)
    ours = time.perf_counter() - start
    out["smoothing_speedup_vs_loop"] = loop / ours
    return out


def child(phase: str, root: Path, workers: int = 1) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    load_before = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, __file__, "--child", phase, "--workdir", str(root),
                           "--workers", str(workers)],
                          capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"phase {phase} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load"] = (load_before, os.getloadavg()[0])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="concert length (default 60)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the synthetic data goes (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic data")
    parser.add_argument("--workers", type=int, default=1,
                        help="performers extracted at once (threads; default 1, as the CLI)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_phase(args.child, args.workdir, args.workers)
                         if args.child != "baselines"
                         else baselines(args.workdir)))
        return 0
    root = args.workdir or Path(tempfile.mkdtemp(prefix="features_bench_"))
    try:
        if not (root / "dataset_metadata.json").exists():
            start = time.perf_counter()
            make_data(root, args.minutes)
            print(f"synthetic data: {args.minutes:g} min, 3 performers, {FPS:g} fps, {SR} Hz stems "
                  f"({time.perf_counter() - start:.1f} s to write) in {root}")
        n_frames = int(FPS * args.minutes * 60)
        print(f"{os.cpu_count()} CPUs visible, 1-min load average {os.getloadavg()[0]:.1f} "
              f"(> CPUs = shared machine, wall times overstated); extraction workers: "
              f"{args.workers}")
        results = {phase: child(phase, root, args.workers)
                   for phase in ("motion", "audio", "correlation")}
        scale = 60.0 / args.minutes
        for phase, res in results.items():
            seconds = res["seconds"]
            rate = n_frames * 3 / seconds
            goal = GOALS_S[phase] / scale
            extra = ""
            if phase == "correlation":
                extra = (f"; {res['pairs']} pairs x {res['windows']} windows = "
                         f"{res['pairs'] * res['windows'] / seconds / 1e6:.2f} M windows/s; "
                         f"writing correlations.json ({res['json_mb']:.0f} MB) "
                         f"{res['write_seconds']:.1f} s")
            print(f"{phase:12s} {seconds:7.2f} s wall, {res['cpu_seconds']:7.2f} s CPU  "
                  f"({rate / 1e3:6.1f} k performer-frames/s)  goal {goal:.1f} s -> ratio "
                  f"{seconds / goal:.2f} (CPU {res['cpu_seconds'] / goal:.2f})   peak "
                  f"{res['peak_gb']:.2f} GB (goal {MEMORY_GOAL_GB:g} GB -> ratio "
                  f"{res['peak_gb'] / MEMORY_GOAL_GB:.2f}); load {res['load'][0]:.1f}->"
                  f"{res['load'][1]:.1f}{extra}")
        base = child("baselines", root)
        print(f"baseline ratios (same run): vectorised correlation is "
              f"{base['correlation_speedup_vs_loop']:.0f}x a per-window pearsonr loop "
              f"(the loop would need {base['correlation_loop_seconds_per_pair']:.1f} s per pair, "
              f"x {results['correlation']['pairs']} pairs); blockwise audio features are "
              f"{base['audio_speedup_vs_plain_librosa']:.2f}x plain librosa; NaN-aware smoothing is "
              f"{base['smoothing_speedup_vs_loop']:.1f}x a per-run savgol_filter loop")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
