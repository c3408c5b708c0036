"""Per-song summary figure: heatmap of the share of strong windows for every motion × audio pair.

Share = strong windows / windows with a defined r. One panel per performer: rows are that performer's
motion features, columns the audio features of every instrument (own stem first, the others are the
control); own-stem columns are marked with ``*``. A pair with no window where r is defined (e.g. a
part never seen) is grey, "no data", never a share of 0.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.io import save_figure


def share_matrix(pairs: list[dict], performer: str) -> tuple[np.ndarray, list[str], list[str]]:
    """(rows × cols) strong share for one performer, with row and column labels."""
    mine = [p for p in pairs if p["performer"] == performer]
    rows = list(dict.fromkeys(p["motion_feature"] for p in mine))
    cols = list(dict.fromkeys((p["audio_instrument"], p["audio_feature"]) for p in mine))
    cols.sort(key=lambda c: (c[0] != performer,))
    matrix = np.full((len(rows), len(cols)), np.nan)
    for p in mine:
        share = p.get("strong_share")
        matrix[rows.index(p["motion_feature"]), cols.index((p["audio_instrument"],
                                                            p["audio_feature"]))] = \
            np.nan if share is None else share
    labels = [f"{'*' if inst == performer else ''}{inst}:{feat}" for inst, feat in cols]
    return matrix, rows, labels


def strong_share_figure(doc: dict, path: str | Path) -> None:
    """Write the heatmap PNG for one song's correlations document (atomically)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    performers = list(dict.fromkeys(p["performer"] for p in doc["pairs"]))
    if not performers:
        raise ValueError("no correlation pairs to plot")
    panels = [share_matrix(doc["pairs"], performer) for performer in performers]
    height = sum(0.28 * len(rows) + 1.6 for _, rows, _ in panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, max(3.0, height)), squeeze=False)
    vmax = max(0.05, float(np.nanmax([np.nanmax(m) if np.isfinite(m).any() else 0
                                      for m, _, _ in panels])))
    for ax, performer, (matrix, rows, cols) in zip(axes[:, 0], performers, panels):
        cmap = plt.get_cmap("viridis").with_extremes(bad="0.8")           # NaN: no data
        image = ax.imshow(matrix, aspect="auto", cmap=cmap, vmin=0, vmax=vmax)
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.set_xticks(range(len(cols)), cols, fontsize=7, rotation=40, ha="right")
        ax.set_title(f"{performer} motion vs audio (* = own stem, grey = no data)", fontsize=9)
        fig.colorbar(image, ax=ax, label="strong-window share")
    fig.suptitle(f"{doc['artist']} / {doc['song']}: share of windows with p < 0.05 and |r| > 0.5",
                 fontsize=9)
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
