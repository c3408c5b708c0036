"""Integrated-Gradients throughput of a separation model: chunks/s with 25 steps, and the speedup of
evaluating several integration steps per forward pass (Captum ``internal_batch_size``) over one
step at a time, measured in the same run.

    python benchmarks/saliency_speed.py [--model face_body] [--chunks 1] [--steps 25]
                                        [--batch-sizes 1,5,10,25] [--device cpu|cuda|all]

The model is the shipped checkpoint for ``--model`` when it exists, else the same architecture
(VoViT ``small`` preset) with random weights: throughput does not depend on the weight values. Inputs
are synthetic 4-s chunks (65535 samples, keypoints (2, 100, J)). The baseline is
``internal_batch_size = chunks`` (one step of every chunk per forward pass); the ratio printed is
baseline time / time.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradient_saliency.attribution import attribute_chunks  # noqa: E402
from gradient_saliency.baselines import visual_baseline  # noqa: E402
from gradient_saliency.models import checkpoint_path, mean_face_in_model_space  # noqa: E402
from gradient_saliency.objective import SeparationObjective  # noqa: E402


def build_model(name: str, device: torch.device):
    from separation.checkpoint import load_checkpoint
    from separation.vovit import VoViT, make_config

    path = checkpoint_path(name)
    if path.exists():
        model, _ = load_checkpoint(path, map_location=device)
        return model.eval(), f"{path.name}"
    torch.manual_seed(0)
    cross_modal = name == "face_body"
    model = VoViT(make_config(name, "small", cross_modal=cross_modal)).to(device).eval()
    return model, f"random-weight VoViT small {name}{' xattn' if cross_modal else ''}"


def time_ig(objective, inputs, baselines, target, steps: int, internal_batch_size: int,
            device: torch.device, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        attribute_chunks(objective, *inputs, target, "integrated_gradients", baselines=baselines,
                         n_steps=steps, internal_batch_size=internal_batch_size)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def bench_device(device: torch.device, args) -> None:
    model, what = build_model(args.model, device)
    joints = model.config.num_joints
    generator = torch.Generator().manual_seed(0)
    mixture = (torch.randn(args.chunks, 65535, generator=generator) * 0.1).to(device)
    visual = (torch.randn(args.chunks, 2, 100, joints, generator=generator) * 0.3).to(device)
    target = mixture * 0.3
    mean_face = mean_face_in_model_space() if args.model in ("face", "face_body") else None
    baselines = (torch.zeros_like(mixture), visual_baseline(visual, args.model, mean_face=mean_face))
    objective = SeparationObjective(model)
    steps_per_pass = [int(s) for s in args.batch_sizes.split(",")]
    if device.type == "cuda":   # warm-up: kernel selection, allocator
        time_ig(objective, (mixture, visual), baselines, target, 2, 2 * args.chunks, device, 1)
    print(f"\n[{device}] {what}; {args.chunks} chunk(s) x {args.steps} steps, "
          f"torch threads {torch.get_num_threads()}, best of {args.repeats}")
    print(f"{'steps/pass':>10} {'internal_batch_size':>20} {'seconds':>9} {'chunks/s':>9} "
          f"{'speedup vs 1 step/pass':>23}")
    baseline_time = None
    for steps in steps_per_pass:
        seconds = time_ig(objective, (mixture, visual), baselines, target, args.steps,
                          steps * args.chunks, device, args.repeats)
        baseline_time = baseline_time or seconds
        print(f"{steps:>10} {steps * args.chunks:>20} {seconds:>9.2f} {args.chunks / seconds:>9.4f} "
              f"{baseline_time / seconds:>22.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", choices=("face", "body", "face_body"), default="face_body")
    parser.add_argument("--chunks", type=int, default=1, help="chunks attributed together")
    parser.add_argument("--steps", type=int, default=25, help="integration steps")
    parser.add_argument("--batch-sizes", default="1,5,10,25",
                        help="integration steps per forward pass to compare; the first is the baseline")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="all", help="cpu, cuda, or all (cpu, and cuda if present)")
    args = parser.parse_args()
    devices = [torch.device("cpu")] if args.device in ("all", "cpu") else []
    if args.device in ("all", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    elif args.device == "cuda":
        sys.exit("no CUDA GPU visible")
    for device in devices:
        bench_device(device, args)
    if len(devices) == 1 and args.device == "all":
        print("\n(no CUDA GPU visible: GPU figures not measured)")


if __name__ == "__main__":
    main()
