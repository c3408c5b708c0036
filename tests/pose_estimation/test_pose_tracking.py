"""Crop geometry of the performer finder: regions, matching, NMS."""
import numpy as np

from pose_estimation.tracking import (box_iou, match_boxes, non_max_suppression, person_region,
                                      region_moved)


def test_box_iou_known_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0, 1.0]])


def test_nms_keeps_best_of_overlapping():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]])
    keep = non_max_suppression(boxes, np.array([0.5, 0.9, 0.7]), 0.3)
    assert keep.tolist() == [1, 2]


def test_person_region_is_a_square_below_the_face_clipped_to_frame_and_neighbours():
    face = np.array([600, 200, 680, 280])                     # 80 px face centred at x=640
    region = person_region(face, (1280, 720))
    x0, y0, x1, y1 = region
    assert x1 - x0 == y1 - y0 == 440                          # 5.5 faces
    assert (x0 + x1) / 2 == 640 and y0 == 200 - 72
    # neighbours at x=440 and x=900: cut at the midpoints 540 and 770
    x0, _, x1, _ = person_region(face, (1280, 720), (440.0, 900.0))
    assert (x0, x1) == (540, 770)
    # a neighbour very close never squeezes the crop below 2.2 faces
    x0, _, x1, _ = person_region(face, (1280, 720), (650.0 + 1e-9 - 20,))
    assert x0 == 640 - 88
    # clipped at the frame border
    assert person_region(np.array([0, 600, 80, 680]), (1280, 720)).tolist()[2:] == [260, 720]


def test_region_moved_tolerance():
    old = np.array([0, 0, 100, 100])
    assert not region_moved(old, np.array([5, 5, 105, 105]))
    assert region_moved(old, np.array([20, 0, 120, 100]))
    assert region_moved(None, old)


def test_match_boxes_is_one_to_one_and_respects_distance():
    tracks = np.array([[0, 0, 10, 10], [100, 0, 110, 10]])
    dets = np.array([[102, 1, 112, 11], [3, 0, 13, 10], [500, 0, 510, 10]])
    assert sorted(match_boxes(tracks, dets)) == [(0, 1), (1, 0)]
