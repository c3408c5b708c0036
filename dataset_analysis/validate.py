"""Check a dataset tree against its ``dataset_metadata.json`` before running the pipeline.

For every song of the metadata the files are probed (``gather_facts``: the video with
``core.video.probe_video``, every stem with ``soundfile.info``) and the facts are judged against the
metadata by the pure function ``evaluate`` into issues of two severities:

**blocking** — a stage would fail on a song that the metadata says it should process:
  ``bad_metadata`` (the entry is unusable: a name that is not one safe folder name, e.g. ``..``, a
  path separator or an absolute path, which would make stages read or write outside the dataset; a
  malformed field such as ``fps: "30"``; or the song listed twice; every stage fails the song and
  nothing on disk is looked at), ``no_folder`` (song folder missing), ``no_video`` (no ``.mov``), ``bad_video`` (cannot be opened or
  probed), ``fps_mismatch`` (``|fps_video − fps_metadata| > fps_tolerance``, default 0.05 fps: every
  stage converts frames and seconds with the metadata fps, so a mismatch misaligns motion and audio;
  29.97 vs 30 passes), ``truncated_video`` (with ``--count-frames``: fewer frames decode than the
  container promises, more than a second's worth), ``no_stem`` for vocal, violin or mridangam when the layout names it (the feature
  and separation stages need their close-microphone stems), ``bad_wav`` (unreadable) and ``empty_wav``
  (zero samples).

**warning** — worth knowing, but the pipeline copes (it skips the song with a reason, or the numbers
are only slightly off): ``skipped`` (null ``layout``/``fps``/``duration``: every stage skips the song;
file problems of such songs are downgraded to warnings), ``moving_camera`` (post-processing skips it),
``unknown_instrument`` (an instrument outside ``core.metadata.KNOWN_INSTRUMENTS``: skipped),
``null_layout_slot`` (an unidentified performer), ``duration_mismatch`` (video or stem length differs
from the metadata ``duration`` by more than ``duration_tolerance``, default 1 s), ``no_stem`` for other
instruments (Saraga has no tanpura/ghatam/morsing stems), and ``unlisted_folder`` (a song folder on
disk that the metadata does not list).

A song's status is the worst severity of its issues (``ok`` when there are none); ``validate`` exits
non-zero when any song is blocking or the metadata itself cannot be read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.dataset import SongDataError, find_mixture, find_stems, find_video, stem_prefix
from core.metadata import KNOWN_INSTRUMENTS, REQUIRED_FIELDS, SongInfo, skip_reason
from core.video import probe_video

BLOCKING, WARNING, OK = "blocking", "warning", "ok"
# Instruments recorded with a close microphone in Saraga: later stages need their stems.
STEM_INSTRUMENTS = ("vocal", "violin", "mridangam")
DEFAULT_FPS_TOLERANCE = 0.05        # frames per second
DEFAULT_DURATION_TOLERANCE = 1.0    # seconds
DEFINITIONS = {
    BLOCKING: "a stage would fail on a song the metadata says it should process (unusable metadata "
              "entry, missing or unreadable video or stem of vocal/violin/mridangam, fps mismatch, "
              "missing folder)",
    WARNING: "the pipeline copes (skips the song with a reason, or lengths differ slightly); "
             "check it, but it does not stop a run",
}


@dataclass(frozen=True)
class Issue:
    severity: str       # BLOCKING or WARNING
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"severity": self.severity, "code": self.code, "message": self.message}


@dataclass
class StemFacts:
    name: str
    samplerate: int | None = None
    frames: int | None = None
    duration: float | None = None     # seconds
    error: str | None = None

    def as_dict(self) -> dict:
        return {"file": self.name, "samplerate": self.samplerate, "frames": self.frames,
                "duration": self.duration, "error": self.error}


@dataclass
class SongFacts:
    """What is on disk for one song (gathered by ``gather_facts``, judged by ``evaluate``)."""
    folder_exists: bool
    video_name: str | None = None
    video_fps: float | None = None
    video_duration: float | None = None      # seconds
    video_frames: int | None = None
    video_container_frames: int | None = None  # frames the container promises (0/None: unknown)
    video_size: tuple[int, int] | None = None
    video_error: str | None = None           # set when there is no video or it cannot be probed
    stems: dict[str, list[StemFacts]] = field(default_factory=dict)   # instrument -> stems
    mixture: str | None = None

    def as_dict(self) -> dict:
        return {"folder_exists": self.folder_exists,
                "video": None if self.video_name is None else {
                    "file": self.video_name, "fps": self.video_fps, "duration": self.video_duration,
                    "frames": self.video_frames, "size": self.video_size},
                "video_error": self.video_error, "mixture": self.mixture,
                "stems": {i: [s.as_dict() for s in stems] for i, stems in self.stems.items()}}


@dataclass
class SongCheck:
    song: SongInfo
    facts: SongFacts
    issues: list[Issue]

    @property
    def status(self) -> str:
        severities = {i.severity for i in self.issues}
        return BLOCKING if BLOCKING in severities else WARNING if severities else OK

    def as_dict(self) -> dict:
        return {"artist": self.song.artist, "song": self.song.song, "status": self.status,
                "metadata": {"fps": self.song.fps, "duration": self.song.duration,
                             "layout": list(self.song.layout) if self.song.layout is not None
                             else None, "moving_camera": self.song.moving_camera},
                "files": self.facts.as_dict(), "issues": [i.as_dict() for i in self.issues]}


def probe_wav(path: Path) -> StemFacts:
    """Sample rate, frames and duration from the header; ``error`` set instead of raising."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:  # noqa: BLE001 -- libsndfile raises several types for corrupt files
        return StemFacts(path.name, error=f"cannot be read: {exc}")
    duration = info.frames / info.samplerate if info.samplerate else None
    return StemFacts(path.name, int(info.samplerate), int(info.frames), duration)


