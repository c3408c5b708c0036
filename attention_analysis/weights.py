"""Reductions of cross-attention weights (published definitions, DESIGN §6).

``A`` has shape ``(B, H, T_a, T_v)``: for each of H heads, how much audio step ``i`` (query) attends
to video step ``j`` (key). With ``Ā = mean_h A`` (mean over heads):

* ``video_attention[b, j] = mean_i Ā[b, i, j]``: how much attention video step j receives;
* ``audio_attention[b, i] = mean_j Ā[b, i, j]``: how much attention audio step i spends.

Caveat, by construction: when the softmax runs over the video axis (audio queries, video keys, the
usual ``nn.MultiheadAttention`` layout) every row of ``A`` sums to 1, so ``audio_attention`` is
``1 / T_v`` at every step and ``video_attention`` sums to 1 over j. ``audio_attention_peak[b, i] =
max_j Ā[b, i, j]`` (how sharply audio step i focuses on one video moment) is kept as well because it
still varies in that case.
"""
from __future__ import annotations

import numpy as np


def head_mean(weights: np.ndarray) -> np.ndarray:
    """``(B, H, T_a, T_v)`` → ``(B, T_a, T_v)`` mean over heads."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 4:
        raise ValueError(f"attention weights must be (batch, heads, T_audio, T_video), got {weights.shape}")
    return weights.mean(axis=1)


def summarise_attention(weights: np.ndarray) -> dict[str, np.ndarray]:
    """``(B, H, T_a, T_v)`` → ``audio_attention`` (B, T_a), ``video_attention`` (B, T_v),
    ``audio_attention_peak`` (B, T_a)."""
    mean = head_mean(weights)
    return {"audio_attention": mean.mean(axis=2), "video_attention": mean.mean(axis=1),
            "audio_attention_peak": mean.max(axis=2)}


def rows_sum_to_one(weights: np.ndarray, tol: float = 1e-4) -> bool:
    """True when each audio step's weights over video sum to 1 (softmax over the video axis)."""
    sums = np.asarray(weights, dtype=np.float64).sum(axis=-1)
    return bool(np.allclose(sums, 1.0, atol=tol))


def chunk_records(chunk_indices: list[int], weights: np.ndarray) -> list[dict]:
    """One published record per chunk: ``{"chunk", "audio_attention", "video_attention",
    "audio_attention_peak"}`` (lists of floats)."""
    summary = summarise_attention(weights)
    return [{"chunk": int(c), "audio_attention": summary["audio_attention"][b].tolist(),
             "video_attention": summary["video_attention"][b].tolist(),
             "audio_attention_peak": summary["audio_attention_peak"][b].tolist()}
            for b, c in enumerate(chunk_indices)]
