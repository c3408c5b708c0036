"""Run one stage over many songs: a failing song is named, skipped and summarised, never fatal.

A stage's per-song function raises ``SongSkipped`` for an expected skip (e.g. a moving camera),
returns ``"up-to-date"`` when its outputs already exist (and ``--force`` was not given), and raises
anything else for a failure. ``run_per_song`` logs each outcome, shows a progress bar, and returns a
``RunSummary`` whose ``exit_code`` is 1 if any song failed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .log import progress
from .metadata import Skip, SongInfo

UP_TO_DATE = "up-to-date"


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

    def report(self, logger: logging.Logger) -> None:
        logger.info("%s: %d done, %d already up to date (use -f to redo), %d skipped, %d failed",
                    self.stage, len(self.done), len(self.up_to_date), len(self.skipped),
                    len(self.failed))
        for line in self.skipped:
            logger.info("  skipped %s", line)
        for line in self.failed:
            logger.error("  FAILED  %s", line)


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
                 progress_bar: bool = True) -> RunSummary:
    """Call ``work(song)`` for each song, isolating failures; log a summary at the end."""
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
    return summary
