"""The ``text`` condition of one song: sung-syllable posteriorgrams at the model's STFT frames.

The published lyrics-conditioned separator fed posteriorgrams at a frame rate other than the
spectrogram's and named that as one reason it did not help (``../shared/reference/seeds/003``).
Here the posteriorgram is made at exactly the frames of ``separation.vovit.stft``: 16384 Hz, hop 256,
centred frames, so frame ``k`` of a 4-s window starting at sample ``s`` is centred at
``(s + 256 k) / 16384`` seconds; chunk ``c`` starts at sample ``65536 c`` (``separation.data``), so
its frame ``k`` is at ``4 c + k / 64`` s, and a training crop at any sample start gets its own
frames the same way.

Sources (``TEXT_SOURCES``), read from ``<song>/<performer>/`` (``core.syllables``):
* ``alignment`` (default): ``syllables.tsv``; one-hot, frame centre inside ``[start, end)`` → that
  syllable's class, else silence; present everywhere (a gap is known silence);
* ``posteriorgram``: ``syllable_posteriorgram.npy`` + ``.json``, linearly interpolated to the frame
  centres; frames outside the file's frames are silence and absent.
Columns are ``core.syllables.INVENTORY`` (533 classes, silence first).

Because a chunk's stride (65536 samples) is a whole number of hops (256), every chunk's frames lie
on one song-wide grid at ``j · 256 / 16384`` s (64 frames per second): ``song_text_frames`` gives
that grid for the whole song, chunk ``c`` = rows ``[256 c, 256 c + 256)``. A crop starting off the
grid (``separation.data``'s 25-fps crops) takes its own frames with ``SongText.window``.

As the ``text`` kind of ``separation.conditions`` (what training, ``separate``, ``evaluate`` and
the benchmark call): ``prepare_text`` reads the queried performer's file once per song and returns
``values`` on that song-wide 64-fps grid, long enough for the song's audio (so, unlike the 25-fps
kinds, ``values`` has grid rows, not video frames): ``(F64, 1)`` int32 class index per row for an
alignment (compact: a 10-min song is 38 400 rows, not 38 400 × 533 floats), ``(F64, 533)``
float32 for a posteriorgram; the presence ``mask`` is per 25-fps frame ``(F25, 1)`` (always
present for an alignment; inside the file's frames for a posteriorgram), so the missing-frame rule
is the other kinds'. ``text_window`` cuts the ``(256, 533)`` chunk input of the window starting at
25-fps frame ``f``: its first sample ``round(f · 16384 / 25)`` (``SongArrays.start_sample``), grid
row ``round(first sample / 256)`` on: exact for the 4-s grid chunks (evaluation, ``separate``'s
grid, saliency: ``f = 100 c`` starts on row ``256 c``), within half a hop (7.8 ms) for a training
crop off the grid; rows past the song are silence. ``separate``'s windows (every ``--hop_seconds``)
get the window of their nearest 25-fps frame, as every kind does: exact for a hop of whole 25-fps
frames (the default 2 s), otherwise up to 20 ms early or late. A performer without the file is a named skip
(``SongSkipped``); a malformed file is an ``AlignmentError`` naming file and line.

Reading results back onto syllables: ``per_syllable`` sums any per-frame quantity (an attribution
over the posteriorgram input summed over classes, a cross-attention's mass over condition frames)
over each sung syllable's frames and over the silent frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from core.syllables import (ALIGNMENT_NAME, CLASS_INDEX, N_CLASSES, POSTERIORGRAM_INFO_NAME,
                            POSTERIORGRAM_NAME, SILENCE, Posteriorgram,
                            SyllableAlignment, alignment_posteriorgram, load_alignment,
                            load_posteriorgram, resample_posteriorgram, syllable_at)

from .data import CHUNK_STRIDE_SAMPLES
from .vovit import HOP_LENGTH, N_FRAMES, SAMPLE_RATE, VIDEO_FPS

TEXT_SOURCES = ("alignment", "posteriorgram")


def frame_times(start_sample: int, n_frames: int = N_FRAMES) -> np.ndarray:
    """Centres (s) of the ``n_frames`` STFT frames of a window starting at ``start_sample``
    (16384 Hz): ``(start_sample + 256 k) / 16384``, ``(n_frames,)`` float64."""
    return (start_sample + HOP_LENGTH * np.arange(n_frames, dtype=np.float64)) / SAMPLE_RATE


def chunk_frame_times(chunk_index: int) -> np.ndarray:
    """Frame centres of chunk ``c`` (samples ``[65536 c, 65536 c + 65535)``): ``4 c + k / 64`` s."""
    return frame_times(CHUNK_STRIDE_SAMPLES * chunk_index)


@dataclass(frozen=True)
class SongText:
    """What one performer sings in a song, ready to be cut at any window."""
    source: str                                  # "alignment" | "posteriorgram"
    alignment: SyllableAlignment | None = None
    posteriorgram: Posteriorgram | None = None

    def window(self, start_sample: int, n_frames: int = N_FRAMES
               ) -> tuple[np.ndarray, np.ndarray]:
        """``(n_frames, N_CLASSES)`` float32 posteriorgram and ``(n_frames,)`` bool presence of
        the window starting at ``start_sample`` (16384 Hz)."""
        times = frame_times(start_sample, n_frames)
        if self.alignment is not None:
            return alignment_posteriorgram(self.alignment, times), np.ones(n_frames, dtype=bool)
        return resample_posteriorgram(self.posteriorgram, times)


def load_song_text(song_dir: str | Path, performer: str, source: str = "alignment") -> SongText:
    """Read the performer's syllables (module docstring); a missing or malformed file raises
    ``core.syllables.AlignmentError`` (a ``SongDataError``) naming it."""
    if source not in TEXT_SOURCES:
        raise ValueError(f"text source must be one of {TEXT_SOURCES}, got {source!r}")
    folder = Path(song_dir) / performer
    if source == "alignment":
        return SongText(source, alignment=load_alignment(folder / ALIGNMENT_NAME))
    return SongText(source, posteriorgram=load_posteriorgram(folder / POSTERIORGRAM_NAME))


def text_chunks(song_dir: str | Path, performer: str, chunk_indices: Sequence[int],
                source: str = "alignment") -> tuple[np.ndarray, np.ndarray]:
    """The ``text`` kind's preparation function: the performer's posteriorgram for each chunk
    ``c`` in ``chunk_indices`` → ``(n, 256, N_CLASSES)`` float32 and presence ``(n, 256)`` bool."""
    text = load_song_text(song_dir, performer, source)
    windows = [text.window(CHUNK_STRIDE_SAMPLES * int(c)) for c in chunk_indices]
    if not windows:
        return np.zeros((0, N_FRAMES, N_CLASSES), np.float32), np.zeros((0, N_FRAMES), bool)
    values, present = zip(*windows)
    return np.stack(values), np.stack(present)


def song_text_frames(song_dir: str | Path, performer: str, n_samples: int,
                     source: str = "alignment") -> tuple[np.ndarray, np.ndarray]:
    """The performer's posteriorgram on the song-wide STFT grid (module docstring) for a signal of
    ``n_samples`` at 16384 Hz: ``(n_samples // 256 + 1, N_CLASSES)`` float32 and presence bool;
    chunk ``c`` is rows ``[256 c, 256 c + 256)``."""
    return load_song_text(song_dir, performer, source).window(0, n_samples // HOP_LENGTH + 1)


def per_syllable(values: np.ndarray, times: np.ndarray, alignment: SyllableAlignment
                 ) -> list[dict]:
    """Sum per-frame ``values`` ``(T,)`` at frame centres ``times`` ``(T,)`` s over each syllable of
    ``alignment`` (the frames it covers by the frame rule) and over the frames of no syllable.

    Returns one dict per syllable with at least one frame, in time order, ``{"start_s", "end_s",
    "syllable", "value", "frames"}``, then ``{"syllable": "<sil>", "value", "frames"}`` for the
    silent frames (if any)."""
    values = np.asarray(values, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if values.shape != times.shape or values.ndim != 1:
        raise ValueError(f"values {values.shape} and times {times.shape} must be equal 1-d shapes")
    k = syllable_at(alignment, times)
    inside = k >= 0
    out = []
    for index in np.unique(k[inside]):
        frames = inside & (k == index)
        out.append({"start_s": float(alignment.starts[index]), "end_s": float(alignment.ends[index]),
                    "syllable": alignment.syllables[index], "value": float(values[frames].sum()),
                    "frames": int(frames.sum())})
    if (~inside).any():
        out.append({"syllable": SILENCE, "value": float(values[~inside].sum()),
                    "frames": int((~inside).sum())})
    return out


# --- the ``text`` kind of separation.conditions ----------------------------------------------------

def song_samples(song_dir: str | Path, instrument: str) -> int:
    """Samples at 16384 Hz of the song's longest ``.wav`` (stems and mixture: the audio loader pads
    mixture and target to the longer), from the files' headers; ``SongDataError`` when there is
    none (the audio loader would fail too)."""
    import soundfile

    from core.dataset import SongDataError

    paths = sorted(Path(song_dir).glob("*.wav"))
    if not paths:
        raise SongDataError(f"no audio (.wav) in {song_dir} for {instrument}")
    seconds = max(soundfile.info(str(p)).duration for p in paths)
    return int(np.ceil(seconds * SAMPLE_RATE))


def prepare_text(song_dir: str | Path, song_info, instrument: str, *, conventions=None,
                 options: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The performer's text for the whole song (module docstring): ``values`` ``(F64, 1)`` int32
    or ``(F64, 533)`` float32 on the song-wide STFT grid, ``mask`` ``(F25, 1)`` bool.
    ``options``: the model's encoder options (``source``: alignment | posteriorgram)."""
    from core.runner import SongSkipped

    source = dict(options or {}).get("source", "alignment")
    name = ALIGNMENT_NAME if source == "alignment" else POSTERIORGRAM_NAME
    if source in TEXT_SOURCES and not (Path(song_dir) / instrument / name).is_file():
        raise SongSkipped(f"no text for {instrument}: {instrument}/{name} does not exist")
    text = load_song_text(song_dir, instrument, source)
    n_samples = song_samples(song_dir, instrument)
    grid = frame_times(0, n_samples // HOP_LENGTH + 1)
    video = np.arange(int(np.ceil(n_samples * VIDEO_FPS / SAMPLE_RATE)) + 1) / VIDEO_FPS
    if text.alignment is not None:
        k = syllable_at(text.alignment, grid)
        values = np.full((len(grid), 1), CLASS_INDEX[SILENCE], np.int32)
        values[k >= 0, 0] = text.alignment.classes[k[k >= 0]]
        return values, np.ones((len(video), 1), bool)
    values, _ = resample_posteriorgram(text.posteriorgram, grid)
    return values, resample_posteriorgram(text.posteriorgram, video)[1][:, None]


def text_window(values: np.ndarray, mask: np.ndarray, start_frame: int, n_frames: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The chunk input ``(256, 533)`` float32 of the window starting at 25-fps frame
    ``start_frame`` (module docstring; ``n_frames`` 25-fps frames long, 256 STFT frames for 100)
    and its ``(n_frames, 1)`` presence, False past the end."""
    start_sample = int(round(start_frame * SAMPLE_RATE / VIDEO_FPS))
    n_rows = int(round(n_frames * SAMPLE_RATE / VIDEO_FPS / HOP_LENGTH))
    rows = int(round(start_sample / HOP_LENGTH)) + np.arange(n_rows)
    inside = rows < len(values)
    out = np.zeros((n_rows, N_CLASSES), np.float32)
    out[~inside, CLASS_INDEX[SILENCE]] = 1.0
    if values.shape[1] == 1:                                  # class index per row (alignment)
        out[np.flatnonzero(inside), values[rows[inside], 0]] = 1.0
    else:
        out[inside] = values[rows[inside]]
    out_mask = np.zeros((n_frames, mask.shape[1]), bool)
    stop = min(len(mask), start_frame + n_frames)
    if stop > start_frame:
        out_mask[:stop - start_frame] = mask[start_frame:stop]
    return out, out_mask


def text_input_files(song_dir: str | Path, instrument: str) -> list[Path]:
    """What ``prepare_text`` may read besides the audio: the performer's alignment and
    posteriorgram files (the re-run rule, ``core.freshness``)."""
    folder = Path(song_dir) / instrument
    return [folder / ALIGNMENT_NAME, folder / POSTERIORGRAM_NAME, folder / POSTERIORGRAM_INFO_NAME]
