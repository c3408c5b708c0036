"""Saliency of a ``frames`` model over pixel regions of the performer's crop (issue 19).

The attributed inputs are the mixture wave ``(B, N)`` and the chunk's crops ``(B, T, 3, S, S)``
(pixel values 0–255, ``separation.frame_crops``); the objective and the methods are the keypoint
models' (``objective.SeparationObjective``, ``attribution.attribute_chunks``: Integrated Gradients
with 25 steps by default, vanilla gradients, gradient × input).

Baselines for the crops (``FRAME_BASELINES``): ``black`` (zeros: no picture, the analogue of the
body keypoints' zeros) or ``static`` (the chunk's time-averaged crop in every frame: the look is
kept and its changes over time removed, like the keypoints' ``static`` baseline).

Reduction per chunk: ``|A|`` summed over the 3 colour channels and the chunk's frames, then over the
cells of a ``grid × grid`` partition of the crop (cell ``(r, c)`` covers rows ``[r S/g, (r+1) S/g)``
and columns ``[c S/g, (c+1) S/g)``; ``S`` a multiple of ``g``) → ``region_importance``
``(grid, grid)``, the share of the chunk's crop attribution in each cell (sums to 1). Only the frames
the encoder reads (every ``frame_stride``-th) can carry attribution; the rest are exactly 0.
``audio_share`` = ``Σ|A_audio| / (Σ|A_audio| + Σ|A_crops|)`` as for keypoints.
"""
from __future__ import annotations

import numpy as np
import torch

from .attribution import attribute_chunks
from .objective import SeparationObjective

FRAME_BASELINES = ("black", "static")
DEFAULT_GRID = 8


def frames_baseline(crops: torch.Tensor, kind: str = "black") -> torch.Tensor:
    """``(B, T, 3, S, S)`` baseline for the crops (module docstring)."""
    if kind == "black":
        return torch.zeros_like(crops)
    if kind == "static":
        return crops.detach().mean(dim=1, keepdim=True).expand_as(crops).contiguous()
    raise ValueError(f"unknown frames baseline {kind!r}: expected one of {FRAME_BASELINES}")


def region_sums(attributions: np.ndarray, grid: int = DEFAULT_GRID) -> np.ndarray:
    """``(B, T, 3, S, S)`` attributions → ``(B, grid, grid)`` sums of ``|A|`` per cell."""
    b, _, _, s, s2 = attributions.shape
    if s != s2 or s % grid:
        raise ValueError(f"crop {s}x{s2} px cannot be cut into a {grid}x{grid} grid")
    per_pixel = np.abs(attributions.astype(np.float64)).sum(axis=(1, 2))          # (B, S, S)
    cell = s // grid
    return per_pixel.reshape(b, grid, cell, grid, cell).sum(axis=(2, 4))


def attribute_frames(model: torch.nn.Module, mixture: torch.Tensor, crops: torch.Tensor,
                     target: torch.Tensor, method: str = "integrated_gradients",
                     baseline: str = "black", n_steps: int = 25,
                     internal_batch_size: int | None = None, grid: int = DEFAULT_GRID) -> dict:
    """Attributions of one batch of chunks of a frames model (module docstring).

    ``mixture``, ``target`` ``(B, N)``; ``crops`` ``(B, T, 3, S, S)`` float 0–255. Returns
    ``{"region_importance": (B, grid, grid) shares, "region_abs_sum": (B, grid, grid),
    "audio_share": (B,), "loss": (B,), "delta": (B,) or None, "visual" (B, T, 3, S, S) and
    "audio" (B, N): the attributions}``."""
    crops = crops.float()
    objective = SeparationObjective(model)
    baselines = (torch.zeros_like(mixture), frames_baseline(crops, baseline))
    result = attribute_chunks(objective, mixture, crops, target, method, baselines=baselines,
                              n_steps=n_steps, internal_batch_size=internal_batch_size)
    visual = result.visual.numpy()
    sums = region_sums(visual, grid)
    total = sums.sum(axis=(1, 2))
    audio = result.audio.double().abs().flatten(1).sum(dim=1).numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = sums / total[:, None, None]
        audio_share = audio / (audio + total)
    return {"region_importance": shares, "region_abs_sum": sums, "audio_share": audio_share,
            "loss": result.loss.numpy(), "visual": visual, "audio": result.audio.numpy(),
            "delta": None if result.delta is None else result.delta.numpy()}


