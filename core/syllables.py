"""Sung syllables: the syllable inventory, the per-performer alignment file, posteriorgrams.

What is sung is the ``text`` conditioning source of the separation models (issue 16). Two stages
meet here: the demo generator writes alignments (it knows what its singers sing), separation reads
them. The format is documented in docs/CONTRACTS.md ("Sung syllables").

Inventory (``INVENTORY``, version ``INVENTORY_VERSION``)
---------------------------------------------------------
Carnatic singing is syllabic: svara syllables in solfege passages, sahitya (lyrics, mostly Telugu,
Sanskrit, Tamil, Kannada) elsewhere. Syllables are written in ISO 15919 transliteration, lowercase,
Unicode NFC: the scheme ``indic_transliteration.sanscript.ISO`` writes from Telugu, Devanagari or
Kannada script (e.g. "ఎందరో మహానుభావులు" → "eṁdarō mahānubhāvulu"; ``syllabify`` splits that into
syllables). That package (PyPI ``indic-transliteration``, pure Python, works offline) is not a
dependency: lyrics are transliterated once, outside the pipeline. Tamil script does not mark
voicing, and its Tamil output is no pronunciation ("தவம்", tavam, comes out "dhavaṁ"): write Tamil
lyrics' syllables in ISO 15919 by hand.

* vowels ``VOWELS`` (14): a ā i ī u ū r̥ r̥̄ e ē ai o ō au;
* consonants ``CONSONANTS`` (37): k kh g gh ṅ c ch j jh ñ ṭ ṭh ḍ ḍh ṇ t th d dh n p ph b bh m y r l
  v ś ṣ s h ḷ ḻ ṟ ṉ;
* classes: ``SILENCE`` ("<sil>", index 0, nothing sung), then every bare vowel, then every
  consonant+vowel unit (consonant-major, in the orders above): 1 + 14 + 37 × 14 = 533 classes.
* svara syllables ``SVARA_SYLLABLES`` = sa ri ga ma pa dha ni are consonant+vowel units like any
  other (the svara "ma" and the sahitya "ma" are the same sound). The note names of the raga's
  variants (``ri1``..``ri3``, ``ga1``..``ga3``, ``ma1``, ``ma2``, ``dha1``..``dha3``,
  ``ni1``..``ni3``) are accepted for the syllable they are sung on (``SVARA_VARIANTS``).

A written syllable is ``onset vowel coda``: ``onset`` zero or more consonants, exactly one vowel,
``coda`` zero or more consonants or ``ṁ``/``ṃ`` (anusvara) or ``ḥ`` (visarga). Its class is the
LAST onset consonant + the vowel ("śrī" → "rī", "kṣa" → "ṣa", "ram" → "ra", "ā" → "ā"): in singing
the vowel carries nearly all of a syllable's duration, and the consonant just before it shapes
its start; longer clusters and codas would multiply the classes for little acoustic difference.
Vowels are matched before consonants at every position, longest first ("r̥" is a vowel, "kh" one
consonant, "ai" one vowel). Anything else (digits, other letters, two vowels) is outside the
inventory and raises ``AlignmentError``.

Alignment file (``ALIGNMENT_NAME`` = ``<song>/<performer>/syllables.tsv``)
----------------------------------------------------------------------------
UTF-8 text, one sung syllable per line: ``start_s<TAB>end_s<TAB>syllable`` (seconds from the
start of the song's audio, decimal). An optional first line ``start_s<TAB>end_s<TAB>syllable``
(the header ``save_alignment`` writes), blank lines and lines starting with ``#`` are ignored.
Intervals are half-open ``[start, end)``, ``0 <= start < end``, finite, in increasing order and not
overlapping (``end_i <= start_{i+1}``; touching is fine). Gaps are silence. An empty file (no
syllable) is valid: a performer who sings nothing.

Optional posteriorgram (``POSTERIORGRAM_NAME`` + ``POSTERIORGRAM_INFO_NAME``)
-----------------------------------------------------------------------------
``syllable_posteriorgram.npy``: ``(F, K)`` float, an aligner's per-frame class probabilities at its
own frame rate; ``syllable_posteriorgram.json``: ``{"fps": frames per second, "first_frame_s":
time of frame 0's centre (default 0), "classes": [K syllable names]}`` (names as in the alignment
file, or "<sil>"; several columns may map to one class and are summed). Values in [0, 1], rows sum
to at most 1 (+1e-3); the mass a row leaves out is silence.

Posteriorgram at given frame times (``alignment_posteriorgram``, ``resample_posteriorgram``)
---------------------------------------------------------------------------------------------
* from an alignment, one-hot: frame centre ``t`` takes the class of the interval with
  ``start <= t < end``, silence when no interval holds ``t``;
* from a posteriorgram file: linear interpolation between the two file frames around ``t``
  (position ``(t - first_frame_s) · fps``); outside the file's frames the frame is silence and
  marked absent.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset import SongDataError
from .io import UnreadableFileError, atomic_path, load_json, load_npy

ALIGNMENT_NAME = "syllables.tsv"                       # <song>/<performer>/
POSTERIORGRAM_NAME = "syllable_posteriorgram.npy"      # <song>/<performer>/, optional
POSTERIORGRAM_INFO_NAME = "syllable_posteriorgram.json"
HEADER = ("start_s", "end_s", "syllable")
INVENTORY_VERSION = 1


def _nfc(names: tuple[str, ...]) -> tuple[str, ...]:
    # Every name is compared in NFC ("ā" typed as a + combining macron becomes one code point).
    return tuple(unicodedata.normalize("NFC", name) for name in names)


SILENCE = "<sil>"
VOWELS = _nfc(("a", "ā", "i", "ī", "u", "ū", "r̥", "r̥̄", "e", "ē", "ai", "o", "ō", "au"))
CONSONANTS = _nfc(("k", "kh", "g", "gh", "ṅ", "c", "ch", "j", "jh", "ñ",
                   "ṭ", "ṭh", "ḍ", "ḍh", "ṇ", "t", "th", "d", "dh", "n",
                   "p", "ph", "b", "bh", "m", "y", "r", "l", "v", "ś", "ṣ", "s", "h",
                   "ḷ", "ḻ", "ṟ", "ṉ"))
CODA_MARKS = _nfc(("ṁ", "ṃ", "ḥ"))
SVARA_SYLLABLES = ("sa", "ri", "ga", "ma", "pa", "dha", "ni")
SVARA_VARIANTS = {f"{name}{i}": name
                  for name, count in (("ri", 3), ("ga", 3), ("ma", 2), ("dha", 3), ("ni", 3))
                  for i in range(1, count + 1)}
INVENTORY: tuple[str, ...] = (SILENCE, *VOWELS, *(c + v for c in CONSONANTS for v in VOWELS))
N_CLASSES = len(INVENTORY)                              # 533
CLASS_INDEX = {name: i for i, name in enumerate(INVENTORY)}
ROW_SUM_TOLERANCE = 1e-3

_VOWELS_LONGEST = sorted(VOWELS, key=len, reverse=True)
_CONSONANTS_LONGEST = sorted(CONSONANTS, key=len, reverse=True)


class AlignmentError(SongDataError):
    """An alignment or posteriorgram file is missing or unusable; the message names the file,
    the line when there is one, and the reason (the per-song runner fails the song with it)."""


def normalise_syllable(text: str) -> str:
    """NFC, lowercase, surrounding white space removed."""
    return unicodedata.normalize("NFC", text.strip()).lower()


def _match(text: str, pos: int, options: list[str]) -> str | None:
    for option in options:
        if text.startswith(option, pos):
            return option
    return None


def syllable_class(syllable: str) -> str:
    """The inventory class of a written syllable (module docstring), e.g. ``"śrī"`` → ``"rī"``,
    ``"ga3"`` → ``"ga"``, ``"<sil>"`` → ``"<sil>"``. Raises ``ValueError`` naming the syllable and
    why when it is outside the inventory."""
    text = normalise_syllable(syllable)
    if text == SILENCE:
        return SILENCE
    text = SVARA_VARIANTS.get(text, text)
    if not text:
        raise ValueError("empty syllable")
    onset: list[str] = []
    pos = 0
    vowel = None
    while pos < len(text):
        vowel = _match(text, pos, _VOWELS_LONGEST)
        if vowel is not None:
            pos += len(vowel)
            break
        consonant = _match(text, pos, _CONSONANTS_LONGEST)
        if consonant is None:
            raise ValueError(f"syllable {syllable!r}: {text[pos]!r} at position {pos} is not an "
                             f"ISO 15919 letter of the inventory")
        onset.append(consonant)
        pos += len(consonant)
    if vowel is None:
        raise ValueError(f"syllable {syllable!r} has no vowel")
    while pos < len(text):
        coda = _match(text, pos, _CONSONANTS_LONGEST + list(CODA_MARKS))
        if coda is None:
            rest = text[pos:]
            why = "a second vowel" if _match(text, pos, _VOWELS_LONGEST) else f"{rest[0]!r}"
            raise ValueError(f"syllable {syllable!r}: {why} after the vowel (one syllable per "
                             f"line, ISO 15919 letters only)")
        pos += len(coda)
    return (onset[-1] if onset else "") + vowel


def class_index(syllable: str) -> int:
    """Column of ``syllable``'s class in ``INVENTORY``."""
    return CLASS_INDEX[syllable_class(syllable)]