def stem_instruments(song: SongInfo) -> list[str]:
    """Instruments whose stems are looked for: the layout's known ones, else the Saraga three."""
    named = [i for i in song.instruments if i in KNOWN_INSTRUMENTS]
    return list(dict.fromkeys(named)) if song.layout is not None else list(STEM_INSTRUMENTS)


def gather_facts(song: SongInfo, dataset_path: Path, count_frames: bool = False) -> SongFacts:
    """Probe the song's video and stems. Never raises for a missing or corrupt file; a song with
    a bad metadata entry (``SongInfo.problem``) is not looked for on disk at all."""
    if song.problem:
        return SongFacts(folder_exists=False)
    folder = song.folder(dataset_path)
    if not folder.is_dir():
        return SongFacts(folder_exists=False)
    facts = SongFacts(folder_exists=True)
    try:
        video = find_video(folder)
        facts.video_name = video.name
        info = probe_video(video, count_frames=count_frames)
        facts.video_fps, facts.video_duration = info.fps, info.duration
        facts.video_frames, facts.video_size = info.n_frames, (info.width, info.height)
        facts.video_container_frames = info.container_frames if count_frames else None
    except SongDataError as exc:
        facts.video_error = str(exc)
    for instrument in stem_instruments(song):
        facts.stems[instrument] = [probe_wav(p) for p in find_stems(folder, instrument)]
    mixture = find_mixture(folder)
    facts.mixture = mixture.name if mixture is not None else None
    return facts


def evaluate(song: SongInfo, facts: SongFacts, fps_tolerance: float = DEFAULT_FPS_TOLERANCE,
             duration_tolerance: float = DEFAULT_DURATION_TOLERANCE) -> list[Issue]:
    """Judge ``facts`` against the metadata entry (see the module docstring for the codes)."""
    if song.problem:
        return [Issue(BLOCKING, "bad_metadata", song.problem)]
    issues: list[Issue] = []
    reason = skip_reason(song, REQUIRED_FIELDS)
    # Problems with the files of a song every stage skips (null fields, unknown instrument) do not
    # block anything.
    file_severity = WARNING if reason is not None else BLOCKING
    if reason is not None and reason.startswith("null"):
        issues.append(Issue(WARNING, "skipped", f"{reason}: every stage skips this song"))
    if song.moving_camera:
        issues.append(Issue(WARNING, "moving_camera", "moving camera: post-processing skips this song"))
    unknown = [i for i in song.instruments if i not in KNOWN_INSTRUMENTS]
    if unknown:
        issues.append(Issue(WARNING, "unknown_instrument",
                            f"layout names {', '.join(unknown)}, not among the known instruments "
                            f"({', '.join(KNOWN_INSTRUMENTS)}): the song is skipped"))
    for slot, name in enumerate(song.layout or ()):
        if name is None:
            issues.append(Issue(WARNING, "null_layout_slot",
                                f"layout slot {slot} (0 = leftmost) is null: unidentified performer"))
    if not facts.folder_exists:
        issues.append(Issue(file_severity, "no_folder", "song folder is missing"))
        return issues
    if facts.video_name is None:
        issues.append(Issue(file_severity, "no_video", facts.video_error or "no .mov video"))
    elif facts.video_error is not None:
        issues.append(Issue(file_severity, "bad_video", facts.video_error))
    else:
        if song.fps is not None and abs(facts.video_fps - song.fps) > fps_tolerance:
            issues.append(Issue(BLOCKING, "fps_mismatch",
                                f"video {facts.video_name} runs at {facts.video_fps:.3f} fps, metadata "
                                f"says {song.fps:g}"))
        promised = facts.video_container_frames
        if promised and promised - facts.video_frames > max(2, round(facts.video_fps)):
            issues.append(Issue(BLOCKING, "truncated_video",
                                f"video {facts.video_name}: the container promises {promised} frames "
                                f"but only {facts.video_frames} decode (truncated or damaged file)"))
        if song.duration is not None and facts.video_duration is not None \
                and abs(facts.video_duration - song.duration) > duration_tolerance:
            issues.append(Issue(WARNING, "duration_mismatch",
                                f"video {facts.video_name} lasts {facts.video_duration:.2f} s, "
                                f"metadata says {song.duration:.2f} s"))
    for instrument, stems in facts.stems.items():
        if not stems:
            needed = instrument in STEM_INSTRUMENTS
            issues.append(Issue(file_severity if needed else WARNING, "no_stem",
                                f"no {instrument} stem (*.wav starting with "
                                f"'{stem_prefix(instrument)}')"))
        for stem in stems:
            if stem.error is not None:
                issues.append(Issue(file_severity, "bad_wav", f"{stem.name} {stem.error}"))
            elif not stem.frames:
                issues.append(Issue(file_severity, "empty_wav", f"{stem.name} has zero samples"))
            elif song.duration is not None and abs(stem.duration - song.duration) > duration_tolerance:
                issues.append(Issue(WARNING, "duration_mismatch",
                                    f"{stem.name} lasts {stem.duration:.2f} s, metadata says "
                                    f"{song.duration:.2f} s"))
    return issues


