"""Run one stage over many songs: a failing song is named, skipped and summarised, never fatal.

A stage's per-song function raises ``SongSkipped`` for an expected skip (e.g. a moving camera),
returns ``"up-to-date"`` when its outputs already exist (and ``--force`` was not given), and raises
anything else for a failure. It may also return ``Finished(value)`` to hand a value (a table row,
counts for an aggregate file) back to the process that runs the stage: the values come back in
``RunSummary.values`` (song order) and, as each song finishes, through ``on_result``.
``run_per_song`` logs each outcome, shows a progress bar, and returns a ``RunSummary`` whose
``exit_code`` is 1 if any song failed (2 if the executor could not start).

Executors (``EXECUTOR`` / ``--executor``): ``serial`` runs the songs one after another in this
process; ``ray`` (``core.ray_executor``, imported only then) runs each song as a Ray task, so the
per-song function must be picklable (cloudpickle: closures are fine; load heavy models inside it,
cached per process) and must write its outputs itself (atomically, ``core.io``). The summary, skips,
failure messages, exit code and outputs are the same for both.

Given ``results_dir``, the run also records each song's outcome in
``<results>/run_summaries/<stage>.json`` (``save_run_summary``; read back with
``load_run_summaries``), so that later readers (the results site) can say why a song has no output.
"""
from __future__ import annotations

import logging
import re
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from .io import load_json, save_json
from .log import progress
from .metadata import Skip, SongInfo

UP_TO_DATE = "up-to-date"
GIB = 2 ** 30
RUN_SUMMARY_DIR = "run_summaries"          # <results>/run_summaries/<stage>.json
OUTCOMES = ("done", "up_to_date", "skipped", "failed")



@dataclass(frozen=True)
class Finished:
    """What a per-song function returns to hand ``value`` back to the stage's own process."""
    value: Any
    up_to_date: bool = False


@dataclass(frozen=True)
class TaskResources:
    """What one song's task asks a Ray cluster for; declared once per stage, ignored by the serial
    executor. ``TASK_CPUS`` / ``TASK_GPUS`` / ``TASK_MEMORY`` override it.

    ``cpus``: cores the song's work keeps busy (its worker processes or threads); the executor
    also sets the task's ``OMP_NUM_THREADS`` to it. ``gpus``: asked for only when the stage's device
    setting wants CUDA (``cuda``/``cuda:N``, or ``auto`` on a cluster that has GPUs).
    ``memory_base_gib + memory_gib_per_hour × song hours``: memory reserved for the song (0 = no
    reservation), so that long songs are not packed onto one node beyond its memory.
    """
    cpus: float = 1.0
    gpus: float = 0.0
    memory_base_gib: float = 0.0
    memory_gib_per_hour: float = 0.0

    def memory_bytes(self, song: SongInfo) -> int:
        hours = (song.duration or 0.0) / 3600.0
        return int((self.memory_base_gib + self.memory_gib_per_hour * hours) * GIB)


class SongSkipped(Exception):
    """An expected, named reason not to process a song (not counted as a failure)."""


