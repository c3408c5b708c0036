import numpy as np

from core.face import kabsch_2d, load_mean_face, register_faces


def rotate(points, angle, shift):
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return points @ rot.T + shift


def test_mean_face_is_68_points_in_pixels_y_down():
    mean_face = load_mean_face()
    assert mean_face.shape == (68, 2)
    # chin (8) below the nose tip (33) in image coordinates
    assert mean_face[8, 1] > mean_face[33, 1]


def test_rotated_translated_face_registers_back_onto_mean_face():
    mean_face = load_mean_face()
    faces = np.stack([rotate(mean_face, a, s) for a, s in
                      [(0.4, (30, -10)), (-0.2, (-100, 5)), (0.0, (0, 0))]])
    registered = register_faces(faces, mean_face)
    np.testing.assert_allclose(registered, np.broadcast_to(mean_face, faces.shape), atol=1e-9)


def test_registration_ignores_lips_and_missing_points():
    mean_face = load_mean_face()
    face = rotate(mean_face, 0.3, (5, 5))
    face[48:68] += 7.0        # open mouth: lips move, rigid points do not
    face[0:3] = np.nan        # a few jaw points missing
    registered = register_faces(face[None], mean_face)[0]
    np.testing.assert_allclose(registered[3:48], mean_face[3:48], atol=1e-9)
    assert np.isnan(registered[0:3]).all()
    # the lip offset survives registration as a rotated 7-px shift
    assert np.allclose(np.linalg.norm(registered[48:68] - mean_face[48:68], axis=1), 7 * np.sqrt(2))


def test_no_reflection_and_frames_without_points_are_nan():
    mean_face = load_mean_face()
    mirrored = mean_face * np.array([-1.0, 1.0])
    rotation, _ = kabsch_2d(np.stack([mirrored, np.full_like(mean_face, np.nan)]), mean_face)
    assert np.isclose(np.linalg.det(rotation[0]), 1.0)
    assert np.isnan(rotation[1]).all()
