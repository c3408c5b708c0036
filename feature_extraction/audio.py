"""Audio features of one stem, on the video's frame grid.

Stem: mono at ``sr`` = 48 000 Hz (``core.audio.load_stem``: several matching files averaged,
mridangam matches "mri"). Analysis frames: ``n_fft`` = 2048 samples, hop ``h`` = 1024, centred
(frame ``k`` covers samples ``[k h - n_fft/2, k h + n_fft/2)``, zeros outside the signal, as librosa's
``center=True, pad_mode="constant"``), so there are ``1 + N // h`` frames and frame ``k`` sits at
``t_k = k h / sr`` seconds.

* ``rms_k`` = ``sqrt(mean_{n in frame k} y_n²)`` (``librosa.feature.rms``)              (full-scale amplitude)
* ``onset_env`` = ``librosa.onset.onset_strength`` with hop 1024: mel power spectrogram (128 bands,
  Hann window ``n_fft``) → dB (``power_to_db``, ref 1, top_db 80 relative to the whole stem's
  maximum) → ``mean_bands max(0, M_k - M_{k-1})``, shifted by ``1 + n_fft // (2 h)`` frames
  (librosa's centring compensation)                                              (dB)
* ``spectral_centroid_k`` = ``Σ_f f |X_fk| / Σ_f |X_fk|`` (``librosa.feature.spectral_centroid``)   (Hz)
* ``f0`` (optional): pYIN (``librosa.pyin``) on the stem resampled to 16 kHz, frame 1024, hop 320,
  65–1050 Hz; unvoiced frames NaN                                                (Hz)

The STFT-based features are computed over blocks of ``block_frames`` frames (each block reads its
frames' samples plus ``n_fft/2`` either side), which gives exactly the full-signal librosa values while
bounding memory on hour-long stems; the dB conversion and onset difference run once over the whole
mel spectrogram so the global top_db reference and the frame-to-frame difference are unchanged.

Every feature is then linearly interpolated to video frame times ``i / fps`` for
``i = 0 … n_frames - 1`` (``np.interp``; beyond the last analysis frame the last value is held).
"""
from __future__ import annotations

import numpy as np

from core.audio import resample

SAMPLE_RATE = 48_000
N_FFT = 2048
HOP_LENGTH = 1024
N_MELS = 128
F0_SAMPLE_RATE = 16_000
F0_FRAME, F0_HOP, F0_FMIN, F0_FMAX = 1024, 320, 65.0, 1050.0

AUDIO_UNITS = {"rms": "full-scale amplitude", "onset_env": "dB (mel onset strength)",
               "spectral_centroid": "Hz", "f0": "Hz"}


def n_analysis_frames(n_samples: int, hop: int = HOP_LENGTH) -> int:
    """Number of centred analysis frames librosa produces for ``n_samples`` samples."""
    return 1 + n_samples // hop


def frame_block(y: np.ndarray, first_frame: int, n_frames: int, n_fft: int = N_FFT,
                hop: int = HOP_LENGTH) -> np.ndarray:
    """Samples for centred frames ``first_frame … first_frame + n_frames - 1`` (zero-padded outside
    the signal), laid out so that non-centred framing of the result gives exactly those frames."""
    start = first_frame * hop - n_fft // 2
    stop = (first_frame + n_frames - 1) * hop + n_fft // 2 + (n_fft % 2)
    segment = np.zeros(stop - start, dtype=np.float32)
    lo, hi = max(start, 0), min(stop, len(y))
    if hi > lo:
        segment[lo - start:hi - start] = y[lo:hi]
    return segment


def stft_features(y: np.ndarray, sr: int = SAMPLE_RATE, n_fft: int = N_FFT, hop: int = HOP_LENGTH,
                  block_frames: int = 8192) -> dict[str, np.ndarray]:
    """``y`` (N,) float32 → ``rms``, ``onset_env``, ``spectral_centroid``, each (1 + N // hop,)
    float64, equal to librosa's full-signal results (module docstring)."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if len(y) == 0:
        raise ValueError("zero-length audio")
    total = n_analysis_frames(len(y), hop)
    mel_basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=N_MELS)
    frequencies = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    rms, centroid, mel = [], [], []
    for first in range(0, total, block_frames):
        count = min(block_frames, total - first)
        segment = frame_block(y, first, count, n_fft, hop)
        rms.append(librosa.feature.rms(y=segment, frame_length=n_fft, hop_length=hop,
                                       center=False)[0])
        magnitude = np.abs(librosa.stft(segment, n_fft=n_fft, hop_length=hop, center=False))
        centroid.append(librosa.feature.spectral_centroid(S=magnitude, sr=sr, n_fft=n_fft,
                                                          hop_length=hop, freq=frequencies)[0])
        mel.append(mel_basis @ (magnitude ** 2))
    mel_db = librosa.power_to_db(np.concatenate(mel, axis=1))
    onset = librosa.onset.onset_strength(S=mel_db, sr=sr, n_fft=n_fft, hop_length=hop)
    return {"rms": np.concatenate(rms).astype(np.float64),
            "onset_env": onset.astype(np.float64),
            "spectral_centroid": np.concatenate(centroid).astype(np.float64)}


def pyin_f0(y: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """pYIN f0 of ``y``: returns ``(f0 Hz with NaN when unvoiced, frame times s)``."""
    import librosa

    y16 = resample(y, sr, F0_SAMPLE_RATE)
    f0, _, _ = librosa.pyin(y16, fmin=F0_FMIN, fmax=F0_FMAX, sr=F0_SAMPLE_RATE,
                            frame_length=F0_FRAME, hop_length=F0_HOP)
    times = np.arange(len(f0)) * F0_HOP / F0_SAMPLE_RATE
    return f0.astype(np.float64), times


def to_video_frames(values: np.ndarray, times: np.ndarray, fps: float, n_frames: int) -> np.ndarray:
    """Linear interpolation of ``values`` at ``times`` (s) onto video frames ``i / fps``, i < n_frames.

    NaN samples are left out of the interpolation, except that a video frame whose two neighbouring
    analysis frames are both NaN stays NaN (so unvoiced stretches of f0 are not bridged).
    """
    values = np.asarray(values, dtype=np.float64)
    frame_times = np.arange(n_frames) / fps
    finite = np.isfinite(values)
    if not finite.any():
        return np.full(n_frames, np.nan)
    out = np.interp(frame_times, times[finite], values[finite])
    if not finite.all():
        right = np.clip(np.searchsorted(times, frame_times), 0, len(times) - 1)
        left = np.clip(right - 1, 0, len(times) - 1)
        exact = np.isclose(times[right], frame_times)
        nan_here = np.where(exact, ~finite[right], ~finite[left] & ~finite[right])
        out[nan_here] = np.nan
    return out


def audio_features(y: np.ndarray, fps: float, n_frames: int, sr: int = SAMPLE_RATE,
                   with_f0: bool = False) -> dict[str, np.ndarray]:
    """A stem (N,) at ``sr`` → {feature: (n_frames,) float64 on the video frame grid}."""
    frame_features = stft_features(y, sr)
    times = np.arange(n_analysis_frames(len(y))) * HOP_LENGTH / sr
    features = {name: to_video_frames(values, times, fps, n_frames)
                for name, values in frame_features.items()}
    if with_f0:
        f0, f0_times = pyin_f0(y, sr)
        features["f0"] = to_video_frames(f0, f0_times, fps, n_frames)
    return features
