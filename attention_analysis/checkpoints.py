"""Which separation checkpoints have the cross-modal attention block, and which one ``--model`` means.

``--model vocal|violin`` names the instrument; the default checkpoint is the shipped one for that
instrument with the block (``separation/checkpoints/<instrument>_*xattn*.pt``, or any shipped
checkpoint of that instrument whose config has ``cross_modal``). A checkpoint's instrument is the one
recorded in its metadata, else the first word of its file name (``vocal_face_body_xattn_small`` →
vocal).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from separation.checkpoint import CHECKPOINT_DIR, LoadedModel, checkpoint_instrument

INSTRUMENT_CHOICES = ("vocal", "violin")


class NoCrossModalBlock(RuntimeError):
    """The chosen model has no cross-modal attention block (the message lists those that do)."""


@dataclass
class CheckpointInfo:
    path: Path
    instrument: str
    cross_modal: bool
    visual: str | None = None


def has_cross_modal(model: torch.nn.Module) -> bool:
    """True when the model's config enables the cross-modal block (``VoViTConfig.cross_modal``)."""
    return bool(getattr(getattr(model, "config", None), "cross_modal", False))


def load_any(path: Path, device="cpu") -> tuple[torch.nn.Module, dict]:
    from separation.checkpoint import load_checkpoint

    model, meta = load_checkpoint(path, map_location=device)
    return model, dict(meta or {})


def inspect_checkpoint(path: Path) -> CheckpointInfo:
    """Instrument, cross-modal flag and visual input of a checkpoint, read from its stored config
    and extras (``separation.checkpoint.read_checkpoint``) without building the model."""
    from separation.checkpoint import read_checkpoint

    payload = read_checkpoint(path)
    config = payload.get("config") or {}
    return CheckpointInfo(path, checkpoint_instrument(path, payload.get("extra") or {}),
                          bool(config.get("cross_modal", False)), config.get("visual"))


def list_checkpoints(directory: Path = CHECKPOINT_DIR,
                     inspect: Callable[[Path], CheckpointInfo] = inspect_checkpoint) -> list[CheckpointInfo]:
    """Every ``*.pt`` in ``directory`` (sorted; ``*.resume.pt`` training state excluded) with its
    instrument and whether it has the block; files that cannot be loaded are left out."""
    infos = []
    for path in sorted(Path(directory).glob("*.pt")):
        if path.name.endswith(".resume.pt"):      # training-resume state next to a checkpoint
            continue
        try:
            infos.append(inspect(path))
        except Exception:  # noqa: BLE001 -- a broken file is simply not a candidate
            continue
    return infos


def describe_cross_modal(infos: list[CheckpointInfo]) -> str:
    with_block = [f"{i.path.name} ({i.instrument})" for i in infos if i.cross_modal]
    return ("checkpoints with the cross-modal block: " + ", ".join(with_block)) if with_block else \
        "none of the available checkpoints has the cross-modal block (train one with cross_modal=True)"


def default_checkpoint(instrument: str, directory: Path = CHECKPOINT_DIR,
                       inspect: Callable[[Path], CheckpointInfo] = inspect_checkpoint) -> Path:
    """The checkpoint in ``directory`` for ``instrument`` with the block, preferring ``*xattn*``
    names, then sorted order. Raises ``NoCrossModalBlock`` naming those that have it."""
    if instrument not in INSTRUMENT_CHOICES:
        raise ValueError(f"unknown model {instrument!r}: expected one of {INSTRUMENT_CHOICES}")
    infos = list_checkpoints(directory, inspect)
    candidates = [i for i in infos if i.cross_modal and i.instrument == instrument]
    if not candidates:
        raise NoCrossModalBlock(f"no {instrument} checkpoint in {directory} has the cross-modal "
                                f"attention block; {describe_cross_modal(infos)}")
    candidates.sort(key=lambda i: ("xattn" not in i.path.stem, i.path.name))
    return candidates[0].path


def load_attention_model(instrument: str, checkpoint: str | Path | None, device,
                         directory: Path = CHECKPOINT_DIR,
                         inspect: Callable[[Path], CheckpointInfo] = inspect_checkpoint,
                         load: Callable = load_any) -> LoadedModel:
    """Load ``checkpoint`` (default: ``default_checkpoint(instrument)``) and check it has the block."""
    path = Path(checkpoint) if checkpoint else default_checkpoint(instrument, directory, inspect)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    model, meta = load(path, device)
    if not has_cross_modal(model):
        raise NoCrossModalBlock(f"{path.name} has no cross-modal attention block, so there is no "
                                f"attention to analyse; {describe_cross_modal(list_checkpoints(directory, inspect))}")
    return LoadedModel(model, path, model.config.visual, checkpoint_instrument(path, meta), meta)
