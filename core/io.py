"""Atomic file writing and JSON helpers.

Every output of the pipeline is written to a temporary file in the destination folder and then
renamed over the final name (``os.replace`` is atomic on POSIX), so an interrupted run never leaves a
half-written file that a later run would take for finished work.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    The temporary name keeps the extension (some writers, e.g. ffmpeg or ``np.save``, choose the
    format from it). On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{suffix}", dir=path.parent)
    # mkstemp creates the file 0600; give outputs the permissions a plain open() would (0666 & ~umask)
    # so that results stay readable by the rest of the lab.
    os.fchmod(fd, 0o666 & ~_current_umask())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` (.npy) atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def save_pickle(path: str | os.PathLike, obj: Any) -> None:
    """Pickle ``obj`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load_pickle(path: str | os.PathLike) -> Any:
    with open(path, "rb") as fh:
        return pickle.load(fh)


def float_array_to_json(values: np.ndarray) -> list:
    """Float array (any shape) → nested lists of Python floats with ``None`` for NaN/inf.

    Vectorised: walking element by element takes minutes for the ~40 M window values of an
    hour-long song's correlations, this takes seconds.
    """
    values = np.asarray(values, dtype=np.float64)
    out = values.astype(object)
    out[~np.isfinite(values)] = None
    return out.tolist()


def to_jsonable(obj: Any) -> Any:
    """Convert numpy arrays/scalars to plain Python; NaN and inf become ``None`` (JSON null).

    Keep large numeric data as numpy arrays until here: arrays are converted in one vectorised
    step, Python lists are walked element by element.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f":
            return float_array_to_json(obj)
        return obj.tolist()
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return None if not math.isfinite(value) else value
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_json(path: str | os.PathLike, obj: Any, indent: int | None = 1) -> None:
    """Write ``obj`` as JSON atomically; numpy values are converted and NaN is written as null.

    ``indent=None`` writes the most compact form (no spaces), for large data files.
    """
    separators = (",", ":") if indent is None else None
    text = json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=False, allow_nan=False,
                      separators=separators)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def load_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def null_to_nan(values: list) -> np.ndarray:
    """Inverse of the NaN→null convention: a JSON list (possibly nested) with nulls → float64
    array with NaN."""
    return np.array(values, dtype=object).astype(np.float64)  # None → nan in the cast


def save_figure(path: str | os.PathLike, fig: Any, dpi: int = 110, **savefig_kwargs: Any) -> Path:
    """Save a matplotlib figure as PNG atomically and close it (figures are never reused).

    Closing matters in long batch runs: pyplot keeps every open figure alive otherwise.
    """
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", **savefig_kwargs)
    plt.close(fig)
    return Path(path)
