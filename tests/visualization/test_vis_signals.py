import numpy as np
import pytest

from core.keypoints import BODY_PARTS
from visualization.signals import (WHOLE_BODY, fit_length, keypoint_highlight, normalise_per_song,
                                   part_highlights, pca_brightness, window_coverage)
from visualization.synthetic import correlation_block


def test_normalise_per_song_matches_percentile_formula():
    # 0..99 and one outlier: 101 finite values whose 1st and 99th percentiles are exactly 1 and 99
    values = np.concatenate([np.arange(100.0), [1e6, np.nan]])
    out = normalise_per_song(values)
    np.testing.assert_allclose(out[:100], np.clip((np.arange(100.0) - 1) / 98, 0, 1), atol=1e-6)
    assert out[100] == 1.0 and np.isnan(out[101])       # the outlier is clipped, not the scale
    assert (normalise_per_song(np.full(5, 3.0)) == 0).all()
    assert np.isnan(normalise_per_song(np.full(5, np.nan))).all()


def test_fit_length_pads_and_cuts():
    assert np.isnan(fit_length(np.ones(3), 5)[3:]).all()
    assert len(fit_length(np.ones(9), 5)) == 5


def test_window_coverage_against_brute_force():
    rng = np.random.default_rng(1)
    starts = list(range(0, 200, 3))
    strong = rng.random(len(starts)) < 0.2
    n = 190
    expected = np.zeros(n, dtype=bool)
    for s, flag in zip(starts, strong):
        if flag:
            expected[s:s + 15] = True
    np.testing.assert_array_equal(window_coverage(starts, 15, strong, n), expected)
    with pytest.raises(ValueError):
        window_coverage([0, 3], 15, [True], n)


def test_part_highlights_use_own_audio_pairs_of_that_performer_only():
    layout = ("vocal", "violin")
    block = correlation_block(layout, 60, 30.0, {("vocal", "right_arm"): [2],
                                                 ("vocal", None): [5],
                                                 ("violin", "head"): [0]})
    step, width = 3, 15                                   # 0.1 s and 0.5 s at 30 fps
    masks = part_highlights(block, "vocal", 60)
    # the synthetic block has control pairs strong everywhere: they must be ignored
    assert set(masks) == {WHOLE_BODY, "head", "left_arm", "right_arm", "face", "left_hand",
                          "right_hand"}
    np.testing.assert_array_equal(np.flatnonzero(masks["right_arm"]), np.arange(2 * step, 2 * step + width))
    np.testing.assert_array_equal(np.flatnonzero(masks[WHOLE_BODY]), np.arange(5 * step, 5 * step + width))
    assert not masks["head"].any()
    points = keypoint_highlight(masks, 60)
    assert points[2 * step][list(BODY_PARTS["right_arm"])].all()
    assert points[2 * step].sum() == len(BODY_PARTS["right_arm"])   # whole body lights no points
    assert not points[0].any()


def test_pca_brightness_scales_first_component_loadings():
    pca = {"keypoint_indices": [0, 5, 10], "loadings": [[0.5, -1.0, 0.0], [9.0, 9.0, 9.0]]}
    b = pca_brightness(pca, floor=0.4)
    assert b.shape == (133,)
    assert b[0] == pytest.approx(0.4 + 0.6 * 0.5)
    assert b[5] == pytest.approx(1.0)                    # sign does not matter
    assert b[10] == pytest.approx(0.4) and b[1] == pytest.approx(0.4)
    assert pca_brightness(None) is None
    assert pca_brightness({"keypoint_indices": [0, 1], "loadings": [[1.0]]}) is None


def test_strong_coverage_filters_pairs_by_feature():
    from visualization.signals import strong_coverage

    block = correlation_block(("vocal",), 60, 30.0, {("vocal", "right_arm"): [2], ("vocal", None): [5]})
    # synthetic pairs: "<part>_speed" / "speed" (whole body) against "rms"
    only_speed = strong_coverage(block, "vocal", 60, motion_features=["speed"], audio_features=["rms"])
    np.testing.assert_array_equal(np.flatnonzero(only_speed), np.arange(15, 30))
    everything = strong_coverage(block, "vocal", 60)
    np.testing.assert_array_equal(np.flatnonzero(everything), np.arange(6, 30))   # windows 2 and 5
    assert not strong_coverage(block, "vocal", 60, audio_features=["onset_env"]).any()
    assert not strong_coverage(block, "violin", 60).any()


def test_runs_of_true_frames():
    from visualization.figures import _runs

    assert _runs(np.array([0, 1, 1, 0, 0, 1], bool)) == [(1, 3), (5, 6)]
    assert _runs(np.zeros(4, bool)) == []
