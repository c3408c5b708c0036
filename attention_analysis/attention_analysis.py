"""``python -m attention_analysis.attention_analysis --model vocal|violin``: cross-modal attention per
4-s chunk of the models that have the attention block (see ``pipeline``)."""
from __future__ import annotations

import argparse
import logging
import sys

from core.log import setup_logging
from core.settings import add_body_detection_arg, add_common_args

from .checkpoints import INSTRUMENT_CHOICES, NoCrossModalBlock


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m attention_analysis.attention_analysis",
        description=(
            "Cross-modal attention of a separation model with the audio-video attention block. "
            "Per 4-s chunk the weights (batch, heads, T_audio, T_video) are averaged over heads; "
            "video_attention = mean over audio time, audio_attention = mean over video time. Writes "
            "<results>/attention_scores_<model>.json (artist -> song -> list of chunks) and one figure "
            "per song (attention over time with the performer's RMS and motion) in "
            "<results>/attention_figures_<model>/."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", choices=INSTRUMENT_CHOICES, required=True,
                        help="instrument whose cross-attention model to analyse (default checkpoint: "
                             "the shipped one with the block, e.g. vocal_face_body_xattn_small)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file instead of the shipped one")
    parser.add_argument("--chunk-batch", "--chunk_batch", dest="chunk_batch", type=int, default=4,
                        help="chunks per forward pass")
    add_body_detection_arg(parser)
    add_common_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from .pipeline import run_attention

    try:
        return run_attention(args)
    except (NoCrossModalBlock, FileNotFoundError, ValueError, RuntimeError) as exc:
        # AttentionNotRecorded is a RuntimeError: never an empty result file
        logging.getLogger("attention_analysis").error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
