"""Saliency of a ``points3d`` model per 3D point of the performer (issue 19).

The attributed inputs are the mixture wave ``(B, N)`` and the chunk's points ``(B, T, P, 4)``
(x, y, z normalised per performer, and present 0/1; ``separation.points3d_input``); the objective
and the methods are the keypoint models' (``objective.SeparationObjective``,
``attribution.attribute_chunks``: Integrated Gradients with 25 steps by default, vanilla gradients,
gradient × input).

Baselines for the points (``POINT_BASELINES``), both keeping the presence channel as it is (so its
attribution is exactly 0 and the encoder pools over the same points along the path):
``zeros`` (every point at the performer's centre: no shape, the analogue of the body keypoints'
zeros) or ``static`` (each point at its mean over the chunk's frames where it is present: the
shape kept, its motion removed, like the keypoints' ``static`` baseline).

Reduction per chunk: ``|A|`` summed over the frames and the three coordinates of each point →
``point_importance`` ``(P,)``, the share of the chunk's point attribution on each point (sums to
1); ``axis_importance`` ``(3,)``, the share on x, y and z (how much of it is depth); absent points
carry none. ``audio_share`` = ``Σ|A_audio| / (Σ|A_audio| + Σ|A_points|)`` as for keypoints. The
figure shows the performer's mean normalised points from the front (x, y) and from the side (z, y),
each point drawn by its share.
"""
from __future__ import annotations

import numpy as np
import torch

from core.world_points import WORLD_POINT_NAMES

from .attribution import attribute_chunks
from .objective import SeparationObjective

POINT_BASELINES = ("zeros", "static")
AXES = ("x", "y", "z")


def points_baseline(points: torch.Tensor, kind: str = "zeros") -> torch.Tensor:
    """``(B, T, P, 4)`` baseline for the points (module docstring): coordinates replaced, the
    presence channel kept."""
    if kind not in POINT_BASELINES:
        raise ValueError(f"unknown points baseline {kind!r}: expected one of {POINT_BASELINES}")
    baseline = points.detach().clone()
    if kind == "zeros":
        baseline[..., :3] = 0.0
        return baseline
    present = points[..., 3:4].detach()
    count = present.sum(dim=1, keepdim=True)                                  # (B, 1, P, 1)
    mean = (points[..., :3].detach() * present).sum(dim=1, keepdim=True) / count.clamp(min=1)
    baseline[..., :3] = mean.expand_as(points[..., :3]) * present
    return baseline


