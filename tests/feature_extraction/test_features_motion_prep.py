"""core.motion_prep: score masking, point dropping, normalisation, NaN-aware smoothing, gap filling."""
import numpy as np
import pytest
from scipy.signal import savgol_filter

from core.keypoints import LEFT_ARM_AND_HAND, LOWER_BODY, RIGHT_ARM_AND_HAND
from core.motion_prep import (describe_motion_prep, interpolate_gaps, mask_low_scores,
                              normalise_per_frame, points_to_drop, prepare_motion, savgol_smooth)


def test_mask_low_scores_sets_points_below_threshold_and_nan_scores_to_nan():
    kp = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)
    scores = np.array([[0.9, 0.2, 0.5, np.nan]] * 3)
    out = mask_low_scores(kp, scores, 0.5)
    assert np.isnan(out[:, [1, 3]]).all()
    np.testing.assert_array_equal(out[:, [0, 2]], kp[:, [0, 2]])


def test_points_to_drop_follows_stage_position():
    left = set(points_to_drop(0, 3))
    middle = set(points_to_drop(1, 3))
    right = set(points_to_drop(2, 3))
    assert middle == set(LOWER_BODY)
    assert left == set(LOWER_BODY) | set(LEFT_ARM_AND_HAND)
    assert right == set(LOWER_BODY) | set(RIGHT_ARM_AND_HAND)
    assert set(points_to_drop(0, 3, all_body_parts=True)) == set(LOWER_BODY)


def test_normalise_per_frame_maps_a_square_onto_unit_corners():
    corners = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=float)
    frame = corners * 30 + [100, 50]                       # half-diagonal 30·√2 px
    kp = np.stack([frame, frame * 2, np.full((4, 2), np.nan)])
    kp[2, 0] = [5, 5]                                      # one point only: undefined
    normalised, centre, scale = normalise_per_frame(kp)
    np.testing.assert_allclose(normalised[0], corners / np.sqrt(2))
    np.testing.assert_allclose(normalised[1], corners / np.sqrt(2))
    np.testing.assert_allclose(centre[0], [100, 50])
    np.testing.assert_allclose(scale[:2], [30 * np.sqrt(2), 60 * np.sqrt(2)])
    assert np.isnan(normalised[2]).all() and np.isnan(scale[2])


def test_savgol_matches_scipy_on_each_finite_run_and_keeps_gaps():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 2))
    x[20, 0] = np.nan                  # runs of 20 and 39
    x[3, 1] = x[30:33, 1] = np.nan     # runs of 3 (too short), 26 and 27
    y = savgol_smooth(x)
    np.testing.assert_allclose(y[:20, 0], savgol_filter(x[:20, 0], 5, 2, mode="interp"))
    np.testing.assert_allclose(y[21:, 0], savgol_filter(x[21:, 0], 5, 2, mode="interp"))
    np.testing.assert_array_equal(y[:3, 1], x[:3, 1])          # short run left alone
    np.testing.assert_allclose(y[4:30, 1], savgol_filter(x[4:30, 1], 5, 2, mode="interp"))
    np.testing.assert_allclose(y[33:, 1], savgol_filter(x[33:, 1], 5, 2, mode="interp"))
    assert np.isnan(y[[20], 0]).all() and np.isnan(y[30:33, 1]).all()


def test_savgol_preserves_quadratics_exactly():
    t = np.arange(50, dtype=float)
    quad = (0.3 * t ** 2 - 2 * t + 7)[:, None, None] * np.ones((1, 3, 2))
    np.testing.assert_allclose(savgol_smooth(quad), quad, rtol=1e-10)


def test_interpolate_gaps_fills_linearly_within_max_gap_only():
    x = np.array([0.0, np.nan, 2.0, np.nan, np.nan, np.nan, 6.0, np.nan])
    kp = np.stack([x, -x], axis=1)[:, None, :]                 # (8, 1, 2)
    filled = interpolate_gaps(kp)
    np.testing.assert_allclose(filled[:7, 0, 0], np.arange(7.0))
    assert np.isnan(filled[7, 0, 0])                            # trailing NaN stays
    limited = interpolate_gaps(kp, max_gap=2)
    assert limited[1, 0, 0] == 1.0 and np.isnan(limited[3:6, 0, 0]).all()


