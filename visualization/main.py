"""Overlay videos: skeletons, feature bars and correlation highlights drawn over a concert clip.

    python -m visualization.main -a ARTIST -s SONG [-st START] [-et END] [--no_features]
                                 [--add_audio] [-ct THRESHOLD] [-f] [--dataset_path PATH]

Without ``-a``/``-s`` every song of the dataset is rendered (one clip each). See ``--help``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from core.log import setup_logging
from core.metadata import MetadataError, load_metadata, select_songs
from core.settings import SettingsError, add_executor_args, settings_from_args
from .render import DEFAULT_CLIP_SECONDS, RenderOptions, render_songs

DESCRIPTION = """\
Render <song>/<start>_<end>_test.mp4: the song's video (original frame rate and size, H.264 mp4
that plays in a browser) with each performer's skeleton in the instrument's colour (vocal green,
violin blue, mridangam red), low-confidence points, legs and occluded stage-edge arms hidden, short
detection gaps interpolated; live per-song-normalised motion and audio feature bars along the bottom;
body parts inside strong correlation windows haloed in white; keypoint brightness from the first PCA
component of the performer's motion; a legend. Also writes <song>/feature_timeseries.png (feature
time series per performer, strong-correlation windows shaded).

Reads <song>/<instrument>/keypoints.npy (pose_estimation --post) and, unless --no_features, the
feature_extraction outputs; missing feature files only switch their layers off. Existing clips are
kept unless -f. Without -a/-s, every song in the dataset metadata is rendered; songs with a null
layout or fps, or a moving camera (no keypoints from post-processing), are skipped with a reason.

example: python -m visualization.main -a "Demo Artist A" -s "Varnam Śrī" -st 0 -et 20 --add_audio"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m visualization.main", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-a", "--artist", default=None, help="artist folder (default: every artist)")
    parser.add_argument("-s", "--song", default=None, help="song folder (default: every song)")
    parser.add_argument("-st", "--start", type=float, default=0.0,
                        help="clip start in seconds (default 0)")
    parser.add_argument("-et", "--end", type=float, default=None,
                        help=f"clip end in seconds (default start + {DEFAULT_CLIP_SECONDS:g}; "
                             "clipped to the video's end with a warning)")
    parser.add_argument("--no_features", "--no-features", dest="no_features", action="store_true",
                        help="draw the skeletons and legend only: no feature bars, correlation "
                             "highlights, PCA brightness or time-series figure")
    parser.add_argument("--add_audio", "--add-audio", dest="add_audio", action="store_true",
                        help="mux the clip's audio (mixture*.wav, else the sum of the stems) as AAC")
    parser.add_argument("-ct", "--confidence_threshold", dest="threshold", type=float, default=None,
                        help="hide keypoints scoring below this (default: 3.0 for MMPose/RTMW SimCC "
                             "scores, 0.5 for MediaPipe probabilities, from pose_info.json)")
    parser.add_argument("-f", "--force", action="store_true", help="re-render clips that exist")
    parser.add_argument("--dataset_path", "--dataset-path", dest="dataset_path", default=None,
                        help="dataset root (default: DATASET_PATH from .env or the environment)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_executor_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    log = logging.getLogger("visualization")
    try:
        settings = settings_from_args(args)
        songs, skipped = select_songs(load_metadata(settings.metadata_path), args.artist, args.song,
                                      require=("layout", "fps"), skip_moving_camera=True,
                                      expected_instruments=settings.instruments)
    except (SettingsError, MetadataError) as exc:
        log.error("%s", exc)
        return 2
    options = RenderOptions(start_s=args.start, end_s=args.end, features=not args.no_features,
                            add_audio=args.add_audio, threshold=args.threshold, force=args.force)
    if options.start_s < 0:
        log.error("-st %g is negative", options.start_s)
        return 2
    if options.end_s is not None and options.end_s <= options.start_s:
        log.error("-et %g is not after -st %g", options.end_s, options.start_s)
        return 2
    summary = render_songs(songs, Path(settings.dataset_path), options, skipped=skipped,
                           results_dir=settings.results_dir, settings=settings)
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
