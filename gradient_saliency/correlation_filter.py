"""Restrict saliency to the chunks whose motion correlates most (or least) with the performer's sound.

Input: ``<results>/correlation/aggregated_strong_windows.json`` from the feature stage,
``{artist: {song: {"<chunk index>": {"<performer instrument>": count, ..., "total": sum}}}}`` where
count is the number of strong correlation windows (p < 0.05 and |r| > 0.5) starting in that 4-s chunk.

Selection: all whole 4-s chunks of the selected songs that have a count for the model's instrument
are pooled (the whole dataset, or what ``-a``/``-s`` left of it; the number of whole chunks comes from
the metadata duration, so the trailing partial chunk is left out) and ranked by that count; the top or bottom
``k = floor(x · n + 0.5)`` chunks are kept (at least one when x > 0 and n > 0), n being the pool size.
Ties are broken deterministically by (artist, song, chunk index) in ascending order, for both top and
bottom, so a re-run keeps exactly the same chunks. A selected chunk that the separation stage drops later
(too many frames without keypoints) is logged and not replaced.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from core.io import load_json

AGGREGATED_NAME = Path("correlation") / "aggregated_strong_windows.json"


@dataclass(frozen=True)
class ChunkCount:
    artist: str
    song: str
    chunk: int
    count: float


def load_aggregated(results_dir: str | Path) -> dict:
    path = Path(results_dir) / AGGREGATED_NAME
    if not path.exists():
        raise FileNotFoundError(
            f"correlation filter needs {path} (strong-window counts per chunk): run the feature "
            f"extraction correlation step first, or drop --correlation-filter-top/-bottom")
    return load_json(path)


def count_settings(aggregated: dict) -> dict | None:
    """How the aggregate's counts were made (its ``_settings`` entry, written by the feature stage;
    None for an aggregate that predates it)."""
    return aggregated.get("_settings")


def chunk_counts(aggregated: dict, songs: list[tuple[str, str]], instrument: str,
                 n_chunks: dict[tuple[str, str], int] | None = None) -> list[ChunkCount]:
    """The pool: one entry per chunk of ``songs`` ((artist, song) pairs) with a count for
    ``instrument``. A chunk entry without that instrument is left out of the pool, and so is a chunk
    numbered ``n_chunks[(artist, song)]`` or above (the trailing partial chunk the correlation counts
    but the separation models never see)."""
    pool = []
    for artist, song in songs:
        limit = (n_chunks or {}).get((artist, song))
        for chunk, counts in (aggregated.get(artist, {}).get(song) or {}).items():
            if limit is not None and int(chunk) >= limit:
                continue
            if isinstance(counts, dict) and counts.get(instrument) is not None:
                pool.append(ChunkCount(artist, song, int(chunk), float(counts[instrument])))
    return pool


def n_selected(fraction: float, pool_size: int) -> int:
    """``k = floor(x · n + 0.5)``, at least 1 for a non-empty pool."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"correlation filter percentage must be a fraction in (0, 1], got {fraction}")
    if pool_size == 0:
        return 0
    return max(1, min(pool_size, math.floor(fraction * pool_size + 0.5)))


def select_chunks(pool: list[ChunkCount], fraction: float, top: bool) -> dict[tuple[str, str], list[int]]:
    """The top (``top=True``) or bottom ``fraction`` of the pool by count → {(artist, song): chunks}."""
    sign = -1.0 if top else 1.0
    ranked = sorted(pool, key=lambda c: (sign * c.count, c.artist, c.song, c.chunk))
    selected: dict[tuple[str, str], list[int]] = {}
    for entry in ranked[:n_selected(fraction, len(pool))]:
        selected.setdefault((entry.artist, entry.song), []).append(entry.chunk)
    return {key: sorted(chunks) for key, chunks in selected.items()}


def filter_label(fraction: float | None, top: bool | None) -> str:
    """Result-folder label: ``top_0.1``, ``bottom_0.25`` or ``all`` (no filter)."""
    if fraction is None or top is None:
        return "all"
    return f"{'top' if top else 'bottom'}_{fraction:g}"
