"""Speed of the separation models: real-time factor of whole-song separation and training steps/s.

    python benchmarks/separation_speed.py [--seconds 12] [--train_steps 3] [--devices cpu cuda]

For each preset (``small``, ``vovit``; visual input ``face``) and device (CPU, and the GPU when torch
sees one) it separates ``--seconds`` of random audio with random keypoints through the same
overlapping-window code as ``separate`` (``separation.inference.separate_song``: 4-s windows, 2-s hop)
and prints the real-time factor RTF = processing seconds / audio seconds (below 1 = faster than real
time), then times ``--train_steps`` optimizer steps (batch 4 for small, 2 for vovit; the first step is
a warm-up and not counted). Ratios are against the ``small`` preset on CPU measured in the same run.
Random weights: speed does not depend on training. Timings on a shared CPU are noisy: the load average
before and after is recorded.

Writes ``benchmarks/results/separation_speed.json`` (``--out``); the README's speed row
(``readme_row``) and ``separation/README.md``'s speed table (``package_table``) are rendered from it,
and ``tests/separation/test_sep_speed_doc.py`` keeps them equal.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run as a script from anywhere

from core.io import save_json  # noqa: E402
from core.provenance import git_commit  # noqa: E402
from separation.conventions import PROJECT  # noqa: E402
from separation.inference import separate_song  # noqa: E402
from separation.training import TrainOptions, train_step  # noqa: E402
from separation.vovit import (CHUNK_SAMPLES, CHUNK_VIDEO_FRAMES, SAMPLE_RATE,  # noqa: E402
                              VIDEO_FPS, VoViT, count_parameters, make_config)

TRAIN_BATCH = {"small": 4, "vovit": 2}
REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT_JSON = REPO_ROOT / "benchmarks" / "results" / "separation_speed.json"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def separation_rtf(model: VoViT, seconds: float, device: torch.device) -> float:
    rng = np.random.default_rng(0)
    mixture = (0.1 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)
    frames = int(seconds * VIDEO_FPS) + 1
    visual = rng.standard_normal((frames, model.config.num_joints, 2)).astype(np.float32)
    mask = np.ones(visual.shape[:2], bool)
    separate_song(model, mixture[:CHUNK_SAMPLES], visual, mask, device,
                  conventions=PROJECT)                                   # warm-up
    sync(device)
    start = time.perf_counter()
    separate_song(model, mixture, visual, mask, device, conventions=PROJECT)
    sync(device)
    return (time.perf_counter() - start) / seconds


def training_steps_per_s(model: VoViT, batch: int, steps: int, device: torch.device) -> float:
    model.train()
    options = TrainOptions()
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    mixture = 0.1 * torch.randn(batch, CHUNK_SAMPLES, device=device)
    visual = torch.randn(batch, 2, CHUNK_VIDEO_FRAMES, model.config.num_joints, device=device)
    elapsed = 0.0
    for i in range(steps + 1):
        sync(device)
        start = time.perf_counter()
        train_step(model, optimizer, mixture, 0.5 * mixture, visual)
        sync(device)
        if i:                       # step 0 is warm-up
            elapsed += time.perf_counter() - start
    return steps / elapsed


def _row(result: dict, device: str, preset: str) -> dict | None:
    return next((r for r in result["rows"] if r["device"] == device and r["preset"] == preset), None)


def readme_row(result: dict) -> str:
    """The separation row of the top README's speed table, from the result JSON."""
    parts = []
    for preset in ("small", "vovit"):
        row = _row(result, "cpu", preset)
        if row:
            parts.append(f"`{preset}`: real-time factor {row['rtf']:.2f}, "
                         f"{row['train_steps_per_s']:.3g} training steps/s (batch {row['batch']})")
    load = result["load_average"]
    return (f"| separation (CPU, load {load['before']:.0f}–{load['after']:.0f}; "
            f"`benchmarks/results/separation_speed.json`) | {'; '.join(parts)} | — |")


def package_table(result: dict) -> str:
    """The speed table of ``separation/README.md``, from the result JSON."""
    lines = ["| device | preset | parameters | RTF | × small (same run) | train steps/s (batch) |",
             "|---|---|---|---|---|---|"]
    base = _row(result, "cpu", "small")
    for row in result["rows"]:
        ratio = f"{row['rtf'] / base['rtf']:.1f}" if base else "—"
        lines.append(f"| {row['device']} | `{row['preset']}` (face) | {row['parameters'] / 1e6:.2f} M | "
                     f"{row['rtf']:.2f} | {ratio} | {row['train_steps_per_s']:.3g} "
                     f"({row['batch']}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12.0, help="audio length to separate")
    parser.add_argument("--train_steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--presets", nargs="+", default=["small", "vovit"])
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu (+ cuda if any)")
    parser.add_argument("--out", type=Path, default=RESULT_JSON, help="result JSON to write")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{args.seconds:.0f} s of audio, visual=face")
    rows, device_names = [], {}
    for device_name in devices:
        device = torch.device(device_name)
        for preset in args.presets:
            torch.manual_seed(0)
            model = VoViT(make_config("face", preset)).to(device).eval()
            rtf = separation_rtf(model, args.seconds, device)
            steps = training_steps_per_s(model, TRAIN_BATCH[preset], args.train_steps, device)
            rows.append((device_name, preset, count_parameters(model), rtf, steps))
            if device.type == "cuda":
                device_names[device_name] = torch.cuda.get_device_name(device)
            print(f"  measured {device_name:4s} {preset:5s}: RTF {rtf:.3f}, "
                  f"{steps:.3f} train steps/s", flush=True)
    base_rtf = next((r[3] for r in rows if r[0] == "cpu" and r[1] == "small"), rows[0][3])
    base_steps = next((r[4] for r in rows if r[0] == "cpu" and r[1] == "small"), rows[0][4])
    print(f"\n{'device':6s} {'preset':6s} {'params':>8s} {'RTF':>8s} {'x realtime':>10s} "
          f"{'RTF/small-cpu':>13s} {'train steps/s':>13s} {'(batch)':>7s} {'vs small-cpu':>12s}")
    for device_name, preset, params, rtf, steps in rows:
        print(f"{device_name:6s} {preset:6s} {params / 1e6:7.2f}M {rtf:8.3f} {1 / rtf:10.2f} "
              f"{rtf / base_rtf:13.2f} {steps:13.3f} {TRAIN_BATCH[preset]:>7d} "
              f"{steps / base_steps:12.2f}")
    result = {"git_commit": git_commit(), "torch": torch.__version__,
              "python": platform.python_version(),
              "threads": torch.get_num_threads(), "cpu_cores": os.cpu_count(),
              "device_names": device_names, "audio_seconds": args.seconds,
              "timed_train_steps": args.train_steps,
              "load_average": {"before": load_before, "after": os.getloadavg()[0]},
              "rows": [{"device": d, "preset": p, "parameters": n, "rtf": rtf,
                        "train_steps_per_s": steps, "batch": TRAIN_BATCH[p]}
                       for d, p, n, rtf, steps in rows]}
    save_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