# --- alignment files -------------------------------------------------------------------------------

@dataclass(frozen=True)
class SyllableAlignment:
    """One performer's sung syllables: ``starts``/``ends`` ``(K,)`` float64 seconds, ``syllables``
    as written, ``classes`` ``(K,)`` int64 columns of ``INVENTORY``; ``source`` names the file."""
    starts: np.ndarray
    ends: np.ndarray
    syllables: tuple[str, ...]
    classes: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.syllables)


def _seconds(field: str, what: str, where: str) -> float:
    try:
        value = float(field)
    except ValueError:
        raise AlignmentError(f"{where}: {what} {field!r} is not a number") from None
    if not math.isfinite(value):
        raise AlignmentError(f"{where}: {what} {field!r} is not finite")
    return value


def parse_alignment(text: str, source: str = "<alignment>") -> SyllableAlignment:
    """Parse the alignment format (module docstring); every problem raises ``AlignmentError``
    naming ``source``, the line number and the reason."""
    starts, ends, syllables, classes = [], [], [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if tuple(f.strip() for f in fields) == HEADER and not starts:
            continue
        where = f"{source} line {number}"
        if len(fields) != 3:
            raise AlignmentError(f"{where}: expected 3 tab-separated fields (start_s, end_s, "
                                 f"syllable), found {len(fields)}")
        start = _seconds(fields[0], "start", where)
        end = _seconds(fields[1], "end", where)
        if start < 0:
            raise AlignmentError(f"{where}: negative start {start}")
        if not end > start:
            raise AlignmentError(f"{where}: end {end} is not after start {start}")
        if ends and start < ends[-1]:
            raise AlignmentError(f"{where}: interval [{start}, {end}) overlaps or precedes the "
                                 f"previous one ending at {ends[-1]}")
        try:
            index = class_index(fields[2])
        except ValueError as exc:
            raise AlignmentError(f"{where}: {exc}") from None
        starts.append(start)
        ends.append(end)
        syllables.append(normalise_syllable(fields[2]))
        classes.append(index)
    return SyllableAlignment(np.array(starts, dtype=np.float64), np.array(ends, dtype=np.float64),
                             tuple(syllables), np.array(classes, dtype=np.int64), str(source))


def load_alignment(path: str | Path) -> SyllableAlignment:
    """Read and validate an alignment file; a missing, undecodable or malformed file raises
    ``AlignmentError`` naming it."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise AlignmentError(f"syllable alignment {path} does not exist") from None
    except OSError as exc:
        raise AlignmentError(f"syllable alignment {path} cannot be read: {exc}") from None
    except UnicodeDecodeError as exc:
        raise AlignmentError(f"syllable alignment {path} is not UTF-8 text: {exc}") from None
    return parse_alignment(text, str(path))


def format_alignment(starts, ends, syllables) -> str:
    """The file text for intervals ``[starts[k], ends[k])`` singing ``syllables[k]``: the header,
    then one line per syllable with times to 1 µs (``%.6f``). Validates what it writes."""
    lines = ["\t".join(HEADER)]
    lines += [f"{float(s):.6f}\t{float(e):.6f}\t{normalise_syllable(str(y))}"
              for s, e, y in zip(starts, ends, syllables, strict=True)]
    text = "\n".join(lines) + "\n"
    parse_alignment(text, "alignment being written")
    return text


def save_alignment(path: str | Path, starts, ends, syllables) -> Path:
    """Write an alignment file atomically (``format_alignment``); returns the path."""
    path = Path(path)
    text = format_alignment(starts, ends, syllables)
    with atomic_path(path) as tmp:
        tmp.write_bytes(text.encode("utf-8"))
    return path


# --- posteriorgrams --------------------------------------------------------------------------------

def syllable_at(alignment: SyllableAlignment, frame_times: np.ndarray) -> np.ndarray:
    """The frame rule: ``(T,)`` int64 index into ``alignment`` of the interval with
    ``start <= t < end`` for each frame centre ``t`` (s), -1 when no interval holds it (silence)."""
    times = np.asarray(frame_times, dtype=np.float64)
    # intervals are sorted and disjoint: the candidate is the last one starting at or before t
    k = np.searchsorted(alignment.starts, times, side="right") - 1
    inside = k >= 0
    inside[inside] = times[inside] < alignment.ends[k[inside]]
    return np.where(inside, k, -1).astype(np.int64)


def alignment_posteriorgram(alignment: SyllableAlignment, frame_times: np.ndarray) -> np.ndarray:
    """One-hot ``(T, N_CLASSES)`` float32 at frame centres ``frame_times`` ``(T,)`` seconds: frame
    ``t`` takes the class of the interval with ``start <= t < end``, silence when none holds it."""
    k = syllable_at(alignment, frame_times)
    out = np.zeros((len(k), N_CLASSES), dtype=np.float32)
    column = np.full(len(k), CLASS_INDEX[SILENCE])
    column[k >= 0] = alignment.classes[k[k >= 0]]
    out[np.arange(len(k)), column] = 1.0
    return out


@dataclass(frozen=True)
class Posteriorgram:
    """A posteriorgram file mapped onto ``INVENTORY``: ``values`` ``(F, N_CLASSES)`` float32 (rows
    sum to 1: the missing mass is silence), frame ``f`` centred at ``first_frame_s + f / fps``."""
    values: np.ndarray
    fps: float
    first_frame_s: float
    source: str = ""


def _posteriorgram_info(path: Path) -> tuple[float, float, list[str]]:
    try:
        info = load_json(path)
    except FileNotFoundError:
        raise AlignmentError(f"posteriorgram description {path} does not exist") from None
    except (UnreadableFileError, ValueError, OSError) as exc:
        raise AlignmentError(f"posteriorgram description {path} cannot be read: {exc}") from None
    if not isinstance(info, dict) or not isinstance(info.get("classes"), list):
        raise AlignmentError(f"{path}: expected an object with 'fps' and a 'classes' list")
    fps, first = info.get("fps"), info.get("first_frame_s", 0.0)
    for name, value in (("fps", fps), ("first_frame_s", first)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise AlignmentError(f"{path}: {name} must be a finite number, got {value!r}")
    if not fps > 0:
        raise AlignmentError(f"{path}: fps must be positive, got {fps}")
    if not all(isinstance(c, str) for c in info["classes"]):
        raise AlignmentError(f"{path}: classes must be syllable strings")
    return float(fps), float(first), list(info["classes"])


def load_posteriorgram(npy_path: str | Path, info_path: str | Path | None = None) -> Posteriorgram:
    """Read a posteriorgram ``.npy`` and its ``.json`` description (default: beside it, named
    ``POSTERIORGRAM_INFO_NAME``) and map its columns onto ``INVENTORY`` (module docstring); every
    problem raises ``AlignmentError`` naming the file."""
    npy_path = Path(npy_path)
    info_path = Path(info_path) if info_path is not None else npy_path.with_name(
        POSTERIORGRAM_INFO_NAME)
    fps, first, names = _posteriorgram_info(info_path)
    try:
        raw = load_npy(npy_path)
    except FileNotFoundError:
        raise AlignmentError(f"posteriorgram {npy_path} does not exist") from None
    except UnreadableFileError as exc:
        raise AlignmentError(str(exc)) from None
    if raw.ndim != 2 or raw.shape[1] != len(names):
        raise AlignmentError(f"posteriorgram {npy_path} has shape {raw.shape}, expected (frames, "
                             f"{len(names)}) for the {len(names)} classes of {info_path.name}")
    if not np.issubdtype(raw.dtype, np.floating) and not np.issubdtype(raw.dtype, np.integer):
        raise AlignmentError(f"posteriorgram {npy_path} has dtype {raw.dtype}, expected numbers")
    raw = raw.astype(np.float64)
    if not np.isfinite(raw).all() or raw.min(initial=0.0) < 0 or raw.max(initial=0.0) > 1:
        raise AlignmentError(f"posteriorgram {npy_path} has values outside [0, 1] or not finite")
    if (raw.sum(axis=1) > 1 + ROW_SUM_TOLERANCE).any():
        row = int(np.argmax(raw.sum(axis=1)))
        raise AlignmentError(f"posteriorgram {npy_path}: row {row} sums to "
                             f"{raw[row].sum():.4f} > 1")
    mapping = np.zeros((len(names), N_CLASSES))
    for column, name in enumerate(names):
        try:
            mapping[column, class_index(name)] = 1.0
        except ValueError as exc:
            raise AlignmentError(f"{info_path}: class {column}: {exc}") from None
    values = raw @ mapping
    values[:, CLASS_INDEX[SILENCE]] += np.clip(1.0 - values.sum(axis=1), 0.0, None)
    return Posteriorgram(values.astype(np.float32), fps, first, str(npy_path))


def resample_posteriorgram(posteriorgram: Posteriorgram, frame_times: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
    """``(T, N_CLASSES)`` float32 at ``frame_times`` ``(T,)`` s by linear interpolation between the
    file's frames, and ``(T,)`` bool presence (False, and silence, outside the file's frames)."""
    values = posteriorgram.values
    position = (np.asarray(frame_times, dtype=np.float64) - posteriorgram.first_frame_s) \
        * posteriorgram.fps
    n = len(values)
    present = (position >= -1e-9) & (position <= n - 1 + 1e-9)
    lower = np.clip(np.floor(position + 1e-9).astype(np.int64), 0, max(n - 1, 0))
    upper = np.clip(lower + 1, 0, max(n - 1, 0))
    weight = np.clip(position - lower, 0.0, 1.0)[:, None]
    out = np.zeros((len(position), N_CLASSES), dtype=np.float64)
    if n:
        out = (1 - weight) * values[lower] + weight * values[upper]
    out[~present] = 0.0
    out[~present, CLASS_INDEX[SILENCE]] = 1.0
    return out.astype(np.float32), present


# --- writing syllables of text ---------------------------------------------------------------------

_WORD = re.compile(r"\S+")
AVAGRAHA = "'"                 # ISO 15919 / indic_transliteration's ISO for ऽ


def syllabify(text: str) -> list[str]:
    """Split ISO 15919 words into written syllables: each syllable is the consonants before a
    vowel plus the vowel; consonants after a word's last vowel, and an anusvara or visarga
    anywhere, close the syllable before them ("eṁdarō" → ["eṁ", "da", "rō"], "rāmaḥ" → ["rā",
    "maḥ"]). The avagraha (``'``, an elided vowel: not sung) is dropped. Raises ``ValueError``
    for letters outside the inventory."""
    out: list[str] = []
    for word in _WORD.findall(normalise_syllable(text).replace(AVAGRAHA, "")):
        current, pos, have_vowel = "", 0, False
        while pos < len(word):
            mark = _match(word, pos, list(CODA_MARKS))
            if mark is not None and have_vowel:
                current += mark
                pos += len(mark)
                continue
            vowel = _match(word, pos, _VOWELS_LONGEST)
            if vowel is not None:
                if have_vowel:
                    out.append(current)
                    current = ""
                current += vowel
                have_vowel = True
                pos += len(vowel)
                continue
            consonant = _match(word, pos, _CONSONANTS_LONGEST)
            if consonant is None:
                raise ValueError(f"{word!r}: {word[pos]!r} is not an ISO 15919 letter of the "
                                 f"inventory")
            if have_vowel:
                out.append(current)
                current, have_vowel = "", False
            current += consonant
            pos += len(consonant)
        if current:
            if not have_vowel:
                if not out:
                    raise ValueError(f"{word!r} has no vowel")
                out[-1] += current
            else:
                out.append(current)
    for syllable in out:
        syllable_class(syllable)
    return out
