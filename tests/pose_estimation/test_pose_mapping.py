"""MediaPipe → COCO-WholeBody index mappings: known answers, table properties, a real face photo."""
import numpy as np
import pytest

from core.keypoints import BODY_NAMES, FACE_OFFSET, FOOT_NAMES, LEFT_HAND_OFFSET, RIGHT_HAND_OFFSET
from pose_estimation.mapping import (COCO_FROM_POSE, FACE_MESH_TO_IBUG68, holistic_to_wholebody,
                                     keypoint_box)

mp_pose = pytest.importorskip("mediapipe.python.solutions.pose")
from mediapipe.python.solutions import face_mesh_connections as fmc  # noqa: E402
from mediapipe.python.solutions.hands import HandLandmark  # noqa: E402

from core.keypoints import HAND_POINT_NAMES  # noqa: E402


def vertices(connections) -> set[int]:
    return {i for edge in connections for i in edge}


def test_body_indices_match_mediapipe_landmark_names():
    # COCO and MediaPipe name the 17 body joints the same way (person's own left/right)
    for coco_index, name in enumerate(BODY_NAMES):
        assert COCO_FROM_POSE[coco_index] == mp_pose.PoseLandmark[name.upper()].value, name


def test_feet_indices():
    expected = {"left_big_toe": "LEFT_FOOT_INDEX", "left_heel": "LEFT_HEEL",
                "right_big_toe": "RIGHT_FOOT_INDEX", "right_heel": "RIGHT_HEEL",
                "left_small_toe": None, "right_small_toe": None}
    for offset, name in enumerate(FOOT_NAMES):
        mp_name = expected[name]
        got = COCO_FROM_POSE[17 + offset]
        assert got == (None if mp_name is None else mp_pose.PoseLandmark[mp_name].value), name


def test_hand_order_is_identity_with_matching_names():
    # MediaPipe: WRIST, THUMB_CMC..TIP, INDEX_FINGER_MCP..TIP, ...; COCO: wrist, thumb_1..4, ...
    mp_names = [h.name for h in HandLandmark]
    assert len(mp_names) == len(HAND_POINT_NAMES) == 21
    for mp_name, coco_name in zip(mp_names, HAND_POINT_NAMES):
        finger = coco_name.split("_")[0]
        assert finger.upper() in mp_name, (mp_name, coco_name)


def test_face_table_is_a_permutation_free_subset_in_the_right_regions():
    table = np.array(FACE_MESH_TO_IBUG68)
    assert len(table) == 68 and len(set(table.tolist())) == 68 and table.max() < 468
    assert set(table[0:17]) <= vertices(fmc.FACEMESH_FACE_OVAL)
    assert table[8] == 152                                   # chin = bottom of the oval
    assert set(table[17:22]) <= vertices(fmc.FACEMESH_RIGHT_EYEBROW)
    assert set(table[22:27]) <= vertices(fmc.FACEMESH_LEFT_EYEBROW)
    assert set(table[27:36]) <= vertices(fmc.FACEMESH_NOSE)
    assert set(table[36:42]) <= vertices(fmc.FACEMESH_RIGHT_EYE)
    assert set(table[42:48]) <= vertices(fmc.FACEMESH_LEFT_EYE)
    assert set(table[48:68]) <= vertices(fmc.FACEMESH_LIPS)


def test_holistic_to_wholebody_places_each_landmark():
    crop = (100.0, 50.0, 200.0, 400.0)                         # x0, y0, w, h
    pose = np.stack([np.arange(33) / 40, np.arange(33) / 80, np.linspace(0, 1, 33)], axis=1)
    face = np.stack([np.arange(468) / 500, 1 - np.arange(468) / 500], axis=1)
    left = np.stack([np.arange(21) / 30, np.full(21, 0.25)], axis=1)
    right = np.stack([np.arange(21) / 30, np.full(21, 0.75)], axis=1)
    kp, sc = holistic_to_wholebody(pose, face, left, right, crop, face_score=0.7)
    assert kp.shape == (133, 2) and kp.dtype == np.float32 and sc.shape == (133,)
    # right elbow (COCO 8) <- pose 14
    np.testing.assert_allclose(kp[8], [100 + 14 / 40 * 200, 50 + 14 / 80 * 400], rtol=1e-6)
    np.testing.assert_allclose(sc[8], pose[14, 2], rtol=1e-6)
    # left heel (COCO 19) <- pose 29; small toes missing
    np.testing.assert_allclose(kp[19], [100 + 29 / 40 * 200, 50 + 29 / 80 * 400], rtol=1e-6)
    assert np.isnan(kp[[18, 21]]).all() and (sc[[18, 21]] == 0).all()
    # face point 30 (nose tip) <- mesh 4
    np.testing.assert_allclose(kp[FACE_OFFSET + 30], [100 + 4 / 500 * 200, 50 + (1 - 4 / 500) * 400],
                               rtol=1e-6)
    assert (sc[FACE_OFFSET:FACE_OFFSET + 68] == np.float32(0.7)).all()
    # hands keep their order; left hand is 91..111 and scored by the left wrist's visibility
    np.testing.assert_allclose(kp[LEFT_HAND_OFFSET + 20], [100 + 20 / 30 * 200, 50 + 100], rtol=1e-6)
    np.testing.assert_allclose(kp[RIGHT_HAND_OFFSET + 3], [100 + 3 / 30 * 200, 50 + 300], rtol=1e-6)
    np.testing.assert_allclose(sc[LEFT_HAND_OFFSET], pose[15, 2], rtol=1e-6)
    np.testing.assert_allclose(sc[RIGHT_HAND_OFFSET], pose[16, 2], rtol=1e-6)