def save_region_figure(mean_crop: np.ndarray, importance: np.ndarray, path, title: str = ""):
    """The mean crop ``(3, S, S)`` uint8 with the ``(grid, grid)`` region shares over it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.io import save_figure

    s = mean_crop.shape[-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 4))
    left.imshow(np.transpose(mean_crop, (1, 2, 0)))
    left.set_title("mean crop")
    right.imshow(np.transpose(mean_crop, (1, 2, 0)))
    heat = right.imshow(importance, extent=(0, s, s, 0), cmap="magma", alpha=0.6)
    fig.colorbar(heat, ax=right, label="share of the crop attribution")
    right.set_title(title or "attribution per region")
    for axis in (left, right):
        axis.set_xticks([])
        axis.set_yticks([])
    fig.tight_layout()
    return save_figure(path, fig)


def frames_song_saliency(model: torch.nn.Module, chunks: list, method: str, n_steps: int,
                         internal_batch_size: int | None, chunk_batch: int, device,
                         baseline: str = "black", grid: int = DEFAULT_GRID) -> dict:
    """Attribute every chunk of one song (``Chunk``s of a frames model: ``visual``
    ``(T, 3, S, S)``) and reduce to the song's numbers: ``region_importance`` ``(grid, grid)`` (the
    share of the song's crop attribution per cell), ``audio_share`` (mean over chunks),
    ``per_chunk`` (``chunk``, ``loss``, ``audio_share``, ``region_importance``, and for Integrated
    Gradients ``delta``), ``mean_crop`` ``(3, S, S)`` uint8 (for the figure; not in the JSON)."""
    if not chunks:
        raise ValueError("no chunks to attribute")
    device = torch.device(device)
    model = model.to(device).eval()
    totals, per_chunk, crop_sum = None, [], None
    for start in range(0, len(chunks), chunk_batch):
        part = chunks[start:start + chunk_batch]
        mixture = torch.stack([torch.as_tensor(c.mixture) for c in part]).float().to(device)
        target = torch.stack([torch.as_tensor(c.target) for c in part]).float().to(device)
        crops = torch.stack([torch.as_tensor(np.asarray(c.visual)) for c in part]).float().to(device)
        out = attribute_frames(model, mixture, crops, target, method, baseline, n_steps,
                               internal_batch_size, grid)
        sums = out["region_abs_sum"].sum(axis=0)
        totals = sums if totals is None else totals + sums
        mean = crops.mean(dim=1).sum(dim=0).double().cpu().numpy()
        crop_sum = mean if crop_sum is None else crop_sum + mean
        for i, chunk in enumerate(part):
            entry = {"chunk": int(chunk.index), "loss": float(out["loss"][i]),
                     "audio_share": float(out["audio_share"][i]),
                     "region_importance": out["region_importance"][i]}
            if out["delta"] is not None:
                entry["delta"] = float(out["delta"][i])
            per_chunk.append(entry)
    shares = np.array([e["audio_share"] for e in per_chunk], dtype=float)
    return {"chunks": [e["chunk"] for e in per_chunk], "per_chunk": per_chunk, "grid": grid,
            "crop_size": int(np.asarray(chunks[0].visual).shape[-1]), "frames_baseline": baseline,
            "region_importance": totals / totals.sum() if totals.sum() > 0 else totals,
            "audio_share": float(np.nanmean(shares)) if np.isfinite(shares).any() else None,
            "mean_crop": np.clip(crop_sum / len(chunks), 0, 255).astype(np.uint8)}


def average_frames_songs(results: list[dict]) -> dict:
    """Mean over songs of the per-song ``region_importance`` and ``audio_share``."""
    regions = np.mean([np.asarray(r["region_importance"], float) for r in results], axis=0)
    shares = [r["audio_share"] for r in results if r.get("audio_share") is not None]
    return {"n_songs": len(results), "region_importance": regions,
            "audio_share": float(np.mean(shares)) if shares else None,
            "songs": [f"{r['artist']}/{r['song']}" for r in results]}
