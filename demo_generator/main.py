"""Command line of the demo concert generator (logic in ``demo_generator.concerts`` and, for the
benchmark scenes, ``demo_generator.scenes``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.log import setup_logging
from core.metadata import MetadataError

from .concerts import generate_demo
from .stress import STRESS_SCENES, STRESS_SECONDS, generate_stress
from .scenes import (BENCHMARK_KINDS, DEFAULT_COUNTS, SCENE_KINDS, SCENE_SECONDS, add_world_points,
                     generate_scenes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m demo_generator.main",
        description="Generate a small synthetic Carnatic-concert dataset for trying and testing the "
                    "pipeline: per song a 1280x720 30 fps H.264 video (video.mov) of three real "
                    "photographed performers (mridangam, vocal, violin) who move with their own "
                    "instrument's audio, 48 kHz close-mic stems (vocal_close, violin_close, "
                    "mridangam_left/right) and a mixture, demo_ground_truth.json (person boxes, "
                    "face centres, motion drivers, the musical score) and dataset_metadata.json. "
                    "Includes a moving-camera song and an fps:null song that stages must skip. "
                    "With --scenes: the separation benchmark's scenes instead (train/validation/"
                    "test splits from disjoint seeds, recorded in scene_splits.json; performers "
                    "with the same timbre where only their motion tells them apart, and mixed-"
                    "timbre trios), with ground-truth keypoints in the pose output format.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out_dir", type=Path, help="folder to write the dataset into "
                        "(becomes DATASET_PATH for the other stages)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="cut every song to at most this many seconds (default: full songs, "
                             f"10-14 s each, ~46 s of video in all; scenes: {SCENE_SECONDS:g} s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same data "
                        "(demo songs; scene seeds are fixed per split, see --scenes)")
    parser.add_argument("-f", "--force", action="store_true",
                        help="regenerate even if a complete dataset with these settings exists")
    scenes = parser.add_argument_group("benchmark scenes (demo_generator.scenes)")
    scenes.add_argument("--scenes", action="store_true",
                        help="write benchmark scenes instead of the demo songs")
    scenes.add_argument("--scene_kinds", nargs="+", default=list(BENCHMARK_KINDS),
                        choices=sorted(SCENE_KINDS), metavar="KIND",
                        help=f"scene kinds ({', '.join(sorted(SCENE_KINDS))})")
    for split in ("train", "validation", "test"):
        scenes.add_argument(f"--{split}", type=int, default=DEFAULT_COUNTS[split], metavar="N",
                            help=f"{split} scenes per kind")
    scenes.add_argument("--video", action="store_true",
                        help="also render each scene's video.mov (slow; keypoints are written "
                             "either way)")
    scenes.add_argument("--add_world_points", action="store_true",
                        help="only write the synthetic 3D points (world_points.npy/.json per "
                             "performer, for the points3d condition) into the scenes already "
                             "generated in OUT_DIR; no other file changes")
    stress = parser.add_argument_group("pose stress scenes (demo_generator.stress)")
    stress.add_argument("--stress", action="store_true",
                        help="write the pose stress scenes instead of the demo songs: wide shots at "
                             "720p and 1080p, performers at 1/4-1/2 of the frame height, crowds and "
                             "posters of faces, occlusion, dim and uneven light, with ground-truth "
                             f"performer boxes and face centres (default {STRESS_SECONDS:g} s each)")
    stress.add_argument("--stress_scenes", nargs="+", default=None, metavar="NAME",
                        choices=[s.name for s in STRESS_SCENES],
                        help="only these stress scenes (" + ", ".join(s.name for s in STRESS_SCENES)
                        + ")")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if args.stress:
        seconds = STRESS_SECONDS if args.seconds is None else args.seconds
        if not seconds > 0:
            parser.error("--seconds must be > 0")
        generate_stress(args.out_dir, seconds, tuple(args.stress_scenes or ()), force=args.force)
        return 0
    if args.add_world_points:
        try:
            add_world_points(args.out_dir)
        except (OSError, ValueError, KeyError, MetadataError) as exc:
            parser.error(f"--add_world_points: {args.out_dir} is not a generated scene dataset "
                         f"({type(exc).__name__}: {exc})")
        return 0
    if args.scenes:
        counts = {"train": args.train, "validation": args.validation, "test": args.test}
        if any(n < 0 for n in counts.values()):
            parser.error("scene counts must be >= 0")
        try:
            generate_scenes(args.out_dir, counts, tuple(args.scene_kinds),
                            SCENE_SECONDS if args.seconds is None else args.seconds,
                            render=args.video, force=args.force)
        except ValueError as exc:
            parser.error(str(exc))
        return 0
    generate_demo(args.out_dir, seconds=args.seconds, seed=args.seed, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
