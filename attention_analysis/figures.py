"""Attention over a song's time line, aligned with the performer's audio RMS and motion.

Chunk c covers [4c, 4c + 4) s; its ``video_attention`` (T_v values) is drawn at the centres of T_v equal
steps of that interval, ``audio_attention_peak`` likewise with T_a steps. The RMS and motion curves are
per video frame at the song's fps (``audio_features.json`` / ``motion_features.json`` of the
performer). When a feature file is absent the curve is computed from the chunks instead and its
label says so: RMS of the chunk's target stem (``pipeline.chunk_rms``) and the mean keypoint speed of
the model input (``pipeline.chunk_motion``). Video steps without keypoints (null attention) are
gaps in the curve on a grey "no keypoints" band, never zeros.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from core.io import save_figure  # noqa: E402
from separation.vovit import CHUNK_SECONDS  # noqa: E402


def chunk_times(chunk: int, n_steps: int, chunk_seconds: float = CHUNK_SECONDS) -> np.ndarray:
    """Centres (s) of ``n_steps`` equal steps of chunk ``chunk``."""
    return chunk * chunk_seconds + (np.arange(n_steps) + 0.5) * chunk_seconds / n_steps


def timeline(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate one per-chunk series over the song: times (s) and values, NaN between gaps."""
    times, values = [], []
    for record in sorted(records, key=lambda r: r["chunk"]):
        series = np.array(record[key], dtype=object).astype(float)      # null (no data) -> NaN
        times.append(chunk_times(record["chunk"], len(series)))
        values.append(series)
        times.append([np.nan])       # break the line between non-adjacent chunks
        values.append([np.nan])
    return np.concatenate(times), np.concatenate(values)


def no_data_spans(times: np.ndarray, values: np.ndarray) -> list[tuple[float, float]]:
    """``(start, stop)`` seconds of each run of NaN values at finite times (``timeline`` output;
    each step is widened by half a step either side)."""
    finite_t = np.isfinite(times)
    if finite_t.sum() < 2:
        return []
    step = float(np.nanmin(np.diff(times[finite_t])))
    spans, run = [], None
    for time, value in zip(times, values):
        if np.isfinite(time) and np.isnan(value):
            run = (run[0], time) if run else (time, time)
        elif run:
            spans.append((run[0] - step / 2, run[1] + step / 2))
            run = None
    if run:
        spans.append((run[0] - step / 2, run[1] + step / 2))
    return spans


def save_attention_figure(path: Path, records: list[dict], title: str,
                          rms: tuple[np.ndarray, np.ndarray, str] | None,
                          motion: tuple[np.ndarray, np.ndarray, str] | None) -> Path:
    """Three stacked panels sharing the time axis: attention, RMS, motion. ``rms``/``motion``:
    (times s, values, label) or None."""
    fig, axes = plt.subplots(3, 1, figsize=(11, 7), sharex=True)
    t, video = timeline(records, "video_attention")
    axes[0].plot(t, video, color="tab:purple", lw=1.2, label="video_attention (mean over audio steps)")
    if all("audio_attention_peak" in r for r in records):
        t_a, peak = timeline(records, "audio_attention_peak")
        twin = axes[0].twinx()
        twin.plot(t_a, peak, color="tab:green", lw=0.8, alpha=0.6,
                  label="audio_attention_peak (max over video steps)")
        twin.set_ylabel("peak weight", color="tab:green")
        twin.legend(loc="upper right", fontsize=8)
    for k, (start, stop) in enumerate(no_data_spans(t, video)):
        axes[0].axvspan(start, stop, color="0.85", lw=0, zorder=0,
                        label="no keypoints (no data)" if k == 0 else None)
    axes[0].set_ylabel("attention")
    axes[0].legend(loc="upper left", fontsize=8)
    for ax, series, colour in ((axes[1], rms, "tab:orange"), (axes[2], motion, "tab:blue")):
        if series is None:
            ax.text(0.5, 0.5, "not available", ha="center", va="center", transform=ax.transAxes)
            continue
        times, values, label = series
        ax.plot(times, values, color=colour, lw=1.0)
        ax.set_ylabel(label)
    for record in records:   # chunk boundaries
        for ax in axes:
            ax.axvline(record["chunk"] * CHUNK_SECONDS, color="0.85", lw=0.6, zorder=0)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(path, fig, dpi=110)
