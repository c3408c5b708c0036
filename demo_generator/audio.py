"""Synthetic Carnatic-concert audio for the demo dataset: vocal, violin, mridangam, tanpura drone.

Everything is a pure function of a ``numpy.random.Generator`` and a duration, so the same seed gives
the same samples. Signals are ``(N,)`` float64 mono at ``SAMPLE_RATE`` (48 kHz), amplitude ~[-1, 1].

Musical material
----------------
* Tonic (Sa) ``TONIC_HZ`` = 146.83 Hz (D3). Raga Mayamalavagowla: scale degrees in semitones above Sa
  ``RAGA_SEMITONES`` = S R1 G3 M1 P D1 N3 = (0, 1, 4, 5, 7, 8, 11). A note ``s`` semitones above Sa
  has ``f = TONIC_HZ * 2 ** (s / 12)``. The vocal line uses notes from mandra Pa (-5) to tara Sa (+12),
  so its f0 stays inside ``VOCAL_F0_RANGE_HZ`` = [TONIC * 2^(-5/12), TONIC * 2] = [110.0, 293.7] Hz.
* Vocal: phrases of 4-9 notes (random walk over the raga's notes) separated by rests. Pitch moves
  between notes with a raised-cosine glide of ``GLIDE_S``; some long notes carry a gamaka, an
  oscillation between the note and its upper (or lower) raga neighbour,
  ``p(t) = p_note + (p_neigh - p_note) * (1 - cos(2 pi f_g t)) / 2`` with ``f_g`` 4-6 Hz, so the pitch
  never leaves the interval spanned by the two raga notes. Timbre: harmonics ``k f0`` (below 6 kHz)
  with amplitude ``k^-1.2 * (1 + sum_i g_i exp(-((k f0 - F_i) / B_i)^2))`` (three vowel formants).
  Loudness: phrase envelope (40 ms attack, 120 ms release) times a note accent
  ``1 + 0.5 exp(-t / 60 ms)`` at each note start (gives the voice its own onsets).
* Violin: the vocal pitch contour delayed by ``VIOLIN_DELAY_S`` (it shadows the singer), active while
  the delayed vocal is active plus ``VIOLIN_HOLD_S``. Brighter timbre (sawtooth-like ``k^-1`` harmonics
  up to 8 kHz with body resonances). Its loudness follows its OWN bow strokes: strokes of 0.35-0.8 s
  with independent random lengths, each ``0.25 + 0.75 * min(1, t / 40 ms)`` rising, then fading to 0.6
  over the stroke, with a short dip at every bow change.
* Mridangam: Adi tala (8 beats per cycle), chatusra nadai (4 strokes per beat) at ``TEMPO_BPM``; the
  stroke grid is ``t_j = t0 + j * 60 / (TEMPO_BPM * 4)``. Beats always carry a stroke, sub-beats with a
  per-beat density; samam (beat 1 of the cycle) is accented. Strokes are damped sinusoids plus
  noise: ``nam``/``dhin`` (right head, tuned to Sa, harmonics 1-5 ringing 0.2-0.4 s), ``tha``/``ki``
  (damped right head, 30-60 ms), ``thom`` (left bass head, 110 -> 80 Hz glide, 0.3 s), ``tham``
  (thom + nam). Amplitude = type gain x accent x (1 + 0.15 N(0, 1)), clipped to [0.3, 1.2].
  The two microphones: ``left = left_head + 0.5 right_head``, ``right = right_head + 0.5 left_head``.
* Tanpura drone: strings Pa (lower), Sa', Sa', Sa (lower octave) plucked in turn every 1.0 s, each a
  harmonic tone decaying over ~3 s. The drone has no stem of its own: it is only in the mixture.

Close-mic bleed: each stem = its source + ``BLEED_DB`` (-25 dB) x each other source.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 48_000
TONIC_HZ = 146.83
RAGA_NAME = "Mayamalavagowla"
RAGA_SEMITONES = (0, 1, 4, 5, 7, 8, 11)
VOCAL_LOWEST, VOCAL_HIGHEST = -5, 12          # semitones relative to Sa
VOCAL_F0_RANGE_HZ = (TONIC_HZ * 2 ** (VOCAL_LOWEST / 12), TONIC_HZ * 2 ** (VOCAL_HIGHEST / 12))
GLIDE_S = 0.07
VIOLIN_DELAY_S = 0.3
VIOLIN_HOLD_S = 0.4
TEMPO_BPM = 84.0
BEATS_PER_CYCLE = 8                            # Adi tala
STROKES_PER_BEAT = 4                           # chatusra nadai
BLEED_DB = -25.0
CONTROL_RATE = 1000                            # Hz, pitch contours are built here, then interpolated
CALL_OVERLAP_S = (-0.6, 1.0)                   # call and response: next phrase enters this early (s)
SHADOW_DELAY_S = (0.25, 0.6)                   # a shadowing voice repeats a phrase this late (s)


def raga_notes(lowest: int = VOCAL_LOWEST, highest: int = VOCAL_HIGHEST) -> np.ndarray:
    """Raga notes in semitones relative to Sa within ``[lowest, highest]``, ascending, (K,) int."""
    notes = [s + octave for octave in (-24, -12, 0, 12, 24) for s in RAGA_SEMITONES]
    return np.array(sorted(n for n in notes if lowest <= n <= highest))


def semitones_to_hz(semitones: np.ndarray | float) -> np.ndarray:
    return TONIC_HZ * 2.0 ** (np.asarray(semitones, dtype=np.float64) / 12.0)


@dataclass
class VocalLine:
    """The singer's score: notes (start s, duration s, semitones) grouped into phrases."""
    note_starts: np.ndarray                    # (K,) seconds
    note_durations: np.ndarray                 # (K,) seconds
    note_semitones: np.ndarray                 # (K,) semitones relative to Sa
    gamaka: np.ndarray                         # (K,) neighbour semitone of the oscillation, NaN = none
    gamaka_rate_hz: np.ndarray                 # (K,)
    phrases: list[tuple[float, float]] = field(default_factory=list)   # (start, end) seconds