@dataclass
class RunSummary:
    stage: str
    done: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)     # "artist/song: reason"
    failed: list[str] = field(default_factory=list)      # "artist/song: reason"
    values: dict[str, Any] = field(default_factory=dict)  # song key -> Finished.value
    not_run: str | None = None                           # why no song ran (executor setup error)

    @property
    def exit_code(self) -> int:
        return 2 if self.not_run else 1 if self.failed else 0

    def merge(self, other: "RunSummary") -> "RunSummary":
        for name in ("done", "up_to_date", "skipped", "failed"):
            getattr(self, name).extend(getattr(other, name))
        self.values.update(other.values)
        self.not_run = self.not_run or other.not_run
        return self

    def by_song(self, keys: Iterable[str]) -> dict[str, dict]:
        """``{song key: {"outcome": done|up_to_date|skipped|failed, "reason": str | None}}``.

        ``keys`` are the keys of every song the run saw: the reasons are stored as
        ``"artist/song: reason"``, and matching on the known keys (longest first) keeps a song name
        that itself contains ``": "`` intact."""
        keys = sorted(set(keys), key=len, reverse=True)
        songs: dict[str, dict] = {}
        for outcome in OUTCOMES:
            for line in getattr(self, outcome):
                if outcome in ("done", "up_to_date"):
                    songs[line] = {"outcome": outcome, "reason": None}
                    continue
                key = next((k for k in keys if line.startswith(k + ": ")), None)
                if key is None:      # a line that names no known song: keep it whole
                    key, reason = line.partition(": ")[::2]
                else:
                    reason = line[len(key) + 2:]
                songs[key] = {"outcome": outcome, "reason": reason}
        return songs

    def report(self, logger: logging.Logger) -> None:
        if self.not_run:
            logger.error("%s: not run: %s", self.stage, self.not_run)
            return
        logger.info("%s: %d done, %d already up to date (use -f to redo), %d skipped, %d failed",
                    self.stage, len(self.done), len(self.up_to_date), len(self.skipped),
                    len(self.failed))
        for line in self.skipped:
            logger.info("  skipped %s", line)
        for line in self.failed:
            logger.error("  FAILED  %s", line)


def run_summary_path(results_dir: str | Path, stage: str) -> Path:
    """``<results>/run_summaries/<stage>.json``; characters a file name cannot hold (``/``, spaces)
    become ``_`` (the exact stage name is stored inside)."""
    return Path(results_dir) / RUN_SUMMARY_DIR / (re.sub(r"[^\w.\[\]=+-]+", "_", stage) + ".json")


def save_run_summary(summary: RunSummary, results_dir: str | Path, keys: Iterable[str]) -> Path:
    """Record this run's per-song outcomes in ``run_summary_path`` (atomically).

    Songs of earlier runs that this run did not see (e.g. a ``-s`` re-run of one song) keep their
    last recorded outcome; each entry carries the UTC time it was recorded. Format:
    ``{"stage", "songs": {key: {"outcome", "reason", "finished_utc"}}}``. Two runs of the same
    stage at the same moment would race on this file (last writer wins)."""
    path = run_summary_path(results_dir, summary.stage)
    songs: dict = {}
    if path.exists():
        try:
            previous = load_json(path)
            same_stage = previous.get("stage") == summary.stage
            songs = dict(previous.get("songs", {})) if same_stage else {}
        except (ValueError, OSError, AttributeError):
            songs = {}                # unreadable record: start again rather than fail the run
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for key, entry in summary.by_song(keys).items():
        songs[key] = {**entry, "finished_utc": now}
    save_json(path, {"stage": summary.stage, "songs": dict(sorted(songs.items()))})
    return path


def load_run_summaries(results_dir: str | Path) -> dict[str, dict]:
    """Every recorded stage: ``{stage: {song key: {"outcome", "reason", "finished_utc"}}}``.
    Unreadable files are left out (they are only explanations, never data)."""
    folder = Path(results_dir) / RUN_SUMMARY_DIR
    stages: dict[str, dict] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = load_json(path)
            stages[str(record["stage"])] = dict(record["songs"])
        except (ValueError, OSError, KeyError, TypeError):
            continue
    return stages


def describe_error(exc: BaseException) -> str:
    message = str(exc) or exc.__class__.__name__
    if type(exc).__module__ in ("builtins",) or type(exc).__name__.endswith("Error"):
        return f"{type(exc).__name__}: {message}" if not message.startswith(type(exc).__name__) \
            else message
    return message


@dataclass
class SongOutcome:
    """How one song ended, as the executor hands it back to the stage's process."""
    key: str
    status: str                       # done | up_to_date | skipped | failed
    reason: str = ""                  # skip or failure message
    value: Any = None                 # Finished.value
    has_value: bool = False
    details: str = ""                 # traceback of a failure (logged with -v)
    node: str | None = None           # where it ran (Ray only)
    seconds: float | None = None
    records: list = field(default_factory=list)   # log records made while it ran (Ray only)


