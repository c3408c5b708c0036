"""Post-processing (published procedure) on synthetic box tracks with known answers."""
import numpy as np
import pytest

from pose_estimation.postprocess import (WALL_ART_RULES, LayoutMismatchError, assign_detections,
                                         cluster_centres, cluster_threshold, split_performers)
from tests.pose_estimation.pose_fixtures import box_around, person_at

W, H, F = 1280, 720, 100
PERFORMER_X = (250, 640, 1030)


def synthetic_frames(rng, gap=(40, 60)):
    """3 seated performers (jittering), wall art high up in every frame, a false positive between
    performers 0 and 1 (farther than 1.5 thresholds from both) in 10 %
    of frames, and the middle performer absent during ``gap`` (20 % of the frames)."""
    frames = []
    for f in range(F):
        persons = []
        for p, cx in enumerate(PERFORMER_X):
            if p == 1 and gap[0] <= f < gap[1]:
                continue
            jitter = rng.normal(0, 6, 2)
            persons.append({**person_at(box_around(cx + jitter[0], 470 + jitter[1])), "who": p})
        persons.append({**person_at(box_around(640, 90, 120, 120)), "who": "art"})
        if f % 10 == 3:
            persons.append({**person_at(box_around(rng.uniform(430, 460), 420)), "who": "fp"})
        rng.shuffle(persons)
        frames.append(persons)
    return frames


def test_threshold_is_8_percent_clamped():
    assert cluster_threshold(1280) == pytest.approx(102.4)
    assert cluster_threshold(320) == 50 and cluster_threshold(4000) == 200


def test_leader_clustering_known_answer():
    centres = [np.array([[0, 0], [100, 0]]), np.array([[4, 0]]), np.array([[102, 0], [300, 0]])]
    clusters = cluster_centres(centres, threshold=10)
    np.testing.assert_allclose(clusters.centres, [[2, 0], [101, 0], [300, 0]])
    np.testing.assert_allclose(clusters.presence, [2 / 3, 2 / 3, 1 / 3])


def test_assign_at_most_one_per_cluster_and_nearest():
    centres = [np.array([[0, 0], [3, 0], [100, 0]]), np.zeros((0, 2)), np.array([[500, 0]])]
    assigned = assign_detections(centres, np.array([[1, 0], [99, 0]]), max_distance=50)
    assert assigned.tolist() == [[0, 2], [-1, -1], [-1, -1]]


def test_split_performers_finds_the_three_maps_left_to_right_and_leaves_the_gap_nan():
    frames = synthetic_frames(np.random.default_rng(0))
    tracks = split_performers(frames, 3, (W, H))
    np.testing.assert_allclose(tracks.centres[:, 0], PERFORMER_X, atol=5)
    np.testing.assert_allclose(tracks.presence, [1.0, 0.8, 1.0])
    assert tracks.keypoints.shape == (3, F, 133, 2) and tracks.scores.shape == (3, F, 133)
    for p in range(3):
        for f, persons in enumerate(frames):
            wanted = [q for q in persons if q.get("who") == p]
            if not wanted:
                assert np.isnan(tracks.keypoints[p, f]).all() and (tracks.scores[p, f] == 0).all()
            else:
                np.testing.assert_array_equal(tracks.keypoints[p, f], wanted[0]["keypoints"])
    assert np.isnan(tracks.keypoints[1, 40:60]).all() and np.isfinite(tracks.keypoints[1, 60]).all()


def test_wall_art_rules_differ_when_a_performer_is_missing():
    """Published rule: the N lowest stable clusters, whatever they are, so with the middle performer
    never there the wall art (centre y = 90 of 720) becomes the third "performer"; the top_quarter
    option refuses it and names the problem."""
    frames = synthetic_frames(np.random.default_rng(1), gap=(0, F))     # middle performer never there
    published = split_performers(frames, 3, (W, H))
    np.testing.assert_allclose(published.centres, [[250, 470], [640, 90], [1030, 470]], atol=5)
    art = [q["keypoints"] for q in frames[0] if q.get("who") == "art"][0]
    np.testing.assert_array_equal(published.keypoints[1, 0], art)
    with pytest.raises(LayoutMismatchError, match="layout has 3 performers, found 2 stable people "
                                                  r"\(1 more too high in the frame"):
        split_performers(frames, 3, (W, H), wall_art_rule="top_quarter")
    # with a 2-performer layout both rules use the two remaining, left to right
    for rule in WALL_ART_RULES:
        tracks = split_performers(frames, 2, (W, H), wall_art_rule=rule)
        np.testing.assert_allclose(tracks.centres[:, 0], [250, 1030], atol=5)


def test_wall_art_rules_differ_for_a_performer_high_in_the_frame():
    """A tight framing puts the performers' box centres in the top quarter (y = 150 of 720): the
    published rule keeps them (they are the lowest), top_quarter takes them for wall art."""
    rng = np.random.default_rng(3)
    frames = [[person_at(box_around(cx + rng.normal(0, 4), 150 + rng.normal(0, 4)))
               for cx in PERFORMER_X] for _ in range(F)]
    tracks = split_performers(frames, 3, (W, H))
    np.testing.assert_allclose(tracks.centres, [[x, 150] for x in PERFORMER_X], atol=5)
    with pytest.raises(LayoutMismatchError, match="found 0 stable people"):
        split_performers(frames, 3, (W, H), wall_art_rule="top_quarter")
    with pytest.raises(ValueError, match="unknown wall-art rule"):
        split_performers(frames, 3, (W, H), wall_art_rule="lowest")


def test_extra_stable_person_lower_ones_win():
    rng = np.random.default_rng(2)
    frames = synthetic_frames(rng)
    for persons in frames:    # a stable person standing at the back, higher than the performers
        persons.append(person_at(box_around(900, 300)))
    tracks = split_performers(frames, 3, (W, H))
    np.testing.assert_allclose(tracks.centres[:, 0], PERFORMER_X, atol=5)


def test_layout_mismatch_lists_the_people_found():
    """Two performers always there (x = 250 and 1030, jitter < 20 px), a third only in frames
    0-29 of 100 at x = 640: the error names both stable people with their x ranges and share of
    frames, and the intermittent one under "also seen"."""
    frames = []
    for f in range(100):
        persons = [person_at(box_around(250 + 10 * np.sin(f), 470)),
                   person_at(box_around(1030 - 10 * np.cos(f), 470))]
        if f < 30:
            persons.append(person_at(box_around(640, 470)))
        frames.append(persons)
    with pytest.raises(LayoutMismatchError) as error:
        split_performers(frames, 3, (1280, 720))
    message = str(error.value)
    assert message.startswith("layout has 3 performers, found 2 stable people (present in > 66% "
                              "of frames): stable: x 240-260 (100% of frames), x 1020-1040 (100% "
                              "of frames); also seen: x 640-640 (30% of frames)"), message
