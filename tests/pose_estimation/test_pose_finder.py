"""The performer finder's scan and decision rules (``pose_estimation.finder``) on constructed
frames: faces are white squares, bodies blue rectangles below them, and stand-in detectors that
find exactly those (so every rule is checked against a known answer, without MediaPipe)."""
import numpy as np
import pytest

from pose_estimation import finder as fd
from pose_estimation.finder import PerformerFinder, scan_windows
from pose_estimation.tracking import SIDE_FACES

W, H = 1280, 720


def squares(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """xyxy boxes of the connected regions of a boolean mask."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    boxes = []
    for sl in ndimage.find_objects(labels):
        boxes.append((sl[1].start, sl[0].start, sl[1].stop, sl[0].stop))
    return boxes


def fake_detect(model, crop):
    """White squares fully inside the crop, as MediaPipe reports them (relative xyxy, score)."""
    h, w = crop.shape[:2]
    found = []
    for x0, y0, x1, y1 in squares((crop == 255).all(axis=2)):
        if x0 > 0 and y0 > 0 and x1 < w and y1 < h:
            found.append(((x0 / w, y0 / h, x1 / w, y1 / h), 0.9))
    return found


def fake_body(crop):
    """A person (nose on the top-most white square, shoulders below it) when the crop holds a
    blue body rectangle; MediaPipe Pose's 33 landmarks (x, y relative, visibility)."""
    h, w = crop.shape[:2]
    blue = (crop[..., 2] == 255) & (crop[..., 0] == 0)
    faces = squares((crop == 255).all(axis=2))
    if not blue.any() or not faces:
        return None
    x0, y0, x1, y1 = min(faces, key=lambda b: b[1])
    cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0
    landmarks = np.zeros((33, 3))
    landmarks[0] = (cx / w, cy / h, 1.0)
    landmarks[11] = ((cx + s) / w, (cy + 1.5 * s) / h, 1.0)
    landmarks[12] = ((cx - s) / w, (cy + 1.5 * s) / h, 1.0)
    return landmarks


def frame_with(people) -> np.ndarray:
    """people: (cx, cy, face side, with body) -> an RGB frame."""
    frame = np.zeros((H, W, 3), np.uint8)
    for cx, cy, side, body in people:
        half = side // 2
        if body:
            frame[cy + half + 2:cy + 4 * side, cx - side:cx + side] = (0, 0, 255)
        frame[cy - half:cy + half, cx - half:cx + half] = 255
    return frame


def holistic_stub(finder, frame_people):
    """Report a Holistic result for every followed performer at the nearest true face, with
    shoulders (score 1) when that person has a body."""
    for p in finder.tracks:
        cx, cy = (p.face_box[:2] + p.face_box[2:]) / 2
        near = min(frame_people, key=lambda q: np.hypot(q[0] - cx, q[1] - cy))
        keypoints = np.full((133, 2), np.nan, np.float32)
        scores = np.zeros(133, np.float32)
        keypoints[0] = near[:2]
        scores[0] = 1.0
        if near[3]:
            keypoints[[5, 6]] = [(near[0] + near[2], near[1] + 2 * near[2]),
                                 (near[0] - near[2], near[1] + 2 * near[2])]
            scores[[5, 6]] = 1.0
        finder.observe(p.track_id, keypoints, scores)


def run(people_at, n_frames):
    """Run the finder over frames ``people_at(f)``; returns the finder and the face centres it
    posed in each frame."""
    finder = PerformerFinder((W, H), fake_detect, fake_body)
    posed = []
    for f in range(n_frames):
        people = people_at(f)
        finder.step(f, frame_with(people))
        posed.append(sorted(tuple(np.round((p.face_box[:2] + p.face_box[2:]) / 2)) for p in finder.tracks))
        holistic_stub(finder, people)
    return finder, posed


def test_scan_levels_tile_the_whole_frame_at_three_sizes():
    windows = scan_windows(W, H)
    for level, (model, fraction) in enumerate(fd.SCAN_LEVELS):
        tiles = [w for w in windows if w.level == level]
        side = round(fraction * H)
        assert all(w.model == model and w.box[2] - w.box[0] == side == w.box[3] - w.box[1]
                   for w in tiles)
        covered = np.zeros((H, W), bool)
        for x0, y0, x1, y1 in (w.box for w in tiles):
            covered[y0:y1, x0:x1] = True
        assert covered.all(), level
        # neighbours overlap by at least TILE_OVERLAP of the side
        xs = sorted({w.box[0] for w in tiles})
        assert all(b - a <= (1 - fd.TILE_OVERLAP) * side + 1 for a, b in zip(xs, xs[1:]))
    # 720p: 3 frame-high tiles, 4 x 3 half-height ones ... as the docstring's cost assumes
    assert [sum(w.level == k for w in windows) for k in range(3)] == [3, 15, 50]


def test_performer_with_body_is_posed_from_the_first_frame_crowd_faces_never():
    """A performer (face 40 px, body below) among still crowd faces without bodies (30 px) and
    one too small (15 px < 3 % of 720): only the performer is ever posed, from frame 0."""
    crowd = [(100 + 80 * i, 200, 30, False) for i in range(10)] + [(1100, 100, 15, False)]

    def people(f):
        return [(640 + (f % 4), 450, 40, True)] + crowd

    finder, posed = run(people, 30)
    assert all(len(frame) == 1 and abs(frame[0][0] - 641) <= 3 for frame in posed)
    assert finder.tracks[0].confirmed                 # it moved and Holistic saw its shoulders
    assert len(finder.candidates) == 10                # the crowd waits, never posed


def test_a_moving_face_without_a_found_body_is_posed_once_it_moves():
    """Rule 4: no body found (rule 3 fails), still for 10 frames, then moving: posed from the
    first frame at which the motion over MOTION_LAG frames shows (frame 10 + 1 at the earliest)."""
    def people(f):
        x = 640 if f < 10 else 640 + 6 * (f - 10)
        return [(x, 450, 40, False)]

    _, posed = run(people, 24)
    first = next(f for f, frame in enumerate(posed) if frame)
    assert 10 < first <= 10 + fd.MOTION_LAG


def test_a_still_portrait_with_a_body_is_dropped_after_probation_and_stays_pending():
    """Rule 5: a portrait (face and painted shoulders) is posed at once (rule 3) but never moves,
    so after PROBATION_FRAMES it goes back to pending and is not posed again."""
    def people(f):
        return [(300, 300, 50, True)]

    finder, posed = run(people, fd.PROBATION_FRAMES + 40)
    assert all(len(frame) == 1 for frame in posed[:fd.PROBATION_FRAMES])
    assert all(len(frame) == 0 for frame in posed[fd.PROBATION_FRAMES + 1:])
    assert len(finder.candidates) == 1 and finder.candidates[0].body_checked


def test_small_face_relative_to_performers_is_ignored():
    """Rule 1, relative part: once a 150 px performer is confirmed, a moving 25 px face (above
    3 % of the height, but < 0.2 x 150) is not posed; a moving 40 px one is."""
    def people(f):
        wobble = 3 * (f % 4)
        return [(300 + wobble, 400, 150, True), (900 + wobble, 400, 25, False),
                (1100 + wobble, 400, 40, False)]

    finder, posed = run(people, 100)
    xs = {round(x / 100) for frame in posed[60:] for x, _ in frame}
    assert xs == {3, 11}


def test_duplicate_detection_of_one_face_is_one_performer():
    """Rule 2: a second, offset square on the same face region (another scale's box) is the
    same body; rule 6 would also drop a second track converging on it."""
    def people(f):
        return [(640 + (f % 3), 400, 60, True), (640 + (f % 3) + 50, 400, 30, False)]

    _, posed = run(people, 20)
    assert all(len(frame) == 1 for frame in posed)


def test_region_motion_measures_grey_change():
    now = np.zeros((180, 320), np.float32)
    past = now.copy()
    now[40:50, 40:50] = 100.0          # a 10 x 10 change inside a 20 x 20 region (scale 1)
    box = np.array([35.0, 35.0, 55.0, 55.0])
    # region = centre +- face side -> 41 x 41 px (integer bounds), 100 px changed by 100
    assert fd.region_motion(now, past, box, 1.0) == pytest.approx(100 * 100 / 41 ** 2)


def test_a_small_face_on_a_performers_body_is_part_of_that_body():
    """Rule 2, crop part: a 25 px face-like pattern 2 face sizes below a 60 px performer's face
    (inside its crop), moving with it, is never posed (the astronaut's mission patch)."""
    def people(f):
        x = 640 + 3 * (f % 4)
        return [(x, 300, 60, True), (x + 20, 430, 25, False)]

    _, posed = run(people, 20)
    assert all(len(frame) == 1 and frame[0][1] == 300 for frame in posed)


def test_a_small_face_beside_a_pending_face_does_not_take_its_place():
    """A 24 px detection 80 px above a 100 px face (within one face size of it) is another face,
    not that face seen again (sizes differ by more than 1 / MATCH_SIZE_RATIO): both stay pending
    with their own boxes. (The demo violinist's cap badge used to replace her face's candidate in
    the first frame, so she was not posed until she moved.)"""
    def detect(model, crop):            # the larger face scores higher, as the badge did
        return [(box, 0.5 + (box[2] - box[0]) * crop.shape[1] / 250)
                for box, _ in fake_detect(model, crop)]

    finder = PerformerFinder((W, H), detect, fake_body)
    frame = frame_with([(640, 400, 100, False), (640, 320, 24, False)])
    finder.step(0, frame)                     # the first frame's full scan finds both
    sides = sorted(round(fd.face_side(c.face_box)) for c in finder.candidates)
    assert sides == [24, 100]
    assert not finder.tracks                  # still, no body: nobody posed


def test_crop_keeps_the_largest_face_size_when_a_scan_boxes_the_face_smaller():
    """A performer found with an 80 px face whose later detections are 56 px (another scan level
    boxing the same face tighter) keeps the crop made for 80 px, so the body is not cut."""
    def people(f):
        return [(640 + (f % 2), 300, 80 if f < 3 else 56, True)]

    finder, _ = run(people, 60)
    track, = finder.tracks
    assert fd.face_side(track.face_box) < 65             # the box did follow the detections
    side = track.region[3] - track.region[1]
    expected = SIDE_FACES * 80
    assert abs(side - expected) <= 0.12 * expected + 2     # within region_moved's tolerance


def test_blank_neighbours_greys_the_crop_beyond_the_midpoints():
    crop = np.full((40, 100, 3), 7, np.uint8)          # frame columns 200..299
    face = np.array([240.0, 10.0, 260.0, 30.0])        # centre x 250, side 20
    # neighbours: at 330 (midpoint 290 -> crop column 90), at 100 (midpoint 175, left of the
    # crop: nothing), at 262 (closer than a face size: ignored)
    out = fd.blank_neighbours(crop, 200, face, [330.0, 100.0, 262.0])
    assert (out[:, 90:] == fd.BLANK_GREY).all() and (out[:, :90] == 7).all()
    assert (crop == 7).all()                            # the frame itself is untouched


def test_body_of_face_wants_the_nose_at_the_followed_face():
    face = np.array([100.0, 100.0, 140.0, 140.0])      # centre (120, 120), side 40
    keypoints = np.full((133, 2), np.nan)
    scores = np.zeros(133)
    keypoints[[fd.NOSE, fd.LEFT_SHOULDER, fd.RIGHT_SHOULDER]] = [(125, 130), (160, 190), (80, 190)]
    scores[[fd.NOSE, fd.LEFT_SHOULDER, fd.RIGHT_SHOULDER]] = 0.9
    assert fd.body_of_face(keypoints, scores, face)
    moved = keypoints.copy()
    moved[:, 1] += 2 * 40                               # someone two face sizes lower
    assert not fd.body_of_face(moved, scores, face)
    level = keypoints.copy()         # a 29 px full-body performer: Holistic puts the nose above
    level[fd.NOSE, 1] = 112          # the detector box's centre and the shoulders level with it
    level[[fd.LEFT_SHOULDER, fd.RIGHT_SHOULDER], 1] = 114
    assert fd.body_of_face(level, scores, face)
    weak = scores.copy()
    weak[fd.RIGHT_SHOULDER] = 0.4
    assert not fd.body_of_face(keypoints, weak, face)


def test_first_face_checked_is_checked_again_once_its_neighbour_is_blanked():
    """Rule 3 in the first frame: performer A (40 px, scored highest, checked first) has the
    larger performer B's face in its 9-face crop, and the stand-in Pose answers with B (the
    top-most face). Once B is promoted, A's crop blanks B's side and the check is repeated, so
    both are posed from frame 0 (the demo's violinist and vocalist)."""
    def detect(model, crop):            # the smaller face scores higher: checked first
        return [(box, 0.95 - (box[2] - box[0]) * crop.shape[1] / 1000)
                for box, _ in fake_detect(model, crop)]

    finder = PerformerFinder((W, H), detect, fake_body)
    finder.step(0, frame_with([(300, 400, 40, True), (500, 300, 80, True)]))
    posed = sorted(tuple(np.round(fd.box_centre(p.face_box))) for p in finder.tracks)
    assert posed == [(300.0, 400.0), (500.0, 300.0)]
    assert all(p.body_found for p in finder.tracks)


def test_a_provisional_track_whose_holistic_poses_an_older_performer_is_dropped():
    """Rule 6 on Holistic's answer: a moving 50 px face-like pattern beside performer A (found by
    motion, provisional) whose crop Holistic answers with A's face is dropped the frame that
    answer arrives, though its own box never moves onto A (nothing posed twice for long)."""
    def people(f):
        return [(640 + (f % 4), 300, 60, True), (800 + 3 * (f % 4), 300, 50, False)]

    finder = PerformerFinder((W, H), fake_detect, fake_body)
    counts = []
    for f in range(40):
        finder.step(f, frame_with(people(f)))
        counts.append(len(finder.tracks))
        a = people(f)[0]
        for p in finder.tracks:                  # Holistic poses A in every crop
            keypoints = np.full((133, 2), np.nan, np.float32)
            scores = np.zeros(133, np.float32)
            keypoints[0], scores[0] = a[:2], 1.0
            finder.observe(p.track_id, keypoints, scores)
    assert max(counts) == 2                      # the pattern was promoted (motion) ...
    # ... and dropped at the next frame each time (a later scan may find and promote it again)
    assert all(not (a == b == 2) for a, b in zip(counts, counts[1:])), counts
    assert abs(fd.box_centre(finder.tracks[0].face_box)[0] - 641) <= 3