def _compose_phrase(rng: np.random.Generator, t: float, notes: np.ndarray, index: int
                    ) -> tuple[list[tuple[float, float, float, float, float]], float, int]:
    """One phrase of 4-9 notes from ``t`` (s), a random walk over ``notes`` from ``notes[index]``.

    Returns the notes as ``(start, duration, semitones, gamaka neighbour or NaN, gamaka rate)``,
    the phrase end (s) and the walk's last index."""
    phrase = []
    for _ in range(int(rng.integers(4, 10))):
        length = float(rng.choice([0.25, 0.375, 0.5, 0.75, 1.0], p=[0.2, 0.25, 0.25, 0.2, 0.1]))
        index = int(np.clip(index + rng.choice([-2, -1, 1, 2]), 0, len(notes) - 1))
        neighbour = np.nan
        if length >= 0.5 and rng.random() < 0.5:
            neighbour = notes[index + 1] if index + 1 < len(notes) else notes[index - 1]
        phrase.append((t, length, float(notes[index]), float(neighbour), float(rng.uniform(4.0, 6.0))))
        t += length
    return phrase, t, index


def _line_from_phrases(phrases: list[list[tuple[float, float, float, float, float]]]) -> VocalLine:
    """A ``VocalLine`` from phrases of ``(start, duration, semitones, neighbour, rate)`` notes."""
    notes = [note for phrase in phrases for note in phrase]
    columns = np.array(notes, dtype=np.float64).reshape(-1, 5).T
    bounds = [(phrase[0][0], phrase[-1][0] + phrase[-1][1]) for phrase in phrases if phrase]
    return VocalLine(columns[0], columns[1], columns[2], columns[3], columns[4], bounds)


def compose_vocal_line(rng: np.random.Generator, duration: float) -> VocalLine:
    """Phrases of 4-9 notes, a random walk over the raga, separated by 0.3-1.1 s rests."""
    notes = raga_notes()
    phrases = []
    t = float(rng.uniform(0.2, 0.6))
    index = int(np.searchsorted(notes, 0))     # start around Sa
    while t < duration:
        phrase, t, index = _compose_phrase(rng, t, notes, index)
        phrases.append(phrase)
        t += float(rng.uniform(0.3, 1.1))
    return _line_from_phrases(phrases)


