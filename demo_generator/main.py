"""Command line of the demo concert generator (logic in ``demo_generator.concerts``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.log import setup_logging

from .concerts import generate_demo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m demo_generator.main",
        description="Generate a small synthetic Carnatic-concert dataset for trying and testing the "
                    "pipeline: per song a 1280x720 30 fps H.264 video (video.mov) of three real "
                    "photographed performers (mridangam, vocal, violin) who move with their own "
                    "instrument's audio, 48 kHz close-mic stems (vocal_close, violin_close, "
                    "mridangam_left/right) and a mixture, demo_ground_truth.json (person boxes, "
                    "face centres, motion drivers, the musical score) and dataset_metadata.json. "
                    "Includes a moving-camera song and an fps:null song that stages must skip.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out_dir", type=Path, help="folder to write the dataset into "
                        "(becomes DATASET_PATH for the other stages)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="cut every song to at most this many seconds (default: full songs, "
                             "10-14 s each, ~46 s of video in all)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same data")
    parser.add_argument("-f", "--force", action="store_true",
                        help="regenerate even if a complete dataset with these settings exists")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    generate_demo(args.out_dir, seconds=args.seconds, seed=args.seed, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
