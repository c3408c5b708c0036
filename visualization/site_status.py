"""A song's status in one stage, from what is on disk and what the stage's last run recorded.

Pure functions: the caller says whether the stage's outputs for the song exist and passes the song's
entry of ``<results>/run_summaries/<stage>.json`` (``core.runner.load_run_summaries``), or None
when no run of the stage recorded the song. The rules, in order:

1. the last recorded run **failed** on the song → ``failed`` with its reason (outputs of an earlier
   run, or partial ones, are still shown, and the note says so);
2. the outputs exist → ``done``, or ``out of date`` when an input they were made from changed since
   (``core.freshness`` records; the stage redoes such a song on its next run, no ``-f`` needed);
3. the last run **skipped** the song → ``skipped`` with its reason;
4. otherwise ``not run``, with the command that would produce the outputs (the note says when the
   last run reported the song done but its outputs are gone since).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

DONE, STALE, SKIPPED, FAILED, NOT_RUN = "done", "out of date", "skipped", "failed", "not run"


@dataclass(frozen=True)
class Status:
    """One song × one stage. ``command``: what to run to (re)do it (None when done)."""
    state: str
    reason: str | None = None
    command: str | None = None
    note: str | None = None

    @property
    def css(self) -> str:
        return self.state.replace(" ", "-")


def stage_status(have_outputs: bool, record: dict | None, command: str,
                 stale: str | None = None) -> Status:
    """Status from the outputs' presence, the last run summary entry and, when the outputs exist,
    why they are out of date (``stale``; None = current or unknown). See the module doc."""
    outcome = (record or {}).get("outcome")
    reason = (record or {}).get("reason")
    if outcome == "failed":
        return Status(FAILED, reason or "no reason recorded", command + " -f",
                      "the outputs on disk may be older or partial" if have_outputs else None)
    if have_outputs:
        return Status(STALE, stale, command) if stale else Status(DONE)
    if outcome == "skipped":
        return Status(SKIPPED, reason or "no reason recorded")
    note = ("the last run reported it done, but its outputs are gone"
            if outcome in ("done", "up_to_date") else None)
    return Status(NOT_RUN, None, command, note)


def cli_command(module: str, *args: str, dataset_path: str | None = None,
                artist: str | None = None, song: str | None = None) -> str:
    """A shell-ready ``python -m module args... [--dataset_path D] [-a A -s S]`` (quoted)."""
    words = ["python", "-m", module, *args]
    if dataset_path is not None:
        words += ["--dataset_path", dataset_path]
    if artist is not None:
        words += ["-a", artist]
    if song is not None:
        words += ["-s", song]
    return " ".join(shlex.quote(w) for w in words)
