"""Logging and progress bars shared by all stages."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from typing import Iterable, Iterator, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

# Off inside executor tasks (core.ray_executor): a per-frame bar in a Ray worker would only
# clutter the driver's terminal, where the bar over songs already shows progress.
_progress_bars = True


def set_progress_bars(enabled: bool) -> None:
    """Switch this process's progress bars on or off."""
    global _progress_bars
    _progress_bars = enabled


def setup_logging(verbose: bool = False) -> None:
    """Configure the root logger once: INFO (or DEBUG with ``verbose``) to stderr."""
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr, force=True)


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it",
             leave: bool = False) -> Iterable[T]:
    """A tqdm bar on stderr; silent when stderr is not a terminal and the loop is short."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, dynamic_ncols=True,
                mininterval=1.0, file=sys.stderr, disable=not _progress_bars)


# Native libraries (MediaPipe's C++ graphs, TensorFlow Lite, glog/absl) log to file descriptor 2
# directly: "W0000 ... landmark_projection_calculator.cc ... NORM_RECT without IMAGE_DIMENSIONS",
# "inference_feedback_manager.cc", "Created TensorFlow Lite XNNPACK delegate for CPU", hundreds of
# lines around the progress bars. These variables quiet what reads them; they must be in the
# environment before the library is first imported (in every process: workers inherit them).
# MediaPipe 0.10.21 logs through absl, which reads no variable: what still comes out is caught by
# ``native_stderr_silenced`` / ``silence_native_stderr_of_this_process``.
NATIVE_LOG_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}


def quiet_native_environment() -> None:
    """Set ``NATIVE_LOG_ENV`` (values already set by the user win)."""
    for key, value in NATIVE_LOG_ENV.items():
        os.environ.setdefault(key, value)


def silence_native_stderr_of_this_process() -> None:
    """Point file descriptor 2 at /dev/null for good (for worker processes, which report their
    errors to the parent through a queue: nothing of theirs on stderr is lost but native noise)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    """Inside: file descriptor 2 goes to /dev/null (the native libraries' log lines vanish) while
    Python's own output (logging, progress bars, tracebacks via ``sys.stderr``) still reaches the
    terminal: when ``sys.stderr`` is fd 2 it is swapped for a stream on a duplicate of the old
    fd 2, and logging handlers writing to it follow. Restored on exit."""
    if not enabled:
        yield
        return
    try:
        python_on_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):      # captured (pytest) or replaced stream
        python_on_fd2 = False
    sys.stderr.flush()
    saved = os.dup(2)
    old_stderr = sys.stderr
    moved: list[logging.StreamHandler] = []
    if python_on_fd2:
        sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(saved), "wb", buffering=0),
                                      encoding=old_stderr.encoding, errors="backslashreplace",
                                      line_buffering=True, write_through=True)
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is old_stderr:
                handler.setStream(sys.stderr)
                moved.append(handler)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        if python_on_fd2:
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if python_on_fd2:
            replacement = sys.stderr
            sys.stderr = old_stderr
            for handler in moved:
                handler.setStream(old_stderr)
            replacement.close()