def test_prepare_motion_is_invariant_to_translation_and_drops_points():
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 500, size=(30, 133, 2)).astype(np.float32)
    scores = np.ones((30, 133), np.float32)
    scores[:, 0] = 0.1
    shifted = kp + np.array([37.0, -12.0], np.float32)
    a = prepare_motion(kp, scores, 0.5, points_to_drop(0, 3))
    b = prepare_motion(shifted, scores, 0.5, points_to_drop(0, 3))
    np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-4)
    assert np.isnan(a.keypoints[:, list(LOWER_BODY) + list(LEFT_ARM_AND_HAND) + [0]]).all()
    assert np.isfinite(a.keypoints[:, list(RIGHT_ARM_AND_HAND)]).all()


def test_prepare_motion_rejects_wrong_layout():
    with pytest.raises(ValueError):
        prepare_motion(np.zeros((5, 17, 2)), np.ones((5, 17)), 0.5)


def test_savgol_random_gaps_match_per_run_scipy_across_blocks():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 7))
    x[rng.random(x.shape) < 0.08] = np.nan
    x[:, 4] = np.nan                                               # an all-NaN column
    expected = x.copy()
    for col in range(x.shape[1]):
        finite = np.isfinite(x[:, col])
        edges = np.flatnonzero(np.diff(np.r_[0, finite.astype(int), 0]))
        for start, stop in zip(edges[::2], edges[1::2]):
            if stop - start >= 5:
                expected[start:stop, col] = savgol_filter(x[start:stop, col], 5, 2, mode="interp")
    np.testing.assert_allclose(savgol_smooth(x, block_columns=3), expected, equal_nan=True)


def test_prepare_motion_smooth_points_subset_equals_full_smoothing_there():
    rng = np.random.default_rng(6)
    kp = rng.uniform(0, 500, size=(40, 133, 2)).astype(np.float32)
    scores = np.ones((40, 133), np.float32)
    full = prepare_motion(kp, scores, 0.5, LOWER_BODY)
    subset = prepare_motion(kp, scores, 0.5, LOWER_BODY, smooth_points=(6, 8, 10))
    # float32 arrays smoothed in different column blocks: equal up to a few ulps (values are O(1))
    np.testing.assert_allclose(subset.keypoints[:, [6, 8, 10]], full.keypoints[:, [6, 8, 10]],
                               rtol=0, atol=1e-6)
    assert np.isnan(np.delete(subset.keypoints, [6, 8, 10], axis=1)).all()


def _square_hip_and_nose(n_frames=12):
    """Four kept points on a square around (300, 200) (half-diagonal 40·√2 px), a dropped hip far
    away at (5000, 5000), a low-score nose at (-900, 900) and points missing everywhere."""
    corners = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.float32)
    kp = np.full((n_frames, 133, 2), np.nan, np.float32)
    square = [5, 6, 7, 8]                                   # shoulders and elbows
    kp[:, square] = corners * 40 + np.array([300, 200], np.float32)
    kp[:, 11] = [5000, 5000]                                # left hip: always dropped
    kp[:, 0] = [-900, 900]                                  # nose, masked by its score
    scores = np.ones((n_frames, 133), np.float32)
    scores[:, 0] = 0.1
    return kp, scores, corners, square


