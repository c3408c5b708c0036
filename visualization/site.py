"""A static results site: one index of every song's stage status and headline numbers, one page per
song with the overlay video and side-by-side players for every 4-s chunk.

    python -m visualization.site [--dataset_path D] [--out DIR] [-a ARTIST] [-s SONG] [--copy-media]

Plain HTML + CSS (Jinja2 templates in ``visualization/templates/site``), opens from ``file://``.
See ``--help``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from core.log import setup_logging
from core.metadata import MetadataError, load_metadata
from core.settings import DEFAULT_METADATA_NAME, REPO_ROOT, SettingsError, load_settings

from .site_overview import collect_site
from .site_songs import CHUNKS_PER_PAGE
from .site_render import Linker, render_site

log = logging.getLogger("visualization.site")
BENCHMARK_JSON = REPO_ROOT / "separation" / "checkpoints" / "separation_benchmark.json"

DESCRIPTION = """\
Write a static results site (HTML + CSS, no server needed: open index.html in a browser).

index.html: one row per song of the dataset metadata with each stage's status (done: its outputs
are on disk; skipped / failed: with the reason its last run recorded in
<results>/run_summaries/; not run: with the command that produces the output), duration, layout,
SI-SDR per separation model with the audio-only baseline's, and the strong-window share (own stem /
control); then the dataset report, the separation benchmark (separation/checkpoints/
separation_benchmark.json, else the command to run it), the separation evaluation, saliency and
attention averages and the run summaries.

songs/<artist>/<song>.html: the overlay video(s); for each 4-s chunk, players for the mixture,
every stem and every model's separation, with the chunk's SI-SDR and the audio-only baseline's; the
feature time series and strong-window figures; saliency and attention figures with their coverage;
links to every JSON output of the song.

Media are linked by relative paths (nothing is copied) unless --copy-media, which copies them under
<out>/media/ so the folder can be shared on its own. Building twice gives the same bytes.

example: python -m visualization.site --dataset_path demo_data   (writes demo_data/results/site)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m visualization.site", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset_path", "--dataset-path", dest="dataset_path", default=None,
                        help="dataset root (default: DATASET_PATH from .env or the environment)")
    parser.add_argument("--out", type=Path, default=None,
                        help="site folder (default: <results>/site; results = RESULTS_PATH or "
                             "<dataset>/results)")
    parser.add_argument("-a", "--artist", default=None, help="only this artist's songs")
    parser.add_argument("-s", "--song", default=None, help="only this song")
    parser.add_argument("--copy-media", "--copy_media", dest="copy_media", action="store_true",
                        help="copy every linked file under <out>/media/ (a self-contained folder)")
    parser.add_argument("--chunks-per-page", "--chunks_per_page", dest="chunks_per_page", type=int,
                        default=CHUNKS_PER_PAGE,
                        help="4-s chunks per page; a longer song continues on linked pages "
                             f"(default {CHUNKS_PER_PAGE} = 5 minutes, ~4 players per chunk)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def build_site(dataset_path: Path, results_dir: Path, out_dir: Path, artist: str | None = None,
               song: str | None = None, copy_media: bool = False,
               benchmark_path: Path = BENCHMARK_JSON, dataset_arg: str | None = None,
               chunks_per_page: int = CHUNKS_PER_PAGE) -> Path:
    """Collect and write the site; returns the path of ``index.html``. Raises ``MetadataError``."""
    songs = load_metadata(Path(dataset_path) / DEFAULT_METADATA_NAME)
    chosen = [s for s in songs if (artist is None or s.artist == artist)
              and (song is None or s.song == song)]
    if not chosen:
        raise MetadataError(f"no song matches artist={artist!r} song={song!r} in the metadata")
    site = collect_site(chosen, Path(dataset_path), Path(results_dir),
                        dataset_arg if dataset_arg is not None else str(dataset_path), REPO_ROOT,
                        Path(benchmark_path), chunks_per_page)
    linker = Linker(out_dir, {"dataset": Path(dataset_path), "results": Path(results_dir),
                              "repository": REPO_ROOT}, copy_media)
    pages = render_site(site, out_dir, linker, Path(dataset_path).resolve().name)
    if copy_media:
        log.info("copied %d media file(s) into %s", linker.copy_all(), Path(out_dir) / "media")
    log.info("wrote %d page(s) in %s", len(pages), out_dir)
    return Path(out_dir) / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.chunks_per_page < 1:
        parser.error("--chunks-per-page must be at least 1")
    setup_logging(args.verbose)
    try:
        settings = load_settings(dataset_path=args.dataset_path)
        dataset_path = Path(settings.require("dataset_path"))
        out_dir = args.out if args.out is not None else settings.results_dir / "site"
        index = build_site(dataset_path, settings.results_dir, out_dir, args.artist, args.song,
                           args.copy_media, dataset_arg=str(dataset_path),
                           chunks_per_page=args.chunks_per_page)
    except (SettingsError, MetadataError) as exc:
        log.error("%s", exc)
        return 2
    print(f"results site: {index.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