def compose_call_and_response(rng: np.random.Generator, duration: float, n_voices: int = 2,
                              overlap_s: tuple[float, float] = CALL_OVERLAP_S) -> list[VocalLine]:
    """Voices that take turns (call and response), one ``VocalLine`` per voice.

    The first phrase goes to a random voice; each next phrase goes to the next voice in turn and
    starts ``o ~ U(overlap_s)`` seconds before the previous phrase ends (``o < 0``: a rest of
    ``-o``), but never before the same voice's own previous phrase has ended + 0.2 s. Every voice
    walks over the same raga notes in the same register (``raga_notes()``), so the voices are
    exchangeable: which one starts, how long each sings, and the overlaps are all random.
    """
    notes = raga_notes()
    phrases: list[list] = [[] for _ in range(n_voices)]
    index = [int(np.searchsorted(notes, 0))] * n_voices
    own_end = [-np.inf] * n_voices
    voice = int(rng.integers(n_voices))
    t = float(rng.uniform(0.2, 0.6))
    while t < duration:
        t = max(t, own_end[voice] + 0.2)
        phrase, end, index[voice] = _compose_phrase(rng, t, notes, index[voice])
        phrases[voice].append(phrase)
        own_end[voice] = end
        t = end - float(rng.uniform(*overlap_s))
        voice = (voice + 1) % n_voices
    return [_line_from_phrases(p) for p in phrases]


def compose_shadow_lines(rng: np.random.Generator, duration: float,
                         delay_s: tuple[float, float] = SHADOW_DELAY_S) -> list[VocalLine]:
    """Two voices singing the same line, one shadowing the other (the Carnatic violinist's way).

    One line is composed (``compose_vocal_line``); per phrase a random voice leads and the other
    repeats the phrase ``d ~ U(delay_s)`` seconds later (one ``d`` per phrase). Because the leader
    is drawn per phrase, "who is first" carries no information about who is who.
    """
    line = compose_vocal_line(rng, duration)
    phrases: list[list] = [[], []]
    bounds = np.array(line.phrases).reshape(-1, 2)
    for start, end in bounds:
        inside = (line.note_starts >= start - 1e-9) & (line.note_starts < end - 1e-9)
        notes = list(zip(line.note_starts[inside], line.note_durations[inside],
                         line.note_semitones[inside], line.gamaka[inside], line.gamaka_rate_hz[inside]))
        leader = int(rng.integers(2))
        delay = float(rng.uniform(*delay_s))
        phrases[leader].append(notes)
        phrases[1 - leader].append([(s + delay, *rest) for s, *rest in notes])
    return [_line_from_phrases(p) for p in phrases]


SVARA_NAMES = ("sa", "ri", "ri", "ga", "ga", "ma", "ma", "pa", "dha", "dha", "ni", "ni")


def svara_syllables(semitones: np.ndarray) -> list[str]:
    """The solfege syllable (svara) sung on each note: ``SVARA_NAMES[semitones mod 12]`` (the raga's
    notes S R1 G3 M1 P D1 N3 map to sa ri ga ma pa dha ni)."""
    return [SVARA_NAMES[int(round(s)) % 12] for s in np.asarray(semitones)]


