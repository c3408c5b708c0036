"""Saliency figures (matplotlib, Agg): keypoint importance on the skeleton, and a per-part bar chart.

Skeleton: every joint is drawn at its layout position (face: VoViT's mean face; body: the mean
position of the joint in the song's model input), coloured and sized by its mean |attribution|;
edges come from ``core.keypoints`` (``FACE_LOCAL_EDGES``, ``body55_local_edges()``). Positions are in
image orientation (y down). Bars: mean keypoint importance per face region / body part, and the
audio input's share of the total attribution.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from core.face import load_mean_face  # noqa: E402
from core.io import save_figure  # noqa: E402
from core.keypoints import FACE_LOCAL_EDGES, body55_local_edges  # noqa: E402

from .summary import part_importance  # noqa: E402


def group_edges(group: str) -> tuple[tuple[int, int], ...]:
    return FACE_LOCAL_EDGES if group == "face" else body55_local_edges()


def group_layout(group: str, result: dict) -> np.ndarray:
    """``(J, 2)`` drawing positions: the mean face for faces, else the result's mean input pose."""
    if group == "face":
        return load_mean_face()
    return np.asarray(result.get("layout", {}).get(group), dtype=float)


def draw_skeleton(ax, layout: np.ndarray, edges, importance: np.ndarray, title: str,
                  cmap: str = "magma_r") -> None:
    """Joints at ``layout`` (J, 2) coloured and sized by ``importance`` (J,); NaN positions skipped."""
    importance = np.asarray(importance, dtype=float)
    finite = np.isfinite(layout).all(axis=1)
    for a, b in edges:
        if finite[a] and finite[b]:
            ax.plot(layout[[a, b], 0], layout[[a, b], 1], color="0.75", lw=1.0, zorder=1)
    peak = np.nanmax(importance) if np.isfinite(importance).any() else 1.0
    scale = importance / peak if peak > 0 else np.zeros_like(importance)
    points = ax.scatter(layout[finite, 0], layout[finite, 1], c=importance[finite], cmap=cmap,
                        s=15 + 120 * np.nan_to_num(scale[finite]), zorder=2, edgecolors="k",
                        linewidths=0.3, vmin=0.0, vmax=peak if peak > 0 else 1.0)
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_yticks([])
    ax.figure.colorbar(points, ax=ax, shrink=0.7, label="mean |attribution|")


def _save(fig, path: Path) -> Path:
    return save_figure(path, fig, dpi=110, bbox_inches="tight")


def save_saliency_figures(result: dict, out_dir: str | Path, stem: str, title: str) -> list[Path]:
    """Write ``<stem>_skeleton.png`` and ``<stem>_parts.png`` for one song or the dataset average."""
    out_dir = Path(out_dir)
    groups = list(result["keypoint_importance"].keys())
    paths = []
    if groups:
        fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 5), squeeze=False)
        for ax, group in zip(axes[0], groups):
            draw_skeleton(ax, group_layout(group, result), group_edges(group),
                          np.asarray(result["keypoint_importance"][group], dtype=float),
                          f"{group} keypoints")
        fig.suptitle(title)
        fig.tight_layout()
        paths.append(_save(fig, out_dir / f"{stem}_skeleton.png"))

    fig, axes = plt.subplots(1, len(groups) + 1, figsize=(4.5 * (len(groups) + 1), 4), squeeze=False,
                             gridspec_kw={"width_ratios": [3] * len(groups) + [1]})
    for ax, group in zip(axes[0], groups):
        parts = part_importance(group, np.asarray(result["keypoint_importance"][group], dtype=float))
        ax.bar(list(parts), list(parts.values()), color="tab:blue")
        ax.set_ylabel("mean |attribution| per keypoint")
        ax.set_title(f"{group}: per part")
        ax.tick_params(axis="x", rotation=45)
    share = result.get("audio_share")
    ax = axes[0][-1]
    if share is not None:
        ax.bar(["audio", "keypoints"], [share, 1.0 - share], color=["tab:orange", "tab:blue"])
    ax.set_ylim(0, 1)
    ax.set_title("share of total |attribution|")
    fig.suptitle(title)
    fig.tight_layout()
    paths.append(_save(fig, out_dir / f"{stem}_parts.png"))
    return paths
