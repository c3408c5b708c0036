"""Static figure per song: feature time series per performer, strong-correlation windows shaded.

One panel per performer (stage order, shared time axis in seconds). Each of the performer's bar
features (``plan.feature_series``) is drawn normalised per song (``signals.normalise_per_song``) so
that curves of different units share the [0, 1] axis (motion solid, audio dashed). Frames covered by
a strong window of an own-audio pair between two of the *plotted* features (a plotted motion feature
against a plotted audio feature, ``signals.strong_coverage``) are shaded, so the shading refers to
the curves on the panel rather than to every feature the correlation stage computed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.io import save_figure
from .inputs import SongInputs
from .plan import feature_series
from .signals import fit_length, normalise_per_song, strong_coverage
from .style import instrument_colour

FIGURE_NAME = "feature_timeseries.png"


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop)]`` frame ranges where ``mask`` (F,) bool is true (stop exclusive)."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def feature_figure(inputs: SongInputs, n_frames: int, fps: float, title: str, out_path: Path) -> bool:
    """Write the figure to ``out_path`` atomically; False (nothing written) if no performer has features."""
    performers = [p for p in sorted(inputs.performers, key=lambda p: p.position or 0)
                  if feature_series(p)]
    if not performers:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time_s = np.arange(n_frames) / fps
    fig, axes = plt.subplots(len(performers), 1, figsize=(12, 2.4 * len(performers) + 0.6),
                             sharex=True, squeeze=False)
    palette = plt.get_cmap("tab10").colors
    for ax, performer in zip(axes[:, 0], performers):
        series = feature_series(performer)
        if inputs.correlations is not None:
            shown_motion = [feature for _, feature, _, is_audio in series if not is_audio]
            shown_audio = [feature for _, feature, _, is_audio in series if is_audio]
            strong = strong_coverage(inputs.correlations, performer.instrument, n_frames,
                                     shown_motion, shown_audio)
            for k, (a, b) in enumerate(_runs(strong)):
                ax.axvspan(a / fps, b / fps, color="0.85", zorder=0,
                           label="strong window (shown motion × audio)" if k == 0 else None)
        for k, (label, _, values, is_audio) in enumerate(series):
            ax.plot(time_s, normalise_per_song(fit_length(values, n_frames)),
                    color=palette[k % len(palette)], linestyle="--" if is_audio else "-",
                    linewidth=1, label=label)
        ax.set_ylabel(f"{performer.instrument}\n(normalised)",
                      color=np.array(instrument_colour(performer.instrument)) / 255)
        ax.set_ylim(-0.05, 1.05)
        ax.legend(loc="upper right", fontsize=7, ncol=3)
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 0].set_xlim(0, n_frames / fps)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(out_path, fig, dpi=100)
    return True
