import numpy as np
import pytest

from core.keypoints import (FACE, LEFT_ARM_AND_HAND, LOWER_BODY, NUM_KEYPOINTS, RIGHT_ARM_AND_HAND,
                            SKELETON_EDGES)
from visualization.skeleton import display_skeleton, drawable_edges, fill_display_gaps, hidden_points


def test_hidden_points_follow_stage_position_and_instrument():
    middle_violin = set(hidden_points("violin", 1, 3))
    assert middle_violin == set(LOWER_BODY) | set(FACE)
    left_vocal = set(hidden_points("vocal", 0, 3))
    assert left_vocal == set(LOWER_BODY) | set(LEFT_ARM_AND_HAND)      # vocalist keeps the face
    right_mridangam = set(hidden_points("mridangam", 2, 3))
    assert right_mridangam == set(LOWER_BODY) | set(FACE) | set(RIGHT_ARM_AND_HAND)
    solo = set(hidden_points("vocal", 0, 1))
    assert set(LEFT_ARM_AND_HAND) | set(RIGHT_ARM_AND_HAND) <= solo


def test_drawable_edges_never_touch_hidden_points():
    hidden = hidden_points("mridangam", 2, 3)
    edges = drawable_edges(hidden)
    assert edges.shape[1] == 2 and len(edges) > 0
    assert not np.isin(edges, hidden).any()
    # every skeleton edge between two shown points is kept
    expected = [e for e in SKELETON_EDGES if e[0] not in hidden and e[1] not in hidden]
    assert [tuple(e) for e in edges.tolist()] == expected


def test_gap_filling_interpolates_points_and_scores_linearly():
    frames = 7
    keypoints = np.zeros((frames, 2, 2))
    keypoints[:, 0, 0] = np.arange(frames) * 10.0            # x = 10 f
    keypoints[:, 1, 1] = 5.0
    scores = np.array([[0.9, 0.9]] * frames)
    scores[:, 0] = np.linspace(0.2, 0.8, frames)
    keypoints[2:5] = np.nan                                   # three missing frames
    scores[2:5] = 0.0                                         # what pose writes for "not found"
    keypoints[0, 1] = np.nan                                  # leading gap of point 1: stays empty
    points, filled_scores = fill_display_gaps(keypoints, scores, max_gap=None)
    np.testing.assert_allclose(points[:, 0, 0], np.arange(frames) * 10.0)
    np.testing.assert_allclose(filled_scores[:, 0], np.linspace(0.2, 0.8, frames))
    assert np.isnan(points[0, 1]).all() and np.isnan(filled_scores[0, 1])
    # a gap longer than max_gap is left empty
    points, _ = fill_display_gaps(keypoints, scores, max_gap=2)
    assert np.isnan(points[2:5, 0]).all()


def _person(frames: int) -> tuple[np.ndarray, np.ndarray]:
    keypoints = np.tile(np.linspace(10, 200, NUM_KEYPOINTS * 2).reshape(1, NUM_KEYPOINTS, 2),
                        (frames, 1, 1)).astype(np.float32)
    return keypoints, np.full((frames, NUM_KEYPOINTS), 0.9, np.float32)


def test_display_skeleton_applies_threshold_gaps_and_hidden_points():
    keypoints, scores = _person(30)
    scores[:, 0] = 0.3                                          # nose below a 0.5 threshold
    keypoints[10:13] = np.nan                                   # person not detected for 3 frames
    scores[10:13] = 0
    skeleton = display_skeleton(keypoints, scores, 0.5, "violin", 1, 3, fps=30)
    assert not skeleton.visible[:, 0].any()
    assert not skeleton.visible[:, list(LOWER_BODY) + list(FACE)].any()
    assert skeleton.visible[11, 5] and skeleton.visible[11, 6]  # filled from the neighbours
    np.testing.assert_array_equal(skeleton.points[11, 5], np.rint(keypoints[0, 5]))
    # with gap filling limited to 1 frame (1/30 s) the 3-frame gap stays empty
    short = display_skeleton(keypoints, scores, 0.5, "violin", 1, 3, fps=30, max_gap_s=1 / 30)
    assert not short.visible[10:13].any()


def test_face_file_fills_missing_vocal_face_points():
    keypoints, scores = _person(4)
    keypoints[:, list(FACE)] = np.nan
    face = np.full((4, 68, 2), 50.0)
    skeleton = display_skeleton(keypoints, scores, 0.5, "vocal", 1, 3, fps=30, face=face)
    assert skeleton.visible[:, list(FACE)].all()
    assert (skeleton.points[:, list(FACE)] == 50).all()
    other = display_skeleton(keypoints, scores, 0.5, "violin", 1, 3, fps=30, face=face)
    assert not other.visible[:, list(FACE)].any()


def test_display_skeleton_rejects_wrong_layout():
    with pytest.raises(ValueError, match="133"):
        display_skeleton(np.zeros((3, 17, 2)), np.zeros((3, 17)), 0.5, "vocal", 0, 1, fps=30)


def test_window_preparation_equals_whole_song_preparation():
    rng = np.random.default_rng(3)
    keypoints, scores = _person(300)
    keypoints += rng.normal(0, 3, keypoints.shape).astype(np.float32)
    scores = rng.uniform(0.3, 1.0, scores.shape).astype(np.float32)
    for start in rng.integers(0, 290, 12):                   # gaps of 1-60 frames, some past 1 s
        keypoints[start:start + rng.integers(1, 60)] = np.nan
    whole = display_skeleton(keypoints, scores, 0.5, "vocal", 1, 3, fps=30)
    first, stop = 100, 160
    window = display_skeleton(keypoints, scores, 0.5, "vocal", 1, 3, fps=30, frames=(first, stop))
    assert window.first_frame > 0 and window.points.shape[0] < 300
    for frame in range(first, stop):
        np.testing.assert_array_equal(window.visible[window.row(frame)], whole.visible[frame])
        shown = whole.visible[frame]
        np.testing.assert_array_equal(window.points[window.row(frame)][shown], whole.points[frame][shown])
    assert window.row(0) is None and window.row(299) is None
