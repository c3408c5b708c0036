"""Separation metrics, named explicitly (DESIGN §7: v3 SDR, v4 SDR and SI-SDR differ; always say which).

``SDR (BSS-eval v3, torchmetrics)``: ``torchmetrics.functional.audio.signal_distortion_ratio`` with
its defaults (a 512-tap distortion filter, as BSS-eval v3; agrees with mir_eval to ~0.01 dB):
``SDR = 10 log10(|s_target|² / |e_interf + e_noise + e_artif|²)`` where ``s_target`` is the reference
filtered by the best 512-tap FIR filter.
``SI-SDR (torchmetrics)``: ``scale_invariant_signal_distortion_ratio`` with zero-mean signals:
``α = <ŝ, s> / |s|²``, ``SI-SDR = 10 log10(|α s|² / |α s - ŝ|²)``.

Chunks whose reference is (near) silent (RMS < ``SILENT_RMS``) have no meaningful SDR: NaN (JSON
null), left out of song means.
"""
from __future__ import annotations

import numpy as np
import torch

SDR_NAME = "SDR (BSS-eval v3, torchmetrics)"
SI_SDR_NAME = "SI-SDR (torchmetrics)"
SILENT_RMS = 1e-4


def chunk_metrics(estimates: np.ndarray, references: np.ndarray) -> dict[str, np.ndarray]:
    """``(K, N)`` estimates and references → ``{"sdr": (K,), "si_sdr": (K,)}`` float64 dB."""
    from torchmetrics.functional.audio import (scale_invariant_signal_distortion_ratio,
                                               signal_distortion_ratio)

    estimates = np.asarray(estimates, np.float64)
    references = np.asarray(references, np.float64)
    # A silent reference makes the SDR filter's Toeplitz system singular: leave those rows out.
    audible = np.sqrt(np.mean(references ** 2, axis=-1)) >= SILENT_RMS
    sdr = np.full(len(references), np.nan)
    si_sdr = np.full(len(references), np.nan)
    if audible.any():
        est = torch.from_numpy(estimates[audible])
        ref = torch.from_numpy(references[audible])
        sdr[audible] = signal_distortion_ratio(est, ref).numpy()
        si_sdr[audible] = scale_invariant_signal_distortion_ratio(est, ref, zero_mean=True).numpy()
    return {"sdr": sdr, "si_sdr": si_sdr}


def mean_ignoring_nan(values) -> float:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")
