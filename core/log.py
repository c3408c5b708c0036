"""Logging and progress bars shared by all stages."""
from __future__ import annotations

import logging
import sys
from typing import Iterable, TypeVar

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
