"""The ``text`` condition encoder: sung-syllable posteriorgram → condition sequence, and how it
conditions the audio features (issue 16; DESIGN §6b).

Encoder (``PosteriorgramEncoder``)
    ``(B, T, S)`` posteriorgram (``S`` = ``core.syllables.N_CLASSES`` = 533 classes, one row per
    STFT frame, ``separation.text_input``) → ``(B, T, C)``:
    ``e = P W_e`` (a linear embedding: for a one-hot row, the class's embedding row; for a soft row,
    the probability-weighted mix of them), then a temporal ``Conv1d(C, C, kernel)`` ('same'
    padding) + LeakyReLU(0.1) so that a frame sees its neighbours (where a syllable starts and
    ends). Output steps = input steps: at the STFT frame rate, so the audio path's resampling
    (``vovit.resample_condition``, nearest) is the identity for ``T`` = 256.

Conditioning (``TextConditioning``), a drop-in for ``vovit.AudioNetwork.cross_modal`` (same call
``(audio (B, T_a, C_a), condition (B, T_c, C)) -> (B, T_a, d)``, same ``last_film`` and
``last_attention`` attributes):
    ``film`` (default): ``a = W_a audio``; ``a' = a ∘ (1 + γ(v)) + β(v)`` with ``γ, β`` one linear
        layer from the condition ``v`` resampled to the audio frames, zero-initialised (the block
        starts as the identity modulation), as in ``vovit.CrossModalFusion``;
    ``cross_attention``: ``vovit.CrossModalFusion`` itself: the same FiLM, then attention with audio
        frames as queries and the condition's frames as keys/values (each frame's token is the
        embedding of the syllable sung there, plus a sinusoidal position), ``LayerNorm(a' + attn)``;
        ``last_attention`` ``(B, heads, T_a, T_c)``; a syllable's attention is the sum over its frames.

As the ``text`` kind of ``separation.encoders``: the model config's ``encoder`` options are
``TextEncoderConfig.to_options()`` (all but ``conditioning``), its ``cross_modal`` picks the mode
(``film`` without, ``cross_attention`` with: ``text_config``); the encoder is VoViT's ``text_net``,
the conditioning block its ``audio_network.cross_modal``, and the chunk input ``(256, 533)`` is made
by ``separation.text_input`` (registered in ``separation.conditions``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from core.syllables import INVENTORY_VERSION, N_CLASSES

from .encoders import config_from_options
from .text_input import TEXT_SOURCES
from .vovit import N_FRAMES, CrossModalFusion, resample_condition

CONDITIONING_MODES = ("film", "cross_attention")


@dataclass(frozen=True)
class TextEncoderConfig:
    """Sizes of the ``text`` encoder and its conditioning. ``n_classes`` and ``inventory_version``
    name the syllable inventory the posteriorgram columns follow (``core.syllables``)."""
    n_classes: int = N_CLASSES
    inventory_version: int = INVENTORY_VERSION
    channels: int = 64                 # C: condition features per frame
    kernel: int = 5                    # temporal context of the encoder, frames (5 = 78 ms)
    conditioning: str = "film"         # film | cross_attention
    heads: int = 4                     # cross_attention only
    dropout: float = 0.1               # cross_attention only
    source: str = "alignment"          # what the preparation reads (separation.text_input)

    def __post_init__(self):
        if self.source not in TEXT_SOURCES:
            raise ValueError(f"text source must be one of {TEXT_SOURCES}, got {self.source!r}")
        if self.conditioning not in CONDITIONING_MODES:
            raise ValueError(f"conditioning must be one of {CONDITIONING_MODES}, "
                             f"got {self.conditioning!r}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd and positive ('same' padding), got {self.kernel}")
        if self.n_classes < 2 or self.channels < 1:
            raise ValueError(f"n_classes ({self.n_classes}) must be >= 2 and channels "
                             f"({self.channels}) >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TextEncoderConfig":
        """Inverse of ``to_dict``; unknown keys are refused (a config from another version must
        not load silently)."""
        return config_from_options(cls, data, "text encoder")

    # --- as a kind of separation.encoders: the options a model config records --------------------
    @classmethod
    def for_preset(cls, preset: str) -> "TextEncoderConfig":
        """``small``: 64 channels; ``vovit``: 128."""
        return cls() if preset == "small" else cls(channels=128)

    def to_options(self) -> dict:
        """The model config's ``encoder`` options: everything but ``conditioning``, which the
        model config's ``cross_modal`` decides (``text_config``)."""
        return {k: v for k, v in self.to_dict().items() if k != "conditioning"}

    @classmethod
    def from_options(cls, options: dict, cross_modal: bool = False) -> "TextEncoderConfig":
        if "conditioning" in options:
            raise ValueError("text encoder options: 'conditioning' is chosen by the model's "
                             "cross_modal (film without, cross_attention with)")
        return cls.from_dict({**options,
                              "conditioning": "cross_attention" if cross_modal else "film"})


