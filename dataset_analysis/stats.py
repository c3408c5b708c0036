"""Dataset statistics as published: pure functions over ``SongInfo`` lists and keypoint arrays.

Metadata statistics (no files needed):

* layout counts: number of songs per distinct left-to-right ``layout`` (null layout counted as None);
* fps survey: number of songs per ``fps`` value, null counted separately;
* duration per artist and in total: sum of ``duration`` (seconds → hours); songs with a null
  duration add nothing and are counted separately;
* songs to avoid: every reason a song is left out or unreliable — null ``layout``/``fps``/``duration``
  (skipped by every stage), ``moving_camera`` (skipped by post-processing), instruments the pipeline
  does not know (``core.metadata.KNOWN_INSTRUMENTS``), ``correct_body_detection: false`` (the published
  pose estimation failed on the song);
* face false-positive frame share of a song: ``|∪ [start, end]| / n_frames`` with the inclusive ranges of
  ``face_false_positive_frames`` clipped to ``[0, n_frames - 1]`` and overlaps merged, where
  ``n_frames = int(fps × duration)``; the dataset share is ``Σ fp frames / Σ n_frames`` over songs with
  both fps and duration.

Keypoint statistics (per performer, arrays as written by post-processing):

* all-NaN frame share: ``#{f : keypoints[f, k, :] is NaN for all k} / F`` for ``keypoints`` of shape
  ``(F, 133, 2)`` (a frame where the performer was not found at all);
* confidence statistics per body part: over the ``(frame, point)`` pairs of the part whose coordinates
  are finite (missing points carry score 0 by convention and would bias the mean), the count ``n``,
  ``mean = Σ s / n``, ``std = sqrt(Σ s² / n − mean²)``, ``min``, ``max`` and ``share_below = #{s <
  threshold} / n``. Parts are ``core.keypoints.BODY_PARTS`` plus ``lower_body`` (hips, legs, feet).
  Statistics of several songs are merged exactly from these running sums (``ScoreAccumulator``).
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from core.keypoints import BODY_PARTS, LOWER_BODY
from core.metadata import KNOWN_INSTRUMENTS, SongInfo, frame_ranges_mask

# Body-part groups of the confidence statistics: the shared motion parts plus the lower body.
REPORT_PARTS: dict[str, tuple[int, ...]] = {**BODY_PARTS, "lower_body": LOWER_BODY}


# --- metadata statistics -----------------------------------------------------------------------------

def layout_counts(songs: Iterable[SongInfo]) -> list[tuple[tuple[str | None, ...] | None, int]]:
    """``[(layout, number of songs)]``, most frequent first (ties in order of first appearance)."""
    counts = Counter(s.layout for s in songs)
    return counts.most_common()


def layout_label(layout: tuple[str | None, ...] | None) -> str:
    """``"mridangam, vocal, violin"``; a null slot shows as ``?``; a null layout as ``null``."""
    if layout is None:
        return "null"
    return ", ".join("?" if i is None else i for i in layout)


def fps_survey(songs: Iterable[SongInfo]) -> dict[float | None, int]:
    """``{fps: number of songs}``, non-null values ascending, then ``None`` (null fps) if any."""
    counts = Counter(s.fps for s in songs)
    known = sorted(k for k in counts if k is not None)
    out: dict[float | None, int] = {fps: counts[fps] for fps in known}
    if None in counts:
        out[None] = counts[None]
    return out


def null_field_counts(songs: Iterable[SongInfo],
                      fields: Iterable[str] = ("layout", "fps", "duration",
                                               "correct_body_detection")) -> dict[str, int]:
    """``{field: number of songs where it is null}``."""
    songs = list(songs)
    return {name: sum(1 for s in songs if getattr(s, name) is None) for name in fields}


def instrument_counts(songs: Iterable[SongInfo]) -> dict[str, int]:
    """``{instrument: number of songs whose layout names it}`` (null slots counted as ``"?"``)."""
    counts: Counter = Counter()
    for s in songs:
        for name in set(s.layout or ()):
            counts["?" if name is None else name] += 1
    return dict(counts.most_common())


@dataclass
class ArtistDuration:
    songs: int = 0
    seconds: float = 0.0
    null_duration: int = 0

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0


def duration_per_artist(songs: Iterable[SongInfo]) -> dict[str, ArtistDuration]:
    """``{artist: ArtistDuration}`` in order of first appearance."""
    out: dict[str, ArtistDuration] = {}
    for s in songs:
        entry = out.setdefault(s.artist, ArtistDuration())
        entry.songs += 1
        if s.duration is None:
            entry.null_duration += 1
        else:
            entry.seconds += s.duration
    return out


def total_duration_hours(songs: Iterable[SongInfo]) -> float:
    return sum(s.duration for s in songs if s.duration is not None) / 3600.0


def avoid_reasons(song: SongInfo) -> list[str]:
    """Every reason to leave ``song`` out (empty list: nothing known against it)."""
    if song.problem:
        return [f"{song.problem} (failed by every stage)"]
    reasons = []
    nulls = [name for name in ("layout", "fps", "duration") if getattr(song, name) is None]
    if nulls:
        reasons.append(f"null {', '.join(nulls)} in metadata (skipped by every stage)")
    if song.moving_camera:
        reasons.append("moving camera (skipped by post-processing)")
    unknown = sorted({i for i in song.instruments if i not in KNOWN_INSTRUMENTS})
    if unknown:
        reasons.append(f"unknown instrument(s) in layout: {', '.join(unknown)}")
    if song.correct_body_detection is False:
        reasons.append("correct_body_detection is false (published pose estimation failed)")
    return reasons


def songs_to_avoid(songs: Iterable[SongInfo]) -> dict[str, list[str]]:
    """``{"artist/song": [reasons]}`` for every song with at least one reason, in input order."""
    return {s.key: reasons for s in songs if (reasons := avoid_reasons(s))}


def face_false_positive_share(song: SongInfo) -> float | None:
    """Share of the song's frames inside ``face_false_positive_frames``; None without fps/duration."""
    if song.fps is None or song.duration is None:
        return None
    n_frames = song.n_frames
    if n_frames <= 0:
        return None
    return _false_positive_frames(song) / n_frames