def run_song(work: Callable[[SongInfo], Any], song: SongInfo) -> SongOutcome:
    """Call ``work(song)`` and classify what happened; the one place both executors do this."""
    try:
        result = work(song)
    except SongSkipped as exc:
        return SongOutcome(song.key, "skipped", str(exc))
    except Exception as exc:  # noqa: BLE001 -- one bad song must not stop the others
        return SongOutcome(song.key, "failed", describe_error(exc), details=traceback.format_exc())
    if isinstance(result, Finished):
        return SongOutcome(song.key, "up_to_date" if result.up_to_date else "done",
                           value=result.value, has_value=True)
    return SongOutcome(song.key, "up_to_date" if result == UP_TO_DATE else "done")


def log_outcome(outcome: SongOutcome, logger: logging.Logger) -> None:
    """The per-song log line (serial: as before; Ray: it also names the node and the time)."""
    where = f" [on {outcome.node}, {outcome.seconds:.1f} s]" if outcome.node else ""
    if outcome.status == "skipped":
        logger.warning("%s: skipped: %s%s", outcome.key, outcome.reason, where)
    elif outcome.status == "failed":
        logger.error("%s: failed: %s%s", outcome.key, outcome.reason, where)
        if outcome.details:
            logger.debug("%s", outcome.details.rstrip())
    elif outcome.status == "up_to_date":
        logger.info("%s: outputs exist, skipping (use -f to recompute)%s", outcome.key, where)
    elif outcome.node:
        logger.info("%s: done%s", outcome.key, where)


def add_outcome(summary: RunSummary, outcome: SongOutcome) -> None:
    if outcome.status in ("skipped", "failed"):
        getattr(summary, outcome.status).append(f"{outcome.key}: {outcome.reason}")
    else:
        getattr(summary, outcome.status).append(outcome.key)
    if outcome.has_value:
        summary.values[outcome.key] = outcome.value


def run_per_song(stage: str, songs: Iterable[SongInfo], work: Callable[[SongInfo], Any],
                 skipped: Iterable[Skip] = (), logger: logging.Logger | None = None,
                 progress_bar: bool = True, results_dir: str | Path | None = None, settings=None,
                 resources: TaskResources | None = None,
                 on_result: Callable[[SongInfo, Any], None] | None = None) -> RunSummary:
    """Call ``work(song)`` for each song, isolating failures; log a summary at the end and, given
    ``results_dir``, record it there (``save_run_summary``).

    ``settings`` (``core.settings.Settings``) chooses the executor (``executor``, ``ray_address``,
    ``task_*``; ``dataset_path`` is checked on every Ray node); None or ``executor="serial"`` runs
    here. ``resources`` is the stage's Ray task declaration (default: one CPU). ``on_result(song,
    value)`` is called in this process for every song that returned ``Finished(value)``, as it
    finishes.
    """
    logger = logger or logging.getLogger(stage)
    # a bad metadata entry (core.metadata: unsafe name, malformed field) is the user's error to
    # fix: it counts as a failed song (exit 1), not as a planned skip
    skipped = list(skipped)
    bad_entries = [s for s in skipped if getattr(s, "is_error", False)]
    summary = RunSummary(stage, skipped=[str(s) for s in skipped if s not in bad_entries],
                         failed=[str(s) for s in bad_entries])
    songs = list(songs)
    if settings is not None and settings.executor == "ray":
        from .ray_executor import run_songs_on_ray   # only here: the serial path never imports Ray

        outcomes = run_songs_on_ray(stage, songs, work, settings, resources or TaskResources(),
                                    logger, progress_bar, on_result)
        if isinstance(outcomes, str):     # no song ran: nothing to record
            summary.not_run = outcomes
            summary.report(logger)
            return summary
        for outcome in outcomes:          # song order, whatever order they finished in
            add_outcome(summary, outcome)
    else:
        iterator = progress(songs, desc=stage, unit="song") if progress_bar else songs
        for song in iterator:
            outcome = run_song(work, song)
            log_outcome(outcome, logger)
            add_outcome(summary, outcome)
            if outcome.has_value and on_result is not None:
                on_result(song, outcome.value)
    summary.report(logger)
    if results_dir is not None:
        keys = [s.key for s in songs] + [s.song.key for s in skipped if isinstance(s, Skip)]
        save_run_summary(summary, results_dir, keys)
    return summary
