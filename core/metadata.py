"""Dataset metadata (``dataset_metadata.json``): loading, validation and song selection.

Format: ``{artist: {song: {layout, moving_camera, fps, duration, correct_body_detection,
face_false_positive_frames}}}``. ``layout`` is the left-to-right stage order of instruments (entries
may be null: a performer whose instrument is unknown); ``face_false_positive_frames`` is a list of
inclusive ``[start, end]`` frame ranges. Unknown fields are kept in ``SongInfo.extra`` and ignored.

The metadata may come from someone else, and its names become folders: ``name_problem`` is the one
rule for which artist, song and instrument names are safe (no ``..``, separators, absolute paths,
control characters, empty names or surrounding spaces), and ``SongInfo.folder`` refuses any folder
that does not resolve inside the dataset. An entry that breaks the rule, has a malformed field (e.g.
``fps: "30"``) or is listed twice does not stop the run: it becomes a ``SongInfo`` whose ``problem``
says why, which ``select_songs`` reports as a failed song (named, the others go on) and
``dataset_analysis validate`` as blocking.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

# Instruments the pipeline knows. Stems are matched by file-name prefix (see core.dataset).
KNOWN_INSTRUMENTS = ("vocal", "violin", "mridangam", "tanpura", "ghatam", "morsing", "kanjira",
                     "flute", "veena")
REQUIRED_FIELDS = ("layout", "fps", "duration")


class MetadataError(RuntimeError):
    """The metadata file is missing, unreadable or not in the expected shape."""


@dataclass(frozen=True)
class SongInfo:
    artist: str
    song: str
    layout: tuple[str | None, ...] | None
    fps: float | None
    duration: float | None                      # seconds
    moving_camera: bool = False
    correct_body_detection: bool | None = None
    face_false_positive_frames: tuple[tuple[int, int], ...] = ()
    extra: dict = field(default_factory=dict, compare=False, repr=False)
    problem: str | None = None          # why the entry is unusable (the song is never processed)

    @property
    def key(self) -> str:
        return f"{self.artist}/{self.song}"

    @property
    def instruments(self) -> tuple[str, ...]:
        """The named instruments of the layout, left to right (null slots left out)."""
        return tuple(i for i in (self.layout or ()) if i is not None)

    @property
    def n_frames(self) -> int:
        """Video frames as the published pipeline counts them: ``int(fps × duration)``."""
        if self.fps is None or self.duration is None:
            raise ValueError(f"{self.key}: fps or duration is null")
        return int(self.fps * self.duration)

    def folder(self, dataset_path: str | Path) -> Path:
        """``<dataset_path>/<artist>/<song>``; ``MetadataError`` if the names are unsafe or the
        folder (symbolic links followed) is not inside ``dataset_path``."""
        for what, name in (("artist", self.artist), ("song", self.song)):
            problem = name_problem(name)
            if problem:
                raise MetadataError(f"{self.key}: {what} name {name!r} {problem}")
        folder = Path(dataset_path) / self.artist / self.song
        check_inside(folder, dataset_path, f"{self.key}: song folder")
        return folder


def name_problem(name) -> str | None:
    """Why ``name`` (an artist, song or instrument from the metadata) cannot be used as one folder
    name inside the dataset, or None when it can. The one home of this rule."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a string"
    if name.strip() == "":
        return "is empty"
    if name in (".", ".."):
        return "would leave its folder"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "contains a control character"
    if name != name.strip():
        return "starts or ends with white space"
    if Path(name).is_absolute():   # cannot happen without a separator; kept for other platforms
        return "is an absolute path"
    return None


def check_inside(path: str | Path, root: str | Path, what: str = "path") -> Path:
    """``path`` if it resolves (symbolic links followed) inside ``root``; ``MetadataError`` if not."""
    resolved, base = Path(path).resolve(), Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise MetadataError(f"{what} {path} resolves to {resolved}, outside {base}")
    return Path(path)


def duration_for_frames(n_frames: int, fps: float) -> float:
    """Seconds ``d`` nearest to ``n_frames / fps`` with ``int(fps × d) == n_frames`` (how
    ``SongInfo.n_frames`` counts): ``int(30 × (123 / 30))`` is 122 by float rounding, so the
    duration is nudged up by a few ulps (~1e-13 s) where needed."""
    duration = n_frames / fps
    while int(fps * duration) < n_frames:
        duration = math.nextafter(duration, math.inf)
    return duration


def frame_ranges_mask(ranges, n_frames: int) -> np.ndarray:
    """``(n_frames,)`` bool, True inside the inclusive ``[start, end]`` frame ranges (e.g. a song's
    ``face_false_positive_frames``), clipped to the video: a range beyond the end, or a negative
    start, never wraps around."""
    mask = np.zeros(n_frames, dtype=bool)
    for start, end in ranges:
        mask[max(0, int(start)):max(0, int(end) + 1)] = True
    return mask


@dataclass(frozen=True)
class Skip:
    """A song left out of a run, and why."""
    song: SongInfo
    reason: str

    @property
    def is_error(self) -> bool:
        """True for a bad metadata entry: counted as a failed song, not a planned skip."""
        return self.song.problem is not None

    def __str__(self) -> str:
        return f"{self.song.key}: {self.reason}"