def test_missing_parts_are_nan_with_zero_score():
    kp, sc = holistic_to_wholebody(None, None, None, None, (0, 0, 10, 10))
    assert np.isnan(kp).all() and (sc == 0).all()
    assert keypoint_box(kp) is None


def test_keypoint_box_uses_confident_points_and_clips():
    kp = np.array([[10, 20], [30, 5], [np.nan, np.nan], [900, 900]], dtype=np.float32)
    sc = np.array([0.9, 0.8, 0.9, 0.1], dtype=np.float32)
    np.testing.assert_array_equal(keypoint_box(kp, sc, 0.3), [10, 5, 30, 20])
    np.testing.assert_array_equal(keypoint_box(kp, frame_wh=(640, 480)), [10, 5, 640, 480])


@pytest.fixture(scope="module")
def photo_faces():
    """Holistic (static mode) on the astronaut and Grace Hopper: 68 mapped face points each, plus
    the FaceDetection box."""
    import mediapipe as mp

    from tests.pose_estimation.pose_fixtures import photo_people

    from pose_estimation.mapping import landmarks_to_array

    out = []
    with mp.solutions.holistic.Holistic(static_image_mode=True, model_complexity=1) as holistic, \
            mp.solutions.face_detection.FaceDetection(model_selection=1) as detector:
        for photo in photo_people()[:2]:
            h, w = photo.shape[:2]
            result = holistic.process(photo)
            face = landmarks_to_array(result.face_landmarks)
            pose = landmarks_to_array(result.pose_landmarks, with_visibility=True)
            kp, _ = holistic_to_wholebody(pose, face, None, None, (0, 0, w, h))
            det = detector.process(photo).detections[0].location_data.relative_bounding_box
            box = (det.xmin * w, det.ymin * h, (det.xmin + det.width) * w, (det.ymin + det.height) * h)
            out.append((kp, box))
    return out


def test_face_points_land_in_the_right_order_on_real_faces(photo_faces):
    for kp, (bx0, by0, bx1, by1) in photo_faces:
        f = kp[FACE_OFFSET:FACE_OFFSET + 68].astype(np.float64)
        x, y = f[:, 0], f[:, 1]
        assert np.isfinite(f).all()
        # jaw runs image-left -> chin -> image-right, the chin is its lowest point
        assert x[0] < x[4] < x[8] < x[12] < x[16]
        assert np.argmax(y[0:17]) in (7, 8, 9)
        assert np.all(np.diff(x[0:17]) > -2.0)             # left to right along the jaw
        # brows left to right and above the eyes; eyes above the nose tip above the mouth
        assert np.all(np.diff(x[17:22]) > 0) and np.all(np.diff(x[22:27]) > 0)
        assert x[21] < x[22]
        assert y[17:27].mean() < y[36:48].mean() < y[30] < y[48:68].mean() < y[8]
        # nose bridge goes down, nostrils left to right
        assert np.all(np.diff(y[27:31]) > 0) and np.all(np.diff(x[31:36]) > 0)
        # eye corners: right eye outer < inner < left eye inner < outer (image x)
        assert x[36] < x[39] < x[42] < x[45]
        # lips: corners left/right, upper lip above lower lip, inner lips inside the outer ring
        assert x[48] < x[51] < x[54] and y[51] < y[57] and y[62] <= y[66] + 1
        assert x[48] <= x[60:68].min() and x[60:68].max() <= x[54]
        # mouth inside the detected face box
        assert (bx0 <= x[48:68]).all() and (x[48:68] <= bx1).all()
        assert (by0 <= y[48:68]).all() and (y[48:68] <= by1 + 0.1 * (by1 - by0)).all()
        # body: the nose (0) is near face point 30 (nose tip), the eyes on the right sides
        assert np.linalg.norm(kp[0] - f[30]) < 0.15 * (bx1 - bx0)
        assert kp[2, 0] < kp[1, 0]     # person's right eye (COCO 2) is on the image left
