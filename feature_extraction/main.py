"""Command line of the feature-extraction stage.

    python -m feature_extraction.main --extract both|motion|audio [--motion_type general|violin|vocal]
        [-a ARTIST] [-s SONG] [-f] [--all_body_parts] [-ct THRESHOLD] [--pca N] [--f0]
        [--correlate] [--workers N] [--dataset_path P]
        [--motion-prep published|robust] [--strong-window-features published|all]
        [--include-incorrect-body-detection]

Defaults reproduce the published definitions (DESIGN §5); ``--motion-prep robust`` and
``--strong-window-features all`` are this project's options, recorded in every output's ``settings``.
"""
from __future__ import annotations

import argparse
import logging
import sys

from core.io import UnreadableFileError
from core.log import setup_logging
from core.metadata import MetadataError, load_metadata, select_songs
from core.motion_prep import MOTION_PREP_VARIANTS
from core.runner import RunSummary, TaskResources, run_per_song
from core.settings import (SettingsError, add_body_detection_arg, add_common_args,
                           settings_from_args)

from .correlation import COUNT_RULES
from .pipeline import (AGGREGATED_FILE, CORRELATION_DIR, MOTION_TYPES, FeatureOptions,
                       correlate_and_write, extract_song, read_aggregate, update_aggregate)

log = logging.getLogger("feature_extraction")

# Ray task resources. Extraction: one CPU per performer thread (--workers); memory from the
# 1-hour benchmark (README speed table: peak 2.2 GB for three performers) with headroom, so that
# a node is not handed more long songs than its memory holds. Correlation: one core.
CORRELATION_TASK = TaskResources(cpus=1)


def extraction_task(workers: int) -> TaskResources:
    return TaskResources(cpus=workers, memory_base_gib=0.5, memory_gib_per_hour=2.5)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m feature_extraction.main",
        description="Motion features from <song>/<instrument>/keypoints.npy, audio features from the "
                    "stems (*.wav), and the sliding-window motion-audio correlation. Writes "
                    "<song>/<instrument>/{motion,violin_motion,vocal_motion,audio}_features.json, "
                    "<song>/correlation/correlations.json + strong_window_share.png and "
                    "<results>/correlation/aggregated_strong_windows.json. Finished outputs are "
                    "skipped unless -f.")
    parser.add_argument("--extract", choices=("both", "motion", "audio"), default=None,
                        help="which features to compute (default: none; give --extract and/or "
                             "--correlate)")
    parser.add_argument("--motion_type", "--motion-type", choices=MOTION_TYPES, default=None,
                        help="only this motion feature set (general: every performer; violin / "
                             "vocal: that performer's specialised features); default: all that apply")
    parser.add_argument("--all_body_parts", "--all-body-parts", action="store_true",
                        help="keep the stage-edge arm and hand (dropped by default for the leftmost "
                             "and rightmost performers); hips, legs and feet are always dropped")
    parser.add_argument("-ct", "--confidence_threshold", "--confidence-threshold", type=float,
                        default=None, dest="threshold",
                        help="keypoint score threshold (points below → NaN); default per backend "
                             "score scale: 3.0 for MMPose/RTMW SimCC scores, 0.5 for MediaPipe")
    parser.add_argument("--pca", type=int, default=0, metavar="N",
                        help="add N PCA components of the per-keypoint speeds to motion_features.json")
    parser.add_argument("--f0", action="store_true",
                        help="add pYIN f0 to the vocal and violin audio features (slow)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="performers of a song processed at the same time, on threads "
                             "(default 1 = sequential; 2 may help on an idle multi-core machine, "
                             "costs ~0.5 GB more per hour of video)")
    parser.add_argument("--motion-prep", "--motion_prep", dest="motion_prep",
                        choices=MOTION_PREP_VARIANTS, default="published",
                        help="keypoint preprocessing order. published (default, as in the thesis): "
                             "normalise each frame over all 133 points, drop parts, Savitzky-Golay "
                             "(5, 2), then mask low scores; robust: mask low scores and drop parts "
                             "first, so unreliable and dropped points never move a frame's centre "
                             "or scale (feature magnitudes differ between the two)")
    parser.add_argument("--strong-window-features", "--strong_window_features",
                        dest="strong_window_features", choices=COUNT_RULES, default="published",
                        help="which correlation pairs count as strong windows per 4-s chunk (these "
                             "counts choose saliency's top/bottom chunks). published (default): "
                             "motion features x own stem's rms and onset_env (onset strength); all: also "
                             "spectral_centroid, f0 and the pca_* components")
    add_body_detection_arg(parser)
    parser.add_argument("--correlate", action="store_true",
                        help="sliding-window correlation of motion vs audio features (after "
                             "extraction when both are given)")
    add_common_args(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    dataset_path = settings.require("dataset_path")
    songs = load_metadata(settings.metadata_path)
    kept, skipped = select_songs(songs, args.artist, args.song,
                                 expected_instruments=settings.instruments)
    summary = RunSummary("features")
    aggregated_path = settings.results_dir / CORRELATION_DIR / AGGREGATED_FILE
    # read before any work: a damaged aggregate stops the run at once (named; -f rebuilds it)
    aggregated = read_aggregate(aggregated_path, args.force, args.strong_window_features) \
        if args.correlate else {}
    if args.extract:
        options = FeatureOptions(extract=args.extract, motion_type=args.motion_type,
                                 threshold=args.threshold, all_body_parts=args.all_body_parts,
                                 pca=args.pca, f0=args.f0, force=args.force,
                                 workers=args.workers, motion_prep=args.motion_prep,
                                 include_incorrect_body_detection=(
                                     args.include_incorrect_body_detection))
        summary.merge(run_per_song("feature extraction", kept,
                                   lambda song: extract_song(song, dataset_path, options),
                                   skipped, log, results_dir=settings.results_dir,
                                   settings=settings, resources=extraction_task(args.workers)))
    if args.correlate:
        corr_summary = run_per_song(
            "correlation", kept,
            lambda song: correlate_and_write(song, dataset_path, aggregated, args.force,
                                             args.strong_window_features,
                                             args.include_incorrect_body_detection),
            skipped, log, results_dir=settings.results_dir, settings=settings,
            resources=CORRELATION_TASK)
        summary.merge(corr_summary)
        if corr_summary.done:              # only newly correlated songs change the aggregate
            by_key = {song.key: song for song in kept}      # values: song order, as run serially
            update_aggregate(aggregated_path,
                             {(by_key[key].artist, by_key[key].song): counts
                              for key, counts in corr_summary.values.items()}, args.force,
                             args.strong_window_features)
            log.info("wrote %s", aggregated_path)
    return summary.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.extract and not args.correlate:
        parser.error("nothing to do: give --extract both|motion|audio and/or --correlate")
    if args.pca < 0:
        parser.error("--pca must be ≥ 0")
    if args.workers < 1:
        parser.error("--workers must be ≥ 1")
    setup_logging(args.verbose)
    try:
        return run(args)
    except (SettingsError, MetadataError, UnreadableFileError) as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