def text_config(model_config) -> TextEncoderConfig:
    """The ``text`` encoder's config of a ``vovit.VoViTConfig`` (its ``encoder`` options and
    ``cross_modal``); a config made for another syllable inventory is refused by name."""
    cfg = TextEncoderConfig.from_options(model_config.encoder_options, model_config.cross_modal)
    if cfg.inventory_version != INVENTORY_VERSION or cfg.n_classes != N_CLASSES:
        raise ValueError(f"text model made for syllable inventory version {cfg.inventory_version} "
                         f"({cfg.n_classes} classes); this code has version {INVENTORY_VERSION} "
                         f"({N_CLASSES} classes)")
    return cfg


class PosteriorgramEncoder(nn.Module):
    """``forward(posteriorgram (B, T, n_classes)) -> (B, T, channels)`` (module docstring)."""

    def __init__(self, cfg: TextEncoderConfig, n_frames: int = N_FRAMES):
        super().__init__()
        self.config = cfg
        self.input_shape = (n_frames, cfg.n_classes)      # one chunk: a row per STFT frame
        self.embedding = nn.Linear(cfg.n_classes, cfg.channels, bias=False)
        self.context = nn.Conv1d(cfg.channels, cfg.channels, cfg.kernel, padding=cfg.kernel // 2)
        self.activation = nn.LeakyReLU(0.1)

    @property
    def out_channels(self) -> int:
        return self.config.channels

    def forward(self, posteriorgram: torch.Tensor) -> torch.Tensor:
        if posteriorgram.ndim != 3 or posteriorgram.shape[-1] != self.config.n_classes:
            raise ValueError(f"posteriorgram must be (B, T, {self.config.n_classes}), got "
                             f"{tuple(posteriorgram.shape)}")
        e = self.embedding(posteriorgram)                                  # (B, T, C)
        return self.activation(self.context(e.transpose(1, 2))).transpose(1, 2)

    encode = forward                     # the registry's interface (separation.encoders)


class FiLM(nn.Module):
    """``a = W_a audio``, ``a ∘ (1 + γ(v)) + β(v)``; ``audio`` ``(B, T, C_a)``, ``v`` ``(B, T, C)``
    → ``(B, T, d)``; keeps ``last_film`` ``{"scale", "shift"}`` ``(B, T, d)`` (detached)."""

    def __init__(self, audio_features: int, condition_features: int, d_model: int):
        super().__init__()
        self.audio_proj = nn.Linear(audio_features, d_model)
        self.film = nn.Linear(condition_features, 2 * d_model)
        nn.init.zeros_(self.film.weight)           # starts as the identity modulation
        nn.init.zeros_(self.film.bias)
        self.last_film: dict | None = None

    def forward(self, audio: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(condition).chunk(2, dim=-1)
        scale = 1.0 + gamma
        self.last_film = {"scale": scale.detach(), "shift": beta.detach()}
        return self.audio_proj(audio) * scale + beta


class TextConditioning(nn.Module):
    """Audio features conditioned on the text condition (module docstring):
    ``forward(audio (B, T_a, C_a), condition (B, T_c, C)) -> (B, T_a, d_model)``; the condition is
    resampled to the ``T_a`` audio frames first (nearest, ``vovit.resample_condition``)."""

    def __init__(self, audio_features: int, cfg: TextEncoderConfig, d_model: int,
                 n_condition_steps: int = N_FRAMES):
        super().__init__()
        self.mode = cfg.conditioning
        if self.mode == "film":
            self.block = FiLM(audio_features, cfg.channels, d_model)
        else:
            self.block = CrossModalFusion(audio_features, cfg.channels, d_model, cfg.heads,
                                          n_condition_steps, cfg.dropout)

    @property
    def last_film(self) -> dict | None:
        return self.block.last_film

    @property
    def last_attention(self) -> torch.Tensor | None:
        """``(B, heads, T_a, T_c)`` for ``cross_attention``; None for ``film``."""
        return getattr(self.block, "last_attention", None)

    def forward(self, audio: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.block(audio, resample_condition(condition, audio.shape[1]))
