"""Saliency figures (matplotlib, Agg): keypoint importance on the skeleton, and a per-part bar chart.

Skeleton: every joint is drawn at its layout position (face: VoViT's mean face; body: the mean
position of the joint in the song's model input), coloured and sized by its mean |attribution|;
edges come from ``core.keypoints`` (``FACE_LOCAL_EDGES``, ``body55_local_edges()``). Positions are in
image orientation (y down). Bars: mean keypoint importance per face region / body part, and the
audio input's share of the total attribution. Missing data is drawn as missing: a joint or part
without data (NaN / null importance) is a grey cross / an empty hatched bar labelled "no data",
never a zero; each bar is labelled with its coverage (share of frames with the keypoints present).
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

from .summary import part_coverage, part_importance  # noqa: E402

NO_DATA_COLOUR = "0.6"


def group_edges(group: str) -> tuple[tuple[int, int], ...]:
    return FACE_LOCAL_EDGES if group == "face" else body55_local_edges()


def _floats(values) -> np.ndarray:
    """A list from JSON (null = no data) or an array → float array with NaN."""
    return np.array(values, dtype=object).astype(float)


def group_layout(group: str, result: dict) -> np.ndarray:
    """``(J, 2)`` drawing positions: the mean face for faces, else the result's mean input pose."""
    if group == "face":
        return load_mean_face()
    return _floats(result.get("layout", {}).get(group))


def draw_skeleton(ax, layout: np.ndarray, edges, importance: np.ndarray, title: str,
                  cmap: str = "magma_r") -> None:
    """Joints at ``layout`` (J, 2) coloured and sized by ``importance`` (J,); NaN positions skipped,
    joints with NaN importance (no data) drawn as grey crosses."""
    importance = np.asarray(importance, dtype=float)
    finite = np.isfinite(layout).all(axis=1)
    has_data = finite & np.isfinite(importance)
    no_data = finite & ~np.isfinite(importance)
    for a, b in edges:
        if finite[a] and finite[b]:
            ax.plot(layout[[a, b], 0], layout[[a, b], 1], color="0.75", lw=1.0, zorder=1)
    peak = np.nanmax(importance) if np.isfinite(importance).any() else 1.0
    scale = importance / peak if peak > 0 else np.zeros_like(importance)
    points = ax.scatter(layout[has_data, 0], layout[has_data, 1], c=importance[has_data], cmap=cmap,
                        s=15 + 120 * np.nan_to_num(scale[has_data]), zorder=2, edgecolors="k",
                        linewidths=0.3, vmin=0.0, vmax=peak if peak > 0 else 1.0)
    n_no_data = int((~np.isfinite(importance)).sum())      # also those with no position to draw
    if n_no_data:
        ax.scatter(layout[no_data, 0], layout[no_data, 1], marker="x", c=NO_DATA_COLOUR, s=25,
                   zorder=2, label=f"no data ({n_no_data} keypoints)")
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_yticks([])
    ax.figure.colorbar(points, ax=ax, shrink=0.7, label="mean |attribution| (present frames)")


def draw_part_bars(ax, parts: dict[str, float], coverage: dict[str, float] | None, title: str
                   ) -> None:
    """Per-part bars; a part with no data (NaN) is an empty hatched bar labelled "no data", not 0."""
    names = list(parts)
    values = np.array([np.nan if parts[n] is None else parts[n] for n in names], dtype=float)
    peak = np.nanmax(values) if np.isfinite(values).any() else 1.0
    ok = np.isfinite(values)
    x = np.arange(len(names))
    ax.bar(x[ok], values[ok], color="tab:blue")
    ax.bar(x[~ok], np.full((~ok).sum(), peak), color="none", edgecolor=NO_DATA_COLOUR,
           hatch="//", linewidth=0.8)
    for i in np.flatnonzero(~ok):
        ax.text(x[i], peak / 2, "no data", rotation=90, ha="center", va="center", fontsize=8,
                color="0.35")
    if coverage:
        for i, name in enumerate(names):
            share = coverage.get(name)
            if share is not None and np.isfinite(share):
                ax.text(x[i], (values[i] if ok[i] else 0.0), f"{share:.0%}", ha="center",
                        va="bottom", fontsize=7, color="0.3")
    ax.set_xticks(x, names)
    ax.set_ylabel("mean |attribution| per keypoint")
    ax.set_title(title + (" (labels: coverage)" if coverage else ""))
    ax.tick_params(axis="x", rotation=45)


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
                          _floats(result["keypoint_importance"][group]), f"{group} keypoints")
        fig.suptitle(title)
        fig.tight_layout()
        paths.append(_save(fig, out_dir / f"{stem}_skeleton.png"))

    fig, axes = plt.subplots(1, len(groups) + 1, figsize=(4.5 * (len(groups) + 1), 4), squeeze=False,
                             gridspec_kw={"width_ratios": [3] * len(groups) + [1]})
    for ax, group in zip(axes[0], groups):
        importance = _floats(result["keypoint_importance"][group])
        parts = (result.get("part_importance") or {}).get(group) or part_importance(group, importance)
        coverage = (result.get("part_coverage") or {}).get(group)
        if coverage is None and (result.get("keypoint_coverage") or {}).get(group) is not None:
            coverage = part_coverage(group, _floats(result["keypoint_coverage"][group]))
        draw_part_bars(ax, parts, coverage, f"{group}: per part")
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


def save_randomisation_figure(document: dict, path: str | Path, title: str) -> Path:
    """Spearman ρ (signed and |attribution|) against the number of layers re-initialised, output
    side first, with the pass threshold (``gradient_saliency.sanity``)."""
    steps = document["steps"]
    x = np.arange(len(steps) + 1)
    signed = [1.0] + [np.nan if s["spearman_signed"] is None else s["spearman_signed"]
                      for s in steps]
    absolute = [1.0] + [np.nan if s["spearman_abs"] is None else s["spearman_abs"] for s in steps]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(steps) + 3), 4.5))
    ax.plot(x, signed, "o-", color="tab:blue", label="Spearman, signed attribution")
    ax.plot(x, absolute, "s-", color="tab:orange", label="Spearman, |attribution|")
    threshold = document.get("max_correlation")
    if threshold is not None:
        ax.axhline(threshold, color="0.5", ls="--", lw=0.8, label=f"pass below {threshold:g}")
        ax.axhline(-threshold, color="0.5", ls="--", lw=0.8)
    ax.set_xticks(x, ["trained"] + [".".join(s["group"].split(".")[-2:]) if len(steps) > 12
                                    else s["group"] for s in steps], rotation=90, fontsize=7)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("rank correlation with the trained model")
    ax.set_xlabel("cumulatively re-initialised, output side first")
    verdict = "PASSED" if document.get("passed") else "FAILED"
    ax.set_title(f"{title}: {verdict}")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return _save(fig, Path(path))
