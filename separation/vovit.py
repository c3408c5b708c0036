"""VoViT-family pose-conditioned separation model (Montesinos et al., ECCV 2022; DESIGN §6).

Signal path for one 4-s chunk (``B`` = batch):

1. STFT of the mixture ``x`` (``(B, 65535)`` at 16384 Hz): n_fft 1022, hop 256, Hann(1022), centred →
   ``X`` complex ``(B, 512, 256)`` (bins × frames).
2. Network input: ``X / 2`` (``N_SOURCES`` = 2) with every other bin kept, real/imag stacked, **time
   first** → ``(B, 2, T=256, F=256)``.
3. Audio encoder (Spec2Vec): ``L`` Conv2d → BN → LeakyReLU(0.1) layers (1×7 along frequency, 7×1 along
   time, 5×5 dilated along time 1..32, 5×5 dilated along both axes 1..32, 1×1 to 8 channels) →
   ``(B, 8, T, 256)`` → ``(B, T, 2048)`` (feature index ``c·256 + f``).
4. Condition (visual) encoder, chosen by ``config.visual`` from the registry
   (``separation.encoders``: ST-GCN on ``(B, 2, 100, J)`` keypoints for face/body/face_body,
   ResNet-18 on ``(B, 100, 3, S, S)`` RGB crops for frames, ...) → a condition sequence
   ``(B, T_c, C_v)``. The audio path (``AudioNetwork``) knows nothing about where the condition
   comes from: it resamples any ``(B, T_c, C)`` sequence to the 256 STFT frames by nearest
   neighbour (``F.interpolate``'s default: step ``t`` takes ``floor(t · T_c / 256)``) → ``v``
   ``(B, T, C_v)``.
5. Optional cross-modal block (``cross_modal=True``; a kind with its own block, ``text``, always has
   it: ``EncoderKind.conditioning``), on audio features ``a = W_a a`` (``(B, T, d)``):
   FiLM ``a' = a ∘ (1 + γ(v)) + β(v)`` (``γ, β``: one linear layer from ``v``; ``last_film["scale"]
   = 1 + γ``, ``last_film["shift"] = β``, ``(B, T, d)``), then cross-attention with audio time steps as
   queries and visual time steps as keys/values: ``softmax(Q K^T / sqrt(d_h))`` per head, kept in
   ``last_attention`` ``(B, heads, T_audio = 256, T_video = 256)`` (sums to 1 over visual time;
   visual time = the 256 resampled visual steps covering the same 4 s), then ``LayerNorm(a' + attn)``.
6. Fusion (AV spectro-temporal transformer): ``concat(v, a)`` → Linear d + LeakyReLU(0.1) → ``x``;
   the temporal sinusoid table (positions 1..T) is added to ``x`` (VoViT adds it in place, so the
   spectral encoder sees it too); a temporal transformer encoder over the ``T`` steps of ``x`` and a
   spectral one over the ``d`` channels of ``x`` (width ``T``, its own table, positions 1..d), summed;
   a "decoder" transformer encoder; mask head Linear d→2d, LeakyReLU(0.5), Linear 2d→512 → reshaped to
   ``(B, 2, 256, T)`` (real block then imag).
7. Complex ratio mask ``M = 2 × head output`` (``MASK_GAIN``), nearest-upsampled along frequency to 512
   bins, applied as a complex product to the mixture's share ``Y = M ∘ X / 2`` (``N_SOURCES``); inverse
   STFT (same window) to 65535 samples. The factors cancel: the estimate is at the scale of the mixture
   given to the model (VoViT's wrapper gives it the mixture divided by its peak; the input convention is
   recorded in the checkpoint, ``separation.conventions``).

These are the public VoViT code's conventions (commit 9fe2df6), pinned by the known-answer fixture
``tests/separation/test_vovit_reference.py``; ``ARCHITECTURE_VERSION`` counts changes to this function,
so a checkpoint trained on an older one is refused by name.

With ``preset="vovit"``, ``visual="face"``, ``cross_modal=False`` the state-dict keys and shapes equal
``core/reference/vovit_singing_voice_state_dict.tsv`` (26.7 M parameters), so the official
singing-voice weights load with ``strict=True`` (``separation.official``, ``import-vovit``).

A second audio path, Sound of Pixels' U-Net on the log-frequency magnitude spectrogram
(``separation.unet``), replaces steps 1–7 when ``VoViTConfig.audio_net = "unet"``: the condition
encoder is the same module (same attribute, same ``encode``), the U-Net path pools its sequence over
time into one vector of its K component weights, and ``VoViT.forward`` keeps its interface. Its
options live in ``VoViTConfig.audio`` (``separation.unet.UNetConfig``); the training loop calls
``VoViT.training_loss``: the complex L1 below for this path, the U-Net's mask loss for that one.

Adding a conditioning signal (a new ``visual`` kind) touches no code here: one encoder file, its
``separation.encoders.ENCODERS`` line, one preparation function in ``separation.conditions``, tests
and a benchmark row (``separation.encoders`` says how).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from .encoders import KINDS, encoder_kind
from .stgcn import NUM_JOINTS

SAMPLE_RATE = 16384            # Hz
CHUNK_SAMPLES = 65535          # 4 s at 16384 Hz minus one sample (VoViT's chunk length)
CHUNK_SECONDS = 4.0
VIDEO_FPS = 25
CHUNK_VIDEO_FRAMES = 100       # 4 s at 25 fps
N_FFT = 1022
HOP_LENGTH = 256
N_BINS = N_FFT // 2 + 1        # 512
N_FRAMES = CHUNK_SAMPLES // HOP_LENGTH + 1   # 256 STFT frames per chunk
MASK_GAIN = 2.0
N_SOURCES = 2                  # VoViT applies its mask to X / n_sources
# Version of the function this module computes; checkpoints record it (separation.checkpoint).
# 1: the first model (Spec2Vec on (F, T), linear visual resampling, no temporal table in the spectral
#    encoder, mask on X, face graph centred on the nose). 2: VoViT's function (fixture-proven).
ARCHITECTURE_VERSION = 2

VISUAL_INPUTS = KINDS               # face, body, face_body, frames, text, scene_graph, points3d, none
PRESETS = ("vovit", "small")
AUDIO_NETS = ("vovit", "unet")      # VoViT's audio path (this module) | Sound of Pixels' (unet.py)


@dataclass(frozen=True)
class VoViTConfig:
    """Model family configuration. ``preset`` fills the sizes; explicit sizes override it."""
    visual: str = "face"                      # a kind of separation.encoders, or none
    preset: str = "vovit"                     # vovit | small
    cross_modal: bool = False
    audio_channels: int = 96
    audio_out_channels: int = 8
    time_dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    both_dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    gcn_channels: tuple[int, ...] = (32, 32, 64, 64, 128, 128, 256, 256)
    temporal_kernel: int = 5
    d_model: int = 512
    nhead: int = 8
    dim_feedforward: int = 1024
    dropout: float = 0.3
    encoder_layers: int = 4
    decoder_layers: int = 4
    cross_heads: int = 8
    # the encoder's own config (separation.encoders), as sorted (name, value) pairs so the config
    # stays hashable; empty for the ST-GCN kinds, whose sizes are the gcn_* fields above
    encoder: tuple[tuple[str, object], ...] = ()
    # the audio path: "vovit" (this module; the fields above from audio_channels to cross_heads) or
    # "unet" (separation.unet, its options in ``audio`` as sorted (name, value) pairs)
    audio_net: str = "vovit"
    audio: tuple[tuple[str, object], ...] = ()

    def __post_init__(self):
        if self.visual not in VISUAL_INPUTS:
            raise ValueError(f"visual must be one of {VISUAL_INPUTS}, got {self.visual!r}")
        options = dict(self.encoder)
        object.__setattr__(self, "encoder", tuple(sorted(
            (k, tuple(v) if isinstance(v, list) else v) for k, v in options.items())))
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {PRESETS}, got {self.preset!r}")
        if self.cross_modal and self.visual == "none":
            raise ValueError("cross_modal fusion needs a visual input (visual='none' was given)")
        if self.audio_net not in AUDIO_NETS:
            raise ValueError(f"audio_net must be one of {AUDIO_NETS}, got {self.audio_net!r}")
        object.__setattr__(self, "audio", tuple(sorted(dict(self.audio).items())))
        if self.audio_net == "vovit" and self.audio:
            raise ValueError(f"audio options {dict(self.audio)} are for audio_net=unet")
        if self.audio_net == "unet" and self.cross_modal:
            raise ValueError("cross_modal is a block of the VoViT audio path; audio_net=unet "
                             "weights its component maps by one visual vector (no cross-attention)")

    @property
    def num_joints(self) -> int | None:
        return NUM_JOINTS.get(self.visual)

    @property
    def name(self) -> str:
        """Short model name used in output file names, e.g. ``face_small``,
        ``face_body_xattn_small`` or ``frames_unet_small``."""
        return (f"{self.visual}{'_xattn' if self.cross_modal else ''}"
                f"{'_unet' if self.audio_net == 'unet' else ''}_{self.preset}")

    @property
    def encoder_options(self) -> dict:
        """The encoder's config as a dict (empty for the ST-GCN kinds and ``none``)."""
        return dict(self.encoder)

    @property
    def audio_options(self) -> dict:
        """The U-Net audio path's config as a dict (empty for ``audio_net = "vovit"``)."""
        return dict(self.audio)

    def to_dict(self) -> dict:
        """JSON-ready config; ``encoder`` only when the kind has options and ``audio_net`` /
        ``audio`` only for the U-Net path, so the configs of the original kinds (and their
        checkpoints) keep exactly their keys."""
        omitted = ("encoder", "audio_net", "audio")
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in omitted}
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
        if self.encoder:
            data["encoder"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.encoder}
        if self.audio_net != "vovit":
            data["audio_net"] = self.audio_net
            data["audio"] = dict(self.audio)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "VoViTConfig":
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        for key in ("encoder", "audio"):
            if isinstance(values.get(key), dict):
                values[key] = tuple(values[key].items())
        return cls(**values)