def point_sums(attributions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(B, T, P, 4)`` attributions → ``|A|`` summed per point ``(B, P)`` and per axis ``(B, 3)``
    (coordinates only; the presence channel is never attributed)."""
    magnitude = np.abs(attributions[..., :3].astype(np.float64))
    return magnitude.sum(axis=(1, 3)), magnitude.sum(axis=(1, 2))


def attribute_points(model: torch.nn.Module, mixture: torch.Tensor, points: torch.Tensor,
                     target: torch.Tensor, method: str = "integrated_gradients",
                     baseline: str = "zeros", n_steps: int = 25,
                     internal_batch_size: int | None = None) -> dict:
    """Attributions of one batch of chunks of a points3d model (module docstring).

    ``mixture``, ``target`` ``(B, N)``; ``points`` ``(B, T, P, 4)``. Returns
    ``{"point_importance": (B, P) shares, "point_abs_sum": (B, P), "axis_importance": (B, 3),
    "audio_share": (B,), "loss": (B,), "delta": (B,) or None, "visual" (B, T, P, 4) and
    "audio" (B, N): the attributions}``."""
    points = points.float()
    objective = SeparationObjective(model)
    baselines = (torch.zeros_like(mixture), points_baseline(points, baseline))
    result = attribute_chunks(objective, mixture, points, target, method, baselines=baselines,
                              n_steps=n_steps, internal_batch_size=internal_batch_size)
    visual = result.visual.numpy()          # presence enters by a threshold: its gradient is 0
    per_point, per_axis = point_sums(visual)
    total = per_point.sum(axis=1)
    audio = result.audio.double().abs().flatten(1).sum(dim=1).numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = per_point / total[:, None]
        axes = per_axis / total[:, None]
        audio_share = audio / (audio + total)
    return {"point_importance": shares, "point_abs_sum": per_point, "axis_importance": axes,
            "axis_abs_sum": per_axis, "audio_share": audio_share, "loss": result.loss.numpy(),
            "visual": visual, "audio": result.audio.numpy(),
            "delta": None if result.delta is None else result.delta.numpy()}


def save_point_figure(mean_points: np.ndarray, importance: np.ndarray, path, title: str = "",
                      axis_importance: np.ndarray | None = None):
    """The mean normalised points ``(P, 3)`` from the front (x, y) and the side (z, y), each
    point's marker area and colour by its share ``(P,)``; NaN points (never present) are left out."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.io import save_figure

    shown = np.isfinite(mean_points).all(axis=1) & np.isfinite(importance)
    share = np.where(shown, importance, 0.0)
    top = share.max() if share.max() > 0 else 1.0
    fig, views = plt.subplots(1, 2, figsize=(8, 4.5), sharey=True)
    scatter = None
    for axis, (column, label) in zip(views, ((0, "x (front view)"), (2, "z (side view; camera left)"))):
        scatter = axis.scatter(mean_points[shown, column], mean_points[shown, 1],
                               s=20 + 400 * share[shown] / top, c=share[shown], cmap="magma_r",
                               vmin=0, vmax=top, edgecolors="k", linewidths=0.3)
        axis.set_xlabel(label)
        axis.set_aspect("equal", adjustable="datalim")
    views[0].invert_yaxis()
    views[0].set_ylabel("y (down)")
    for rank, index in enumerate(np.argsort(-share)[:3]):
        if share[index] > 0 and index < len(WORLD_POINT_NAMES):
            views[0].annotate(WORLD_POINT_NAMES[index], mean_points[index, :2], fontsize=7)
    fig.colorbar(scatter, ax=views, label="share of the point attribution")
    if axis_importance is not None:
        title = (f"{title}  " if title else "") + "(x/y/z: " + " / ".join(
            f"{v:.0%}" for v in axis_importance) + ")"
    fig.suptitle(title or "attribution per 3D point", fontsize=9)
    return save_figure(path, fig)


def points_song_saliency(model: torch.nn.Module, chunks: list, method: str, n_steps: int,
                         internal_batch_size: int | None, chunk_batch: int, device,
                         baseline: str = "zeros") -> dict:
    """Attribute every chunk of one song (``Chunk``s of a points3d model: ``visual``
    ``(T, P, 4)``) and reduce to the song's numbers: ``point_importance`` ``(P,)`` and
    ``axis_importance`` ``(3,)`` (shares of the song's point attribution), ``audio_share`` (mean
    over chunks), ``per_chunk`` (``chunk``, ``loss``, ``audio_share``, ``point_importance``,
    ``axis_importance``, and for Integrated Gradients ``delta``), ``point_names``, and
    ``mean_points`` ``(P, 3)`` (mean normalised position over the present frames; for the figure)."""
    if not chunks:
        raise ValueError("no chunks to attribute")
    device = torch.device(device)
    model = model.to(device).eval()
    point_total = axis_total = None
    position_sum, position_count, per_chunk = 0.0, 0.0, []
    for start in range(0, len(chunks), chunk_batch):
        part = chunks[start:start + chunk_batch]
        mixture = torch.stack([torch.as_tensor(c.mixture) for c in part]).float().to(device)
        target = torch.stack([torch.as_tensor(c.target) for c in part]).float().to(device)
        points = torch.stack([torch.as_tensor(np.asarray(c.visual)) for c in part]).float().to(device)
        out = attribute_points(model, mixture, points, target, method, baseline, n_steps,
                               internal_batch_size)
        point_total = out["point_abs_sum"].sum(0) + (0 if point_total is None else point_total)
        axis_total = out["axis_abs_sum"].sum(0) + (0 if axis_total is None else axis_total)
        array = points.double().cpu().numpy()
        present = array[..., 3:4]
        position_sum = position_sum + (array[..., :3] * present).sum(axis=(0, 1))
        position_count = position_count + present.sum(axis=(0, 1))
        for i, chunk in enumerate(part):
            entry = {"chunk": int(chunk.index), "loss": float(out["loss"][i]),
                     "audio_share": float(out["audio_share"][i]),
                     "point_importance": out["point_importance"][i],
                     "axis_importance": out["axis_importance"][i]}
            if out["delta"] is not None:
                entry["delta"] = float(out["delta"][i])
            per_chunk.append(entry)
    total = point_total.sum()
    shares = np.array([e["audio_share"] for e in per_chunk], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_points = position_sum / position_count
    n_points = len(point_total)
    return {"chunks": [e["chunk"] for e in per_chunk], "per_chunk": per_chunk,
            "points_baseline": baseline,
            "point_names": list(WORLD_POINT_NAMES) if n_points == len(WORLD_POINT_NAMES)
            else [f"point_{i}" for i in range(n_points)],
            "point_importance": point_total / total if total > 0 else point_total,
            "axis_importance": axis_total / total if total > 0 else axis_total,
            "audio_share": float(np.nanmean(shares)) if np.isfinite(shares).any() else None,
            "mean_points": mean_points}


def average_points_songs(results: list[dict]) -> dict:
    """Mean over songs of the per-song ``point_importance``, ``axis_importance`` and
    ``audio_share``."""
    points = np.mean([np.asarray(r["point_importance"], float) for r in results], axis=0)
    axes = np.mean([np.asarray(r["axis_importance"], float) for r in results], axis=0)
    shares = [r["audio_share"] for r in results if r.get("audio_share") is not None]
    return {"n_songs": len(results), "point_importance": points, "axis_importance": axes,
            "audio_share": float(np.mean(shares)) if shares else None,
            "point_names": results[0].get("point_names"),
            "songs": [f"{r['artist']}/{r['song']}" for r in results]}
