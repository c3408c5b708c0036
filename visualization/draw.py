"""Draw the overlay on one RGB frame from per-frame arrays prepared before the loop.

Per frame the work is: for each performer, select the visible edges and points of that frame (numpy
indexing), draw the highlighted edges as a wide white halo, the edges in the instrument colour
(one ``cv2.polylines`` call), the points in their PCA-brightness colours; then the legend and the
feature bars. Everything that does not depend on the frame (colours, edges, labels, sizes) is computed
once in ``FrameDrawer.__init__``.

A highlighted edge is one whose two end points are both highlighted (``signals.keypoint_highlight``).
Bars: a bar of value ``v`` in [0, 1] is filled over ``v`` of its width; NaN draws an empty outline.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from core.keypoints import FACE
from .skeleton import DisplaySkeleton
from .style import (FONT, HIGHLIGHT_COLOUR, TEXT_COLOUR, bar_region, legend_region,
                    sizes_for)


@dataclass
class Bar:
    label: str
    values: np.ndarray           # (F,) float32 in [0, 1], NaN = unknown; indexed by song frame


@dataclass
class PerformerPlan:
    """Everything drawn for one performer, per song frame."""
    instrument: str
    colour: tuple[int, int, int]                 # RGB
    skeleton: DisplaySkeleton
    brightness: np.ndarray | None = None         # (133,) PCA brightness factors, None = all 1
    highlight: np.ndarray | None = None          # (F, 133) bool, None = no correlation data
    whole_body: np.ndarray | None = None         # (F,) bool strong whole-body windows
    bars: list[Bar] = field(default_factory=list)


def _darken(frame: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Halve the brightness under a panel (a bit shift: much cheaper than a float blend)."""
    x0, y0, x1, y1 = box
    roi = frame[y0:y1, x0:x1]
    np.right_shift(roi, 1, out=roi)