SMALL_SIZES = dict(audio_channels=8, time_dilations=(1, 4), both_dilations=(2, 8),
                   gcn_channels=(16, 16, 32, 32, 64, 64, 64, 64), d_model=128, nhead=4,
                   dim_feedforward=256, dropout=0.1, encoder_layers=1, decoder_layers=1,
                   cross_heads=4)


def make_config(visual: str = "face", preset: str = "vovit", cross_modal: bool = False,
                audio_net: str = "vovit", **sizes) -> VoViTConfig:
    """A config for a preset (``vovit`` = published sizes, ``small`` = ~1-2 M parameters).

    The kind's encoder options are the preset's (``separation.encoders``), updated by an
    ``encoder`` dict among ``sizes``; kinds without options (the ST-GCN kinds, ``none``) ignore it,
    so one set of sizes serves every benchmark row. ``audio_net="unet"``: the U-Net path's
    options are the preset's (``separation.unet.UNetConfig.for_preset``), updated by an ``audio``
    dict among ``sizes`` (a VoViT-path model ignores that dict, for the same reason)."""
    audio_overrides = dict(sizes.pop("audio", None) or {})
    if audio_net == "unet":
        from .unet import UNetConfig

        options = UNetConfig.for_preset(preset).to_options()
        UNetConfig.from_options({**options, **audio_overrides})      # unknown / bad options fail
        sizes["audio"] = tuple({**options, **audio_overrides}.items())
    base = VoViTConfig(visual=visual, preset=preset, cross_modal=cross_modal, audio_net=audio_net)
    if preset == "small":
        base = replace(base, **SMALL_SIZES)
    kind = encoder_kind(visual)
    options = kind.options(preset) if kind else {}
    overrides = dict(sizes.pop("encoder", None) or {})
    if options:
        base = replace(base, encoder=tuple({**options, **overrides}.items()))
    return replace(base, **sizes) if sizes else base


