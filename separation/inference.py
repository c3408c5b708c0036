"""Whole-song separation by overlapping 4-s chunks.

Windows of 65535 samples start every ``hop`` samples (default 2 s = 32768, i.e. 50 % overlap; the
visual window starts at frame ``round(start / 16384 × 25)``). The song is zero-padded at the end so
the last window covers it. Each window is divided by its scale ``s_k`` before the model and its
estimate multiplied by it after (the checkpoint's ``mixture_normalisation``, ``separation.conventions``:
the window's own peak, or the whole song's), so a window's estimate never depends on the other windows
in its batch. Window estimates ``y_k`` are overlap-added with a Hann weight that is
positive everywhere (``w[n] = sin²(π (n + 0.5) / L)``):
``y[n] = Σ_k w[n - s_k] y_k[n - s_k] / Σ_k w[n - s_k]``.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .conventions import InputConventions, mixture_scale, peak
from .conditions import condition_window
from .vovit import CHUNK_SAMPLES, CHUNK_VIDEO_FRAMES, SAMPLE_RATE, VIDEO_FPS, VoViT

DEFAULT_HOP = CHUNK_SAMPLES // 2 + 1    # 32768 samples = 2 s = 50 video frames
MAX_HOP_SECONDS = 4.0                   # windows back to back; a longer hop leaves gaps


def hop_samples(hop_seconds: float) -> int:
    """``--hop_seconds`` → samples, for ``0 < hop_seconds ≤ 4``; 4 s means back-to-back windows
    (65535 samples, the window length). Anything else raises ``ValueError``: a hop longer than the
    window leaves samples no window covers (their estimate would be 0 / 0 = NaN)."""
    if not (math.isfinite(hop_seconds) and 0 < hop_seconds <= MAX_HOP_SECONDS):
        raise ValueError(f"--hop_seconds {hop_seconds:g} must be > 0 and at most "
                         f"{MAX_HOP_SECONDS:g} s (the 4-s windows must overlap or touch)")
    hop = min(int(round(hop_seconds * SAMPLE_RATE)), CHUNK_SAMPLES)
    if hop < 1:
        raise ValueError(f"--hop_seconds {hop_seconds:g} is shorter than one sample at "
                         f"{SAMPLE_RATE} Hz")
    return hop


def window_starts(n_samples: int, hop: int = DEFAULT_HOP) -> list[int]:
    """Start samples of the windows covering ``n_samples`` (at least one window)."""
    if n_samples <= CHUNK_SAMPLES:
        return [0]
    return [k * hop for k in range(math.ceil((n_samples - CHUNK_SAMPLES) / hop) + 1)]


def overlap_weight(length: int = CHUNK_SAMPLES) -> np.ndarray:
    """``(length,)`` positive Hann weight ``sin²(π (n + 0.5) / length)``."""
    return np.sin(np.pi * (np.arange(length) + 0.5) / length) ** 2


@torch.no_grad()
def estimate_chunks(model: VoViT, mixtures: np.ndarray, visuals: np.ndarray | None,
                    device: torch.device, batch_size: int = 4) -> np.ndarray:
    """Run the model on ``(K, 65535)`` mixtures (and ``(K, *input_shape)`` visuals, e.g.
    ``(K, 2, 100, J)`` keypoints) → ``(K, 65535)``."""
    model.eval()
    out = np.zeros_like(mixtures, dtype=np.float32)
    for start in range(0, len(mixtures), batch_size):
        stop = start + batch_size
        mix = torch.from_numpy(mixtures[start:stop]).float().to(device)
        vis = None if visuals is None else torch.from_numpy(visuals[start:stop]).float().to(device)
        out[start:stop] = model(mix, vis).float().cpu().numpy()
    return out


def separate_song(model: VoViT, mixture: np.ndarray, visual: np.ndarray | None,
                  visual_mask: np.ndarray | None, device: torch.device, hop: int = DEFAULT_HOP,
                  batch_size: int = 4, *, conventions: InputConventions,
                  kind: str | None = None) -> np.ndarray:
    """``(N,)`` mixture at 16384 Hz (+ the model kind's 25-fps condition and mask,
    ``separation.conditions``, prepared by the same ``conventions``) → ``(N,)`` float32 estimate at
    the mixture's level.

    ``hop``: samples between window starts, 1 ≤ hop ≤ 65535 (``hop_samples``), so every sample is
    covered by at least one window. ``kind``: the condition kind whose window function cuts the
    visual input (default the model's ``config.visual``; keypoints for a model without a config)."""
    if not 1 <= hop <= CHUNK_SAMPLES:
        raise ValueError(f"hop {hop} samples: must be between 1 and {CHUNK_SAMPLES} (the window) "
                         f"so that every sample is covered")
    n = len(mixture)
    starts = window_starts(n, hop)
    padded = np.zeros(starts[-1] + CHUNK_SAMPLES, np.float32)
    padded[:n] = mixture
    windows = np.stack([padded[s:s + CHUNK_SAMPLES] for s in starts])
    song_peak = peak(mixture)
    scales = np.array([mixture_scale(w, song_peak, conventions.mixture_normalisation)
                       for w in windows], np.float32)[:, None]
    visuals = None
    if visual is not None:
        kind = kind or getattr(getattr(model, "config", None), "visual", "face")
        visuals = np.stack([condition_window(kind, visual, visual_mask,
                                             int(round(s / SAMPLE_RATE * VIDEO_FPS)),
                                             CHUNK_VIDEO_FRAMES)[0] for s in starts])
    estimates = scales * estimate_chunks(model, windows / scales, visuals, device, batch_size)
    weight = overlap_weight()
    total = np.zeros_like(padded, dtype=np.float64)
    norm = np.zeros_like(padded, dtype=np.float64)
    for s, est in zip(starts, estimates):
        total[s:s + CHUNK_SAMPLES] += weight * est
        norm[s:s + CHUNK_SAMPLES] += weight
    return (total / norm)[:n].astype(np.float32)
