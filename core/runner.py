"""Run one stage over many songs: a failing song is named, skipped and summarised, never fatal.

A stage's per-song function raises ``SongSkipped`` for an expected skip (e.g. a moving camera),
returns ``"up-to-date"`` when its outputs already exist (and ``--force`` was not given), and raises
anything else for a failure. ``run_per_song`` logs each outcome, shows a progress bar, and returns a
``RunSummary`` whose ``exit_code`` is 1 if any song failed.

Given ``results_dir``, the run also records each song's outcome in
``<results>/run_summaries/<stage>.json`` (``save_run_summary``; read back with
``load_run_summaries``), so that later readers (the results site) can say why a song has no output.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from .io import load_json, save_json
from .log import progress
from .metadata import Skip, SongInfo

UP_TO_DATE = "up-to-date"
RUN_SUMMARY_DIR = "run_summaries"          # <results>/run_summaries/<stage>.json
OUTCOMES = ("done", "up_to_date", "skipped", "failed")


class SongSkipped(Exception):
    """An expected, named reason not to process a song (not counted as a failure)."""


@dataclass
class RunSummary:
    stage: str
    done: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)     # "artist/song: reason"
    failed: list[str] = field(default_factory=list)      # "artist/song: reason"

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def merge(self, other: "RunSummary") -> "RunSummary":
        for name in ("done", "up_to_date", "skipped", "failed"):
            getattr(self, name).extend(getattr(other, name))
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


def outputs_exist(paths: Iterable[str | Path], force: bool) -> bool:
    """True when every output exists and ``--force`` was not given (the work can be skipped)."""
    return not force and all(Path(p).exists() for p in paths)


def describe_error(exc: BaseException) -> str:
    message = str(exc) or exc.__class__.__name__
    if type(exc).__module__ in ("builtins",) or type(exc).__name__.endswith("Error"):
        return f"{type(exc).__name__}: {message}" if not message.startswith(type(exc).__name__) \
            else message
    return message


def run_per_song(stage: str, songs: Iterable[SongInfo], work: Callable[[SongInfo], str | None],
                 skipped: Iterable[Skip] = (), logger: logging.Logger | None = None,
                 progress_bar: bool = True, results_dir: str | Path | None = None) -> RunSummary:
    """Call ``work(song)`` for each song, isolating failures; log a summary at the end and, given
    ``results_dir``, record it there (``save_run_summary``)."""
    logger = logger or logging.getLogger(stage)
    # a bad metadata entry (core.metadata: unsafe name, malformed field) is the user's error to
    # fix: it counts as a failed song (exit 1), not as a planned skip
    skipped = list(skipped)
    bad_entries = [s for s in skipped if getattr(s, "is_error", False)]
    summary = RunSummary(stage, skipped=[str(s) for s in skipped if s not in bad_entries],
                         failed=[str(s) for s in bad_entries])
    songs = list(songs)
    iterator = progress(songs, desc=stage, unit="song") if progress_bar else songs
    for song in iterator:
        try:
            outcome = work(song)
        except SongSkipped as exc:
            summary.skipped.append(f"{song.key}: {exc}")
            logger.warning("%s: skipped: %s", song.key, exc)
        except Exception as exc:  # noqa: BLE001 -- one bad song must not stop the others
            summary.failed.append(f"{song.key}: {describe_error(exc)}")
            logger.error("%s: failed: %s", song.key, describe_error(exc),
                         exc_info=logger.isEnabledFor(logging.DEBUG))
        else:
            if outcome == UP_TO_DATE:
                summary.up_to_date.append(song.key)
                logger.info("%s: outputs exist, skipping (use -f to recompute)", song.key)
            else:
                summary.done.append(song.key)
    summary.report(logger)
    if results_dir is not None:
        keys = [s.key for s in songs] + [s.song.key for s in skipped if isinstance(s, Skip)]
        save_run_summary(summary, results_dir, keys)
    return summary