def unlisted_song_folders(dataset_path: Path, songs: list[SongInfo],
                          exclude: tuple[Path, ...] = ()) -> list[str]:
    """``"artist/song"`` folders on disk that hold a video or wav but are not in the metadata.

    Hidden folders and ``exclude`` (the results folder, which may hold separated stems) are left out.
    """
    listed = {(s.artist, s.song) for s in songs}
    excluded = {p.resolve() for p in exclude}
    found = []
    for artist_dir in sorted(p for p in Path(dataset_path).iterdir() if p.is_dir()
                             and not p.name.startswith(".") and p.resolve() not in excluded):
        for song_dir in sorted(p for p in artist_dir.iterdir() if p.is_dir()):
            if (artist_dir.name, song_dir.name) in listed:
                continue
            if any(p.suffix.lower() in (".mov", ".wav") for p in song_dir.iterdir()):
                found.append(f"{artist_dir.name}/{song_dir.name}")
    return found


def summarize(checks: list[SongCheck], unlisted: list[str]) -> dict:
    """The JSON report body (see ``main validate``)."""
    counts = {status: sum(1 for c in checks if c.status == status) for status in (OK, WARNING, BLOCKING)}
    return {"definitions": DEFINITIONS, "n_songs": len(checks), "status_counts": counts,
            "blocking_songs": [c.song.key for c in checks if c.status == BLOCKING],
            "unlisted_folders": unlisted,
            "songs": {c.song.key: c.as_dict() for c in checks}}


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(checks: list[SongCheck], unlisted: list[str]) -> str:
    """A plain-text table, one line per song, issues indented below it."""
    header = f"{'status':<9} {'fps video/meta':<16} {'duration s video/meta':<24} {'stems':<24} song"
    lines = [header, "-" * len(header)]
    for c in checks:
        f = c.facts
        stems = ",".join(f"{i[:4]}:{len(s)}" for i, s in f.stems.items()) or "-"
        lines.append(f"{c.status.upper():<9} {_fmt(f.video_fps) + '/' + _fmt(c.song.fps):<16} "
                     f"{_fmt(f.video_duration) + '/' + _fmt(c.song.duration):<24} {stems:<24} "
                     f"{c.song.key}")
        for issue in c.issues:
            lines.append(f"    {issue.severity}: {issue.code}: {issue.message}")
    for key in unlisted:
        lines.append(f"{WARNING.upper():<9} {'':<16} {'':<24} {'':<24} {key}")
        lines.append(f"    {WARNING}: unlisted_folder: folder with media files not in the metadata")
    counts = {s: sum(1 for c in checks if c.status == s) for s in (OK, WARNING, BLOCKING)}
    lines.append(f"{len(checks)} songs: {counts[OK]} ok, {counts[WARNING]} with warnings, "
                 f"{counts[BLOCKING]} blocking")
    return "\n".join(lines)
