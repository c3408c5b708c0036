"""General, violin and vocal motion features: known answers."""
import numpy as np

from core.face import load_mean_face
from core.keypoints import FACE
from core.motion_prep import prepare_motion
from feature_extraction.motion import (general_motion_features, mean_over_points, part_means,
                                       speed_and_acceleration, speed_pca)
from feature_extraction.violin import joint_angle_degrees, violin_motion_features
from feature_extraction.vocal import polygon_area, vocal_motion_features

FPS = 30.0


def test_point_at_constant_velocity_has_that_speed_in_pixels_per_second():
    t = np.arange(60) / FPS
    velocity = np.array([120.0, -50.0])                     # pixels/s, |v| = 130
    points = (np.array([10.0, 20.0]) + t[:, None] * velocity)[:, None, :]
    speed, acceleration = speed_and_acceleration(points, FPS)
    np.testing.assert_allclose(speed[:, 0], 130.0)
    np.testing.assert_allclose(acceleration[:, 0], 0.0, atol=1e-9)


def test_rotating_body_gives_angular_speed_in_normalised_units():
    """Points on a circle of radius R (pixels) rotating at ω rad/s while the whole body drifts:
    after normalisation (centre removed, divided by R) every point moves at ω normalised units/s
    and accelerates at ω² (centripetal)."""
    n_frames, omega, radius = 120, 2.0, 80.0
    t = np.arange(n_frames) / FPS
    angles = omega * t[:, None] + np.linspace(0, 2 * np.pi, 8, endpoint=False)[None]
    ring = radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)        # (F, 8, 2)
    kp = np.full((n_frames, 133, 2), np.nan, np.float32)
    ring_points = list(FACE[:8])
    kp[:, ring_points] = ring + np.array([300.0, 200.0]) + t[:, None, None] * [25.0, 10.0]
    scores = np.ones((n_frames, 133), np.float32)
    prepared = prepare_motion(kp, scores, 0.5)
    features = general_motion_features(prepared.keypoints, FPS)
    np.testing.assert_allclose(features["speed"][3:-3], omega, rtol=1e-3)
    np.testing.assert_allclose(features["face_speed"][3:-3], omega, rtol=1e-3)
    np.testing.assert_allclose(features["acceleration"][5:-5], omega ** 2, rtol=1e-2)
    assert np.isnan(features["head_speed"]).all()             # no head point present


def test_mean_over_points_ignores_nan_and_gives_nan_for_empty_rows():
    values = np.array([[1.0, 3.0, np.nan], [np.nan, np.nan, np.nan]])
    np.testing.assert_array_equal(mean_over_points(values)[:1], [2.0])
    assert np.isnan(mean_over_points(values)[1])
    assert mean_over_points(values, [1])[0] == 3.0


def test_part_means_equal_per_group_nanmeans():
    rng = np.random.default_rng(4)
    values = rng.random((50, 133))
    values[rng.random(values.shape) < 0.3] = np.nan
    values[:, 91:112] = np.nan                                  # a whole part missing
    groups = {"all": None, "head": (0, 1, 2, 3, 4), "left_hand": tuple(range(91, 112))}
    means = part_means(values, groups)
    np.testing.assert_allclose(means["all"], mean_over_points(values))
    np.testing.assert_allclose(means["head"], mean_over_points(values, groups["head"]))
    assert np.isnan(means["left_hand"]).all()


def test_speed_pca_finds_two_independent_motion_sources():
    rng = np.random.default_rng(3)
    n_frames = 300
    kp = np.full((n_frames, 133, 2), np.nan)
    a = np.cumsum(rng.normal(size=n_frames))
    b = np.cumsum(rng.normal(size=n_frames))
    for i in range(5):                                       # group A follows a, group B follows b
        kp[:, 23 + i] = np.stack([a * (1 + i / 10), np.zeros(n_frames)], axis=1)
        kp[:, 40 + i] = np.stack([np.zeros(n_frames), b * (1 + i / 10)], axis=1)
    components, info = speed_pca(kp, FPS, 3)
    ratios = np.asarray(info["explained_variance_ratio"])
    assert ratios[:2].sum() > 0.95 and ratios[0] >= ratios[1] >= ratios[2]
    loadings = np.asarray(info["loadings"])
    np.testing.assert_allclose(loadings @ loadings.T, np.eye(3), atol=1e-10)
    assert sorted(info["keypoint_indices"]) == list(range(23, 28)) + list(range(40, 45))
    assert components["pca_1"].shape == (n_frames,)


def test_elbow_angle_right_angle_and_straight_arm():
    shoulder = np.array([[0.0, 0.0], [0.0, 0.0]])
    elbow = np.array([[1.0, 0.0], [1.0, 0.0]])
    wrist = np.array([[1.0, 5.0], [3.0, 0.0]])
    np.testing.assert_allclose(joint_angle_degrees(shoulder, elbow, wrist), [90.0, 180.0])


