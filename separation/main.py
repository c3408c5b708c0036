"""Pose-conditioned source separation (VoViT family): train, separate, evaluate, import-vovit.

Examples::

    python -m separation.main train --visual face --instrument vocal --preset small \\
        --dataset_path DIR --out separation/checkpoints/vocal_face_small.pt
    python -m separation.main separate --dataset_path DIR -a ARTIST -s SONG \\
        --checkpoint separation/checkpoints/vocal_face_small.pt
    python -m separation.main evaluate --dataset_path DIR \\
        --checkpoint separation/checkpoints/vocal_face_small.pt \\
        --baseline separation/checkpoints/vocal_none_small.pt
    python -m separation.main import-vovit vovit_singing_voice.pth --instrument vocal \
        --out vocal_face_vovit_official.pt
    python -m separation.main benchmark --out results/separation_benchmark

``separate`` writes ``<song>/<instrument>/separated_<model>.wav`` (16384 Hz; model name e.g.
``face_small``, ``face_body_xattn_small``). ``benchmark`` (``separation.benchmark``) trains the
benchmark rows on generated scenes and writes ``separation_benchmark.json``. ``evaluate`` writes ``<song>/<instrument>/
separation_eval_<model>.json`` per song and ``<results>/separation/eval_<instrument>_<model>.json``
(SDR (BSS-eval v3, torchmetrics) and SI-SDR per chunk and per song, for the model, the mixture and
the audio-only baseline) and prints a table. ``import-vovit`` turns official VoViT singing-voice
weights into a checkpoint the other commands accept (``separation.official``; VoViT's input
conventions recorded) and prints the keys it dropped.

Exit code: 0 when every song went well, 1 when a song failed (each named in the summary), 2 for a
bad setting (an out-of-range option, unreadable metadata, a device this machine lacks, a checkpoint
that is refused or unreadable); errors are one line, ``-v`` adds the traceback.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys

from core.log import setup_logging
from core.metadata import MetadataError
from core.settings import SettingsError, add_body_detection_arg, add_common_args
from separation.encoders import KINDS
from separation.vovit import AUDIO_NETS

INSTRUMENTS = ("vocal", "violin", "mridangam")
log = logging.getLogger("separation")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not ≥ 1")
    return value


def hop_seconds(text: str) -> float:
    from .inference import hop_samples

    value = float(text)
    try:
        hop_samples(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--hop_seconds {value:g} "))
    return value


def encoder_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` → ``(key, value)``, the value read as JSON when it is JSON (``64``, ``true``),
    else kept as text (``sigmoid``)."""
    import json

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def one_line(exc: BaseException) -> str:
    """The first line of an error's message (torch's may run to a page)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m separation.main", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model on the dataset's songs (split by song)")
    add_common_args(train, executor=False)      # one training process, not per-song work
    train.add_argument("--visual", choices=KINDS, required=True,
                       help="visual input (separation.encoders): face (68 points), body (55), "
                            "face_body (123), frames (RGB crops of the performer), text, "
                            "scene_graph, points3d (the performer's metric 3D points), none")
    train.add_argument("--encoder", nargs="+", type=encoder_option, default=(), metavar="KEY=VALUE",
                       help="condition encoder options over the preset's (kinds with options: "
                            "frames crop_size, frame_stride, width, channels, dilated, "
                            "activation none|sigmoid; points3d point_channels=[a,b,...], "
                            "point_identity, temporal_kernel, temporal_layers, out_channels; "
                            "recorded in the checkpoint config)")
    train.add_argument("--audio_net", choices=AUDIO_NETS, default="vovit",
                       help="audio path: vovit (VoViT's, default) or unet (Sound of Pixels' U-Net "
                            "on the log-frequency magnitude spectrogram, K component maps weighted "
                            "by the condition max-pooled over time; separation.unet)")
    train.add_argument("--audio", nargs="+", type=encoder_option, default=(), metavar="KEY=VALUE",
                       help="--audio_net unet options over the preset's: levels, width, mask_type "
                            "binary|ratio, weighted_loss, visual_activation sigmoid|none, "
                            "output_mask soft|threshold (recorded in the checkpoint config)")
    train.add_argument("--visual_weights", default=None, metavar="PATH",
                       help="frames: initialise the ResNet-18 from a local torchvision resnet18 "
                            "state dict (read as data only; needs --preset vovit, width 64)")
    train.add_argument("--instrument", choices=INSTRUMENTS, required=True,
                       help="the stem to separate (target)")
    train.add_argument("--preset", choices=("small", "vovit"), default="small",
                       help="small (~1.5 M parameters, CPU) or vovit (published sizes, 26.7 M)")
    train.add_argument("--cross_modal", action="store_true",
                       help="add FiLM + audio-to-visual cross-attention fusion (keeps attention)")
    train.add_argument("--out", required=True, help="checkpoint to write (resumes if present)")
    train.add_argument("--steps", type=positive_int, default=600,
                       help="optimizer steps (default 600)")
    train.add_argument("--batch_size", type=positive_int, default=4)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--max_minutes", type=float, default=None,
                       help="stop after this much training time (checkpoint kept; for shared CPUs)")
    train.add_argument("--eval_every", type=positive_int, default=100,
                       help="validate + checkpoint period in steps (≥ 1)")
    train.add_argument("--remix_probability", type=float, default=0.5,
                       help="share of examples remixed with another chunk's accompaniment")
    train.add_argument("--val_songs", nargs="*", default=None, metavar="ARTIST/SONG",
                       help="held-out songs (default: a seeded third of the songs)")
    train.add_argument("--extra_dataset", nargs="*", default=(), metavar="DIR",
                       help="more dataset roots to train on (their songs are keyed DIR:artist/song)")
    train.add_argument("--same_songs_as", default=None, metavar="CKPT",
                       help="train/validate on exactly the songs of another checkpoint (e.g. an "
                            "audio-only baseline on the songs a visual model was trained on)")
    train.add_argument("--seed", type=int, default=0)
    # input conventions (separation.conventions), recorded in the checkpoint
    train.add_argument("--mixture_normalisation", choices=("chunk_peak", "song_peak"),
                       default="chunk_peak",
                       help="divide each 4-s window by its own peak (default) or by the song's "
                            "(VoViT's whole-song batch peak)")
    train.add_argument("--face_coordinates", choices=("registered", "raw"), default="registered",
                       help="face input: similarity-registered to the mean face (default) or raw "
                            "pixels (VoViT's singing path)")
    train.add_argument("--face_fit_points", choices=("stable", "all", "no_lips"), default="stable",
                       help="points the face registration is fitted on (default stable: brows, "
                            "nose, eyes, so the jaw opening survives)")
    # every kind of model, audio-only too, so that a visual model and its baseline see the same songs
    add_body_detection_arg(train)

    separate = sub.add_parser("separate", help="separate whole songs with a checkpoint")
    add_common_args(separate)
    separate.add_argument("--checkpoint", required=True, help="model checkpoint (.pt)")
    separate.add_argument("--hop_seconds", type=hop_seconds, default=2.0,
                          help="hop between the overlapping 4-s windows, 0 < hop ≤ 4 (default 2)")

    evaluate = sub.add_parser("evaluate", help="SDR / SI-SDR of model, mixture and baseline")
    add_common_args(evaluate)
    evaluate.add_argument("--checkpoint", required=True, help="model checkpoint (.pt)")
    evaluate.add_argument("--baseline", default=None,
                          help="audio-only checkpoint (visual=none) for the same instrument")
    evaluate.add_argument("--held_out", action="store_true",
                          help="only the songs the checkpoint was not trained on")

    official = sub.add_parser("import-vovit",
                              help="official VoViT singing-voice weights (.pth) -> a checkpoint")
    official.add_argument("path", help="the official .pth (bare keys or any prefix)")
    official.add_argument("--instrument", choices=INSTRUMENTS, required=True,
                          help="the stem the weights separate (VoViT's singing model: vocal)")
    official.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    official.add_argument("-v", "--verbose", action="store_true")

    bench = sub.add_parser(
        "benchmark", help="train none/face/body/face_body/face_body_xattn on benchmark scenes, "
                          "evaluate on the test scenes (and demo songs)",
        description="The separation benchmark (separation/benchmark.py): same data, steps, batch, "
                    "lr and seed for every row; best step on the validation scenes; numbers on "
                    "the test scenes. Writes OUT/separation_benchmark.json and .png.")
    bench.add_argument("--out", required=True, help="folder for the JSON and the figure")
    bench.add_argument("--scenes_dir", default=None,
                       help="scene dataset (default OUT/scenes; generated when absent)")
    bench.add_argument("--checkpoints_dir", default=None,
                       help="where the rows' checkpoints go (default OUT/checkpoints); the JSON "
                            "is copied next to them")
    bench.add_argument("--demo_dataset", default=None, metavar="DIR",
                       help="also evaluate on these posed demo songs (mixed timbres)")
    bench.add_argument("--rows", nargs="+", default=None, metavar="ROW",
                       help="rows to train and report (default: none face body face_body "
                            "face_body_xattn; also frames, which renders the scenes' videos, "
                            "frames_unet (frames with Sound of Pixels' U-Net audio path), "
                            "none_unet (its audio-only reference), text, scene_graph and "
                            "points3d; none is the audio-only reference)")
    bench.add_argument("--kinds", nargs="+", default=None, metavar="KIND",
                       help="scene kinds to generate (default duet shadow concert, "
                            "demo_generator.scenes.BENCHMARK_KINDS; also appearance: appearance "
                            "alone decides, duet_lookalike: only motion decides for frames, "
                            "syllables: only the text decides, occluded: the query is unseen "
                            "for part of every chunk while an accompanist shadows it)")
    bench.add_argument("--preset", choices=("small", "vovit"), default="small")
    bench.add_argument("--steps", type=positive_int, default=150)
    bench.add_argument("--batch_size", type=positive_int, default=4)
    bench.add_argument("--lr", type=float, default=2e-3)
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--eval_every", type=positive_int, default=50,
                       help="validation period in steps (the learning curve's resolution)")
    for split, count in (("train", 24), ("validation", 4), ("test", 12)):
        bench.add_argument(f"--{split}", type=positive_int, default=count, metavar="N",
                           help=f"{split} scenes per kind when generating (default {count})")
    bench.add_argument("--train_only", action="store_true",
                       help="only train (or resume) the --rows, no evaluation: rows trained in "
                            "parallel processes, then one run without it evaluates them all")
    bench.add_argument("--allow_unfinished", action="store_true",
                       help="evaluate a row whose training was stopped early (resume state "
                            "present) as it is, marked finished: false, instead of resuming it")
    bench.add_argument("-f", "--force", action="store_true",
                       help="retrain rows whose checkpoint exists")
    bench.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N")
    bench.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from . import commands

    run = {"train": commands.run_train, "separate": commands.run_separate,
           "evaluate": commands.run_evaluate, "import-vovit": commands.run_import_vovit,
           "benchmark": commands.run_benchmark}[args.command]
    try:
        return run(args)
    except (SettingsError, MetadataError, ValueError, FileNotFoundError) as exc:
        # bad settings, metadata, device or checkpoint (refused or unreadable: core.io, a
        # ValueError); per-song problems never get here (core.runner names them)
        log.error("%s", one_line(exc), exc_info=args.verbose)
        return 2


if __name__ == "__main__":
    sys.exit(main())
