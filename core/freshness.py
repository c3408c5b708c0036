"""Finished means finished *for these inputs*: the rule every stage uses to skip work.

Outputs alone do not say whether they are current: a video re-posed with ``-f`` leaves the old
keypoints behind, and a stage that skipped on existence would call them "up to date". So a stage
records what it read: after writing its outputs it calls ``record_inputs(outputs, inputs)``, which
stores the size and modification time (nanoseconds) of every input in a small hidden file next to the
first output (``.<output name>.inputs.json``). Next time, ``is_up_to_date(outputs, inputs, force)``
is True only when

- ``force`` is False,
- every output exists, and
- every input that exists now was recorded, with the size and modification time it has now (an
  input that appeared, was rewritten or was replaced counts as a change; one that was deleted
  does not: the outputs cannot be remade without it, e.g. a pose pickle removed to save space
  after post-processing).

A stage whose outputs also depend on options (integration steps, baselines, the baseline model of
an evaluation, post-processing's wall-art rule and layout) passes them as ``settings`` (a JSON-ready
mapping) to both calls: outputs made with other settings, or without a record of their settings
while an input to remake them from exists, are stale too.

Other outputs without a record (made before this rule, or copied from another lab) are up to date
when no input is newer than the oldest output. Size + mtime is what ``make`` and ``rsync`` trust;
it needs no reading of hour-long videos. Copying a dataset without keeping modification times
(``cp -r`` without ``-p``) makes stages redo their work, never skip it wrongly.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Mapping

from .io import UnreadableFileError, load_json, save_json, to_jsonable

RECORD_VERSION = 1


def record_path(outputs: Iterable[str | Path]) -> Path:
    """Where the input record of an output set lives: beside its first output."""
    first = Path(next(iter(outputs)))
    return first.with_name(f".{first.name}.inputs.json")


def _key(path: Path, base: Path) -> str:
    # relative to the record's folder, so a dataset moved as a whole keeps its records
    return os.path.relpath(os.path.abspath(path), os.path.abspath(base))


def snapshot(inputs: Iterable[str | Path]) -> dict[str, list[int]]:
    """``{absolute path: [size bytes, mtime ns]}`` of the inputs that exist now."""
    state = {}
    for path in inputs:
        try:
            st = Path(path).stat()
        except FileNotFoundError:
            continue
        state[os.path.abspath(path)] = [st.st_size, st.st_mtime_ns]
    return state


def _relative(state: Mapping[str, list[int]], base: Path) -> dict[str, list[int]]:
    return {_key(Path(path), base): list(value) for path, value in state.items()}


def _plain(settings: Mapping) -> dict:
    # what the record holds after a JSON round trip (tuples become lists, numpy values numbers)
    return json.loads(json.dumps(to_jsonable(dict(settings)), allow_nan=False))


def stale_reason(outputs: Iterable[str | Path], inputs: Iterable[str | Path],
                 settings: Mapping | None = None) -> str | None:
    """Why the outputs must be (re)made from these inputs (and ``settings``), or None when they
    are up to date."""
    outputs = [Path(p) for p in outputs]
    missing = [p for p in outputs if not p.exists()]
    if missing:
        return f"{missing[0].name} missing"
    record = record_path(outputs)
    now = _relative(snapshot(inputs), record.parent)
    try:
        recorded = load_json(record) if record.exists() else None
    except (UnreadableFileError, OSError):
        recorded = None
    if isinstance(recorded, dict) and isinstance(recorded.get("inputs"), dict):
        before = recorded["inputs"]
        if settings is not None and recorded.get("settings") != _plain(settings):
            return f"settings changed since {outputs[0].name} was made"
        for key in sorted(now):
            if key not in before:
                return f"{key} is new since {outputs[0].name} was made"
            if list(before[key]) != now[key]:
                return f"{key} changed since {outputs[0].name} was made"
        return None
    if settings is not None and now:
        # settings unknown, and the inputs are there to remake the outputs from
        return f"no record of the settings {outputs[0].name} was made with"
    oldest = min(p.stat().st_mtime_ns for p in outputs)
    newer = [key for key, (_, mtime) in now.items() if mtime > oldest]
    if newer:
        return f"{newer[0]} is newer than {outputs[0].name}"
    return None


def is_up_to_date(outputs: Iterable[str | Path], inputs: Iterable[str | Path],
                  force: bool = False, settings: Mapping | None = None) -> bool:
    """True when the work can be skipped: no ``force``, outputs present and made from ``inputs``
    as they are now, with these ``settings`` when given (see the module docstring)."""
    return not force and stale_reason(list(outputs), list(inputs), settings) is None


def record_inputs(outputs: Iterable[str | Path],
                  inputs: Iterable[str | Path] | Mapping[str, list[int]],
                  settings: Mapping | None = None) -> Path:
    """Remember the inputs (and ``settings``) the outputs were made from (call after writing every
    output).

    ``inputs``: the input paths, or a ``snapshot`` of them taken before they were read.
    """
    outputs = [Path(p) for p in outputs]
    state = inputs if isinstance(inputs, Mapping) else snapshot(inputs)
    record = record_path(outputs)
    content = {"version": RECORD_VERSION, "outputs": [_key(p, record.parent) for p in outputs],
               "inputs": _relative(state, record.parent)}
    if settings is not None:
        content["settings"] = _plain(settings)
    save_json(record, content)
    return record
