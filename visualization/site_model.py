"""The results site's model: what a page shows, as plain dataclasses holding absolute paths and
formatted numbers, and the small readers and formatters the collectors share.

Outputs from other stages and labs are untrusted: ``read_json`` and ``dig`` turn a missing,
unreadable or oddly shaped file into None, so a page says "not run" rather than failing.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import soundfile

from core.metadata import SongInfo

from .site_status import Status

log = logging.getLogger("visualization.site")


# --- the model ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    label: str
    path: Path
    fragment: str = ""           # e.g. "t=4,8" (media fragment)


@dataclass(frozen=True)
class Figure:
    title: str
    path: Path


@dataclass
class Cell:
    """One song × one index column: a status and headline numbers; ``parts`` when the column joins
    several runs (separation: the ``separate`` and ``evaluate`` sub-commands)."""
    status: Status
    numbers: list[tuple[str, str]] = field(default_factory=list)
    parts: list[tuple[str, Status]] = field(default_factory=list)


@dataclass(frozen=True)
class Column:
    key: str
    title: str


@dataclass(frozen=True)
class Source:
    """A player of the chunk table: one audio file (mixture, a stem, a model's separation)."""
    key: str
    label: str
    kind: str                    # mixture | stem | separation
    path: Path | None            # None: not produced; ``status`` says why and how
    status: Status | None = None
    instrument: str | None = None


@dataclass
class ChunkRow:
    index: int
    start_s: float
    end_s: float
    strong: dict[str, int]                         # performer -> strong own-stem windows
    metrics: dict[str, dict[str, float | None]]    # source key -> {"si_sdr", "baseline_si_sdr",
    #                                                  "mixture_si_sdr"} (dB, None = not finite)
    overlay: Link | None = None                    # the overlay clip covering this chunk, if any


@dataclass
class Section:
    """A saliency or attention result for one song."""
    title: str
    status: Status
    figures: list[Figure] = field(default_factory=list)
    numbers: list[tuple[str, str]] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)


@dataclass(frozen=True)
class ChunkPart:
    """A page's share of a long song's chunk list (``number`` 1 is on the song page itself)."""
    number: int
    page: Path                                  # relative to the site root
    chunks: list[ChunkRow]

    @property
    def first(self) -> int:
        return self.chunks[0].index if self.chunks else 0

    @property
    def last(self) -> int:
        return self.chunks[-1].index if self.chunks else 0


@dataclass
class SongPage:
    info: SongInfo
    page: Path                                  # relative to the site root
    duration_s: float | None
    cells: dict[str, Cell]                      # column key -> cell
    checks: tuple[str, list[str]] | None        # validation status and messages
    videos: list[Link]
    overlay: Status
    figures: list[Figure]
    strong_share: dict[str, float | None]       # own / control
    sources: list[Source]
    parts: list[ChunkPart]                      # the chunk list, in pages of CHUNKS_PER_PAGE
    sections: list[Section]
    raw_json: list[Link]


@dataclass
class SiteModel:
    dataset_path: Path
    results_dir: Path
    columns: list[Column]
    songs: list[SongPage]
    dataset: dict                               # dataset report / validation summary
    evaluations: list[dict]                     # results/separation/eval_*.json summaries
    benchmark: dict | None
    benchmark_path: Path
    averages: list[Section]                     # saliency averages, attention overview
    run_summaries: dict[str, dict]
    run_summary_files: dict[str, Path]         # stage -> its JSON
    commands: dict[str, str]                    # commands for the dataset-level "not run" notes


# --- small readers and formatters ---------------------------------------------------------------

def read_json(path: Path):
    """The JSON at ``path``, or None when absent or unreadable (logged: a page says "not run")."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable, shown as missing: %s", path, exc)
        return None


def read_dict(path: Path) -> dict:
    """The JSON object at ``path``; {} when absent, unreadable or not an object."""
    value = read_json(path)
    return value if isinstance(value, dict) else {}


def dig(value, *keys, default=None):
    """``value[k1][k2]...`` through dicts (and lists, for integer keys); ``default`` as soon as a
    key is missing or a level has another type."""
    for key in keys:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
            value = value[key]
        else:
            return default
    return value


def as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value) -> list:
    return value if isinstance(value, list) else []


def audio_duration(path: Path) -> float | None:
    try:
        return float(soundfile.info(str(path)).duration)
    except (RuntimeError, OSError, soundfile.LibsndfileError):
        return None


def finite(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def fmt_db(value) -> str:
    value = finite(value)
    return "—" if value is None else f"{value:.2f} dB"


def fmt_share(value) -> str:
    value = finite(value)
    return "no data" if value is None else f"{100 * value:.1f}%"


def summarise_coverage(value, label: str = "coverage") -> list[tuple[str, str]]:
    """A ``coverage`` entry of a saliency/attention summary (share of frames present) as label/text
    pairs: a number → a percentage, a dict → one entry per key, a list → mean and minimum."""
    if isinstance(value, dict):
        return [pair for key, inner in value.items()
                for pair in summarise_coverage(inner, f"{label} {key}")]
    if isinstance(value, list):
        numbers = [finite(v) for v in value if finite(v) is not None]
        if not numbers:
            return [(label, "no data")]
        return [(label, f"mean {fmt_share(sum(numbers) / len(numbers))}, min "
                        f"{fmt_share(min(numbers))} over {len(value)}")]
    return [(label, fmt_share(value) if finite(value) is not None else str(value))]