def test_robust_order_centre_and_scale_ignore_dropped_masked_and_missing_points():
    """Robust option: the dropped hip and the low-score nose must not move the centre or scale."""
    kp, scores, corners, square = _square_hip_and_nose()
    n_frames = len(kp)
    prepared = prepare_motion(kp, scores, 0.5, LOWER_BODY, variant="robust")
    np.testing.assert_allclose(prepared.centre, np.tile([300, 200], (n_frames, 1)))
    np.testing.assert_allclose(prepared.scale, 40 * np.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(prepared.keypoints[:, square],
                               np.broadcast_to(corners / np.sqrt(2), (n_frames, 4, 2)), rtol=1e-6)
    others = np.delete(np.arange(133), square)
    assert np.isnan(prepared.keypoints[:, others]).all()
    assert prepared.keypoints.dtype == np.float32


def test_published_order_normalises_over_every_finite_point_then_drops_and_masks():
    """Published default (DESIGN §5): the centre is the mean of all six finite points (hip and
    low-score nose included) and the scale the hip's distance from it; afterwards the hip is dropped
    and the nose masked, so only the square is left, in those (much smaller) units."""
    kp, scores, corners, square = _square_hip_and_nose()
    n_frames = len(kp)
    prepared = prepare_motion(kp, scores, 0.5, LOWER_BODY)
    centre = np.array([(4 * 300 + 5000 - 900) / 6, (4 * 200 + 5000 + 900) / 6])   # (883.3, 1116.7)
    scale = np.hypot(5000 - centre[0], 5000 - centre[1])                           # 5659.3 px
    np.testing.assert_allclose(prepared.centre, np.tile(centre, (n_frames, 1)), rtol=1e-6)
    np.testing.assert_allclose(prepared.scale, scale, rtol=1e-6)
    expected = (corners * 40 + np.array([300, 200]) - centre) / scale
    np.testing.assert_allclose(prepared.keypoints[:, square],
                               np.broadcast_to(expected, (n_frames, 4, 2)), rtol=1e-5)
    others = np.delete(np.arange(133), square)
    assert np.isnan(prepared.keypoints[:, others]).all()
    # the two orders give different magnitudes for the same body: 1/√2 against ~0.14
    robust = prepare_motion(kp, scores, 0.5, LOWER_BODY, variant="robust")
    assert np.abs(robust.keypoints[0, 5]).max() / np.abs(prepared.keypoints[0, 5]).max() > 3


def test_published_order_smooths_before_masking_robust_masks_first():
    """A still body with a low-score nose (masked in every frame) that jumps in frame 10.
    Published: frame 10's centre and scale move with the nose, Savitzky–Golay spreads that to frames
    8–12 with the centred-window weights (-3, 12, 17, 12, -3)/35, and only then is the nose masked;
    robust: the nose is masked first, so the body stays exactly still."""
    rng = np.random.default_rng(11)
    n_frames = 21
    still = rng.uniform(200, 400, size=(1, 133, 2)).astype(np.float64)
    kp = np.repeat(still, n_frames, axis=0)
    kp[10, 0] = [2000, -1500]
    scores = np.ones((n_frames, 133))
    scores[:, 0] = 0.1
    robust = prepare_motion(kp, scores, 0.5, (), variant="robust")
    published = prepare_motion(kp, scores, 0.5, ())
    normalised, _, _ = normalise_per_frame(kp)              # published step 1, every frame
    base, jump = normalised[0], normalised[10]
    np.testing.assert_allclose(robust.keypoints[:, 1:], np.broadcast_to(
        normalise_per_frame(np.delete(still, 0, axis=1))[0][0], (n_frames, 132, 2)), atol=1e-12)
    weights = {8: -3 / 35, 9: 12 / 35, 10: 17 / 35, 11: 12 / 35, 12: -3 / 35}
    for frame, weight in weights.items():
        expected = base[1:] + weight * (jump[1:] - base[1:])
        np.testing.assert_allclose(published.keypoints[frame, 1:], expected, atol=1e-12)
    np.testing.assert_allclose(published.keypoints[:8, 1:], np.broadcast_to(base[1:], (8, 132, 2)),
                               atol=1e-12)
    assert np.isnan(published.keypoints[:, 0]).all() and np.isnan(robust.keypoints[:, 0]).all()


def test_describe_motion_prep_names_the_order_and_rejects_unknown_variants():
    assert describe_motion_prep("published") == {
        "variant": "published", "published": True,
        "order": ["normalise per frame over all finite points (mean, largest distance)",
                  "drop parts", "Savitzky-Golay smoothing", "mask points with score < threshold"]}
    assert describe_motion_prep("robust")["order"][0] == "mask points with score < threshold"
    with pytest.raises(ValueError, match="unknown motion preprocessing"):
        prepare_motion(np.zeros((5, 133, 2)), None, None, variant="thesis")


def test_savgol_float32_matches_float64():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(300, 6))
    x[rng.random(x.shape) < 0.1] = np.nan
    y32 = savgol_smooth(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, savgol_smooth(x), rtol=1e-5, atol=1e-5, equal_nan=True)


def test_normalise_per_frame_ignores_points_missing_in_that_frame():
    corners = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.float32)
    frame = np.vstack([corners * 30 + [400, 300], [[np.nan, np.nan], [np.nan, 7.0]]])
    normalised, centre, scale = normalise_per_frame(frame[None].astype(np.float32))
    np.testing.assert_allclose(centre[0], [400, 300])
    np.testing.assert_allclose(scale[0], 30 * np.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(normalised[0, :4], corners / np.sqrt(2), rtol=1e-6)
    assert np.isnan(normalised[0, 4:]).all()                 # a half-missing point is missing
