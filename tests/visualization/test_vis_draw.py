import numpy as np
import pytest

from core.keypoints import BODY_PARTS, NUM_KEYPOINTS
from visualization.draw import Bar, FrameDrawer, PerformerPlan
from visualization.skeleton import display_skeleton
from visualization.style import HIGHLIGHT_COLOUR, INSTRUMENT_COLOURS, bar_region, instrument_colour
from visualization.synthetic import performer_keypoints

W, H, FPS, F = 640, 360, 30.0, 10


def _plan(instrument: str, position: int, n: int = 3, bars=(), highlight=None, brightness=None):
    keypoints = performer_keypoints(F, FPS, ((position + 0.5) * W / n, 0.42 * H), 0.32 * W / n)
    scores = np.full(keypoints.shape[:2], 0.9, np.float32)
    skeleton = display_skeleton(keypoints, scores, 0.5, instrument, position, n, FPS)
    return PerformerPlan(instrument, instrument_colour(instrument), skeleton, brightness=brightness,
                         highlight=highlight, bars=list(bars)), keypoints


def _near(frame: np.ndarray, xy, colour, radius: int = 2, tol: int = 40) -> bool:
    x, y = int(round(xy[0])), int(round(xy[1]))
    patch = frame[y - radius:y + radius + 1, x - radius:x + radius + 1].reshape(-1, 3).astype(int)
    return bool((np.abs(patch - np.array(colour)).max(axis=1) <= tol).any())


def test_instrument_colours_are_the_published_ones_and_distinct():
    assert instrument_colour("vocal") == (0, 200, 0)
    violin, mridangam = instrument_colour("violin"), instrument_colour("mridangam")
    assert violin[2] > max(violin[:2]) and mridangam[0] > max(mridangam[1:])    # blue, red
    colours = list(INSTRUMENT_COLOURS.values())
    assert len(set(colours)) == len(colours)
    assert instrument_colour("harmonium") == instrument_colour("harmonium")   # stable for unknowns
    assert instrument_colour("harmonium") not in colours


def test_skeleton_is_drawn_in_instrument_colour_at_the_keypoints_only_where_visible():
    plan, keypoints = _plan("violin", 1)
    drawer = FrameDrawer([plan], W, H, FPS, show_bars=False)
    frame = drawer.draw(np.zeros((H, W, 3), np.uint8), 4)
    blue = instrument_colour("violin")
    for index in (5, 6, 7, 8, 9, 10):                     # shoulders, elbows, wrists
        assert _near(frame, keypoints[4, index], blue), index
    assert not _near(frame, keypoints[4, 15], blue, radius=3)    # ankle: lower body hidden
    # nothing of the skeleton lands far from it: the right third of the frame stays black
    assert frame[int(0.25 * H):int(0.75 * H), int(0.8 * W):].max() == 0


def test_pca_brightness_dims_points_without_loading():
    brightness = np.full(NUM_KEYPOINTS, 0.5, np.float32)
    brightness[8] = 1.0
    plan, keypoints = _plan("violin", 1, brightness=brightness)
    plan.skeleton.edges = plan.skeleton.edges[:0]         # points only, so no line colours mix in
    frame = FrameDrawer([plan], W, H, FPS, show_bars=False).draw(np.zeros((H, W, 3), np.uint8), 0)
    x, y = np.rint(keypoints[0, 8]).astype(int)
    assert frame[y, x, 2] == pytest.approx(255, abs=3)
    x, y = np.rint(keypoints[0, 7]).astype(int)
    assert frame[y, x, 2] == pytest.approx(0.5 * 255, abs=3)


def test_highlighted_part_gets_white_halo_only_when_covered():
    highlight = np.zeros((F, NUM_KEYPOINTS), bool)
    highlight[3, list(BODY_PARTS["right_arm"])] = True
    plan, keypoints = _plan("violin", 1, highlight=highlight)
    drawer = FrameDrawer([plan], W, H, FPS, show_bars=False)
    lit = drawer.draw(np.zeros((H, W, 3), np.uint8), 3)
    unlit = drawer.draw(np.zeros((H, W, 3), np.uint8), 4)
    elbow_to_wrist = (keypoints[3, 8] + keypoints[3, 10]) / 2
    # the halo is wider than the line: look a few pixels beside the segment
    offset = np.array([drawer.sizes.line_thickness + 2, 0])
    assert _near(lit, elbow_to_wrist + offset, HIGHLIGHT_COLOUR, radius=1, tol=30)
    unlit_segment = (keypoints[4, 8] + keypoints[4, 10]) / 2
    assert not _near(unlit, unlit_segment + offset, HIGHLIGHT_COLOUR, radius=1, tol=30)


def test_bars_fill_in_proportion_to_value_and_stay_in_their_region():
    values = np.linspace(0, 1, F).astype(np.float32)
    plan, _ = _plan("mridangam", 0, n=1, bars=[Bar("audio rms", values)])
    drawer = FrameDrawer([plan], W, H, FPS, show_bars=True)
    red = np.array(instrument_colour("mridangam"))
    x0, y0, x1, y1 = bar_region(W, H, 2)
    assert drawer.bar_box == (x0, y0, x1, y1)
    widths = []
    for index in (0, 5, 9):
        frame = drawer.draw(np.full((H, W, 3), 255, np.uint8), index)
        bar_row = y0 + drawer.sizes.margin + drawer.sizes.row_height     # below the name row
        region = frame[bar_row:y1].astype(int)
        widths.append(int((np.abs(region - red).max(axis=-1) < 10).any(axis=0).sum()))
    full = widths[2]
    assert widths[0] == 0 and full > 100
    assert widths[1] == pytest.approx(values[5] * full, abs=3)
