"""Colours, sizes and screen regions of the overlay, as functions of the frame size.

Colours are RGB (frames are RGB arrays). Sizes scale with the frame height ``H`` so that text stays
readable at 720p and the overlay looks the same at other resolutions: font scale
``0.55 * H / 720`` (at least 0.35), line thickness ``max(1, round(H / 360))`` px, body point radius
``max(2, round(H / 240))`` px, face point radius ``max(1, radius // 2)``.

Screen regions (pixels, ``(x0, y0, x1, y1)``, x1/y1 exclusive):

* **legend** — top-left box;
* **feature bars** — a strip along the bottom edge (``bar_region``), one column per performer in stage
  order, one row for the performer's name and one per bar. Nothing else draws there, so with
  ``--no_features`` that region is left exactly as decoded.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import cv2

INSTRUMENT_COLOURS: dict[str, tuple[int, int, int]] = {
    "vocal": (0, 200, 0),          # green
    "violin": (40, 120, 255),      # blue
    "mridangam": (230, 30, 30),    # red
    "tanpura": (255, 160, 0),      # orange
    "ghatam": (200, 0, 200),       # magenta
    "morsing": (0, 200, 200),      # cyan
    "kanjira": (240, 220, 0),      # yellow
    "flute": (150, 90, 255),       # violet
    "veena": (255, 120, 170),      # pink
}
# For instruments the pipeline does not know yet: distinct from the named ones above.
EXTRA_COLOURS = ((140, 70, 20), (120, 120, 255), (160, 255, 120), (255, 200, 140), (90, 160, 90))
HIGHLIGHT_COLOUR = (255, 255, 255)   # white halo under strongly correlated parts
TEXT_COLOUR = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def instrument_colour(instrument: str) -> tuple[int, int, int]:
    """RGB colour of an instrument; unknown names get a stable colour from ``EXTRA_COLOURS``."""
    if instrument in INSTRUMENT_COLOURS:
        return INSTRUMENT_COLOURS[instrument]
    return EXTRA_COLOURS[zlib.crc32(instrument.encode()) % len(EXTRA_COLOURS)]


@dataclass(frozen=True)
class Sizes:
    font_scale: float
    text_thickness: int
    line_thickness: int
    point_radius: int
    face_radius: int
    row_height: int      # one text row in the panels, px
    margin: int          # px


def sizes_for(height: int) -> Sizes:
    """Sizes for a frame ``height`` px tall (module docstring)."""
    font_scale = max(0.35, 0.55 * height / 720)
    (_, text_h), baseline = cv2.getTextSize("Ag", FONT, font_scale, 1)
    radius = max(2, round(height / 240))
    return Sizes(font_scale=font_scale, text_thickness=1, line_thickness=max(1, round(height / 360)),
                 point_radius=radius, face_radius=max(1, radius // 2),
                 row_height=text_h + baseline + max(4, round(height / 120)),
                 margin=max(4, round(height / 90)))


def bar_region(width: int, height: int, n_rows: int) -> tuple[int, int, int, int]:
    """The feature-bar strip at the bottom of a ``width`` × ``height`` frame with ``n_rows`` rows."""
    s = sizes_for(height)
    panel_height = n_rows * s.row_height + 2 * s.margin
    return 0, max(0, height - panel_height), width, height


def legend_region(width: int, height: int, n_rows: int, text_width: int) -> tuple[int, int, int, int]:
    """The legend box in the top-left corner, big enough for ``n_rows`` lines of ``text_width`` px."""
    s = sizes_for(height)
    swatch = s.row_height
    return (s.margin, s.margin, min(width, 3 * s.margin + swatch + text_width),
            min(height, s.margin + n_rows * s.row_height + 2 * s.margin))
