"""Dataset metadata (``dataset_metadata.json``): loading, validation and song selection.

Format: ``{artist: {song: {layout, moving_camera, fps, duration, correct_body_detection,
face_false_positive_frames}}}``. ``layout`` is the left-to-right stage order of instruments (entries
may be null: a performer whose instrument is unknown); ``face_false_positive_frames`` is a list of
inclusive ``[start, end]`` frame ranges. Unknown fields are kept in ``SongInfo.extra`` and ignored.

Skip rules live here, once (``skip_reason``): null required fields, moving camera (post-processing),
unknown instruments, a layout that differs from the ``INSTRUMENTS`` setting, and
``correct_body_detection: false`` for every stage that analyses motion or pose (motion features and
their correlation, pose-conditioned training, saliency, attention): the published work left those
songs out of motion analysis because pose estimation failed on them (``body_detection_skip``; each
such stage offers ``--include-incorrect-body-detection``).
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
# The command-line flag every motion/pose-analysing stage offers to use such songs anyway.
INCLUDE_BAD_BODY_FLAG = "--include-incorrect-body-detection"


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
        return Path(dataset_path) / self.artist / self.song


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
    if not isinstance(entry, dict):
        raise MetadataError(f"{where}: entry must be an object, got {type(entry).__name__}")
    layout = entry.get("layout")
    if layout is not None:
        if not isinstance(layout, list) or not all(i is None or isinstance(i, str) for i in layout):
            raise MetadataError(f"{where}: layout must be a list of instrument names or null")
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


def load_metadata(path: str | Path) -> list[SongInfo]:
    """Read and validate a metadata file; songs in file order. Raises ``MetadataError``."""
    path = Path(path)
    if not path.exists():
        raise MetadataError(f"metadata file {path} does not exist")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetadataError(f"metadata file {path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise MetadataError(f"metadata file {path} must map artist -> song -> entry")
    return [parse_song(artist, song, entry)
            for artist, songs in raw.items() for song, entry in songs.items()]


def body_detection_skip(song: SongInfo, include: bool = False) -> str | None:
    """Why a stage that analyses the song's motion or pose must leave it out, or None.

    ``correct_body_detection: false`` marks songs whose pose estimation failed (wrong person, body
    not found); the published work left them out of motion analysis. ``include=True`` (the
    ``--include-incorrect-body-detection`` flag) uses them anyway. ``null`` (unknown) is not a reason.
    """
    if song.correct_body_detection is False and not include:
        return (f"correct_body_detection is false in the metadata (pose estimation failed; left out "
                f"of motion analysis as published, {INCLUDE_BAD_BODY_FLAG} uses it)")
    return None


def skip_reason(song: SongInfo, require: Iterable[str] = REQUIRED_FIELDS,
                skip_moving_camera: bool = False,
                expected_instruments: Iterable[str] | None = None,
                require_body_detection: bool = False) -> str | None:
    """Why ``song`` cannot be processed by a stage with these needs, or None if it can.

    ``require_body_detection``: the stage analyses motion or pose (``body_detection_skip``).
    """
    nulls = [name for name in require if getattr(song, name) is None]
    if nulls:
        return f"null {', '.join(nulls)} in metadata"
    if skip_moving_camera and song.moving_camera:
        return "moving camera (post-processing assumes a static camera)"
    if require_body_detection and (reason := body_detection_skip(song)):
        return reason
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
                 expected_instruments: Iterable[str] | None = None,
                 require_body_detection: bool = False
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
        reason = skip_reason(s, require, skip_moving_camera, expected_instruments,
                             require_body_detection)
        (skipped.append(Skip(s, reason)) if reason else kept.append(s))
    return kept, skipped
