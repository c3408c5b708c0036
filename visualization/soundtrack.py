"""The clip's audio and muxing it into the rendered video with the pip-installed ffmpeg.

Soundtrack of a clip ``[start, start + duration)`` seconds: the song's mixture (``mixture*.wav``,
``core.dataset.find_mixture``) if there is one, else the sum over the layout's instruments of each
instrument's stem (several files of one instrument averaged, as everywhere in the pipeline). Only
that segment is read from disk (``soundfile`` seeking), never the whole song. If the sum's peak
exceeds 1 it is scaled by ``1 / peak`` so the AAC encoder does not clip. Audio shorter than the
video is padded with silence, so both streams last ``duration``.

Muxing: ``ffmpeg -i video -i audio.wav -map 0:v:0 -map 1:a:0 -c:v copy -c:a aac -t duration
-movflags +faststart out.mp4``: the video stream is copied bit for bit, the audio starts at the first
frame, and the index sits at the file start so browsers can start playing before the download ends.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from core.audio import average_stems, read_audio, resample
from core.dataset import SongDataError, find_mixture, find_stems


def clip_soundtrack(song_dir: str | Path, instruments: tuple[str, ...], start_s: float,
                    duration_s: float) -> tuple[np.ndarray, int, str]:
    """``(samples (N,) float32, sample rate, description)`` of the clip (module docstring)."""
    song_dir = Path(song_dir)
    mixture = find_mixture(song_dir)
    if mixture is not None:
        signal, sr = read_audio(mixture, start_s, duration_s)
        source = f"mixture {mixture.name}"
    else:
        per_instrument, sr = [], None
        for instrument in instruments:
            paths = find_stems(song_dir, instrument)
            if not paths:
                continue
            parts = []
            for path in paths:
                segment, file_sr = read_audio(path, start_s, duration_s)
                sr = sr or file_sr
                parts.append(resample(segment, file_sr, sr))
            per_instrument.append(average_stems(paths, parts, sr))
        if not per_instrument:
            raise SongDataError(f"--add_audio: no mixture*.wav and no stems of {', '.join(instruments)} "
                                f"in {song_dir}")
        length = max(len(s) for s in per_instrument)
        signal = np.zeros(length, dtype=np.float32)
        for s in per_instrument:
            signal[:len(s)] += s
        source = f"sum of {len(per_instrument)} instrument stem(s)"
    peak = float(np.max(np.abs(signal))) if len(signal) else 0.0
    if peak > 1.0:
        signal = signal / peak
    wanted = int(round(duration_s * sr))
    if len(signal) < wanted:
        signal = np.concatenate([signal, np.zeros(wanted - len(signal), dtype=np.float32)])
    return signal[:wanted].astype(np.float32), int(sr), source


def mux_audio(video_path: Path, audio: np.ndarray, sr: int, duration_s: float, out_path: Path) -> None:
    """Write ``out_path`` (mp4): the video stream of ``video_path`` copied, ``audio`` encoded to AAC."""
    import imageio_ffmpeg
    import soundfile as sf

    wav_path = out_path.with_name(out_path.stem + ".audio.wav")
    try:
        sf.write(str(wav_path), audio, sr, subtype="FLOAT")
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-y", "-v", "error",
                   "-i", str(video_path), "-i", str(wav_path), "-map", "0:v:0", "-map", "1:a:0",
                   "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-t", f"{duration_s:.6f}",
                   "-movflags", "+faststart", "-f", "mp4", str(out_path)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"ffmpeg muxing failed ({result.returncode}): {result.stderr.strip()}")
    finally:
        wav_path.unlink(missing_ok=True)
