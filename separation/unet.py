"""Sound of Pixels' audio path (Zhao et al., "The Sound of Pixels", ECCV 2018): a U-Net on the
log-frequency magnitude spectrogram whose K component maps are weighted by the visual vector, as
the second audio path of the one separation framework (``VoViTConfig.audio_net = "unet"``; the
condition encoders, data, training loop and commands are the framework's).

Signal path for one chunk (``B`` = batch; the model interface stays the framework's
``model(mixture (B, 65535) at 16384 Hz, visual) -> (B, 65535)``, docs/CONTRACTS.md "Separation"):

1. Resample the mixture to 11025 Hz (``to_sop_rate``: zero-padded to a whole multiple of 16384
   samples, 65535 → 65536 = 4 s, then band-limited FFT resampling → 44100 samples).
2. STFT n_fft 1022, hop 256, Hann(1022), centred → ``X`` complex ``(B, 512, T)``, T = 173.
3. Magnitude ``|X| + 1e-10`` warped to 256 log-frequency rows (``log_frequency_warp``: bilinear
   ``grid_sample``, row ``i`` reads linear bin ``511 · (21^(i/255) − 1) / 20``), then its log →
   ``(B, 1, 256, T)``; padded along time (reflection) to a multiple of ``2^levels`` for the U-Net
   and cropped back after it.
4. U-Net (``UNet``; 7 levels as published): input BatchNorm; down: 4×4 stride-2 convolutions
   (LeakyReLU 0.2 before each but the first, BatchNorm after each but the first and the last),
   channels ``width · (1, 2, 4, 8, 8, 8, 8)``; up: ReLU, ×2 bilinear upsampling, 3×3 convolution,
   BatchNorm, concatenated after the (activated) skip; the last 3×3 convolution → ``K`` component
   maps ``S`` ``(B, K, 256, T)`` (no activation on them: published ``sound_activation no``).
5. Visual vector ``v`` ``(B, K)``: the condition sequence ``(B, T_c, K)`` of the kind's encoder
   max-pooled over time (Sound of Pixels pools its frame features over space and its frames; the
   ``frames`` encoder already pooled over space), then a sigmoid (published ``img_activation
   sigmoid``; ``visual_activation``). ``K`` is the encoder's ``out_channels`` (32 for ``frames``, as
   published); an audio-only model (``visual = "none"``) learns one constant vector of
   ``AUDIO_ONLY_COMPONENTS`` = 32 instead (the same U-Net and mask, no visual input).
6. Mask logits ``z = Σ_k v_k · w_k · S_k + b`` (``InnerProduct``: published ``linear``
   synthesizer, a learned per-component scale ``w`` (ones at start) and bias ``b`` (zero)),
   mask ``m = sigmoid(z)`` on the log-frequency grid ``(B, 1, 256, T)``, warped back to the 512
   linear bins (``linear_frequency_warp``).
7. Estimate: ``m ∘ |X|`` with the mixture's phase (= ``m ∘ X``, the mask being real), inverse STFT to
   44100 samples, resampled back to 16384 Hz and cut to the input length (``from_sop_rate``).

Training (``training_loss``; the framework's one training loop calls ``VoViT.training_loss``), on
the warped magnitudes (the public code warps before it builds its targets and weights):

* ``binary`` masks (published default): target ``M = [|S_t| ≥ |S_o|]`` with ``S_t`` the target's
  STFT and ``S_o = X − S_t`` the other sources' (the issue's wording; the paper's rule for N
  sources, the target being the dominant component; the public code simplifies it to
  ``|S_t| > 0.5 |X|``); loss = weighted binary cross-entropy ``mean(w · BCE(sigmoid(z), M))``.
* ``ratio`` masks: target ``|S_t| / |X|`` clipped to [0, 5] (public code), loss = weighted L1
  ``mean(w · |sigmoid(z) − M|)`` (public code's ``l1`` loss, its default when the loss is not BCE).
* weights ``w = clip(log(1 + |X|), 1e-3, 10)`` (public code's ``weighted_loss``: log1p of the
  warped mixture magnitude, clamped to [1e-3, 10]); ``weighted_loss=False`` makes them ones.

Where each fact comes from. The seed description (``reference/seeds/001_*``, a bachelor-thesis
re-implementation) says only that the model follows arXiv 1804.03160, outputs spectrogram masks and
is trained by mixing two videos and separating them (mix-and-separate) with binary-mask targets.
The issue (19) gives: ResNet-18 visual network max-pooled into a K-vector, 7-level U-Net on the
log-frequency magnitude spectrogram (11025 Hz, STFT 1022/256, warped to 256 rows), K component
maps, mask = sigmoid of their inner product with the visual vector, binary-mask targets with
weighted BCE, or ratio masks, trained by mix-and-separate. The paper itself (arXiv 1804.03160) is
not among the stored references, so the two facts attributed to it here (the dominance rule of the
binary target; ratio masks as the alternative) are from its description, not re-read. The public
code (hangzhaomit/Sound-of-Pixels: ``arguments.py``,
``scripts/train_MUSIC.sh``, ``models/audio_net.py``, ``models/synthesizer_net.py``, ``main.py``,
``utils.warpgrid``) gives: K = 32, ``unet7`` with ``ngf`` 64, the block layout above (its in-place
LeakyReLU makes each skip carry the activated input: reproduced), the warp grid
``(21^((y+1)/2) − 11) / 10`` and its inverse ``log(10 y + 11) / log 21 · 2 − 1`` (sampled with the
corner-aligned convention of the PyTorch it was written for), the ``linear`` synthesizer with its
scale and bias, the sigmoid on the image vector and on the output, the weight
``clamp(log1p(mag_mix), 1e-3, 10)``, ratio targets clamped to [0, 5], the ``+1e-10`` before the log.

Divergences (named, README "Divergences"): the mixture arrives at 16384 Hz in 4-s chunks and is
resampled (published: 11025 Hz audio, 6-s clips of 65535 samples = 256 STFT frames; here 173 frames
padded to 256 for the U-Net); the output mask is the sigmoid itself (``output_mask = "soft"``), so
the estimate is differentiable for saliency, where the public evaluation thresholds binary masks at
0.5 (``output_mask = "threshold"`` does that; the visual input then gets no gradient); the binary
target is the paper's rule (above). The grids are sampled with corners aligned, as the PyTorch the
public code was written for (0.4) did (a current PyTorch's default, ``align_corners=False``, would
shift every row by up to half a row and blend the edge rows with zeros), and with
``padding_mode="border"`` (no sample falls outside: the same values as the public zeros
padding). FFT resampling treats a chunk as periodic, and the sample padded to reach 4 s rings: the
ends of a chunk carry a little of each other (about −60 dB 2000 samples in; whole songs are
separated with overlapping windows, ``separation.inference``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .encoders import config_from_options

SOP_SAMPLE_RATE = 11025        # Hz (Sound of Pixels' audRate)
SOP_N_FFT = 1022
SOP_HOP = 256
SOP_BINS = SOP_N_FFT // 2 + 1  # 512 linear-frequency bins
LOG_ROWS = 256                 # log-frequency rows of the warped spectrogram
WARP_BASE = 21.0               # the public warp grid's base: row i ↔ bin 511 (21^(i/255) − 1) / 20
MAGNITUDE_EPS = 1e-10          # added to the mixture magnitude before warp and log (public code)
WEIGHT_RANGE = (1e-3, 10.0)    # clamp of the loss weight log1p(|X|) (public code)
RATIO_RANGE = (0.0, 5.0)       # clamp of ratio-mask targets (public code)
AUDIO_ONLY_COMPONENTS = 32     # K of an audio-only U-Net model (the published K)
MASK_TYPES = ("binary", "ratio")
OUTPUT_MASKS = ("soft", "threshold")
VISUAL_ACTIVATIONS = ("sigmoid", "none")
BINARY_THRESHOLD = 0.5         # public code's mask_thres


@dataclass(frozen=True)
class UNetConfig:
    """The U-Net audio path's options (recorded in ``VoViTConfig.audio``, so in every checkpoint).

    ``levels``  down/up levels (published 7: 256 rows → 2); the time axis is padded to a
                multiple of ``2^levels``.
    ``width``   channels of the first level (published ``ngf`` 64; ``small`` 16); level ``i`` has
                ``width · min(2^i, 8)``.
    ``mask_type``  ``binary`` (published) or ``ratio`` (module docstring, training).
    ``weighted_loss``  the log1p-magnitude loss weights (published on).
    ``visual_activation``  ``sigmoid`` on the pooled visual vector (published) or ``none``.
    ``output_mask``  ``soft`` (the sigmoid mask; default here) or ``threshold`` (binary masks cut
                at 0.5 outside training, as the public evaluation does).
    """
    levels: int = 7
    width: int = 64
    mask_type: str = "binary"
    weighted_loss: bool = True
    visual_activation: str = "sigmoid"
    output_mask: str = "soft"

    def __post_init__(self):
        if not 1 <= self.levels <= 8:
            raise ValueError(f"unet levels must be 1..8 (256 rows halve 8 times), got {self.levels}")
        if self.width < 1:
            raise ValueError(f"unet width must be ≥ 1, got {self.width}")
        for name, allowed in (("mask_type", MASK_TYPES), ("output_mask", OUTPUT_MASKS),
                              ("visual_activation", VISUAL_ACTIVATIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"unet {name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.output_mask == "threshold" and self.mask_type != "binary":
            raise ValueError("unet output_mask=threshold is for binary masks (mask_type=binary)")

    @classmethod
    def for_preset(cls, preset: str) -> "UNetConfig":
        """``vovit`` (published sizes): 7 levels, width 64; ``small``: 7 levels, width 16."""
        return cls(width=16) if preset == "small" else cls()

    @classmethod
    def from_options(cls, options: dict) -> "UNetConfig":
        return config_from_options(cls, options, "unet audio path")

    def to_options(self) -> dict:
        return asdict(self)


# --- resampling between the framework's 16384 Hz and 11025 Hz -----------------------------------------

def fft_resample(wave: torch.Tensor, n_out: int) -> torch.Tensor:
    """``(..., N)`` real → ``(..., n_out)``: band-limited resampling of one period (the spectrum
    cut or zero-extended, Nyquist bin split or joined as ``scipy.signal.resample`` does);
    differentiable."""
    n_in = wave.shape[-1]
    if n_out == n_in:
        return wave
    spectrum = torch.fft.rfft(wave)
    n = min(n_in, n_out)
    kept = spectrum[..., :n // 2 + 1]
    if n % 2 == 0:              # the shorter length's Nyquist bin: join (down) or split (up)
        factor = torch.ones(kept.shape[-1], dtype=wave.dtype, device=wave.device)
        factor[-1] = 2.0 if n_out < n_in else 0.5
        kept = kept * factor
    if kept.shape[-1] < n_out // 2 + 1:
        kept = F.pad(kept, (0, n_out // 2 + 1 - kept.shape[-1]))
    return torch.fft.irfft(kept, n=n_out) * (n_out / n_in)


def padded_length(n_samples: int, sample_rate: int) -> int:
    """The smallest length ≥ ``n_samples`` whose duration is a whole number of 11025-Hz samples
    too: a multiple of ``sample_rate / gcd(sample_rate, 11025)`` (16384 at 16384 Hz: 1 s)."""
    block = sample_rate // math.gcd(sample_rate, SOP_SAMPLE_RATE)
    return -(-n_samples // block) * block


def to_sop_rate(wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """``(B, N)`` at ``sample_rate`` → ``(B, N')`` at 11025 Hz, ``N`` zero-padded to
    ``padded_length`` first (65535 → 65536 at 16384 Hz → 44100)."""
    n_padded = padded_length(wave.shape[-1], sample_rate)
    padded = F.pad(wave, (0, n_padded - wave.shape[-1]))
    return fft_resample(padded, n_padded * SOP_SAMPLE_RATE // sample_rate)


def from_sop_rate(wave: torch.Tensor, sample_rate: int, length: int) -> torch.Tensor:
    """Inverse of ``to_sop_rate``: ``(B, N')`` at 11025 Hz → ``(B, length)`` at ``sample_rate``."""
    n_padded = wave.shape[-1] * sample_rate // SOP_SAMPLE_RATE
    return fft_resample(wave, n_padded)[..., :length]


def sop_stft(wave: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` at 11025 Hz → ``(B, 512, frames)`` complex (n_fft 1022, hop 256, Hann, centred)."""
    window = torch.hann_window(SOP_N_FFT, device=wave.device, dtype=wave.dtype)
    return torch.stft(wave, SOP_N_FFT, SOP_HOP, SOP_N_FFT, window, center=True,
                      return_complex=True)


def sop_istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of ``sop_stft`` → ``(B, length)``."""
    window = torch.hann_window(SOP_N_FFT, device=spec.device, dtype=spec.real.dtype)
    return torch.istft(spec, SOP_N_FFT, SOP_HOP, SOP_N_FFT, window, center=True, length=length)


# --- the log-frequency warp ----------------------------------------------------------------------------

def warp_grid(rows: int, frames: int, to_log: bool, dtype=torch.float32, device=None
              ) -> torch.Tensor:
    """``(1, rows, frames, 2)`` sampling grid (x = time, y = frequency, both in [−1, 1], corners
    aligned). ``to_log``: output row ``y`` reads source ``(21^((y+1)/2) − 11) / 10`` (256 log rows
    from 512 linear bins); else ``log(10 y + 11) / log 21 · 2 − 1`` (back to linear bins)."""
    x = torch.linspace(-1.0, 1.0, frames, dtype=torch.float64)
    y = torch.linspace(-1.0, 1.0, rows, dtype=torch.float64)
    if to_log:
        source_y = (torch.pow(WARP_BASE, (y + 1) / 2) - 11) / 10
    else:
        source_y = torch.log(y * 10 + 11) / math.log(WARP_BASE) * 2 - 1
    grid = torch.stack(torch.broadcast_tensors(x[None, :], source_y[:, None]), dim=-1)
    return grid[None].to(dtype=dtype, device=device)


def _sample(values: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(values, grid.expand(values.shape[0], -1, -1, -1), mode="bilinear",
                         padding_mode="border", align_corners=True)


def log_frequency_warp(spec: torch.Tensor, rows: int = LOG_ROWS) -> torch.Tensor:
    """``(B, C, 512, T)`` on linear bins → ``(B, C, rows, T)``: row ``i`` is the bilinear sample at
    bin ``511 · (21^(i/(rows−1)) − 1) / 20`` (row 0 = bin 0, the last row = bin 511)."""
    return _sample(spec, warp_grid(rows, spec.shape[-1], True, spec.dtype, spec.device))


def linear_frequency_warp(spec: torch.Tensor, bins: int = SOP_BINS) -> torch.Tensor:
    """Inverse of ``log_frequency_warp``: ``(B, C, 256, T)`` → ``(B, C, bins, T)``; bin ``b`` reads
    log row ``(rows−1) · log(1 + 20 b / (bins−1)) / log 21``."""
    return _sample(spec, warp_grid(bins, spec.shape[-1], False, spec.dtype, spec.device))


# --- targets and losses --------------------------------------------------------------------------------

def loss_weights(mixture_magnitude: torch.Tensor, weighted: bool = True) -> torch.Tensor:
    """``clip(log(1 + |X|), 1e-3, 10)`` per entry (ones when not ``weighted``)."""
    if not weighted:
        return torch.ones_like(mixture_magnitude)
    return torch.clamp(torch.log1p(mixture_magnitude), *WEIGHT_RANGE)


def mask_target(target_magnitude: torch.Tensor, other_magnitude: torch.Tensor,
                mixture_magnitude: torch.Tensor, mask_type: str = "binary") -> torch.Tensor:
    """Training target on the same grid as the inputs: ``binary`` ``[|S_t| ≥ |S_o|]`` (1.0 / 0.0),
    ``ratio`` ``clip(|S_t| / |X|, 0, 5)`` (module docstring)."""
    if mask_type == "binary":
        return (target_magnitude >= other_magnitude).to(target_magnitude.dtype)
    if mask_type == "ratio":
        return torch.clamp(target_magnitude / mixture_magnitude, *RATIO_RANGE)
    raise ValueError(f"mask_type must be one of {MASK_TYPES}, got {mask_type!r}")


def mask_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
              mask_type: str = "binary") -> torch.Tensor:
    """``binary``: ``mean(w · BCE(sigmoid(z), M))``; ``ratio``: ``mean(w · |sigmoid(z) − M|)``
    (scalar, the mean over every entry of the batch)."""
    if mask_type == "binary":
        return F.binary_cross_entropy_with_logits(logits, target, weight=weight)
    if mask_type == "ratio":
        return (weight * (torch.sigmoid(logits) - target).abs()).mean()
    raise ValueError(f"mask_type must be one of {MASK_TYPES}, got {mask_type!r}")


# --- the network ---------------------------------------------------------------------------------------

class UNet(nn.Module):
    """``(B, 1, H, W)`` log magnitude → ``(B, K, H, W)`` component maps (module docstring, 4);
    ``H`` and ``W`` multiples of ``2^levels``.

    Submodules: ``input_norm`` (BatchNorm of the input), ``down.{i}`` (4×4 stride-2 convolutions,
    no bias), ``down_norm.{i}`` (after down ``i + 1``, for the levels between the first and the
    innermost), ``up.{i}`` (3×3 convolution after level ``i``'s upsampling; ``up.0`` → K with a
    bias, the others without), ``up_norm.{i}`` (after ``up.{i + 1}``)."""

    def __init__(self, components: int, levels: int = 7, width: int = 64):
        super().__init__()
        self.levels = levels
        channels = [width * min(2 ** i, 8) for i in range(levels)]
        self.input_norm = nn.BatchNorm2d(1)
        self.down = nn.ModuleList(nn.Conv2d(1 if i == 0 else channels[i - 1], channels[i], 4, 2, 1,
                                            bias=False) for i in range(levels))
        self.down_norm = nn.ModuleList(nn.BatchNorm2d(channels[i]) for i in range(1, levels - 1))
        up = []
        for i in range(levels):
            cin = channels[i] if i == levels - 1 else 2 * channels[i]
            cout = components if i == 0 else channels[i - 1]
            up.append(nn.Conv2d(cin, cout, 3, 1, 1, bias=i == 0))
        self.up = nn.ModuleList(up)
        self.up_norm = nn.ModuleList(nn.BatchNorm2d(channels[i - 1]) for i in range(1, levels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input_norm(x)
        skips = []
        for i in range(self.levels):
            if i > 0:
                # the public block's in-place LeakyReLU also changes the tensor it concatenates
                h = F.leaky_relu(h, 0.2)
                skips.append(h)
            h = self.down[i](h)
            if 0 < i < self.levels - 1:
                h = self.down_norm[i - 1](h)
        for i in reversed(range(self.levels)):
            h = F.interpolate(F.relu(h), scale_factor=2, mode="bilinear", align_corners=True)
            h = self.up[i](h)
            if i > 0:
                h = torch.cat([skips[i - 1], self.up_norm[i - 1](h)], dim=1)
        return h


class InnerProduct(nn.Module):
    """``(B, K)`` visual vector, ``(B, K, H, W)`` maps → ``(B, 1, H, W)`` logits
    ``Σ_k v_k w_k S_k + b`` (published ``linear`` synthesizer; ``weight`` = its scale)."""

    def __init__(self, components: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(components))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, visual: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bk,bkhw->bhw", visual * self.weight, maps)[:, None] + self.bias


class UNetAudioPath(nn.Module):
    """The audio path of a ``VoViTConfig.audio_net = "unet"`` model (module docstring).

    ``forward(mixture (B, N) at sample_rate, condition (B, T_c, K) or None) -> (B, N)``;
    ``condition_features`` = K of the kind's encoder (0 for an audio-only model: a learned constant
    vector of ``AUDIO_ONLY_COMPONENTS``)."""

    def __init__(self, config: UNetConfig, condition_features: int, sample_rate: int):
        super().__init__()
        self.config = config
        self.sample_rate = sample_rate
        self.components = condition_features or AUDIO_ONLY_COMPONENTS
        self.sound_net = UNet(self.components, config.levels, config.width)
        self.synthesizer = InnerProduct(self.components)
        # audio only: the vector the visual network would give, learned (zeros: 0.5 after sigmoid)
        self.constant_visual = (nn.Parameter(torch.zeros(self.components))
                                if not condition_features else None)

    # -- pieces ------------------------------------------------------------------------------------
    def visual_vector(self, condition: torch.Tensor | None, batch: int) -> torch.Tensor:
        """``(B, T_c, K)`` → ``(B, K)``: max over time, then the activation (module docstring, 5)."""
        if condition is None:
            if self.constant_visual is None:
                raise ValueError("this U-Net model was built for a visual input: none was given")
            vector = self.constant_visual[None].expand(batch, -1)
        else:
            if condition.shape[-1] != self.components:
                raise ValueError(f"condition has {condition.shape[-1]} channels, the U-Net has "
                                 f"K = {self.components} component maps")
            vector = condition.amax(dim=1)
        return torch.sigmoid(vector) if self.config.visual_activation == "sigmoid" else vector

    def log_magnitude_input(self, mixture_stft: torch.Tensor) -> torch.Tensor:
        """``(B, 512, T)`` complex → warped mixture magnitude ``(B, 1, 256, T)`` (``+1e-10`` before
        the warp, public code)."""
        return log_frequency_warp(mixture_stft.abs()[:, None] + MAGNITUDE_EPS)

    def mask_logits(self, warped_magnitude: torch.Tensor, condition: torch.Tensor | None
                    ) -> torch.Tensor:
        """Warped mixture magnitude ``(B, 1, 256, T)`` → mask logits ``(B, 1, 256, T)``."""
        frames = warped_magnitude.shape[-1]
        multiple = 2 ** self.config.levels
        pad = -frames % multiple
        x = torch.log(warped_magnitude)
        if pad:
            mode = "reflect" if pad < frames else "replicate"
            x = F.pad(x, (0, pad, 0, 0), mode=mode)
        maps = self.sound_net(x)[..., :frames]                              # (B, K, 256, T)
        vector = self.visual_vector(condition, warped_magnitude.shape[0])
        return self.synthesizer(vector, maps)

    def output_mask(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits → the mask applied outside training: sigmoid, or its 0.5 threshold."""
        mask = torch.sigmoid(logits)
        if self.config.output_mask == "threshold" and not self.training:
            mask = (mask > BINARY_THRESHOLD).to(mask.dtype)
        return mask

    # -- forward -----------------------------------------------------------------------------------
    def forward_spectrogram(self, mixture: torch.Tensor, condition: torch.Tensor | None
                            ) -> dict[str, torch.Tensor]:
        """Internals of one forward (all at 11025 Hz): ``mixture_stft`` ``X`` ``(B, 512, T)``
        complex, ``logits`` and ``log_mask`` ``(B, 1, 256, T)`` (log-frequency rows), ``mask``
        ``(B, 512, T)`` (linear bins), ``estimate_stft`` ``(B, 512, T)`` (= mask ∘ X), and
        ``estimate`` ``(B, N)`` at the input rate."""
        wave = to_sop_rate(mixture, self.sample_rate)
        mixture_stft = sop_stft(wave)
        logits = self.mask_logits(self.log_magnitude_input(mixture_stft), condition)
        log_mask = self.output_mask(logits)
        mask = linear_frequency_warp(log_mask)[:, 0]
        estimate_stft = mask * mixture_stft
        estimate = from_sop_rate(sop_istft(estimate_stft, wave.shape[-1]), self.sample_rate,
                                 mixture.shape[-1])
        return {"mixture_stft": mixture_stft, "logits": logits, "log_mask": log_mask,
                "mask": mask, "estimate_stft": estimate_stft, "estimate": estimate}

    def forward(self, mixture: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        return self.forward_spectrogram(mixture, condition)["estimate"]

    def training_loss(self, mixture: torch.Tensor, target: torch.Tensor,
                      condition: torch.Tensor | None) -> torch.Tensor:
        """The mask loss of the module docstring (scalar) for mixtures and targets ``(B, N)`` at
        the input rate."""
        mixture_stft = sop_stft(to_sop_rate(mixture, self.sample_rate))
        target_stft = sop_stft(to_sop_rate(target, self.sample_rate))
        magnitude = self.log_magnitude_input(mixture_stft)
        # the magnitudes of the target and of the rest (X − S_t), warped like the mixture's
        sources = log_frequency_warp(torch.stack([target_stft.abs(),
                                                  (mixture_stft - target_stft).abs()], dim=1))
        target_mask = mask_target(sources[:, :1], sources[:, 1:], magnitude, self.config.mask_type)
        weight = loss_weights(magnitude, self.config.weighted_loss)
        logits = self.mask_logits(magnitude, condition)
        return mask_loss(logits, target_mask, weight, self.config.mask_type)