def sung_syllables(line: VocalLine, end_s: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """What a voice singing ``line`` sings before ``end_s``: one svara syllable per note
    (``svara_syllables``) over the time the note is heard, ``(starts (K,), ends (K,), syllables)``
    in seconds, sorted and disjoint (the ``core.syllables`` alignment).

    A note is heard from its start until its end, the start of any note listed after it
    (``vocal_pitch_contour`` lets a later-listed note take the pitch over from its start: in a
    shadowed line a repeated phrase can run into the same voice's next phrase) or ``end_s``,
    whichever comes first; a note that leaves nothing is not sung."""
    starts = np.asarray(line.note_starts, dtype=np.float64)
    ends = starts + np.asarray(line.note_durations, dtype=np.float64)
    # earliest start among the notes listed after each note (inf for the last one)
    later = np.minimum.accumulate(np.append(starts, np.inf)[::-1])[::-1][1:]
    heard_until = np.minimum(np.minimum(ends, later), end_s)
    sung = heard_until > starts
    names = svara_syllables(line.note_semitones[sung])
    order = np.argsort(starts[sung], kind="stable")
    return starts[sung][order], heard_until[sung][order], [names[i] for i in order]


def vocal_pitch_contour(line: VocalLine, duration: float, rate: int = CONTROL_RATE) -> np.ndarray:
    """Semitone contour ``(round(duration * rate),)`` with glides and gamakas (NaN-free; rests hold
    the last pitch so that the delayed violin never jumps)."""
    n = int(round(duration * rate))
    t = np.arange(n) / rate
    contour = np.full(n, line.note_semitones[0] if len(line.note_semitones) else 0.0)
    previous = contour[0]
    for start, length, pitch, neighbour, g_rate in zip(line.note_starts, line.note_durations,
                                                        line.note_semitones, line.gamaka,
                                                        line.gamaka_rate_hz):
        a, b = int(start * rate), min(n, int((start + length) * rate))
        if a >= n:
            break
        local = t[a:b] - start
        segment = np.full(b - a, pitch)
        if np.isfinite(neighbour):
            segment = pitch + (neighbour - pitch) * 0.5 * (1 - np.cos(2 * np.pi * g_rate * local))
        glide = np.clip(local / GLIDE_S, 0, 1)
        blend = 0.5 - 0.5 * np.cos(np.pi * glide)             # 0 -> 1 raised cosine
        contour[a:b] = previous + (segment - previous) * blend
        contour[b:] = segment[-1] if len(segment) else previous
        previous = contour[b - 1] if b > a else previous
    return contour


def _phrase_gate(phrases: list[tuple[float, float]], n: int, sr: int, attack: float, release: float,
                 delay: float = 0.0, hold: float = 0.0) -> np.ndarray:
    """(n,) loudness gate 0..1: linear attack/release ramps around each (delayed) phrase."""
    t = np.arange(n) / sr
    gate = np.zeros(n)
    for start, end in phrases:
        s, e = start + delay, end + delay + hold
        rise = np.clip((t - s) / attack, 0, 1)
        fall = np.clip((e + release - t) / release, 0, 1)
        gate = np.maximum(gate, np.minimum(rise, fall))
    return gate


def _harmonic_tone(f0: np.ndarray, sr: int, max_hz: float, harmonic_gain,
                   max_harmonics: int = 40, decimation: int = 48) -> np.ndarray:
    """Sum of harmonics of the time-varying ``f0`` (Hz, (n,)); ``harmonic_gain(k, f_k)`` -> gain.

    Gains change slowly, so they are evaluated every ``decimation`` samples (1 kHz at 48 kHz) and
    held; harmonics at or above ``max_hz`` are silent (no aliasing).
    """
    n = len(f0)
    phase = (2 * np.pi * np.cumsum(f0) / sr) % (2 * np.pi)
    coarse = f0[::decimation]
    out = np.zeros(n, dtype=np.float32)
    for k in range(1, min(max_harmonics, int(max_hz // max(f0.min(), 1.0))) + 1):
        fk = k * coarse
        gain = (harmonic_gain(k, fk) * (fk < max_hz)).astype(np.float32)
        out += np.repeat(gain, decimation)[:n] * np.sin(k * phase).astype(np.float32)
    return out.astype(np.float64)


def _upsample(contour: np.ndarray, n: int, sr: int, rate: int = CONTROL_RATE,
              delay_s: float = 0.0) -> np.ndarray:
    t = np.arange(n) / sr - delay_s
    return np.interp(t, np.arange(len(contour)) / rate, contour)


def synth_vocal(rng: np.random.Generator, line: VocalLine, n: int, sr: int = SAMPLE_RATE
                ) -> tuple[np.ndarray, np.ndarray]:
    """Voice-like tone for ``line``: returns (signal (n,), f0 in Hz at sample rate (n,))."""
    duration = n / sr
    semis = _upsample(vocal_pitch_contour(line, duration + 1.0), n, sr)
    f0 = semitones_to_hz(semis)
    formants = ((700.0, 130.0, 3.0), (1150.0, 150.0, 2.0), (2700.0, 250.0, 1.0))

    def gain(k, fk):
        boost = 1.0 + sum(g * np.exp(-((fk - f) / b) ** 2) for f, b, g in formants)
        return k ** -1.2 * boost

    tone = _harmonic_tone(f0, sr, 6000.0, gain)
    gate = _phrase_gate(line.phrases, n, sr, attack=0.04, release=0.12)
    t = np.arange(n) / sr
    accent = np.ones(n)
    for start, level in zip(line.note_starts, rng.uniform(0.3, 0.7, len(line.note_starts))):
        a = int(start * sr)
        if a >= n:
            break
        b = min(n, a + int(0.4 * sr))
        accent[a:b] += level * np.exp(-(t[a:b] - start) / 0.06)
    breath = rng.standard_normal(n) * 0.01
    signal = (tone * accent + breath) * gate
    return signal / (np.abs(signal).max() + 1e-12), f0


@dataclass
class BowStrokes:
    """The violinist's bow: change times (s) and direction (+1 down bow, -1 up bow) per stroke."""
    starts: np.ndarray
    directions: np.ndarray


def compose_bow_strokes(rng: np.random.Generator, duration: float) -> BowStrokes:
    starts, t = [], float(rng.uniform(0.0, 0.3))
    while t < duration + 1.0:
        starts.append(t)
        t += float(rng.uniform(0.35, 0.8))
    directions = np.where(np.arange(len(starts)) % 2 == 0, 1.0, -1.0)
    return BowStrokes(np.array(starts), directions)


def bow_position(strokes: BowStrokes, times: np.ndarray) -> np.ndarray:
    """Bow position in [-1, 1] at ``times`` (s): a linear sweep per stroke, reversing at changes."""
    idx = np.clip(np.searchsorted(strokes.starts, times, side="right") - 1, 0, len(strokes.starts) - 1)
    start = strokes.starts[idx]
    end = np.append(strokes.starts[1:], strokes.starts[-1] + 0.6)[idx]
    progress = np.clip((times - start) / np.maximum(end - start, 1e-6), 0, 1)
    return strokes.directions[idx] * (2 * progress - 1)


def synth_violin(rng: np.random.Generator, line: VocalLine, strokes: BowStrokes, n: int,
                 sr: int = SAMPLE_RATE) -> np.ndarray:
    """Violin shadowing the vocal line ``VIOLIN_DELAY_S`` late, loudness from its own bow strokes."""
    duration = n / sr
    semis = _upsample(vocal_pitch_contour(line, duration + 1.0), n, sr, delay_s=VIOLIN_DELAY_S)
    f0 = semitones_to_hz(semis) * (1 + 0.003 * np.sin(2 * np.pi * 5.5 * np.arange(n) / sr))
    resonances = ((280.0, 80.0, 1.5), (450.0, 100.0, 1.0), (3000.0, 600.0, 2.0))

    def gain(k, fk):
        return (1.0 / k) * (1.0 + sum(g * np.exp(-((fk - f) / b) ** 2) for f, b, g in resonances))

    tone = _harmonic_tone(f0, sr, 8000.0, gain)
    t = np.arange(n) / sr
    bow = np.zeros(n)
    ends = np.append(strokes.starts[1:], strokes.starts[-1] + 0.6)
    for start, end in zip(strokes.starts, ends):
        a, b = int(start * sr), min(n, int(end * sr))
        if a >= n:
            break
        local = t[a:b] - start
        rise = 0.25 + 0.75 * np.minimum(1.0, local / 0.04)
        fade = 1.0 - 0.4 * local / max(end - start, 1e-6)
        bow[a:b] = rise * fade
    gate = _phrase_gate(line.phrases, n, sr, attack=0.05, release=0.15, delay=VIOLIN_DELAY_S,
                        hold=VIOLIN_HOLD_S)
    rosin = rng.standard_normal(n) * 0.02
    signal = (tone + rosin) * bow * gate
    return signal / (np.abs(signal).max() + 1e-12)


@dataclass
class StrokeSchedule:
    """The mridangam part: one row per stroke."""
    times: np.ndarray          # (S,) seconds
    kinds: list[str]           # stroke names
    amplitudes: np.ndarray     # (S,)
    grid_index: np.ndarray     # (S,) index j on the tala grid t_j = offset + j * step
    offset: float
    step: float                # seconds between grid points

    def to_json(self) -> dict:
        return {"tempo_bpm": TEMPO_BPM, "beats_per_cycle": BEATS_PER_CYCLE,
                "strokes_per_beat": STROKES_PER_BEAT, "grid_offset_s": self.offset,
                "grid_step_s": self.step, "times_s": self.times, "kinds": self.kinds,
                "amplitudes": self.amplitudes, "grid_index": self.grid_index}


STROKE_GAIN = {"tham": 1.0, "thom": 0.9, "dhin": 0.85, "nam": 0.8, "tha": 0.6, "ki": 0.45}


def compose_mridangam(rng: np.random.Generator, duration: float) -> StrokeSchedule:
    """Adi tala strokes on the chatusra grid with per-beat density (its own phrasing)."""
    step = 60.0 / (TEMPO_BPM * STROKES_PER_BEAT)
    offset = float(rng.uniform(0.1, 0.4))
    times, kinds, amps, grid = [], [], [], []
    n_grid = int((duration - offset) / step) + 1
    density = 0.5
    for j in range(n_grid):
        sub, beat = j % STROKES_PER_BEAT, (j // STROKES_PER_BEAT) % BEATS_PER_CYCLE
        if sub == 0:
            density = float(rng.choice([0.0, 0.3, 0.6, 1.0], p=[0.2, 0.3, 0.3, 0.2]))
            if beat == 0:
                kind, accent = "tham", 1.0
            else:
                kind = str(rng.choice(["nam", "dhin", "thom", "tha"], p=[0.35, 0.3, 0.2, 0.15]))
                accent = 0.8
        else:
            if rng.random() >= density:
                continue
            kind, accent = str(rng.choice(["tha", "ki", "nam"], p=[0.4, 0.4, 0.2])), 0.55
        amp = float(np.clip(STROKE_GAIN[kind] * accent * (1 + 0.15 * rng.standard_normal()),
                            0.3 * STROKE_GAIN[kind], 1.2))
        times.append(offset + j * step)
        kinds.append(kind)
        amps.append(amp)
        grid.append(j)
    return StrokeSchedule(np.array(times), kinds, np.array(amps), np.array(grid, dtype=np.int64),
                          offset, step)


def _stroke_wave(kind: str, rng: np.random.Generator, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(right_head, left_head) waves of one stroke, each (L,), peak ~1."""
    length = int(0.6 * sr)
    t = np.arange(length) / sr
    click = rng.standard_normal(length) * np.exp(-t / 0.004)
    right, left = np.zeros(length), np.zeros(length)
    if kind in ("nam", "dhin", "tham"):
        decay = 0.4 if kind == "dhin" else 0.22
        weights = (1.0, 0.5, 0.35, 0.2, 0.1) if kind != "dhin" else (1.0, 0.3, 0.15, 0.08, 0.04)
        for k, w in enumerate(weights, start=1):
            right += w * np.sin(2 * np.pi * k * 2 * TONIC_HZ * t) * np.exp(-t * k ** 0.5 / decay)
        right += 0.3 * click
    if kind in ("tha", "ki"):
        decay = 0.05 if kind == "tha" else 0.03
        right += (np.sin(2 * np.pi * 420 * t) + 0.6 * np.sin(2 * np.pi * 1450 * t)) * np.exp(-t / decay)
        right += 0.6 * click
    if kind in ("thom", "tham"):
        f = 80.0 + 30.0 * np.exp(-t / 0.1)
        left += np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.3)
        left += 0.15 * click
    return right, left


def synth_mridangam(rng: np.random.Generator, schedule: StrokeSchedule, n: int,
                    sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(right_head, left_head) signals (n,) each, from the stroke schedule."""
    right, left = np.zeros(n), np.zeros(n)
    for time, kind, amp in zip(schedule.times, schedule.kinds, schedule.amplitudes):
        a = int(round(time * sr))
        if a >= n:
            break
        r, l = _stroke_wave(kind, rng, sr)
        b = min(n, a + len(r))
        right[a:b] += amp * r[:b - a]
        left[a:b] += amp * l[:b - a]
    peak = max(np.abs(right).max(), np.abs(left).max(), 1e-12)
    return right / peak, left / peak


def tanpura_drone(rng: np.random.Generator, n: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Quiet-ready drone (peak 1): Pa, Sa', Sa', Sa plucked in turn every second."""
    strings = (TONIC_HZ * 0.75, TONIC_HZ * 2, TONIC_HZ * 2, TONIC_HZ / 2)
    out = np.zeros(n)
    length = int(3.5 * sr)
    t = np.arange(length) / sr
    for i, start in enumerate(np.arange(0.0, n / sr, 1.0)):
        f = strings[i % 4] * (1 + 0.001 * rng.standard_normal())
        a = int(start * sr)
        b = min(n, a + length)
        wave = sum((1 / k) * np.sin(2 * np.pi * k * f * t[:b - a] + k) for k in range(1, 12)
                   if k * f < 5000)
        out[a:b] += wave * np.exp(-t[:b - a] / 1.2)
    return out / (np.abs(out).max() + 1e-12)


def db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)
