import numpy as np

from core import keypoints as kp


def test_layout_partitions_all_133_points():
    groups = kp.BODY + kp.FEET + kp.FACE + kp.LEFT_HAND + kp.RIGHT_HAND
    assert sorted(groups) == list(range(133))
    assert kp.KEYPOINT_NAMES[kp.RIGHT_WRIST] == "right_wrist"
    assert kp.KEYPOINT_NAMES[kp.LEFT_HAND_OFFSET] == "left_hand_wrist"
    assert kp.KEYPOINT_NAMES[132] == "right_hand_pinky_4"


def test_body55_is_upper_body_plus_hands_and_graph_is_connected():
    assert kp.BODY_55[:13] == tuple(range(13))
    edges = kp.body55_local_edges()
    # union-find: every one of the 55 nodes reachable from the nose
    parent = list(range(55))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i
    for a, b in edges:
        parent[find(a)] = find(b)
    assert len({find(i) for i in range(55)}) == 1


def test_face_chain_edges_match_published_chains():
    # jaw 0-16 is a chain of 16 edges; lips 48-59 and 60-67 are chains, not closed loops
    assert (0, 1) in kp.FACE_LOCAL_EDGES and (15, 16) in kp.FACE_LOCAL_EDGES
    assert (16, 17) not in kp.FACE_LOCAL_EDGES and (59, 48) not in kp.FACE_LOCAL_EDGES
    assert len(kp.FACE_LOCAL_EDGES) == 16 + 4 + 4 + 3 + 4 + 5 + 5 + 11 + 7


def test_stage_edge_occlusion_follows_published_rule():
    assert set(kp.occluded_stage_edge_points(0, 3)) == set(kp.LEFT_ARM_AND_HAND)
    assert kp.occluded_stage_edge_points(1, 3) == ()
    assert set(kp.occluded_stage_edge_points(2, 3)) == set(kp.RIGHT_ARM_AND_HAND)


def test_empty_keypoints_are_nan_with_zero_scores():
    points, scores = kp.empty_keypoints(4)
    assert points.shape == (4, 133, 2) and points.dtype == np.float32 and np.isnan(points).all()
    assert scores.shape == (4, 133) and not scores.any()