def _false_positive_frames(song: SongInfo) -> int:
    return int(frame_ranges_mask(song.face_false_positive_frames, song.n_frames).sum())


def face_false_positive_totals(songs: Iterable[SongInfo]) -> dict:
    """Dataset-level face false-positive statistics (see the module docstring)."""
    fp_frames = total_frames = with_ranges = 0
    per_song = {}
    for s in songs:
        share = face_false_positive_share(s)
        if share is None:
            continue
        frames = _false_positive_frames(s)
        fp_frames += frames
        total_frames += s.n_frames
        with_ranges += bool(frames)
        per_song[s.key] = share
    return {"false_positive_frames": fp_frames, "total_frames": total_frames,
            "share": fp_frames / total_frames if total_frames else None,
            "songs_with_false_positives": with_ranges, "per_song": per_song}


# --- keypoint statistics ----------------------------------------------------------------------------

def all_nan_frame_share(keypoints: np.ndarray) -> float:
    """Share of frames of ``keypoints`` ``(F, 133, 2)`` where every coordinate is NaN (0 when F=0)."""
    if keypoints.shape[0] == 0:
        return 0.0
    return float(np.isnan(keypoints).all(axis=(1, 2)).mean())


def all_nan_frame_count(keypoints: np.ndarray) -> int:
    return int(np.isnan(keypoints).all(axis=(1, 2)).sum())


