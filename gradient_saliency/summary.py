"""Reductions of raw attributions to the published per-keypoint numbers, per chunk, song and dataset.

For one chunk with keypoint attributions ``A_v`` (2, T, J) and audio attributions ``A_a`` (N,):

* keypoint importance ``k_j = mean_{c, t} |A_v[c, t, j]|`` (mean |attribution| per keypoint over the
  x/y coordinates and the T video frames);
* audio share ``s = Σ|A_a| / (Σ|A_a| + Σ|A_v|)``: the fraction of the chunk's total absolute
  attribution that falls on the mixture wave (1 = only audio matters, 0 = only keypoints);
* part importance: the mean of ``k_j`` over the joints of each face region / body part.

A song's values are the means over its attributed chunks; the dataset average is the mean over songs
(each song weighs the same, whatever its length).
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


def keypoint_importance(visual_attributions: np.ndarray) -> np.ndarray:
    """``(B, 2, T, J)`` attributions → ``(B, J)`` mean |attribution| per keypoint."""
    return np.abs(np.asarray(visual_attributions, dtype=np.float64)).mean(axis=(1, 2))


def audio_share(audio_attributions: np.ndarray, visual_attributions: np.ndarray | None) -> np.ndarray:
    """``(B, N)`` and ``(B, 2, T, J)`` → ``(B,)`` share of total |attribution| on the audio (NaN if 0)."""
    audio = np.abs(np.asarray(audio_attributions, dtype=np.float64)).reshape(len(audio_attributions), -1)
    audio_total = audio.sum(axis=1)
    if visual_attributions is None:
        visual_total = np.zeros_like(audio_total)
    else:
        visual = np.abs(np.asarray(visual_attributions, dtype=np.float64))
        visual_total = visual.reshape(len(visual), -1).sum(axis=1)
    total = audio_total + visual_total
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, audio_total / total, np.nan)


def split_groups(importance: np.ndarray, visual_kind: str) -> dict[str, np.ndarray]:
    """``(..., J)`` → ``{"face": (..., 68), "body": (..., 55)}`` (the groups the model sees)."""
    return {name: importance[..., joints] for name, joints in joint_groups(visual_kind).items()}


def part_importance(group: str, importance: np.ndarray) -> dict[str, float]:
    """Mean keypoint importance per face region (``group="face"``) or body part (``"body"``)."""
    parts = FACE_REGIONS if group == "face" else BODY55_PARTS
    return {name: float(np.mean(importance[list(joints)])) for name, joints in parts.items()}


def top_keypoints(importance: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` largest values, largest first (ties: lower index first)."""
    order = np.lexsort((np.arange(len(importance)), -np.asarray(importance)))
    return [int(i) for i in order[:k]]


def average_songs(song_results: list[dict]) -> dict:
    """Dataset average of per-song result dicts (as written by ``pipeline``): mean over songs."""
    if not song_results:
        raise ValueError("no song results to average")
    groups = song_results[0]["keypoint_importance"].keys()
    importance = {g: np.mean([r["keypoint_importance"][g] for r in song_results], axis=0)
                  for g in groups}
    layouts = {}
    for g in groups:
        stacked = np.array([np.asarray(r.get("layout", {}).get(g, np.full((len(importance[g]), 2),
                                                                          np.nan)), dtype=float)
                            for r in song_results])
        with warnings.catch_warnings():   # joints no song has a position for stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            layouts[g] = np.nanmean(stacked, axis=0)
    shares = np.array([np.nan if r["audio_share"] is None else r["audio_share"]
                       for r in song_results], dtype=float)
    deltas = [r["convergence_delta"]["max_abs"] for r in song_results
              if r.get("convergence_delta") and r["convergence_delta"].get("max_abs") is not None]
    return {
        "songs": [f"{r['artist']}/{r['song']}" for r in song_results],
        "n_songs": len(song_results),
        "n_chunks": int(sum(len(r["chunks"]) for r in song_results)),
        "keypoint_importance": importance,
        "part_importance": {g: part_importance(g, importance[g]) for g in groups},
        "audio_share": float(np.nanmean(shares)) if np.isfinite(shares).any() else None,
        "layout": layouts,
        "convergence_delta": {"max_abs": max(deltas)} if deltas else None,
    }
