"""Reductions of raw attributions to the published per-keypoint numbers, per chunk, song and dataset.

Missing data is never a number. A keypoint is *present* in a frame when the model input has it
(``visual_mask`` True: observed, well scored, not a face false positive); a missing keypoint is 0 in
the input, so its attribution says nothing about the model (IG gives exactly 0 against a zero
baseline, and a non-zero amount against the mean face). Every mean below runs over present entries
only, carries its coverage (share of frames present), and is NaN (``null`` in JSON, "no data" in
figures) when nothing is present.

For one chunk with keypoint attributions ``A_v`` (2, T, J), mask ``m`` (T, J) and audio attributions
``A_a`` (N,):

* keypoint importance ``k_j = Σ_{c, t: m_tj} |A_v[c, t, j]| / (2 · n_j)`` with ``n_j = Σ_t m_tj``
  (mean |attribution| per keypoint over the x/y coordinates and the frames where it is present;
  NaN when ``n_j = 0``); coverage ``n_j / T``;
* part importance: the same pooled over the part's keypoints, ``Σ_{j ∈ part} Σ_{c, t: m_tj} |A_v| /
  (2 Σ_{j ∈ part} n_j)``, coverage ``Σ_j n_j / (T · |part|)``;
* audio share ``s = Σ|A_a| / (Σ|A_a| + Σ_{present} |A_v|)``: the fraction of the chunk's total
  absolute attribution that falls on the mixture wave (1 = only audio matters, 0 = only keypoints);
  the attribution that falls on missing keypoints is reported separately
  (``missing_keypoint_share`` = ``Σ_{missing} |A_v| / Σ |A_v|``), never counted.

A song's values pool its chunks the same way (sums and counts over all its frames, so a song's
importance is the mean over every present frame of the song). The dataset average is the mean over
the songs that have data for the keypoint/part (each such song weighs the same, whatever its length;
published: "averaged per song"); its coverage is the share of all attributed frames with the keypoint
present, and ``songs_with_data`` counts the songs behind each mean.
"""
from __future__ import annotations

import warnings

import numpy as np

from core.keypoints import BODY_55, FACE_CHAINS, MOUTH, part_of

from .baselines import joint_groups

# Face regions in face-local (iBUG 0–67) numbering, from the face chains in core.keypoints.
_jaw, _brow_l, _brow_r, _bridge, _nostrils, _eye_l, _eye_r = FACE_CHAINS[:7]
FACE_REGIONS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(_jaw[0], _jaw[1] + 1)),
    "eyebrows": tuple(range(_brow_l[0], _brow_r[1] + 1)),
    "nose": tuple(range(_bridge[0], _nostrils[1] + 1)),
    "eyes": tuple(range(_eye_l[0], _eye_r[1] + 1)),
    "mouth": tuple(MOUTH),
}
# Body parts of the 55-point body input (its own 0–54 numbering), named as in core.keypoints;
# the hips are the only "lower_body" points the body model sees.
BODY55_PARTS: dict[str, tuple[int, ...]] = {}
for _local, _index in enumerate(BODY_55):
    _name = part_of(_index).replace("lower_body", "hips")
    BODY55_PARTS.setdefault(_name, ())
    BODY55_PARTS[_name] += (_local,)