# --- spectrogram helpers ---------------------------------------------------------------------------

def stft(wave: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` float wave → ``(B, 512, frames)`` complex STFT (n_fft 1022, hop 256, Hann, centred)."""
    window = torch.hann_window(N_FFT, device=wave.device, dtype=wave.dtype)
    return torch.stft(wave, N_FFT, HOP_LENGTH, N_FFT, window, center=True, return_complex=True)


def istft(spec: torch.Tensor, length: int = CHUNK_SAMPLES) -> torch.Tensor:
    """Inverse of ``stft``: ``(B, 512, frames)`` complex → ``(B, length)`` float wave."""
    window = torch.hann_window(N_FFT, device=spec.device, dtype=spec.real.dtype)
    return torch.istft(spec, N_FFT, HOP_LENGTH, N_FFT, window, center=True, length=length)


def network_input(mixture_stft: torch.Tensor) -> torch.Tensor:
    """``(B, 512, T)`` complex → ``(B, 2, T, 256)`` real/imag of ``X / 2``, every other bin kept,
    time first (VoViT's Spec2Vec layout)."""
    half = mixture_stft[:, ::2] / N_SOURCES
    return torch.stack([half.real, half.imag], dim=1).transpose(2, 3)


def resample_condition(condition: torch.Tensor, n_frames: int = N_FRAMES) -> torch.Tensor:
    """``(B, T_c, C)`` → ``(B, n_frames, C)`` by nearest neighbour (``F.interpolate``'s default, as in
    VoViT): output step ``t`` takes condition step ``floor(t · T_c / n_frames)``."""
    return F.interpolate(condition.transpose(1, 2), size=n_frames).transpose(1, 2)


def spectral_l1(estimate_stft: torch.Tensor, target_stft: torch.Tensor,
                mixture_stft: torch.Tensor) -> torch.Tensor:
    """The VoViT path's training loss (scalar; ``separation.training``): per example
    ``mean |Y − S| / (mean |X| + 1e-8)`` over bins and frames, averaged over the batch."""
    distance = (estimate_stft - target_stft).abs().mean(dim=(1, 2))
    level = mixture_stft.abs().mean(dim=(1, 2)) + 1e-8
    return (distance / level).mean()


def apply_mask(mask: torch.Tensor, mixture_stft: torch.Tensor) -> torch.Tensor:
    """Complex ratio mask ``(B, 2, 256, T)`` (real, imag) → nearest-upsampled to 512 bins → ``M ∘ X``.

    Returns the estimate's complex STFT ``(B, 512, T)``. A mask of real ones and imaginary zeros
    returns ``X`` unchanged.
    """
    up = mask.repeat_interleave(2, dim=2)[:, :, :mixture_stft.shape[1]]   # nearest, 256 → 512 bins
    return torch.complex(up[:, 0], up[:, 1]) * mixture_stft


def sinusoid_table(positions: int, dim: int) -> torch.Tensor:
    """``(positions, dim)`` sinusoidal position table; row 0 (padding) is zeros.

    ``P[p, 2i] = sin(p / 10000^(2i/dim))``, ``P[p, 2i+1] = cos(p / 10000^(2i/dim))``.
    """
    pos = torch.arange(positions, dtype=torch.float64)[:, None]
    rate = torch.pow(10000.0, -(torch.arange(dim) // 2 * 2).double() / dim)[None]
    angles = pos * rate
    table = torch.where(torch.arange(dim)[None] % 2 == 0, torch.sin(angles), torch.cos(angles))
    table[0] = 0.0
    return table.float()


# --- audio encoder ---------------------------------------------------------------------------------

class Spec2Vec(nn.Module):
    """``(B, 2, T, 256)`` spectrogram → ``(B, T, out_channels × 256)`` audio features.

    Layers ``conv1..convL`` / ``batch_norm1..L`` (time = dim 2, frequency = dim 3): 1×7 (along
    frequency), 7×1 (along time), 5×5 dilated (d, 1) for ``time_dilations``, 5×5 dilated (d, d) for
    ``both_dilations``, then 1×1 to ``out_channels``; 'same' padding throughout. Output feature index
    ``c · 256 + f``.
    """

    def __init__(self, channels: int, out_channels: int, time_dilations, both_dilations):
        super().__init__()
        specs = [(2, channels, (1, 7), (1, 1)), (channels, channels, (7, 1), (1, 1))]
        specs += [(channels, channels, (5, 5), (d, 1)) for d in time_dilations]
        specs += [(channels, channels, (5, 5), (d, d)) for d in both_dilations]
        specs += [(channels, out_channels, (1, 1), (1, 1))]
        self.n_layers = len(specs)
        for i, (cin, cout, kernel, dilation) in enumerate(specs, start=1):
            padding = tuple((k - 1) // 2 * d for k, d in zip(kernel, dilation))
            self.add_module(f"conv{i}", nn.Conv2d(cin, cout, kernel, padding=padding,
                                                  dilation=dilation))
        for i, (_, cout, _, _) in enumerate(specs, start=1):
            self.add_module(f"batch_norm{i}", nn.BatchNorm2d(cout))
        self.activation = nn.LeakyReLU(0.1)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        x = spec
        for i in range(1, self.n_layers + 1):
            x = self.activation(getattr(self, f"batch_norm{i}")(getattr(self, f"conv{i}")(x)))
        b, c, t, f = x.shape
        return x.transpose(1, 2).reshape(b, t, c * f)


# --- fusion ----------------------------------------------------------------------------------------

def transformer_encoder(d_model: int, nhead: int, dim_feedforward: int, dropout: float,
                        layers: int) -> nn.TransformerEncoder:
    """Post-norm GELU transformer encoder with a final LayerNorm, batch-first ``(B, L, d)``."""
    layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation="gelu",
                                       batch_first=True, norm_first=False)
    return nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model),
                                 enable_nested_tensor=False)


class AxisEncoder(nn.Module):
    """A transformer encoder over ``L`` positions of width ``d`` with frozen sinusoidal positions 1..L."""

    def __init__(self, length: int, d_model: int, nhead: int, dim_feedforward: int, dropout: float,
                 layers: int):
        super().__init__()
        self.encoder = transformer_encoder(d_model, nhead, dim_feedforward, dropout, layers)
        self.pos_emb = nn.Embedding(length + 1, d_model)
        self.pos_emb.weight.data.copy_(sinusoid_table(length + 1, d_model))
        self.pos_emb.weight.requires_grad_(False)

    def with_positions(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L, d)`` + table rows 1..L."""
        positions = torch.arange(1, x.shape[1] + 1, device=x.device)
        return x + self.pos_emb(positions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.with_positions(x))


class SpectroTemporalEncoder(nn.Module):
    """``(B, T, C_in)`` → Linear d + LeakyReLU(0.1) → ``x`` + temporal table → temporal encoder +
    spectral encoder (summed), both reading the positioned ``x`` (module docstring, 6)."""

    def __init__(self, in_features: int, n_frames: int, cfg: VoViTConfig):
        super().__init__()
        self.temporal_enc = AxisEncoder(n_frames, cfg.d_model, cfg.nhead, cfg.dim_feedforward,
                                        cfg.dropout, cfg.encoder_layers)
        self.spectral_enc = AxisEncoder(cfg.d_model, n_frames, cfg.nhead, cfg.dim_feedforward,
                                        cfg.dropout, cfg.encoder_layers)
        self.av_dim_adaptation = nn.Sequential(nn.Linear(in_features, cfg.d_model),
                                               nn.LeakyReLU(0.1))

    def forward(self, av_feats: torch.Tensor) -> torch.Tensor:
        # VoViT adds the temporal table in place: the spectral encoder gets it as well as its own.
        x = self.temporal_enc.with_positions(self.av_dim_adaptation(av_feats))
        temporal = self.temporal_enc.encoder(x)
        spectral = self.spectral_enc(x.transpose(1, 2)).transpose(1, 2)
        return temporal + spectral


class AVSpectralTransformer(nn.Module):
    """Fusion + mask head: ``(B, T, C_in)`` → complex ratio mask logits ``(B, 2, 256, T)``."""

    def __init__(self, in_features: int, n_frames: int, cfg: VoViTConfig):
        super().__init__()
        self.encoder = SpectroTemporalEncoder(in_features, n_frames, cfg)
        self.decoder = transformer_encoder(cfg.d_model, cfg.nhead, cfg.dim_feedforward, cfg.dropout,
                                           cfg.decoder_layers)
        self.feats2mask = nn.Sequential(nn.Linear(cfg.d_model, 2 * cfg.d_model), nn.LeakyReLU(0.5),
                                        nn.Linear(2 * cfg.d_model, N_BINS))

    def forward(self, av_feats: torch.Tensor) -> torch.Tensor:
        b, t, _ = av_feats.shape
        out = self.feats2mask(self.decoder(self.encoder(av_feats)))      # (B, T, 512)
        return out.transpose(1, 2).reshape(b, 2, N_BINS // 2, t)


class CrossModalFusion(nn.Module):
    """FiLM of audio features by visual features, then audio→visual cross-attention (module doc, 5).

    ``audio`` ``(B, T_a, C_a)``, ``visual`` ``(B, T_v, C_v)`` → ``(B, T_a, d)``. Keeps
    ``last_attention`` ``(B, heads, T_a, T_v)`` and ``last_film`` ``{"scale", "shift"}`` ``(B, T_a, d)``
    (detached) from the latest forward.
    """

    def __init__(self, audio_features: int, visual_features: int, d_model: int, heads: int,
                 n_visual_steps: int, dropout: float):
        super().__init__()
        self.audio_proj = nn.Linear(audio_features, d_model)
        self.film = nn.Linear(visual_features, 2 * d_model)
        # γ starts at 0 and β at 0: the block starts as the identity modulation.
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.visual_proj = nn.Linear(visual_features, d_model)
        self.visual_pos = nn.Embedding(n_visual_steps + 1, d_model)
        self.visual_pos.weight.data.copy_(sinusoid_table(n_visual_steps + 1, d_model))
        self.visual_pos.weight.requires_grad_(False)
        self.attention = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(d_model)
        self.last_attention: torch.Tensor | None = None
        self.last_film: dict | None = None

    def forward(self, audio: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        a = self.audio_proj(audio)
        gamma, beta = self.film(visual).chunk(2, dim=-1)
        scale = 1.0 + gamma
        a = a * scale + beta
        positions = torch.arange(1, visual.shape[1] + 1, device=visual.device)
        kv = self.visual_proj(visual) + self.visual_pos(positions)
        attended, weights = self.attention(a, kv, kv, need_weights=True, average_attn_weights=False)
        self.last_attention = weights.detach()
        self.last_film = {"scale": scale.detach(), "shift": beta.detach()}
        return self.norm(a + attended)


class AudioNetwork(nn.Module):
    """The audio path: audio encoder + (optional cross-modal block) + fusion transformer, as in the
    reference tree. ``forward(spec (B, 2, T, 256), condition (B, T_c, C) or None)`` → mask logits
    ``(B, 2, 256, T)``; the condition is resampled to the ``T`` spectrogram frames here, whatever its
    source."""

    def __init__(self, cfg: VoViTConfig, visual_features: int):
        super().__init__()
        self.audio_net = Spec2Vec(cfg.audio_channels, cfg.audio_out_channels, cfg.time_dilations,
                                  cfg.both_dilations)
        audio_features = cfg.audio_out_channels * (N_BINS // 2)
        kind = encoder_kind(cfg.visual)
        if kind is not None and kind.conditioning is not None:
            # the kind's own block (separation.encoders: text's FiLM / FiLM + cross-attention)
            self.cross_modal = kind.conditioning(cfg, audio_features, visual_features)
            fused_audio = cfg.d_model
        elif cfg.cross_modal:
            self.cross_modal = CrossModalFusion(audio_features, visual_features, cfg.d_model,
                                                cfg.cross_heads, N_FRAMES, cfg.dropout)
            fused_audio = cfg.d_model
        else:
            self.cross_modal = None
            fused_audio = audio_features
        self.fusion_module = AVSpectralTransformer(visual_features + fused_audio, N_FRAMES, cfg)

    def forward(self, spec: torch.Tensor, visual: torch.Tensor | None) -> torch.Tensor:
        # visual: the condition sequence (B, T_c, C)
        audio = self.audio_net(spec)                                       # (B, T, C_a)
        visual = None if visual is None else resample_condition(visual, audio.shape[1])
        if self.cross_modal is not None:
            audio = self.cross_modal(audio, visual)
        feats = audio if visual is None else torch.cat([visual, audio], dim=-1)   # visual first
        return self.fusion_module(feats)


class VoViT(nn.Module):
    """Conditioned separation network (module docstring).

    ``forward(mixture (B, 65535), visual (B, *input_shape) or None) -> estimate (B, 65535)``;
    ``input_shape`` is the kind's (``separation.encoders``): ``(2, 100, J)`` keypoints with J = 68
    (face), 55 (body), 123 (face_body: face points then body points); ``(100, 3, S, S)`` frames.
    The condition encoder is the submodule named by the kind's registry entry (``graph_net`` for the
    ST-GCN kinds, ``frame_net`` for frames; ``condition_encoder`` returns it). The audio path is
    ``audio_network``: ``AudioNetwork`` (VoViT's) or, with ``config.audio_net = "unet"``,
    ``separation.unet.UNetAudioPath`` (Sound of Pixels'); ``training_loss`` is the path's loss.
    """

    def __init__(self, config: VoViTConfig | None = None):
        super().__init__()
        self.config = config or VoViTConfig()
        cfg = self.config
        kind = encoder_kind(cfg.visual)
        if kind is not None:
            self._encoder_attribute = kind.attribute
            setattr(self, kind.attribute, kind.build(cfg))
            visual_features = self.condition_encoder.out_channels
        else:
            self._encoder_attribute = None
            self.graph_net = None               # audio only (the attribute VoViT always had)
            visual_features = 0
        if cfg.audio_net == "unet":
            from .unet import UNetAudioPath, UNetConfig

            self.audio_network = UNetAudioPath(UNetConfig.from_options(cfg.audio_options),
                                               visual_features, SAMPLE_RATE)
        else:
            self.audio_network = AudioNetwork(cfg, visual_features)

    @property
    def condition_encoder(self) -> nn.Module | None:
        """The kind's encoder (``separation.encoders``), None for an audio-only model."""
        return None if self._encoder_attribute is None else getattr(self, self._encoder_attribute)

    # -- analysis hooks ------------------------------------------------------------------------
    @property
    def last_attention(self) -> torch.Tensor | None:
        """``(B, heads, T_audio=256, T_video=256)`` attention of the latest forward (cross_modal)."""
        block = getattr(self.audio_network, "cross_modal", None)      # the U-Net path has none
        return None if block is None else block.last_attention

    @property
    def last_film(self) -> dict | None:
        """``{"scale": (B, 256, d), "shift": (B, 256, d)}`` of the latest forward (cross_modal)."""
        block = getattr(self.audio_network, "cross_modal", None)
        return None if block is None else block.last_film

    # -- forward -------------------------------------------------------------------------------
    def encode_visual(self, visual: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """``(B, *input_shape)`` → the condition sequence ``(B, T_c, C_v)`` (``T_c`` = 100 video
        frames for keypoints; the audio path resamples it to the STFT frames)."""
        encoder = self.condition_encoder
        if encoder is None:
            return None
        expected = tuple(encoder.input_shape)
        if visual is None:
            raise ValueError(f"model visual={self.config.visual} needs a visual input "
                             f"(B, {', '.join(map(str, expected))})")
        if tuple(visual.shape[1:]) != expected or visual.shape[0] != batch:
            raise ValueError(f"visual input has shape {tuple(visual.shape)}, expected "
                             f"({batch}, {', '.join(map(str, expected))}) for visual="
                             f"{self.config.visual}")
        return encoder.encode(visual)                                     # (B, T_c, C_v)

    def predict_mask(self, mixture_stft: torch.Tensor, visual: torch.Tensor | None) -> torch.Tensor:
        """Complex ratio mask ``(B, 2, 256, T)`` (``MASK_GAIN`` × head output) for a mixture STFT
        (the VoViT path; the U-Net path works on its own 11025-Hz STFT: ``forward_spectrogram``)."""
        if self.config.audio_net != "vovit":
            raise ValueError(f"predict_mask / separate_stft are the VoViT audio path's; this model "
                             f"has audio_net={self.config.audio_net}: use forward_spectrogram")
        v = self.encode_visual(visual, mixture_stft.shape[0])
        return MASK_GAIN * self.audio_network(network_input(mixture_stft), v)

    def separate_stft(self, mixture_stft: torch.Tensor, visual: torch.Tensor | None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mask (B, 2, 256, T), estimate STFT (B, 512, T) complex)``: the mask applied to the
        mixture's share ``X / N_SOURCES`` (module docstring, 7)."""
        mask = self.predict_mask(mixture_stft, visual)
        return mask, apply_mask(mask, mixture_stft / N_SOURCES)

    def forward_spectrogram(self, mixture: torch.Tensor, visual: torch.Tensor | None = None
                            ) -> dict[str, torch.Tensor]:
        """Internals of one forward: ``mixture_stft`` ``X`` ``(B, 512, 256)`` complex, ``mask``
        ``(B, 2, 256, 256)``, ``estimate_stft`` ``(B, 512, 256)`` complex (= mask ∘ X / 2),
        ``estimate`` ``(B, N)``. The U-Net path returns its own (at 11025 Hz, 173 frames, a real
        mask ``(B, 512, T)``; ``separation.unet.UNetAudioPath.forward_spectrogram``)."""
        if mixture.ndim != 2:
            raise ValueError(f"mixture must be (B, {CHUNK_SAMPLES}), got {tuple(mixture.shape)}")
        if self.config.audio_net == "unet":
            return self.audio_network.forward_spectrogram(
                mixture, self.encode_visual(visual, mixture.shape[0]))
        mixture_stft = stft(mixture)
        mask, estimate_stft = self.separate_stft(mixture_stft, visual)
        return {"mixture_stft": mixture_stft, "mask": mask, "estimate_stft": estimate_stft,
                "estimate": istft(estimate_stft, mixture.shape[-1])}

    def forward(self, mixture: torch.Tensor, visual: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_spectrogram(mixture, visual)["estimate"]

    def training_loss(self, mixture: torch.Tensor, target: torch.Tensor,
                      visual: torch.Tensor | None) -> torch.Tensor:
        """The loss the training loop minimises for ``(B, N)`` mixtures and targets: the VoViT
        path's complex L1 (``spectral_l1``), or the U-Net path's own (weighted BCE on binary
        masks, or L1 on ratio masks: ``separation.unet``)."""
        if self.config.audio_net == "unet":
            return self.audio_network.training_loss(
                mixture, target, self.encode_visual(visual, mixture.shape[0]))
        mixture_stft = stft(mixture)
        _, estimate_stft = self.separate_stft(mixture_stft, visual)
        return spectral_l1(estimate_stft, stft(target), mixture_stft)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

