"""Audio loading: mono float32 at a chosen sample rate, several stems of one instrument averaged."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import SongDataError, find_stems


def read_audio(path: str | Path, start_s: float = 0.0, duration_s: float | None = None
               ) -> tuple[np.ndarray, int]:
    """``((N,) float32 mono, file sample rate)``: the whole file, or ``duration_s`` seconds from
    ``start_s`` (read by seeking, so a clip of an hour-long stem costs only the clip)."""
    import soundfile as sf

    path = Path(path)
    try:
        with sf.SoundFile(str(path)) as fh:
            file_sr = fh.samplerate
            if start_s:
                fh.seek(min(int(round(start_s * file_sr)), fh.frames))
            frames = -1 if duration_s is None else int(round(duration_s * file_sr))
            data = fh.read(frames, dtype="float32", always_2d=True)
    except Exception as exc:
        raise SongDataError(f"audio {path} cannot be read: {exc}") from exc
    # a mono file needs no mean: taking the column avoids a second full-length copy (an hour at
    # 48 kHz is ~0.7 GB in float32)
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32), file_sr


def resample(signal: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """``(N,)`` float32 signal from ``sr`` to ``target_sr`` Hz (soxr high quality); unchanged when
    the rates match or the signal is empty."""
    if sr == target_sr or not len(signal):
        return np.asarray(signal, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(signal, dtype=np.float32), sr, target_sr,
                         quality="HQ").astype(np.float32)


def load_audio(path: str | Path, sr: int) -> np.ndarray:
    """``(N,)`` float32 mono at ``sr`` Hz (channels averaged; soxr high-quality resampling)."""
    mono, file_sr = read_audio(path)
    return resample(mono, file_sr, sr)


def save_wav(path: str | Path, wave: np.ndarray, sr: int, subtype: str = "FLOAT") -> Path:
    """Write a ``(N,)`` mono wave (float, -1..1) as WAV atomically.

    ``subtype`` "FLOAT" keeps model outputs exact; "PCM_16" (values clipped to -1..1 first, as
    the integer format cannot hold more) gives the size of a typical recording.
    """
    import soundfile as sf

    from .io import atomic_path

    wave = np.asarray(wave, dtype=np.float32)
    finite = np.isfinite(wave)
    if not finite.all():
        # a WAV full of NaN plays as silence or noise and poisons every later metric: refuse it
        first = int(np.argmin(finite))
        raise ValueError(f"refusing to write {path}: {int((~finite).sum())} of {len(wave)} samples "
                         f"are NaN or infinite (first at sample {first})")
    if subtype.startswith("PCM"):
        wave = np.clip(wave, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), wave, sr, subtype=subtype, format="WAV")
    return Path(path)


def average_signals(signals: list[np.ndarray]) -> np.ndarray:
    """Mean of signals of possibly different lengths (shorter ones zero-padded)."""
    if len(signals) == 1:
        return signals[0]
    length = max(len(s) for s in signals)
    out = np.zeros(length, dtype=np.float32)
    for s in signals:
        out[:len(s)] += s
    return out / len(signals)


STEM_LENGTH_TOLERANCE_S = 1.0   # stems of one instrument are recorded together: same length


def average_stems(paths: list[Path], signals: list[np.ndarray], sr: int) -> np.ndarray:
    """Average several stems of one instrument (e.g. mridangam left + right), refusing to do it
    when one is empty or much shorter than another: averaging would mix silence in and scale the
    instrument down (one of two stems empty → half the amplitude) without anyone noticing."""
    if len(signals) > 1:
        lengths = [len(s) for s in signals]
        longest = max(lengths)
        for path, length in zip(paths, lengths):
            if length == 0 or (longest - length) / sr > STEM_LENGTH_TOLERANCE_S:
                other = paths[lengths.index(longest)]
                raise SongDataError(
                    f"stem {path} has {length / sr:.2f} s of audio but {other.name} has "
                    f"{longest / sr:.2f} s: refusing to average it in as silence (fix or remove it)")
    return average_signals(signals)


def load_stem(song_dir: str | Path, instrument: str, sr: int) -> np.ndarray:
    """The instrument's stem at ``sr`` Hz: matching ``.wav`` files averaged (published rule)."""
    paths = find_stems(song_dir, instrument)
    if not paths:
        raise SongDataError(f"no {instrument} stem (*.wav starting with "
                            f"'{'mri' if instrument == 'mridangam' else instrument}') in {song_dir}")
    signals = [load_audio(p, sr) for p in paths]
    if all(len(s) == 0 for s in signals):
        raise SongDataError(f"{instrument} stem(s) in {song_dir} are empty (zero samples)")
    return average_stems(paths, signals, sr)
