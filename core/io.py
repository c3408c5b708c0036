"""Atomic file writing, and reading files that may come from someone else.

Every output of the pipeline is written to a temporary file in the destination folder and then
renamed over the final name (``os.replace`` is atomic on POSIX), so an interrupted run never leaves a
half-written file that a later run would take for finished work.

Every file the pipeline reads may come from another lab (pose pickles, keypoints, checkpoints,
feature files), so the loaders here never run code from a file: pickles go through
``DataOnlyUnpickler`` (plain containers, numbers, strings and numpy arrays only), ``.npy`` files are
read with ``allow_pickle=False``, torch files with ``weights_only=True``. A file that cannot be read
raises ``UnreadableFileError`` (a ``ValueError``) whose message names the file and the reason; one
refused because it asks to run code raises its subclass ``RefusedFileError``.
"""
from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import math
import os
import pickle
import re
import zipfile
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


class UnreadableFileError(ValueError):
    """A file is corrupt, truncated or not in the expected format; the message names the file."""


class RefusedFileError(UnreadableFileError):
    """A file asks to run code (or build objects that could) when loaded, so it was not loaded."""


def _numpy_pickle_globals() -> dict[tuple[str, str], Any]:
    """The numpy names a pickle of arrays, dtypes and numpy scalars refers to, under the module
    paths of numpy 2 (``numpy._core``) and numpy 1 (``numpy.core``, files written before 2024)."""
    import numpy._core.multiarray as multiarray
    import numpy._core.numeric as numeric

    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for package in ("numpy._core", "numpy.core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


# Builtin types a pickle of plain data may name (protocols 0-2 write ``__builtin__``): constructors
# of values, none of which can reach the file system, the interpreter or other modules.
_PLAIN_TYPES = ("dict", "list", "tuple", "set", "frozenset", "bytes", "bytearray", "str", "int",
                "float", "complex", "bool")
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **{(module, name): getattr(builtins, name)
       for module in ("builtins", "__builtin__") for name in _PLAIN_TYPES},
    # protocols 0-2 store bytes (e.g. array buffers) as _codecs.encode(text, "latin1")
    ("_codecs", "encode"): __import__("codecs").encode,
}


class DataOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain data: builtin containers and scalars, numpy arrays,
    dtypes and numpy scalars. Any other global (``os.system``, ``builtins.eval``, a class of some
    module) is refused with ``pickle.UnpicklingError`` before it is looked up, so a crafted file
    cannot run code. Protocols 0-5 and files written by numpy 1 or 2 load."""

    _allowed: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        allowed = DataOnlyUnpickler._allowed
        if allowed is None:
            allowed = DataOnlyUnpickler._allowed = {**_ALLOWED_GLOBALS, **_numpy_pickle_globals()}
        target = allowed.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(
                f"it refers to {module}.{name}; only plain containers, numbers, strings and numpy "
                f"arrays are accepted")
        return target

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("it uses persistent ids, which plain data never needs")


def load_pickle(path: str | os.PathLike) -> Any:
    """Unpickle a file of plain data (``DataOnlyUnpickler``) without running any code from it.

    Raises ``RefusedFileError`` for a file that names anything else (e.g. a crafted payload) and
    ``UnreadableFileError`` for a damaged one; both name the file. ``FileNotFoundError`` passes.
    """
    with open(path, "rb") as fh:
        try:
            return DataOnlyUnpickler(fh).load()
        except pickle.UnpicklingError as exc:
            if str(exc).startswith(("it refers to", "it uses persistent")):
                raise RefusedFileError(f"{path} refused: {exc}") from None
            raise UnreadableFileError(f"{path} is not a readable pickle: {exc}") from None
        except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
                MemoryError, OverflowError, UnicodeDecodeError) as exc:
            # what a truncated or garbled pickle raises part-way
            raise UnreadableFileError(f"{path} is not a readable pickle "
                                      f"({type(exc).__name__}: {exc})") from None


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.npy`` array with ``allow_pickle=False`` (object arrays would unpickle, i.e. could
    run code); a corrupt or refused file raises ``UnreadableFileError`` naming it."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise UnreadableFileError(f"{path} is not a readable .npy array: {exc}") from None


def load_npz(path: str | os.PathLike, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read the arrays ``names`` of an ``.npz`` archive, eagerly and with ``allow_pickle=False``
    (``np.load`` on an archive reads lazily, so a refused object array would otherwise surface
    later as a bare error); a corrupt file, a missing array or an object array raises
    ``UnreadableFileError`` naming the file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in names}
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise UnreadableFileError(f"{path} is not a readable .npz archive of {list(names)}: "
                                  f"{exc}") from None


_TORCH_GLOBAL = re.compile(r"unsupported global:?\s+(?:GLOBAL\s+)?([\w.]+)", re.IGNORECASE)
_TORCH_ADVICE = ("weights_only", "weights only", "pytorch.org", "trusted source", "file an issue",
                 "check the documentation")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1-MiB blocks (checkpoints can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_torch(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(..., weights_only=True)``: tensors and plain containers only, never code.

    A file that names other Python objects raises ``RefusedFileError``, a damaged one
    ``UnreadableFileError``; the messages name the file and never repeat torch's advice to retry
    with ``weights_only=False`` (which would run whatever an untrusted file contains).
    """
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError,
            AttributeError, KeyError, TypeError, IndexError) as exc:
        text = str(exc)
        found = _TORCH_GLOBAL.search(text)
        if found:
            raise RefusedFileError(
                f"{path} refused: it names {found.group(1)}, not tensors or plain data, and "
                f"loading it could run code") from None
        reasons = [line.strip() for line in text.splitlines() if line.strip()
                   and not any(word in line.lower() for word in _TORCH_ADVICE)]
        reason = reasons[0].split(". ")[0] if reasons else type(exc).__name__
        raise UnreadableFileError(f"{path} is not a readable torch file: {reason}") from None


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
    """Parse a JSON file; a damaged one raises ``UnreadableFileError`` naming it (JSON never runs
    code, whatever keys it holds)."""
    with open(path, encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UnreadableFileError(f"{path} is not valid JSON: {exc}") from None


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
