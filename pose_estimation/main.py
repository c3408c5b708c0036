"""Pose stage CLI: ``--pose`` (video → ``pose_estimation_30fps.pkl``) and ``--post`` (pickle →
``<instrument>/keypoints.npy``, ``keypoint_scores.npy``, ``pose_info.json``, vocal face).

Examples::

    python -m pose_estimation.main --pose --post --dataset_path demo_data
    python -m pose_estimation.main --post -a "Demo Artist A" -s "Kriti Reversed" -f
    python -m pose_estimation.main --pose --backend mmpose --device cuda:0

Finished songs are skipped unless -f: a song is finished when its outputs were made from its
inputs as they are now (a re-posed video makes --post redo the keypoints). ``--device`` applies to
the mmpose and rtmlib backends; MediaPipe always runs on the CPU (a misspelt device is still an
error, a GPU one a warning). The native libraries' log lines (MediaPipe, TensorFlow Lite) are
silenced unless -v. Exit code: 0 when no song failed, 1 when any song failed (each
is named in the summary), 2 for a setup error (unreadable metadata, missing backend setting).
"""
from __future__ import annotations

import argparse
import logging
import sys

from core.device import DeviceError, check_device_spec
from core.log import native_stderr_silenced, quiet_native_environment, setup_logging
from core.metadata import MetadataError, load_metadata, select_songs
from core.runner import RunSummary, run_per_song
from core.settings import POSE_BACKENDS, SettingsError, add_common_args, settings_from_args

from .backends import shared_backend
from .mediapipe_backend import HOLISTIC_MODELS, MediaPipeOptions
from .postprocess import WALL_ART_RULES
from .stage import POST_TASK, PoseJob, PostJob, pose_song, pose_task, post_song

log = logging.getLogger("pose_estimation")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pose_estimation.main", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pose", action="store_true",
                        help="estimate whole-body poses of everyone in each song's video")
    parser.add_argument("--post", action="store_true",
                        help="split the poses into one keypoint track per instrument of the layout "
                             "(static-camera songs only); alone, runs only post-processing")
    parser.add_argument("--wall-art-rule", "--wall_art_rule", dest="wall_art_rule",
                        choices=WALL_ART_RULES, default="published",
                        help="post-processing: which stable people are not performers. published "
                             "(default): keep the N lowest (N = layout length), anything higher is "
                             "wall art; top_quarter: also never take a cluster centred in the top 25%% "
                             "of the frame (a missing performer is then an error, not the wall art)")
    parser.add_argument("--backend", choices=POSE_BACKENDS, default=None,
                        help="pose backend (default: POSE_BACKEND setting, else mediapipe)")
    parser.add_argument("--workers", type=int, default=None,
                        help="MediaPipe: Holistic worker processes (default 3, one per performer of a trio; "
                             "0 = in-process)")
    parser.add_argument("--holistic-every", "--holistic_every", dest="holistic_every", type=int,
                        default=1, metavar="K",
                        help="MediaPipe: run Holistic on every K-th frame only and interpolate the "
                             "performers' keypoints linearly in between (default 1: every frame; "
                             "2 halves the CPU time; recorded in the pose file's model)")
    parser.add_argument("--holistic-models", "--holistic_models", dest="holistic_models",
                        choices=HOLISTIC_MODELS, default="full",
                        help="MediaPipe: Holistic's pose and hand landmark models (recorded in the "
                             "pose file's model). full (default, published): pose_landmark_full + "
                             "hand_landmark_full; lite: pose_landmark_lite (installed by make "
                             "pose-lite) + hand_landmark_lite, ~30%% less CPU per performer; "
                             "full-no-hands / lite-no-hands: no hand models, no hand keypoints, "
                             "~45%% / ~55%% less")
    add_common_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if not args.verbose:              # before MediaPipe is imported here or in a worker
        quiet_native_environment()
    if not (args.pose or args.post):
        build_parser().error("nothing to do: give --pose, --post or both")
    try:
        settings = settings_from_args(args, pose_backend=args.backend)
        dataset_path = settings.require("dataset_path")
        device = check_device_spec(settings.device)     # misspelt: an error whatever the backend
        songs = load_metadata(settings.metadata_path)
    except (SettingsError, MetadataError, DeviceError) as exc:
        log.error("%s", exc)
        return 2
    if args.pose and settings.pose_backend != "mediapipe" and args.holistic_every != 1:
        log.warning("--holistic-every has no effect on the %s backend", settings.pose_backend)
    if args.pose and settings.pose_backend != "mediapipe" and args.holistic_models != "full":
        log.warning("--holistic-models has no effect on the %s backend", settings.pose_backend)
    if args.pose and settings.pose_backend == "mediapipe" and device not in ("auto", "cpu"):
        log.warning("--device/DEVICE %s has no effect: the MediaPipe backend runs on the CPU only "
                    "(--backend mmpose or rtmlib use a GPU)", device)
    summary = RunSummary("pose_estimation")
    if args.pose:
        try:
            chosen, skipped = select_songs(songs, args.artist, args.song, require=("fps",))
            backend_args = (settings.pose_backend, settings, settings.device, args.workers,
                            args.holistic_every, args.holistic_models)
            shared_backend(*backend_args)         # a bad setting fails here, before any song
        except (SettingsError, MetadataError, ImportError, OSError, ValueError, RuntimeError) as exc:
            log.error("pose: %s", exc)
            return 2
        workers = MediaPipeOptions().n_workers if args.workers is None else args.workers

        def pose_work(song):
            return pose_song(song, PoseJob(dataset_path, shared_backend(*backend_args), args.force))

        with native_stderr_silenced(not args.verbose):      # MediaPipe/TFLite log lines
            summary.merge(run_per_song("pose", chosen, pose_work, skipped, log,
                                       results_dir=settings.results_dir, settings=settings,
                                       resources=pose_task(settings.pose_backend, workers)))
    if args.post:
        try:
            chosen, skipped = select_songs(songs, args.artist, args.song, skip_moving_camera=True,
                                           expected_instruments=settings.instruments)
        except MetadataError as exc:
            log.error("post: %s", exc)
            return 2
        post_job = PostJob(dataset_path, args.force, args.wall_art_rule)
        summary.merge(run_per_song("post", chosen, lambda s: post_song(s, post_job), skipped, log,
                                   results_dir=settings.results_dir, settings=settings,
                                   resources=POST_TASK))
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