@dataclass
class ScoreAccumulator:
    """Running sums of confidence scores so that many songs merge without keeping the scores."""
    threshold: float
    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    below: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf

    def add(self, scores: np.ndarray) -> None:
        """Add a 1-D array of scores (already restricted to found points)."""
        scores = np.asarray(scores, dtype=np.float64).ravel()
        scores = scores[np.isfinite(scores)]
        if scores.size == 0:
            return
        self.n += int(scores.size)
        self.total += float(scores.sum())
        self.total_sq += float(np.square(scores).sum())
        self.below += int((scores < self.threshold).sum())
        self.minimum = min(self.minimum, float(scores.min()))
        self.maximum = max(self.maximum, float(scores.max()))

    def summary(self) -> dict:
        if self.n == 0:
            return {"n": 0, "mean": None, "std": None, "min": None, "max": None,
                    "share_below": None, "threshold": self.threshold}
        mean = self.total / self.n
        variance = max(self.total_sq / self.n - mean * mean, 0.0)
        return {"n": self.n, "mean": mean, "std": math.sqrt(variance), "min": self.minimum,
                "max": self.maximum, "share_below": self.below / self.n, "threshold": self.threshold}


def found_scores_by_part(keypoints: np.ndarray, scores: np.ndarray,
                         parts: dict[str, tuple[int, ...]] = REPORT_PARTS) -> dict[str, np.ndarray]:
    """``{part: 1-D scores of the part's found points}`` from ``(F, 133, 2)`` and ``(F, 133)``."""
    found = np.isfinite(keypoints).all(axis=2)          # (F, 133)
    out = {}
    for name, indices in parts.items():
        idx = np.asarray(indices)
        out[name] = scores[:, idx][found[:, idx]]
    return out


def confidence_stats(keypoints: np.ndarray, scores: np.ndarray, threshold: float,
                     parts: dict[str, tuple[int, ...]] = REPORT_PARTS) -> dict[str, dict]:
    """``{part: summary}`` (see ``ScoreAccumulator.summary``) for one performer."""
    out = {}
    for name, values in found_scores_by_part(keypoints, scores, parts).items():
        acc = ScoreAccumulator(threshold)
        acc.add(values)
        out[name] = acc.summary()
    return out


@dataclass
class KeypointSurvey:
    """Keypoint statistics of many performers, grouped by (score scale, instrument)."""
    performers: list[dict] = field(default_factory=list)   # one row per song × instrument
    accumulators: dict = field(default_factory=lambda: defaultdict(dict))
    nan_frames: Counter = field(default_factory=Counter)    # instrument -> all-NaN frames
    frames: Counter = field(default_factory=Counter)        # instrument -> frames

    def add(self, song_key: str, instrument: str, keypoints: np.ndarray, scores: np.ndarray,
            score_scale: str, threshold: float) -> None:
        nan_count = all_nan_frame_count(keypoints)
        n_frames = int(keypoints.shape[0])
        self.nan_frames[instrument] += nan_count
        self.frames[instrument] += n_frames
        self.performers.append({"song": song_key, "instrument": instrument, "frames": n_frames,
                                "all_nan_frames": nan_count,
                                "all_nan_share": nan_count / n_frames if n_frames else 0.0,
                                "score_scale": score_scale})
        group = self.accumulators[(score_scale, instrument)]
        for part, values in found_scores_by_part(keypoints, scores).items():
            group.setdefault(part, ScoreAccumulator(threshold)).add(values)

    def nan_share_per_instrument(self) -> dict[str, float]:
        return {i: self.nan_frames[i] / self.frames[i] if self.frames[i] else 0.0 for i in self.frames}

    def confidence_table(self) -> dict[str, dict[str, dict[str, dict]]]:
        """``{score_scale: {instrument: {part: summary}}}``."""
        out: dict = defaultdict(dict)
        for (scale, instrument), parts in sorted(self.accumulators.items()):
            out[scale][instrument] = {part: acc.summary() for part, acc in parts.items()}
        return dict(out)
