"""Model checkpoints: config + state dict + free-form extras, written atomically.

File format (``torch.save`` of a dict, loadable with ``weights_only=True``)::

    {"format": "separation.vovit/1",
     "architecture_version": 2,              # separation.vovit.ARCHITECTURE_VERSION when written
     "config": VoViTConfig.to_dict(),        # visual, preset, cross_modal, sizes
     "conventions": InputConventions.to_dict(),   # what the model is fed (separation.conventions)
     "state_dict": model.state_dict(),
     "extra": {...}}                         # training args, song split, metrics, optimizer state, ...

``load_checkpoint`` refuses a checkpoint written for another architecture version (a file without the
key is version 1, the model before the VoViT fixture fixes: same keys and shapes, a different
function, so loading it would give silently wrong output), rebuilds the model from the stored config,
loads the weights with ``strict=True`` and, when asked, checks that the checkpoint is for the expected
visual input / preset. A checkpoint without recorded input conventions is refused: they are never
guessed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.io import atomic_path, load_torch

from .conventions import PROJECT, InputConventions
from .vovit import ARCHITECTURE_VERSION, VoViT, VoViTConfig

FORMAT = "separation.vovit/1"
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"   # the shipped checkpoints


@dataclass
class LoadedModel:
    """A checkpoint loaded for analysis (gradient saliency, attention): the model in eval mode on
    its device, where it came from, its visual input and the stem it separates."""
    model: torch.nn.Module
    path: Path
    visual_kind: str            # a kind of separation.encoders, or none
    instrument: str
    meta: dict = field(default_factory=dict)

    @property
    def conventions(self) -> InputConventions:
        """The input conventions recorded in the checkpoint (``separation.conventions``)."""
        return self.meta["conventions"]

    @property
    def encoder_options(self) -> dict:
        """The condition encoder's options recorded in the checkpoint's config
        (``VoViTConfig.encoder_options``; empty for the ST-GCN kinds)."""
        config = self.meta.get("config")
        return config.encoder_options if config is not None else {}


def checkpoint_instrument(path: str | Path, extra: dict, default: str | None = None) -> str:
    """The instrument a checkpoint separates: recorded by training in its extras, else ``default``,
    else the first word of the file name (``vocal_face_small.pt`` → vocal)."""
    return str(extra.get("instrument") or default or Path(path).stem.split("_")[0])


class CheckpointMismatchError(ValueError):
    """The checkpoint is for another visual input or preset than the one asked for."""


class ArchitectureVersionError(ValueError):
    """The checkpoint was written for another version of the network's function."""


def architecture_version(payload: dict) -> int:
    """The architecture version a checkpoint (or resume state) was written for; 1 when unrecorded."""
    return int(payload.get("architecture_version", 1))


def check_architecture(path, payload: dict) -> None:
    """Raise ``ArchitectureVersionError`` naming both versions unless the checkpoint's is this code's."""
    version = architecture_version(payload)
    if version != ARCHITECTURE_VERSION:
        raise ArchitectureVersionError(
            f"checkpoint {path} was trained on separation architecture version {version}, this code "
            f"computes version {ARCHITECTURE_VERSION} (separation.vovit.ARCHITECTURE_VERSION): "
            f"retrain it with 'python -m separation.main train'")


def save_checkpoint(path: str | Path, model: VoViT, *, conventions: InputConventions = PROJECT,
                    **extra) -> Path:
    """Write ``model`` (config + weights), the input ``conventions`` its weights expect (this
    project's unless said otherwise) and ``extra`` to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "architecture_version": ARCHITECTURE_VERSION,
               "config": model.config.to_dict(), "conventions": conventions.to_dict(),
               "state_dict": state, "extra": extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """The raw checkpoint dict (``format``, ``architecture_version``, ``config``, ``state_dict``,
    ``extra``), any architecture version (extras such as the song split stay readable)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    # weights only: a crafted file is refused by name (RefusedFileError, a ValueError), never run
    payload = load_torch(path, map_location=map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} is not a {FORMAT} file "
                         f"(an official VoViT file is imported with "
                         f"'python -m separation.main import-vovit')")
    return payload


def check_expected(path, config: VoViTConfig, expect_visual: str | None,
                   expect_preset: str | None) -> None:
    """Raise ``CheckpointMismatchError`` naming both sides when the checkpoint is not what was asked."""
    asked = []
    if expect_visual is not None and config.visual != expect_visual:
        asked.append(f"visual={expect_visual}")
    if expect_preset is not None and config.preset != expect_preset:
        asked.append(f"preset={expect_preset}")
    if asked:
        raise CheckpointMismatchError(
            f"checkpoint {path} is visual={config.visual} preset={config.preset}"
            f"{' cross_modal' if config.cross_modal else ''}, but {' '.join(asked)} was asked")


def load_checkpoint(path: str | Path, map_location="cpu", expect_visual: str | None = None,
                    expect_preset: str | None = None) -> tuple[VoViT, dict]:
    """Rebuild the model from a checkpoint → ``(model in eval mode, meta)``.

    ``meta`` = ``{"config": VoViTConfig, "conventions": InputConventions, "path": Path, **extra}``.
    """
    payload = read_checkpoint(path, map_location)
    check_architecture(path, payload)
    if not isinstance(payload.get("conventions"), dict):
        raise ValueError(f"checkpoint {path} records no input conventions (mixture normalisation, "
                         f"face coordinates): retrain or re-import it")
    conventions = InputConventions.from_dict(payload["conventions"])
    config = VoViTConfig.from_dict(payload["config"])
    check_expected(path, config, expect_visual, expect_preset)
    model = VoViT(config)
    model.load_state_dict(payload["state_dict"], strict=True)
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    model.eval()
    meta = {"config": config, "conventions": conventions, "path": Path(path),
            **payload.get("extra", {})}
    return model, meta
