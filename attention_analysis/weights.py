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

Missing data is never a number. A video step has data when the model's visual input at that time
has the performer: the frames it is resampled from (``step_presence``) are not missing
(``separation.data.missing_frames``: fewer than 10 % of the points observed). At a step without data
the model sees zeros, so the attention paid to it says nothing about the performer:
``video_attention`` is NaN (``null`` in JSON) there, ``audio_attention`` and
``audio_attention_peak`` are the mean / max over the steps with data only, and each record carries
``video_coverage`` (share of video steps with data). A chunk without any such step has no
audio_attention either (all null).
"""
from __future__ import annotations

import numpy as np


def head_mean(weights: np.ndarray) -> np.ndarray:
    """``(B, H, T_a, T_v)`` → ``(B, T_a, T_v)`` mean over heads."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 4:
        raise ValueError(f"attention weights must be (batch, heads, T_audio, T_video), got {weights.shape}")
    return weights.mean(axis=1)


def step_presence(frame_present: np.ndarray, n_steps: int) -> np.ndarray:
    """``(B, F)`` per-frame presence → ``(B, n_steps)`` presence of the attention's video steps.

    The model resamples its F visual frames to ``n_steps`` (linear, ``align_corners=False``: step j
    reads source position ``(j + 0.5) F / n_steps − 0.5``, clamped); a step has data only when every
    frame it reads (floor and ceil of that position) has. This is also right for nearest-neighbour
    resampling, which reads one of the two.
    """
    present = np.asarray(frame_present, dtype=bool)
    n_frames = present.shape[-1]
    position = np.clip((np.arange(n_steps) + 0.5) * n_frames / n_steps - 0.5, 0, n_frames - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(np.ceil(position).astype(int), n_frames - 1)
    return present[..., lower] & present[..., upper]


def summarise_attention(weights: np.ndarray, video_present: np.ndarray | None = None
                        ) -> dict[str, np.ndarray]:
    """``(B, H, T_a, T_v)`` (and ``(B, T_v)`` presence of the video steps) → ``audio_attention``
    (B, T_a), ``video_attention`` (B, T_v), ``audio_attention_peak`` (B, T_a), ``video_coverage``
    (B,); NaN where there is no data (module docstring)."""
    mean = head_mean(weights)
    b, _, t_v = mean.shape
    present = np.ones((b, t_v), bool) if video_present is None else \
        np.asarray(video_present, dtype=bool)
    if present.shape != (b, t_v):
        raise ValueError(f"video presence {present.shape} does not match the attention's "
                         f"(batch, T_video) = {(b, t_v)}")
    count = present.sum(axis=1)                                        # (B,)
    on = present[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        audio = np.where(count[:, None] > 0,
                         np.where(on, mean, 0.0).sum(axis=2) / np.maximum(count, 1)[:, None], np.nan)
    peak = np.where(count[:, None] > 0, np.where(on, mean, -np.inf).max(axis=2), np.nan)
    video = np.where(present, mean.mean(axis=1), np.nan)
    return {"audio_attention": audio, "video_attention": video, "audio_attention_peak": peak,
            "video_coverage": count / t_v}


def rows_sum_to_one(weights: np.ndarray, tol: float = 1e-4) -> bool:
    """True when each audio step's weights over video sum to 1 (softmax over the video axis)."""
    sums = np.asarray(weights, dtype=np.float64).sum(axis=-1)
    return bool(np.allclose(sums, 1.0, atol=tol))


def chunk_records(chunk_indices: list[int], weights: np.ndarray,
                  video_present: np.ndarray | None = None) -> list[dict]:
    """One published record per chunk: ``{"chunk", "audio_attention", "video_attention",
    "audio_attention_peak", "video_coverage"}`` (lists of floats, NaN = no data)."""
    summary = summarise_attention(weights, video_present)
    return [{"chunk": int(c), "audio_attention": summary["audio_attention"][b],
             "video_attention": summary["video_attention"][b],
             "audio_attention_peak": summary["audio_attention_peak"][b],
             "video_coverage": float(summary["video_coverage"][b])}
            for b, c in enumerate(chunk_indices)]
