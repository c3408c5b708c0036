"""Official VoViT singing-voice weights → a project checkpoint (``separation.main import-vovit``).

The public network's state-dict names are the ones ``VoViT(make_config("face", "vovit"))`` uses
(``core/reference/vovit_singing_voice_state_dict.tsv``, 410 entries), so importing is:

1. read the file with ``core.io.load_torch`` (weights only: an untrusted file never runs code) and
   unwrap a ``{"state_dict" | "model" | "model_state_dict": ...}`` wrapper;
2. strip whatever prefix precedes ``graph_net.A`` (``module.``, a wrapper attribute, none);
3. drop the non-parameter extras older VoViT code saved (STFT windows ``audio_processor._window`` /
   ``ap._window``, mel filter banks: VoViT's own loader deletes them too) and keys outside the
   prefix; every dropped key is listed;
4. load into preset ``vovit``, visual ``face``, no cross-modal block with ``strict=True`` (a missing
   or unknown parameter is an error naming it);
5. save with ``separation.conventions.OFFICIAL_VOVIT`` (song-peak mixture normalisation, VoViT's
   batch peak over a whole song; raw face coordinates), so ``separate``, ``evaluate``, saliency and
   attention feed it as VoViT did.
"""
from __future__ import annotations

from pathlib import Path

from core.io import file_sha256, load_torch

from .checkpoint import save_checkpoint
from .conventions import OFFICIAL_VOVIT
from .vovit import VoViT, make_config

ANCHOR = "graph_net.A"
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
# Parts of key names that mark saved non-parameters (STFT windows, mel filter banks).
EXTRA_MARKERS = ("audio_processor.", "ap.", "_window", "mel", "filterbank", "fbank")


class NotAVoViTFile(ValueError):
    """The file does not hold a VoViT singing-voice state dict."""


def unwrap_state_dict(raw, path) -> dict:
    """The state dict inside a loaded file (a bare dict of tensors, or one level of wrapper)."""
    if isinstance(raw, dict):
        for key in WRAPPER_KEYS:
            if isinstance(raw.get(key), dict):
                return raw[key]
        if all(isinstance(k, str) for k in raw):
            return raw
    raise NotAVoViTFile(f"{path}: not a state dict (a dict of tensors) but {type(raw).__name__}")


def is_extra(key: str) -> bool:
    """A saved non-parameter (window, mel filter bank) that VoViT's own loader deletes."""
    return any(marker in key for marker in EXTRA_MARKERS)


def official_state_dict(state_dict: dict, expected: set[str], path="state dict"
                        ) -> tuple[dict, list[str]]:
    """``(state dict under the model's names, dropped keys)`` (module docstring, steps 2–3).

    ``expected``: the model's own keys. A key that is neither expected nor an extra raises
    ``NotAVoViTFile`` naming it.
    """
    anchor = next((k for k in state_dict if k.endswith(ANCHOR)), None)
    if anchor is None:
        raise NotAVoViTFile(f"{path}: no '...{ANCHOR}' key, not a VoViT singing-voice state dict")
    prefix = anchor[:-len(ANCHOR)]
    kept, dropped, unknown = {}, [], []
    for key, value in state_dict.items():
        name = key[len(prefix):] if key.startswith(prefix) else None
        if name in expected:
            kept[name] = value
        elif name is None or is_extra(name):
            dropped.append(key)
        else:
            unknown.append(key)
    if unknown:
        raise NotAVoViTFile(f"{path}: {len(unknown)} key(s) the vovit/face network does not have, "
                            f"e.g. {unknown[:3]}")
    return kept, dropped


def load_official(path: str | Path, map_location="cpu") -> tuple[VoViT, list[str]]:
    """The published network with the file's weights loaded strictly, and the dropped keys."""
    state_dict = unwrap_state_dict(load_torch(path, map_location=map_location), path)
    model = VoViT(make_config("face", "vovit", cross_modal=False))
    kept, dropped = official_state_dict(state_dict, set(model.state_dict()), path)
    missing = sorted(set(model.state_dict()) - set(kept))
    if missing:
        raise NotAVoViTFile(f"{path}: {len(missing)} parameter(s) missing, e.g. {missing[:3]}")
    model.load_state_dict(kept, strict=True)
    return model.eval(), dropped


def import_vovit(source: str | Path, out: str | Path, instrument: str) -> list[str]:
    """Write the project checkpoint ``out`` for official weights ``source``; returns the dropped keys.

    The checkpoint records ``OFFICIAL_VOVIT`` conventions, the instrument, the source file and its
    SHA-256, and the dropped keys.
    """
    model, dropped = load_official(source)
    save_checkpoint(out, model, conventions=OFFICIAL_VOVIT, instrument=instrument,
                    imported_from={"path": str(source), "sha256": file_sha256(source),
                                   "network": "VoViT singing voice (JuanFMontesinos/VoViT)",
                                   "dropped_keys": dropped})
    return dropped