def _mask(visual_attributions: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``(B, T, J)`` bool presence (all True without a mask)."""
    b, _, t, j = np.shape(visual_attributions)
    if mask is None:
        return np.ones((b, t, j), dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (b, t, j):
        raise ValueError(f"mask {mask.shape} does not match attributions {(b, 2, t, j)}")
    return mask


def keypoint_sums(visual_attributions: np.ndarray, mask: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(B, 2, T, J)`` attributions and ``(B, T, J)`` presence → per chunk and keypoint the sum of
    |attribution| over x/y and present frames ``(B, J)`` and the number of present frames ``(B, J)``.
    """
    present = _mask(visual_attributions, mask)
    absolute = np.abs(np.asarray(visual_attributions, dtype=np.float64))
    sums = (absolute * present[:, None]).sum(axis=(1, 2))
    return sums, present.sum(axis=1).astype(np.float64)


def ratio(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``sums / (2 counts)`` (mean over x/y and present frames), NaN where ``counts == 0``."""
    sums, counts = np.asarray(sums, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / (2.0 * counts), np.nan)


def keypoint_importance(visual_attributions: np.ndarray, mask: np.ndarray | None = None
                        ) -> np.ndarray:
    """``(B, 2, T, J)`` attributions (and ``(B, T, J)`` presence) → ``(B, J)`` mean |attribution|
    per keypoint over its present frames; NaN for a keypoint present in no frame."""
    return ratio(*keypoint_sums(visual_attributions, mask))


def missing_keypoint_share(visual_attributions: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``(B,)`` share of the chunk's total |keypoint attribution| that fell on missing entries
    (NaN when the total is 0)."""
    present = _mask(visual_attributions, mask)
    absolute = np.abs(np.asarray(visual_attributions, dtype=np.float64))
    total = absolute.sum(axis=(1, 2, 3))
    missing = (absolute * ~present[:, None]).sum(axis=(1, 2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, missing / total, np.nan)


def audio_share(audio_attributions: np.ndarray, visual_attributions: np.ndarray | None,
                mask: np.ndarray | None = None) -> np.ndarray:
    """``(B, N)`` and ``(B, 2, T, J)`` (and ``(B, T, J)`` presence) → ``(B,)`` share of the total
    |attribution| on the audio, keypoints counted where present only (NaN if the total is 0)."""
    audio = np.abs(np.asarray(audio_attributions, dtype=np.float64)).reshape(len(audio_attributions), -1)
    audio_total = audio.sum(axis=1)
    if visual_attributions is None:
        visual_total = np.zeros_like(audio_total)
    else:
        visual_total = keypoint_sums(visual_attributions, mask)[0].sum(axis=1)
    total = audio_total + visual_total
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, audio_total / total, np.nan)


def split_groups(importance: np.ndarray, visual_kind: str) -> dict[str, np.ndarray]:
    """``(..., J)`` → ``{"face": (..., 68), "body": (..., 55)}`` (the groups the model sees)."""
    return {name: importance[..., joints] for name, joints in joint_groups(visual_kind).items()}


def group_parts(group: str) -> dict[str, tuple[int, ...]]:
    """Face regions (``group="face"``) or body parts (``"body"``) in the group's own numbering."""
    return FACE_REGIONS if group == "face" else BODY55_PARTS


def part_sums(group: str, sums: np.ndarray, counts: np.ndarray) -> dict[str, float]:
    """Pooled part importance from one group's per-keypoint sums and present-frame counts ``(J,)``
    (module docstring); NaN for a part with no present keypoint."""
    return {name: float(ratio(np.sum(sums[list(joints)]), np.sum(counts[list(joints)])))
            for name, joints in group_parts(group).items()}


def part_coverage(group: str, coverage: np.ndarray) -> dict[str, float]:
    """Share of the part's (keypoint, frame) entries that are present, from per-keypoint
    coverage ``(J,)``."""
    return {name: float(np.mean(np.asarray(coverage, dtype=np.float64)[list(joints)]))
            for name, joints in group_parts(group).items()}


def part_importance(group: str, importance: np.ndarray) -> dict[str, float]:
    """Mean keypoint importance per face region (``group="face"``) or body part (``"body"``) over
    the keypoints that have data; NaN for a part where none has."""
    importance = np.asarray(importance, dtype=np.float64)
    out = {}
    for name, joints in group_parts(group).items():
        values = importance[list(joints)]
        values = values[np.isfinite(values)]
        out[name] = float(values.mean()) if values.size else float("nan")
    return out


def top_keypoints(importance: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` largest values, largest first (ties: lower index first; NaN = no data,
    never ranked)."""
    importance = np.asarray(importance, dtype=np.float64)
    order = np.lexsort((np.arange(len(importance)), -np.nan_to_num(importance, nan=-np.inf)))
    return [int(i) for i in order[:k] if np.isfinite(importance[i])]


def _array(value, length: int | None = None) -> np.ndarray:
    """A JSON list (nulls allowed) or array → float64 array with NaN for null."""
    if value is None:
        return np.full(length or 0, np.nan)
    return np.array(value, dtype=object).astype(np.float64)


def _nanmean_rows(stacked: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():      # columns no song has data for stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(stacked, axis=0)


def average_songs(song_results: list[dict]) -> dict:
    """Dataset average of per-song result dicts (as written by ``pipeline``): mean over the songs
    with data (module docstring)."""
    if not song_results:
        raise ValueError("no song results to average")
    groups = list(song_results[0]["keypoint_importance"].keys())
    frames = np.array([float(r.get("n_frames") or 0) for r in song_results])
    importance, coverage, with_data, parts, parts_cov, layouts = {}, {}, {}, {}, {}, {}
    for g in groups:
        per_song = np.stack([_array(r["keypoint_importance"][g]) for r in song_results])
        importance[g] = _nanmean_rows(per_song)
        with_data[g] = np.isfinite(per_song).sum(axis=0)
        cov = np.stack([_array((r.get("keypoint_coverage") or {}).get(g), per_song.shape[1])
                        for r in song_results])
        weights = np.where(np.isfinite(cov), frames[:, None], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            coverage[g] = np.where(weights.sum(axis=0) > 0,
                                   np.nansum(cov * weights, axis=0) / weights.sum(axis=0), np.nan)
        names = list(group_parts(g))
        per_song_parts = np.array([[np.nan if (r.get("part_importance") or {}).get(g, {}).get(n)
                                    is None else r["part_importance"][g][n] for n in names]
                                   for r in song_results], dtype=np.float64)
        parts[g] = dict(zip(names, _nanmean_rows(per_song_parts).tolist()))
        parts_cov[g] = part_coverage(g, coverage[g])
        stacked = np.array([_array(r.get("layout", {}).get(g), per_song.shape[1] * 2).reshape(-1, 2)
                            for r in song_results])
        layouts[g] = _nanmean_rows(stacked)
    shares = np.array([np.nan if r["audio_share"] is None else r["audio_share"]
                       for r in song_results], dtype=float)
    missing = np.array([np.nan if r.get("missing_keypoint_share") is None
                        else r["missing_keypoint_share"] for r in song_results], dtype=float)
    relative = np.array([d for r in song_results for d in
                         ((r.get("convergence_delta") or {}).get("relative_per_chunk") or [])
                         if d is not None], dtype=float)
    deltas = [r["convergence_delta"]["max_abs"] for r in song_results
              if r.get("convergence_delta") and r["convergence_delta"].get("max_abs") is not None]
    return {
        "songs": [f"{r['artist']}/{r['song']}" for r in song_results],
        "n_songs": len(song_results),
        "n_chunks": int(sum(len(r["chunks"]) for r in song_results)),
        "n_frames": int(frames.sum()),
        "keypoint_importance": importance,
        "keypoint_coverage": coverage,
        "coverage": {g: float(np.nanmean(coverage[g])) if np.isfinite(coverage[g]).any() else None
                     for g in groups},
        "songs_with_data": with_data,
        "part_importance": parts,
        "part_coverage": parts_cov,
        "audio_share": float(np.nanmean(shares)) if np.isfinite(shares).any() else None,
        "missing_keypoint_share": float(np.nanmean(missing)) if np.isfinite(missing).any() else None,
        "layout": layouts,
        "convergence_delta": convergence_summary(relative, deltas) if deltas else None,
    }


def convergence_summary(relative: np.ndarray, abs_deltas) -> dict:
    """Median and max of the relative convergence deltas (and max |delta|) over chunks."""
    relative = np.asarray(relative, dtype=np.float64)
    finite = relative[np.isfinite(relative)]
    return {"n_chunks": int(relative.size),
            "relative_median": float(np.median(finite)) if finite.size else None,
            "relative_max": float(finite.max()) if finite.size else None,
            "max_abs": float(np.max(np.abs(abs_deltas))) if len(abs_deltas) else None}