def _number(value, what: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise MetadataError(f"{where}: {what} must be a positive number or null, got {value!r}")
    return float(value)


def parse_song(artist: str, song: str, entry: dict) -> SongInfo:
    """Validate one metadata entry; raise ``MetadataError`` naming the song on a malformed field."""
    where = f"{artist}/{song}"
    for what, name in (("artist", artist), ("song", song)):
        problem = name_problem(name)
        if problem:
            raise MetadataError(f"{where}: {what} name {name!r} {problem}")
    if not isinstance(entry, dict):
        raise MetadataError(f"{where}: entry must be an object, got {type(entry).__name__}")
    layout = entry.get("layout")
    if layout is not None:
        if not isinstance(layout, list) or not all(i is None or isinstance(i, str) for i in layout):
            raise MetadataError(f"{where}: layout must be a list of instrument names or null")
        for name in layout:
            problem = None if name is None else name_problem(name)
            if problem:
                raise MetadataError(f"{where}: layout instrument {name!r} {problem}")
        layout = tuple(layout)
    ranges = entry.get("face_false_positive_frames") or []
    try:
        ranges = tuple((int(a), int(b)) for a, b in ranges)
    except (TypeError, ValueError) as exc:
        raise MetadataError(f"{where}: face_false_positive_frames must be [start, end] pairs") from exc
    if any(b < a for a, b in ranges):
        raise MetadataError(f"{where}: a face_false_positive_frames range ends before it starts")
    known = set(REQUIRED_FIELDS) | {"moving_camera", "correct_body_detection",
                                    "face_false_positive_frames"}
    return SongInfo(
        artist=artist, song=song, layout=layout,
        fps=_number(entry.get("fps"), "fps", where),
        duration=_number(entry.get("duration"), "duration", where),
        moving_camera=bool(entry.get("moving_camera") or False),
        correct_body_detection=entry.get("correct_body_detection"),
        face_false_positive_frames=ranges,
        extra={k: v for k, v in entry.items() if k not in known},
    )


class _Pairs(dict):
    """A JSON object that keeps every ``(key, value)`` pair in file order, repeated keys too
    (``json`` would silently keep only the last)."""

    def __init__(self, pairs: list[tuple[str, object]]):
        super().__init__(pairs)
        self.pairs = pairs


def load_metadata(path: str | Path) -> list[SongInfo]:
    """Read a metadata file; songs in file order.

    Raises ``MetadataError`` only when the file as a whole is unusable (missing, not JSON, not
    artist → song → entry). A bad entry (unsafe name, malformed field, a song listed twice)
    becomes a ``SongInfo`` with ``problem`` set, so one bad song never stops the others.
    """
    path = Path(path)
    if not path.exists():
        raise MetadataError(f"metadata file {path} does not exist")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_Pairs)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetadataError(f"metadata file {path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise MetadataError(f"metadata file {path} must map artist -> song -> entry")
    entries: dict[tuple[str, str], list] = {}
    for artist, songs in raw.pairs:            # an artist listed twice: both objects count
        if not isinstance(songs, dict):
            raise MetadataError(f"metadata file {path} must map artist -> song -> entry")
        for song, entry in songs.pairs:
            entries.setdefault((artist, song), []).append(entry)
    result = []
    for (artist, song), found in entries.items():
        if len(found) > 1:
            problem = (f"listed {len(found)} times in {path.name}; which entry is meant is "
                       f"ambiguous (keep one)")
            result.append(SongInfo(artist, song, None, None, None, problem=problem))
            continue
        try:
            result.append(parse_song(artist, song, found[0]))
        except MetadataError as exc:
            reason = str(exc).removeprefix(f"{artist}/{song}: ")
            result.append(SongInfo(artist, song, None, None, None,
                                   problem=f"bad entry in {path.name}: {reason}"))
    return result


def skip_reason(song: SongInfo, require: Iterable[str] = REQUIRED_FIELDS,
                skip_moving_camera: bool = False,
                expected_instruments: Iterable[str] | None = None) -> str | None:
    """Why ``song`` cannot be processed by a stage with these needs, or None if it can."""
    if song.problem:
        return song.problem
    nulls = [name for name in require if getattr(song, name) is None]
    if nulls:
        return f"null {', '.join(nulls)} in metadata"
    if skip_moving_camera and song.moving_camera:
        return "moving camera (post-processing assumes a static camera)"
    unknown = [i for i in song.instruments if i not in KNOWN_INSTRUMENTS]
    if "layout" in require and unknown:
        return f"unknown instrument(s) in layout: {', '.join(unknown)}"
    if expected_instruments is not None and "layout" in require:
        expected = tuple(expected_instruments)
        if sorted(song.instruments) != sorted(expected):
            return (f"layout {list(song.layout or ())} does not match INSTRUMENTS "
                    f"{','.join(expected)}")
    return None


def select_songs(songs: Iterable[SongInfo], artist: str | None = None, song: str | None = None,
                 require: Iterable[str] = REQUIRED_FIELDS, skip_moving_camera: bool = False,
                 expected_instruments: Iterable[str] | None = None
                 ) -> tuple[list[SongInfo], list[Skip]]:
    """Apply the ``-a``/``-s`` filters, then split into songs to process and songs to skip.

    Songs excluded by the filters are neither kept nor reported. Raises ``MetadataError`` when a
    filter matches nothing, so a typo in ``-a``/``-s`` is not a silent no-op.
    """
    songs = list(songs)
    chosen = [s for s in songs if (artist is None or s.artist == artist)
              and (song is None or s.song == song)]
    if not chosen and (artist is not None or song is not None):
        raise MetadataError(f"no song matches artist={artist!r} song={song!r} in the metadata")
    kept, skipped = [], []
    for s in chosen:
        reason = skip_reason(s, require, skip_moving_camera, expected_instruments)
        (skipped.append(Skip(s, reason)) if reason else kept.append(s))
    return kept, skipped