def test_violin_features_known_arm():
    n_frames = 40
    kp = np.full((n_frames, 133, 2), np.nan)
    kp[:, 6] = [0.0, 0.0]                                    # right shoulder
    kp[:, 8] = [0.0, 0.3]                                    # right elbow: 90° at the elbow
    kp[:, 10] = np.stack([np.linspace(0, 0.4, n_frames), np.full(n_frames, 0.3)], axis=1)
    kp[:, 10, 0] += 0.4                                       # wrist moves right at 0.4/(39/30) u/s
    features = violin_motion_features(kp, FPS)
    np.testing.assert_allclose(features["elbow_angle"], 90.0)
    np.testing.assert_allclose(features["wrist_speed"], 0.4 / ((n_frames - 1) / FPS))
    np.testing.assert_allclose(features["arm_extension"],
                               np.hypot(kp[:, 10, 0], kp[:, 10, 1]))


def test_polygon_area_of_known_polygons():
    square = np.array([[[0, 0], [2, 0], [2, 2], [0, 2]]], dtype=float)
    triangle = np.array([[[0, 0], [4, 0], [0, 3]]], dtype=float)
    np.testing.assert_allclose(polygon_area(square), [4.0])
    np.testing.assert_allclose(polygon_area(triangle[:, ::-1]), [6.0])      # orientation-free


def rotate(points, angle, shift):
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return points @ rotation.T + shift


def test_moved_face_registers_back_and_mouth_area_is_the_polygon_area():
    """A mean face whose 20 mouth points form a regular 20-gon of radius ρ, rotated and translated
    differently in every frame: registration undoes the motion, so mouth_area = ½ n ρ² sin(2π/n)
    and jaw_to_nose equals the mean face's |p33 - p8| in every frame."""
    mean_face = load_mean_face()
    face = mean_face.copy()
    rho, n = 6.0, 20
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    face[48:68] = face[48:68].mean(axis=0) + rho * np.stack([np.cos(angles), np.sin(angles)], 1)
    n_frames = 30
    faces = np.stack([rotate(face, 0.3 * np.sin(f / 5), [40 + f, -20 + 2 * f])
                      for f in range(n_frames)])
    features = vocal_motion_features(faces, false_positive_frames=[(4, 6)], mean_face=face,
                                     smooth=False)
    expected_area = 0.5 * n * rho ** 2 * np.sin(2 * np.pi / n)
    keep = np.ones(n_frames, bool)
    keep[4:7] = False
    np.testing.assert_allclose(features["mouth_area"][keep], expected_area, rtol=1e-9)
    np.testing.assert_allclose(features["jaw_to_nose"][keep],
                               np.linalg.norm(mean_face[33] - mean_face[8]), rtol=1e-9)
    assert np.isnan(features["mouth_area"][4:7]).all()
    assert np.isnan(features["jaw_to_nose"][4:7]).all()


def test_vocal_features_nan_where_face_missing():
    faces = np.repeat(load_mean_face()[None], 20, axis=0)
    faces[8:11] = np.nan
    features = vocal_motion_features(faces)
    assert np.isnan(features["mouth_area"][8:11]).all()
    assert np.isfinite(features["mouth_area"][:8]).all()


def test_speed_pca_tolerates_scattered_missing_points():
    """With 5% of points missing at random almost no frame is complete; mean imputation still
    recovers the two motion sources."""
    rng = np.random.default_rng(8)
    n_frames = 600
    kp = np.full((n_frames, 133, 2), np.nan)
    a = np.cumsum(rng.normal(size=n_frames))
    b = np.cumsum(rng.normal(size=n_frames))
    for i in range(20):
        kp[:, 23 + i] = np.stack([a * (1 + i / 10), np.zeros(n_frames)], axis=1)
        kp[:, 50 + i] = np.stack([np.zeros(n_frames), b * (1 + i / 10)], axis=1)
    kp[rng.random(kp.shape[:2]) < 0.05] = np.nan
    complete = np.isfinite(kp[:, list(range(23, 43)) + list(range(50, 70)), 0]).all(axis=1)
    assert complete.sum() < 120                              # ~13 %: too few for the old rule
    components, info = speed_pca(kp, FPS, 2)
    assert info["n_frames_used"] > 0.9 * n_frames
    assert np.asarray(info["explained_variance_ratio"]).sum() > 0.6
    loadings = np.abs(np.asarray(info["loadings"]))
    groups = np.array([i < 43 for i in info["keypoint_indices"]])
    # each component loads on one group of keypoints
    for component in loadings:
        share_a = (component[groups] ** 2).sum()
        assert share_a > 0.9 or share_a < 0.1


def test_violin_features_from_a_point_subset_equal_the_full_layout():
    rng = np.random.default_rng(2)
    kp = rng.normal(size=(30, 133, 2))
    full = violin_motion_features(kp, FPS)
    points = (0, 6, 8, 10, 40)
    subset = violin_motion_features(kp[:, list(points)], FPS, points)
    for name in full:
        np.testing.assert_allclose(subset[name], full[name])
    no_wrist = violin_motion_features(kp[:, [6, 8]], FPS, (6, 8))
    assert np.isnan(no_wrist["elbow_angle"]).all() and np.isnan(no_wrist["wrist_speed"]).all()