class FrameDrawer:
    """Draws the overlay for song frame ``index`` onto an ``(H, W, 3)`` uint8 RGB frame in place."""

    def __init__(self, performers: list[PerformerPlan], width: int, height: int, fps: float,
                 show_bars: bool = True, notes: tuple[str, ...] = ()):
        self.performers = performers
        self.width, self.height, self.fps = width, height, fps
        self.sizes = s = sizes_for(height)
        self.face_mask = np.zeros(133, dtype=bool)
        self.face_mask[list(FACE)] = True
        self.point_colours = []
        for plan in performers:
            brightness = plan.brightness if plan.brightness is not None else np.ones(133)
            colours = np.clip(np.outer(brightness, plan.colour), 0, 255).astype(int)
            self.point_colours.append([tuple(c) for c in colours.tolist()])
        self.halo_thickness = s.line_thickness + 2 * s.point_radius

        # legend: one line per performer, then what the highlights and brightness mean
        self.legend_lines: list[tuple[str, tuple[int, int, int] | None]] = [
            (plan.instrument, plan.colour) for plan in performers]
        if any(p.highlight is not None for p in performers):
            self.legend_lines.append(("white halo: strong correlation", HIGHLIGHT_COLOUR))
        if any(p.brightness is not None for p in performers):
            self.legend_lines.append(("brightness: PC1 loading", None))
        self.legend_lines += [(note, None) for note in notes]
        self.legend_lines.append(("t = 0000.0 s", None))
        text_width = max(cv2.getTextSize(text, FONT, s.font_scale, s.text_thickness)[0][0]
                         for text, _ in self.legend_lines)
        self.legend_box = legend_region(width, height, len(self.legend_lines), text_width)

        self.show_bars = show_bars and any(p.bars for p in performers)
        n_rows = 1 + max((len(p.bars) for p in performers), default=0)
        self.bar_box = bar_region(width, height, n_rows)
        self.label_width = max([cv2.getTextSize(b.label, FONT, s.font_scale, s.text_thickness)[0][0]
                                for p in performers for b in p.bars] or [0]) + s.margin

    # --- layers -------------------------------------------------------------------------------
    def draw_skeleton(self, frame: np.ndarray, k: int, plan: PerformerPlan, index: int) -> None:
        skeleton = plan.skeleton
        row = skeleton.row(index)
        if row is None:
            return
        s = self.sizes
        visible = skeleton.visible[row]
        points = skeleton.points[row]
        edges = skeleton.edges[visible[skeleton.edges[:, 0]] & visible[skeleton.edges[:, 1]]]
        if plan.highlight is not None and len(edges):
            lit = plan.highlight[index]
            lit_edges = edges[lit[edges[:, 0]] & lit[edges[:, 1]]]
            if len(lit_edges):
                cv2.polylines(frame, points[lit_edges], False, HIGHLIGHT_COLOUR, self.halo_thickness,
                              cv2.LINE_AA)
            lit_points = np.flatnonzero(lit & visible & ~self.face_mask)
            for i in lit_points.tolist():   # single points of a lit part with no lit edge still show
                cv2.circle(frame, points[i].tolist(), s.point_radius + 2, HIGHLIGHT_COLOUR, -1,
                           cv2.LINE_AA)
        if len(edges):
            cv2.polylines(frame, points[edges], False, plan.colour, s.line_thickness, cv2.LINE_AA)
        colours = self.point_colours[k]
        xy = points.tolist()
        for i in np.flatnonzero(visible).tolist():
            radius = s.face_radius if self.face_mask[i] else s.point_radius
            cv2.circle(frame, xy[i], radius, colours[i], -1, cv2.LINE_AA)

    def draw_legend(self, frame: np.ndarray, index: int) -> None:
        s = self.sizes
        x0, y0, x1, y1 = self.legend_box
        _darken(frame, self.legend_box)
        swatch = s.row_height - 6
        for row, (text, colour) in enumerate(self.legend_lines):
            top = y0 + s.margin + row * s.row_height
            if text.startswith("t = "):
                text = f"t = {index / self.fps:6.1f} s"
            if colour is not None:
                cv2.rectangle(frame, (x0 + s.margin, top + 3), (x0 + s.margin + swatch, top + 3 + swatch),
                              colour, -1)
            cv2.putText(frame, text, (x0 + 2 * s.margin + s.row_height, top + s.row_height - 6), FONT,
                        s.font_scale, TEXT_COLOUR, s.text_thickness, cv2.LINE_AA)

    def draw_bars(self, frame: np.ndarray, index: int) -> None:
        s = self.sizes
        x0, y0, x1, y1 = self.bar_box
        _darken(frame, self.bar_box)
        column = (x1 - x0) / max(1, len(self.performers))
        for k, plan in enumerate(self.performers):
            left = int(x0 + k * column) + s.margin
            right = int(x0 + (k + 1) * column) - s.margin
            top = y0 + s.margin
            lit = plan.whole_body is not None and index < len(plan.whole_body) and plan.whole_body[index]
            name = plan.instrument + ("  [strong: whole body]" if lit else "")
            cv2.putText(frame, name, (left, top + s.row_height - 6), FONT, s.font_scale,
                        HIGHLIGHT_COLOUR if lit else plan.colour, s.text_thickness + int(lit),
                        cv2.LINE_AA)
            bar_left = left + self.label_width
            for row, bar in enumerate(plan.bars, start=1):
                row_top = top + row * s.row_height
                cv2.putText(frame, bar.label, (left, row_top + s.row_height - 6), FONT, s.font_scale,
                            TEXT_COLOUR, s.text_thickness, cv2.LINE_AA)
                b_top, b_bottom = row_top + 3, row_top + s.row_height - 4
                value = bar.values[index] if index < len(bar.values) else np.nan
                if np.isfinite(value) and value > 0:
                    fill_right = bar_left + int(round(float(value) * (right - bar_left)))
                    cv2.rectangle(frame, (bar_left, b_top), (fill_right, b_bottom), plan.colour, -1)
                cv2.rectangle(frame, (bar_left, b_top), (right, b_bottom), TEXT_COLOUR, 1)

    def draw(self, frame: np.ndarray, index: int) -> np.ndarray:
        """Draw everything for song frame ``index`` on ``frame`` (modified in place and returned)."""
        for k, plan in enumerate(self.performers):
            self.draw_skeleton(frame, k, plan, index)
        if self.show_bars:
            self.draw_bars(frame, index)
        self.draw_legend(frame, index)
        return frame
