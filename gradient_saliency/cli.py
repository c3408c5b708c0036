"""Command-line interface shared by the three saliency entry points and ``main.py``."""
from __future__ import annotations

import argparse
import sys

from core.log import setup_logging
from core.settings import add_body_detection_arg, add_common_args

from .attribution import METHODS
from .baselines import AUDIO_BASELINES, BODY_BASELINES, FACE_BASELINES
from .models import MODEL_CHOICES
from .pixel_regions import DEFAULT_GRID, FRAME_BASELINES
from .point_regions import POINT_BASELINES
from .syllable_regions import TEXT_BASELINES

DESCRIPTIONS = {
    "integrated_gradients": "Integrated Gradients (Captum) of the separation loss",
    "gradient_saliency": "vanilla gradients |d loss / d input| (Captum Saliency)",
    "gradient_input_saliency": "gradient x input (Captum InputXGradient)",
}


def build_parser(method: str | None = None) -> argparse.ArgumentParser:
    """Arguments for one method (``method`` given) or for ``main.py`` (``--method`` chooses)."""
    what = DESCRIPTIONS[method] if method else "gradient saliency"
    parser = argparse.ArgumentParser(
        prog=f"python -m gradient_saliency.{method or 'main'}",
        description=(
            f"{what} of a pose-conditioned separation model. For every 4-s chunk of the model's "
            "instrument (the shipped models: vocal) the loss MSE(estimate, target stem)"
            " x 2^16 is attributed to the mixture wave and the keypoints; per song the mean "
            "|attribution| per keypoint (68 face / 55 body) and the audio input's share are written to "
            "<results>/<method>_<all|top_x|bottom_x>_<model>/<artist>_<song>.json, with _average.json "
            "and figures (skeleton + per-part bars) in its figures/ folder."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    if method is None:
        parser.add_argument("--method", choices=METHODS, default="integrated_gradients",
                            help="attribution method")
    parser.add_argument("--model", choices=MODEL_CHOICES, required=True,
                        help="which model: face -> vocal_face_small, body -> vocal_body_small, "
                             "face_body -> vocal_face_body_xattn_small (shipped checkpoints); "
                             "frames (needs --checkpoint): attribution per pixel region; "
                             "points3d (needs --checkpoint): attribution per 3D point; "
                             "text / scene_graph (need --checkpoint): attribution per sung "
                             "syllable / per performer node and edge")
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint file instead of the shipped one for --model")
    # integration steps only mean something for Integrated Gradients: the one-pass gradient
    # methods do not offer the options rather than silently ignoring them
    if method in (None, "integrated_gradients"):
        parser.add_argument("--num_steps", "--num-steps", dest="num_steps", type=int, default=25,
                            help="integration steps (Integrated Gradients)")
        parser.add_argument("--target-relative-delta", "--target_relative_delta",
                            dest="target_relative_delta", type=float, default=None, metavar="X",
                            help="option: double the integration steps of a chunk batch (up to "
                                 "--max-steps) until every chunk's relative convergence delta "
                                 "|sum(attributions) - (F(x) - F(baseline))| / |F(x) - F(baseline)| "
                                 "is below X (e.g. 0.01); default: the published fixed --num_steps")
        parser.add_argument("--max-steps", "--max_steps", dest="max_steps", type=int, default=400,
                            help="upper limit for --target-relative-delta")
        parser.add_argument("--internal-batch-size", "--internal_batch_size",
                            dest="internal_batch_size", type=int, default=None,
                            help="model inputs per forward pass (chunks x steps); default: 10 steps "
                                 "per chunk on CPU (fastest measured, benchmarks/saliency_speed.py), "
                                 "all steps at once on a GPU")
    else:
        parser.set_defaults(num_steps=25, internal_batch_size=None, target_relative_delta=None,
                            max_steps=400)
    parser.add_argument("--chunk-batch", "--chunk_batch", dest="chunk_batch", type=int, default=None,
                        help="chunks attributed together (default 1 on CPU, 4 on a GPU)")
    parser.add_argument("--correlation-filter-percentage", "--correlation_filter_percentage",
                        dest="correlation_filter_percentage", type=float, default=0.1,
                        help="fraction of chunks kept by --correlation-filter-top/-bottom (0.1 = 10%%)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--correlation-filter-top", "--correlation_filter_top",
                       dest="correlation_filter_top", action="store_true",
                       help="only the chunks with the most strong motion-audio correlation windows")
    which.add_argument("--correlation-filter-bottom", "--correlation_filter_bottom",
                       dest="correlation_filter_bottom", action="store_true",
                       help="only the chunks with the fewest strong windows")
    parser.add_argument("--face-baseline", choices=FACE_BASELINES, default="mean_face",
                        help="Integrated-Gradients baseline of the face keypoints: mean_face "
                             "(published: VoViT's mean face), dataset_mean (the mean face input "
                             "of this run's songs, a typical face of this data), zeros, static "
                             "(each chunk's time-averaged face)")
    parser.add_argument("--body-baseline", choices=BODY_BASELINES, default="zeros",
                        help="Integrated-Gradients baseline of the body keypoints")
    parser.add_argument("--audio-baseline", choices=AUDIO_BASELINES, default="zeros",
                        help="Integrated-Gradients baseline of the mixture ('input' holds it fixed)")
    parser.add_argument("--frames-baseline", "--frames_baseline", dest="frames_baseline",
                        choices=FRAME_BASELINES, default="black",
                        help="frames models: baseline of the crops (black, or static: the "
                             "chunk's mean crop)")
    parser.add_argument("--grid", type=int, default=DEFAULT_GRID,
                        help="frames models: attribution summed per cell of a grid x grid "
                             "partition of the crop")
    parser.add_argument("--points-baseline", "--points_baseline", dest="points_baseline",
                        choices=POINT_BASELINES, default="zeros",
                        help="points3d models: baseline of the 3D points (zeros: every point at "
                             "the performer's centre; static: each point at its chunk mean)")
    parser.add_argument("--text-baseline", "--text_baseline", dest="text_baseline",
                        choices=TEXT_BASELINES, default=TEXT_BASELINES[0],
                        help="text models: baseline of the syllable posteriorgram (silence: every "
                             "frame <sil>; uniform: every class 1/533)")
    parser.add_argument("--randomise-weights", action="store_true",
                        help="sanity check: re-initialise the model's weights first (results go to "
                             "a *_randomised folder)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --randomise-weights")
    add_body_detection_arg(parser)
    add_common_args(parser)
    return parser


def main(method: str | None = None, argv: list[str] | None = None) -> int:
    parser = build_parser(method)
    args = parser.parse_args(argv)
    if method is not None:
        args.method = method
    if args.num_steps < 1:
        parser.error("--num_steps must be >= 1")
    if args.target_relative_delta is not None and not args.target_relative_delta > 0:
        parser.error("--target-relative-delta must be > 0")
    if args.max_steps < args.num_steps:
        parser.error("--max-steps must be >= --num_steps")
    setup_logging(args.verbose)
    from .pipeline import run_saliency

    try:
        return run_saliency(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        # whole-run problems (no checkpoint, no metadata, bad filter): one clear line, exit 2
        import logging
        logging.getLogger("gradient_saliency").error("%s", exc)
        return 2


def entry(method: str | None = None) -> None:
    sys.exit(main(method))
