"""Dataset analysis: validate a dataset tree, report its statistics, import Saraga Audiovisual.

    python -m dataset_analysis.main validate [--dataset_path D] [--out report.json]
    python -m dataset_analysis.main report   [--dataset_path D | --metadata M] [--out DIR]
    python -m dataset_analysis.main import-saraga SRC DST [--copy] [-f]

``validate`` and ``report`` always recompute (they describe the tree as it is now, so a cached answer
would be stale); ``import-saraga`` skips songs already imported unless ``-f``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from core.dataset import SongDataError
from core.io import save_json
from core.log import progress, setup_logging
from core.metadata import MetadataError, load_metadata, select_songs
from core.settings import REFERENCE_METADATA, SettingsError, load_settings

logger = logging.getLogger("dataset_analysis")


def _song_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset_path", "--dataset-path", dest="dataset_path", default=None,
                        help="dataset root (default: DATASET_PATH from .env or the environment)")
    parser.add_argument("-a", "--artist", default=None, help="only this artist")
    parser.add_argument("-s", "--song", default=None, help="only this song")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dataset_analysis.main",
        description="Check a dataset against its dataset_metadata.json, report its statistics "
                    "(as published), or import a Saraga Audiovisual download.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate", help="check files against the metadata; non-zero exit if something blocks",
        description="Probe every song's video (fps, duration) and stems (soundfile) and compare them "
                    "with dataset_metadata.json. Prints a table and writes a JSON report. BLOCKING "
                    "(exit 1): an unusable metadata entry (a name such as '..', 'a/b' or '/abs' "
                    "that would lead outside the dataset, a malformed field, a song listed twice), "
                    "missing song folder or video, unreadable video or wav, empty wav, video "
                    "fps differing from the metadata, no vocal/violin/mridangam stem when the layout "
                    "names it. WARNING (exit 0): songs the pipeline skips (null layout/fps/duration, "
                    "unknown instrument, moving camera for post-processing), null layout slots, "
                    "durations differing from the metadata, missing stems of other instruments, song "
                    "folders not in the metadata. Problems of songs every stage skips are warnings.")
    _song_filters(validate)
    validate.add_argument("--metadata", type=Path, default=None,
                          help="metadata file (default: <dataset>/dataset_metadata.json)")
    validate.add_argument("--out", type=Path, default=None,
                          help="JSON report (default: <results>/validation_report.json, results = "
                               "RESULTS_PATH or <dataset>/results)")
    validate.add_argument("--fps-tolerance", type=float, default=None,
                          help="allowed |video fps - metadata fps| (default 0.05)")
    validate.add_argument("--duration-tolerance", type=float, default=None,
                          help="allowed |file duration - metadata duration| in s (default 1.0)")
    validate.add_argument("--count-frames", action="store_true",
                          help="decode every video to count frames (slow; catches truncated videos: "
                               "blocking when more than a second of promised frames do not decode)")

    report = commands.add_parser(
        "report", help="statistics as published: Markdown + PNG plots + JSON",
        description="Layout counts, fps survey, duration per artist and in total, songs to avoid and "
                    "why, face false-positive frame share (from the metadata), and, where keypoints "
                    "exist, the share of all-NaN frames per performer and keypoint confidence per "
                    "instrument and body part. Writes report.md, report.json and PNGs. With --metadata "
                    "alone (no dataset) only the metadata statistics are computed, e.g. "
                    "`report --metadata dataset_analysis/dataset_metadata.json --out reference_report`.")
    _song_filters(report)
    report.add_argument("--metadata", type=Path, default=None,
                        help="metadata file (default: <dataset>/dataset_metadata.json)")
    report.add_argument("--out", type=Path, default=None,
                        help="output folder (default: <results>/dataset_report)")
    report.add_argument("-ct", "--confidence-threshold", type=float, default=None,
                        help="score threshold for the 'below' share (default: per backend score "
                             "scale, 3.0 for simcc, 0.5 for probability)")

    saraga = commands.add_parser(
        "import-saraga", help="turn a Saraga Audiovisual download into this pipeline's layout",
        description="SRC holds 'saraga audio', 'saraga visual' and/or 'saraga gesture' (mirdata "
                    "layout). DST gets <Artist>/<Song>/ folders with links to the video and stems "
                    "(renamed vocal_multitrack.wav, violin_multitrack.wav, "
                    "mridangam-left_multitrack.wav, ..., mixture.wav), the gesture keypoints "
                    "converted to <instrument>/keypoints.npy + keypoint_scores.npy, and "
                    "dataset_metadata.json with fps/duration probed from the files and layouts from "
                    "the shipped reference metadata (null, with a note, for unknown songs). Corrupt "
                    "files are reported and the other songs go on; exit 1 if any song failed.")
    saraga.add_argument("src", type=Path, help="Saraga Audiovisual download root")
    saraga.add_argument("dst", type=Path, help="dataset root to create or update")
    saraga.add_argument("--copy", action="store_true",
                        help="copy media instead of linking (default: symlink, else hard link, "
                             "else copy)")
    saraga.add_argument("-f", "--force", action="store_true",
                        help="re-import songs that were already imported")
    saraga.add_argument("-a", "--artist", default=None, help="only this artist")
    saraga.add_argument("-s", "--song", default=None, help="only this song")
    saraga.add_argument("--gesture-units", choices=("auto", "frames", "seconds"), default="auto",
                        help="units of <start>_<end> in gesture file names (default: guessed from "
                             "the array length)")
    saraga.add_argument("--reference", type=Path, default=REFERENCE_METADATA,
                        help="reference metadata for layouts (default: the shipped Saraga file)")
    saraga.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _select(songs, artist, song):
    """The ``-a``/``-s`` filters only: validate and report look at skipped songs too (bad
    metadata entries included), in metadata order."""
    chosen, skipped = select_songs(songs, artist, song, require=())
    picked = {id(s) for s in chosen} | {id(s.song) for s in skipped}
    return [s for s in songs if id(s) in picked]


def run_validate(args) -> int:
    from . import validate as v

    settings = load_settings(dataset_path=args.dataset_path)
    dataset = Path(settings.require("dataset_path"))
    metadata_path = args.metadata or settings.metadata_path
    all_songs = load_metadata(metadata_path)
    songs = _select(all_songs, args.artist, args.song)
    fps_tol = v.DEFAULT_FPS_TOLERANCE if args.fps_tolerance is None else args.fps_tolerance
    dur_tol = v.DEFAULT_DURATION_TOLERANCE if args.duration_tolerance is None \
        else args.duration_tolerance
    checks = []
    for song in progress(songs, desc="validate", unit="song"):
        facts = v.gather_facts(song, dataset, count_frames=args.count_frames)
        checks.append(v.SongCheck(song, facts, v.evaluate(song, facts, fps_tol, dur_tol)))
    unlisted = v.unlisted_song_folders(dataset, all_songs, exclude=(settings.results_dir,)) \
        if args.artist is None and args.song is None else []
    print(v.format_table(checks, unlisted))
    out = args.out or settings.results_dir / "validation_report.json"
    body = v.summarize(checks, unlisted)
    save_json(out, {"dataset_path": str(dataset), "metadata": str(metadata_path),
                    "tolerances": {"fps": fps_tol, "duration_s": dur_tol}, **body})
    logger.info("validation report written to %s", out)
    blocking = body["blocking_songs"]
    if blocking:
        logger.error("%d song(s) block the pipeline: %s", len(blocking), ", ".join(blocking))
        return 1
    return 0


def run_report(args) -> int:
    from .report import write_report

    settings = load_settings(dataset_path=args.dataset_path)
    if args.metadata is not None and settings.dataset_path is None:
        dataset = None
        if args.out is None:
            raise SettingsError("report --metadata without a dataset needs --out")
    else:
        dataset = Path(settings.require("dataset_path"))
    metadata_path = args.metadata or settings.metadata_path
    songs = _select(load_metadata(metadata_path), args.artist, args.song)
    out = args.out or settings.results_dir / "dataset_report"
    path = write_report(songs, out, str(metadata_path), dataset, args.confidence_threshold)
    print(f"report written to {path}")
    return 0


def run_import(args) -> int:
    from .saraga_import import import_saraga

    summary = import_saraga(args.src, args.dst, mode="copy" if args.copy else "auto",
                            force=args.force, artist=args.artist, song=args.song,
                            gesture_units=args.gesture_units, reference_path=args.reference)
    print(f"imported into {args.dst}: {len(summary.done)} done, {len(summary.up_to_date)} already "
          f"imported, {len(summary.failed)} failed")
    for line in summary.failed:
        print(f"  FAILED {line}")
    return summary.exit_code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    handlers = {"validate": run_validate, "report": run_report, "import-saraga": run_import}
    try:
        return handlers[args.command](args)
    except (SettingsError, MetadataError, SongDataError) as exc:
        logger.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
