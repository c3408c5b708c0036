"""Finding the performers in a concert frame and following them (MediaPipe backend).

Holistic is single-person, so each performer needs a crop around them. The finder decides whose
crops to pose. It does not rest on one face detector at one scale: concert videos are often wide
shots where a performer's face is ~25 px tall next to a crowd (or a wall of photographs) of faces
of the same size.

Scan (where faces are looked for)
---------------------------------
Two MediaPipe face detectors, the full-range one (192x192 input) and the short-range one
(128x128), run on square tiles of three sizes (``SCAN_LEVELS``, side as a fraction of the frame
height ``H``, tiles overlapping by ``TILE_OVERLAP`` = 25 %):

====== ============ =============== ====================================================
level  detector     tile side       what it finds
====== ============ =============== ====================================================
0      full range   ``H``           large faces (chest-up performers)
1      full range   ``H / 2``       faces down to ~0.03 H (upscaled 1.07x at 720p)
2      short range  ``H / 4``       small faces, ~25 px at 720p (upscaled tiles)
====== ============ =============== ====================================================

The first frame scans every tile of every level, and so does a frame while no performer is
followed (at most once per scan cycle); otherwise the scan *rolls*: ``SCAN_WINDOWS_PER_FRAME`` = 2
tiles per frame, in level order, so the whole frame is covered about once a second (68 tiles at
720p and 1080p): 2 detector calls per frame (1.7 ms short range, 4.8 ms full range each) instead
of ~170 ms for a full scan. The whole finder (scan, rules, following) measured 7-18 ms of CPU per
frame at 720p on the loaded development machine (``benchmarks/pose_throughput.py``). Detections
with score >= ``MIN_FACE_CONFIDENCE`` = 0.5 from all levels are merged by NMS (IoU > ``NMS_IOU``
= 0.3), the coarser level's box kept where levels overlap on a face (then the higher score): the
crop geometry (``tracking.person_region``) was calibrated on the full-range detector's boxes on
frame-high tiles, and the finer levels box a partly hidden face tighter.

Following (between scans)
-------------------------
A performer's face box is moved every frame by as much as the face moved in Holistic's result
on that performer's crop (the mean of its 68 face points, else its nose when that scores >= 0.5;
moved *by* the shift, not *onto* the points: the detector's box sits higher on the face, and the
crop is calibrated to it); the box keeps its size (the detector's). Scan detections within
``MATCH_FACES`` = 1 face size of a performer and of a similar size (within a factor
1 / ``MATCH_SIZE_RATIO`` = 2: a cap badge 1 face size from a face is not that face) refresh its
box, smoothed (weight ``SMOOTHING`` = 0.5 on the detection). The crop (``tracking.person_region``)
is made for the largest face size the performer has had: the detectors box one face differently
at different scan levels (the demo's mridangam player, half hidden behind a camera: 148 px on a
frame-high tile, 113-117 px on smaller ones), and a crop that shrinks with the box cuts the body
and moves his keypoints (measured: a median 34 px). Only performers with a body (rule 3) or
confirmed (rule 5) narrow their neighbours' crops. A performer for whom Holistic found neither
face nor body in ``LOST_FRAMES`` = 15 consecutive frames is dropped (a scan finds them again if
they come back).

Which faces are performers (decision rules, in this order)
----------------------------------------------------------
A face detection that matches no followed performer is a *candidate*:

1. **Too small**: face side < ``MIN_FACE_HEIGHT_FRACTION`` = 0.03 of the frame height (a
   performer at 1/4 of the frame height has a face of ~0.04 H; crowd faces in a wide shot are
   smaller), or < ``MIN_FACE_RATIO`` = 0.2 of the largest confirmed performer's face (a
   chest-up performer at half the frame height has a face ~5x that of a full-body one at a
   quarter): ignored. The relative part is checked again when a candidate would be promoted
   (rules 3-4) and while a performer is provisional (rule 5): a face found before any performer
   was confirmed gets no pass.
2. **Same body**: centre within ``DUPLICATE_FACES`` = 1.5 face sizes of a followed performer's
   face (the same face seen by another level), or, while smaller than ``PART_FACE_RATIO`` = 0.5
   of that performer's face, inside the performer's body box (their last Holistic keypoints) or
   below their face inside their crop (``tracking.person_region``, known from the first frame):
   a face-like pattern on a performer's clothes or instrument (the astronaut's mission patch is
   one): ignored.
3. **Body below**: a new candidate's body crop (a square of ``BODY_CROP_FACES`` = 9 face sizes,
   centred on the face horizontally, its top ``BODY_CROP_ABOVE_FACES`` = 1.5 face sizes above
   the face box: Pose's person detector missed a full-body performer with a 29 px face in the
   5.5-face Holistic crop, and finds him from 7 face sizes up) goes through
   MediaPipe Pose (static image mode, the shipped full model), with the crop beyond the midpoint
   to each followed performer's face (at least a face size away) blanked to grey, so that Pose
   cannot answer with the neighbour (it did, with the demo's vocalist, for both of her
   neighbours' 9-face crops). The checks run after the frame's detections are matched, in NMS
   order, and a candidate is checked again, in the same frame only, when a performer promoted
   in that frame blanks a different part of its crop (in the first frame, the face checked first
   has no neighbours yet; later rechecks, as performers sway across crop edges, would cost a Pose
   call each); then rule 2 is applied again to the frame's remaining candidates, against the
   performers promoted in this frame. A person whose nose lies within
   ``BODY_NOSE_FACES`` = 0.6 face sizes of the face centre and whose two shoulders (visibility
   >= 0.5) lie below it makes the candidate a *provisional performer* at once. Faces without a
   body (crowd rows seen over seat backs, framed portraits) wait as *pending* candidates.
4. **Motion**: a pending candidate whose face region (twice the face box, on a grey copy of the
   frame downscaled to ``MOTION_HEIGHT`` = 180 rows) changes by a mean absolute difference of at
   least ``max(MOTION_MIN_LEVEL = 2 grey levels, MOTION_NOISE_FACTOR = 4 x the frame's median
   difference)`` between frames ``MOTION_LAG`` = 6 apart (0.2 s at 30 fps; during the first 6
   frames of the video, against its first frame, from 2 frames on) becomes a provisional
   performer. Rule 2 is checked again at that moment (the performers' body boxes are known by
   then). Still faces (posters, photographs, a still crowd) never do. A pending candidate not
   detected again within two scan cycles is forgotten.
5. **Probation**: a provisional performer is posed by Holistic like the others and is confirmed
   once it has moved (rule 4) and Holistic found its shoulders and nose (score >= 0.5; the nose
   within ``BODY_NOSE_FACES`` of the followed face: a body elsewhere in the crop is someone's or
   something else's, as the demo's camera lens posed with a helmet below it) in at least
   ``PROBATION_BODY_SHARE`` = 1/3 of its frames; one that is not confirmed within
   ``PROBATION_FRAMES`` = 60 frames goes back to pending, where only motion can promote it again
   (a portrait with painted shoulders is found by rule 3 once, then stays pending).
6. **Duplicates**: when two performers' faces come within ``DUPLICATE_FACES`` / 3 = 0.5 face
   sizes of each other (two tracks locked onto one person), the younger is dropped; so is a
   provisional performer whose crop Holistic answers with an older performer's face (that
   close to it): the box follows Holistic only by its shift and would not get there itself.

Every performer, provisional or confirmed, is posed; post-processing (``postprocess``) then keeps
the people present in most frames. Everything here is deterministic (same frames, same answers),
whatever the number of Holistic worker processes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from core.keypoints import FACE_OFFSET

from .tracking import box_centre, match_boxes, non_max_suppression, person_region, region_moved

SHORT_RANGE, FULL_RANGE = 0, 1
SCAN_LEVELS = ((FULL_RANGE, 1.0), (FULL_RANGE, 0.5), (SHORT_RANGE, 0.25))
TILE_OVERLAP = 0.25
SCAN_WINDOWS_PER_FRAME = 2
MIN_FACE_CONFIDENCE = 0.5
NMS_IOU = 0.3

MATCH_FACES = 1.0
MATCH_SIZE_RATIO = 0.5
SMOOTHING = 0.5
LOST_FRAMES = 15
MIN_FACE_HEIGHT_FRACTION = 0.03
MIN_FACE_RATIO = 0.2
DUPLICATE_FACES = 1.5
PART_FACE_RATIO = 0.5
BODY_NOSE_FACES = 0.6
BODY_CROP_FACES = 9.0
BODY_CROP_ABOVE_FACES = 1.5
BLANK_GREY = 128
MOTION_HEIGHT = 180
MOTION_LAG = 6
MOTION_MIN_LEVEL = 2.0
MOTION_NOISE_FACTOR = 4.0
PROBATION_FRAMES = 60
PROBATION_BODY_SHARE = 1 / 3
NOSE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 5, 6       # COCO-WholeBody indices
POINT_MIN_SCORE = 0.5

# (model, crop (h, w, 3) uint8 RGB) -> [(x0, y0, x1, y1) relative to the crop, score]
FaceDetector = Callable[[int, np.ndarray], list]
# crop -> (17-or-more, 3) array of (x, y, visibility) relative to the crop (MediaPipe Pose's 33
# landmarks), or None when no person is found
BodyDetector = Callable[[np.ndarray], "np.ndarray | None"]


@dataclass(frozen=True)
class ScanWindow:
    level: int
    model: int                      # SHORT_RANGE | FULL_RANGE
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 pixels


def axis_starts(length: int, side: int, overlap: float = TILE_OVERLAP) -> list[int]:
    """Start offsets of tiles of ``side`` covering ``length`` with at least ``overlap``."""
    if side >= length:
        return [0]
    n = int(np.ceil((length - side) / (side * (1 - overlap)))) + 1
    return [int(round(v)) for v in np.linspace(0, length - side, n)]


def scan_windows(width: int, height: int, levels=SCAN_LEVELS) -> list[ScanWindow]:
    """Every tile of every level (module docstring), level by level, row by row."""
    windows = []
    for level, (model, fraction) in enumerate(levels):
        side = int(round(min(fraction * height, width, height)))
        for y in axis_starts(height, side):
            for x in axis_starts(width, side):
                windows.append(ScanWindow(level, model, (x, y, x + side, y + side)))
    return windows


def scan(detect: FaceDetector, frame: np.ndarray, windows: Sequence[ScanWindow]
         ) -> tuple[np.ndarray, np.ndarray]:
    """Face boxes ``(N, 4)`` xyxy frame pixels and scores ``(N,)`` found in ``windows``, NMS-merged
    with the coarser level first (then the higher score): where levels overlap on one face, the
    box kept is the one from the largest tiles, the full-range detector's on frame-high tiles that
    the crop geometry (``tracking.person_region``) was calibrated on."""
    boxes, scores, levels = [], [], []
    for window in windows:
        x0, y0, x1, y1 = window.box
        for (rx0, ry0, rx1, ry1), score in detect(window.model, frame[y0:y1, x0:x1]):
            w, h = x1 - x0, y1 - y0
            boxes.append((x0 + rx0 * w, y0 + ry0 * h, x0 + rx1 * w, y0 + ry1 * h))
            scores.append(score)
            levels.append(window.level)
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0)
    boxes, scores = np.array(boxes, dtype=np.float64), np.array(scores, dtype=np.float64)
    priority = scores - 2.0 * np.array(levels)            # scores are in [0, 1]: level first
    keep = non_max_suppression(boxes, priority, NMS_IOU)
    return boxes[keep], scores[keep]


def face_side(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1]))


def has_body_below(landmarks: np.ndarray | None, crop_xywh, face_box: np.ndarray) -> bool:
    """Rule 3 on MediaPipe Pose landmarks ``(33, 3)`` (x, y relative to the crop, visibility)."""
    if landmarks is None:
        return False
    x0, y0, w, h = crop_xywh
    points = landmarks[:, :2] * (w, h) + (x0, y0)
    centre = box_centre(face_box)
    size = face_side(face_box)
    nose_ok = np.linalg.norm(points[0] - centre) <= BODY_NOSE_FACES * size
    shoulders = landmarks[[11, 12]]                      # MediaPipe Pose: left, right shoulder
    return bool(nose_ok and (shoulders[:, 2] >= 0.5).all() and (points[[11, 12], 1] > centre[1]).all())


def body_of_face(keypoints: np.ndarray, scores: np.ndarray, face_box: np.ndarray) -> bool:
    """Rule 5's "Holistic found its shoulders" on COCO-WholeBody ``(133, 2)`` / ``(133,)``: both
    shoulders and the nose score >= ``POINT_MIN_SCORE`` and the nose lies within
    ``BODY_NOSE_FACES`` face sizes of ``face_box``'s centre (else Holistic is posing someone or
    something else in the crop). (Not "shoulders below the face": on a full-body performer with
    a 29 px face Holistic puts the shoulders level with the nose.)"""
    points = [NOSE, LEFT_SHOULDER, RIGHT_SHOULDER]
    if not (scores[points] >= POINT_MIN_SCORE).all() or not np.isfinite(keypoints[points]).all():
        return False
    centre = box_centre(face_box)
    return bool(np.linalg.norm(keypoints[NOSE] - centre) <= BODY_NOSE_FACES * face_side(face_box))


def body_crop(face_box: np.ndarray, frame_wh: tuple[int, int]) -> tuple[int, int, int, int]:
    """Rule 3's crop, xyxy integer pixels clipped to the frame."""
    size = face_side(face_box)
    cx = (face_box[0] + face_box[2]) / 2
    x0, y0 = cx - BODY_CROP_FACES / 2 * size, face_box[1] - BODY_CROP_ABOVE_FACES * size
    x1, y1 = x0 + BODY_CROP_FACES * size, y0 + BODY_CROP_FACES * size
    width, height = frame_wh
    return (int(max(np.floor(x0), 0)), int(max(np.floor(y0), 0)),
            int(min(np.ceil(x1), width)), int(min(np.ceil(y1), height)))


def similar_size(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two face boxes are within a factor ``1 / MATCH_SIZE_RATIO`` of each other in size
    (a cap badge next to a face is not that face)."""
    sa, sb = face_side(a), face_side(b)
    return min(sa, sb) >= MATCH_SIZE_RATIO * max(sa, sb)


def blanks_crop(crop_x0: int, crop_x1: int, face_box: np.ndarray, neighbour_cx: float) -> bool:
    """Whether a followed performer's face centre (frame x) blanks part of the rule-3 crop
    ``[crop_x0, crop_x1)`` of ``face_box`` (``blank_neighbours``): at least a face size away,
    midpoint inside the crop."""
    face_cx = box_centre(face_box)[0]
    mid = (face_cx + neighbour_cx) / 2
    return abs(neighbour_cx - face_cx) >= face_side(face_box) and crop_x0 < mid < crop_x1


def blank_neighbours(crop: np.ndarray, crop_x0: int, face_box: np.ndarray,
                     neighbour_cx: Sequence[float]) -> np.ndarray:
    """A copy of rule 3's ``crop`` (frame x offset ``crop_x0``) for the face ``face_box`` (frame
    px) with everything beyond the midpoint to each followed performer's face centre (frame x, at
    least one face size away) set to ``BLANK_GREY``, so Pose cannot answer with the neighbour's
    body. The crop keeps its size: Pose letterboxes to a square, and a narrow crop is where its
    person detector fails."""
    out = np.ascontiguousarray(crop).copy()
    width = out.shape[1]
    face_cx = box_centre(face_box)[0]
    for ncx in neighbour_cx:
        if not blanks_crop(crop_x0, crop_x0 + width, face_box, ncx):
            continue
        mid = int(round((face_cx + ncx) / 2)) - crop_x0
        if ncx < face_cx and mid > 0:
            out[:, :min(mid, width)] = BLANK_GREY
        elif ncx > face_cx and mid < width:
            out[:, max(mid, 0):] = BLANK_GREY
    return out


def region_motion(now: np.ndarray, past: np.ndarray, box: np.ndarray, scale: float) -> float:
    """Mean absolute grey difference over twice ``box`` (frame px) on the downscaled greys."""
    cx, cy = box_centre(box)
    half = face_side(box) / scale
    x0, y0 = int(max(cx / scale - half, 0)), int(max(cy / scale - half, 0))
    x1, y1 = int(np.ceil(cx / scale + half)) + 1, int(np.ceil(cy / scale + half)) + 1
    a, b = now[y0:y1, x0:x1], past[y0:y1, x0:x1]
    return float(np.abs(a - b).mean()) if a.size else 0.0


@dataclass(eq=False)
class Performer:
    """A followed performer (provisional until confirmed, rule 5)."""
    track_id: int
    face_box: np.ndarray                # (4,) float64 xyxy
    face_score: float
    born: int                           # frame index
    confirmed: bool = False
    body_found: bool = False            # promoted by rule 3 (a body below the face)
    moved: bool = False
    lost: int = 0                       # consecutive frames without a Holistic result
    observed: int = 0                   # Holistic results seen while provisional
    with_body: int = 0                  # ... of which with both shoulders
    body_box: np.ndarray | None = None  # (4,) last Holistic keypoint box
    anchor: tuple | None = None         # (kind, (2,) centre) of the last Holistic face position
    crop_side: float = 0.0              # face size the crop is made for (never shrinks)
    region: np.ndarray | None = field(default=None)   # (4,) int xyxy crop


@dataclass(eq=False)
class Candidate:
    """A pending face (rules 3-4): not posed."""
    face_box: np.ndarray
    face_score: float
    first_seen: int
    last_seen: int
    body_checked: bool = False
    blanked_by: set = field(default_factory=set)    # performers blanked in its rule-3 crop
    checked_frame: int = -1             # the frame of its rule-3 check


class PerformerFinder:
    """Decides, frame by frame, which crops to pose (module docstring)."""

    def __init__(self, frame_wh: tuple[int, int], detect: FaceDetector, body: BodyDetector):
        self.frame_wh = frame_wh
        self.detect, self.body = detect, body
        width, height = frame_wh
        self.windows = scan_windows(width, height)
        self.next_window = 0
        self.performers: list[Performer] = []
        self.candidates: list[Candidate] = []
        self.motion_scale = max(height / MOTION_HEIGHT, 1.0)
        self.greys: list[np.ndarray] = []
        self.noise = 0.0
        self._next_id = 0
        self.detector_calls = 0
        self.last_full_scan: int | None = None

    # -- per frame -----------------------------------------------------------------------
    def step(self, frame_index: int, frame: np.ndarray) -> list[int]:
        """Update from frame ``frame_index`` (RGB uint8); returns the ids of dropped performers."""
        self._remember_grey(frame)
        cycle = int(np.ceil(len(self.windows) / SCAN_WINDOWS_PER_FRAME))
        if self.last_full_scan is None or (not self.performers and
                                           frame_index - self.last_full_scan >= cycle):
            windows = self.windows
            self.last_full_scan = frame_index
        else:
            k = self.next_window
            windows = [self.windows[(k + i) % len(self.windows)] for i in range(SCAN_WINDOWS_PER_FRAME)]
            self.next_window = (k + SCAN_WINDOWS_PER_FRAME) % len(self.windows)
        self.detector_calls += len(windows)
        boxes, scores = scan(self.detect, frame, windows)
        self._match(boxes, scores, frame_index, frame)
        self._motion(frame_index)
        dropped = self._drop(frame_index)
        self._update_regions()
        return dropped

    def observe(self, track_id: int, keypoints: np.ndarray | None, scores: np.ndarray | None,
                box: np.ndarray | None = None) -> None:
        """Holistic's result for a performer's crop (``(133, 2)`` frame px, ``(133,)``), or None."""
        performer = next((p for p in self.performers if p.track_id == track_id), None)
        if performer is None:
            return
        if keypoints is None:
            performer.lost += 1
            return
        face = keypoints[FACE_OFFSET:FACE_OFFSET + 68]
        good = np.isfinite(face).all(axis=1) & (scores[FACE_OFFSET:FACE_OFFSET + 68] > 0)
        if good.sum() >= 20:
            kind, centre = "face", face[good].mean(axis=0).astype(np.float64)
        elif scores[NOSE] >= POINT_MIN_SCORE and np.isfinite(keypoints[NOSE]).all():
            kind, centre = "nose", keypoints[NOSE].astype(np.float64)
        else:
            performer.lost += 1
            return
        performer.lost = 0
        # moved by how far Holistic's face moved, not onto it: the detector's box sits higher on
        # the face than the landmarks' mean (forehead and hair), and the crop is calibrated to it
        if performer.anchor is not None and performer.anchor[0] == kind:
            shift = centre - performer.anchor[1]
            performer.face_box = performer.face_box + np.concatenate([shift, shift])
        performer.anchor = (kind, centre)
        performer.body_box = None if box is None else np.asarray(box, dtype=np.float64)
        if not performer.confirmed:
            performer.observed += 1
            performer.with_body += int(body_of_face(keypoints, scores, performer.face_box))

    @property
    def tracks(self) -> list[Performer]:
        return self.performers

    # -- internals -----------------------------------------------------------------------
    def _remember_grey(self, frame: np.ndarray) -> None:
        import cv2

        height, width = frame.shape[:2]
        size = (max(1, int(round(width / self.motion_scale))), max(1, int(round(height / self.motion_scale))))
        grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size,
                          interpolation=cv2.INTER_AREA).astype(np.float32)
        self.greys.append(grey)
        if len(self.greys) > MOTION_LAG + 1:
            self.greys.pop(0)
        if len(self.greys) >= 3:
            self.noise = float(np.median(np.abs(self.greys[-1] - self.greys[0])))

    def _largest_confirmed_face(self) -> float:
        sizes = [face_side(p.face_box) for p in self.performers if p.confirmed]
        return max(sizes) if sizes else 0.0

    def _match(self, boxes: np.ndarray, scores: np.ndarray, frame_index: int, frame: np.ndarray) -> None:
        pairs = [(t, d) for t, d in match_boxes(
            np.array([p.face_box for p in self.performers]).reshape(-1, 4), boxes, MATCH_FACES)
            if similar_size(self.performers[t].face_box, boxes[d])]
        matched = {d for _, d in pairs}
        for t, d in pairs:
            performer = self.performers[t]
            performer.face_box = SMOOTHING * boxes[d] + (1 - SMOOTHING) * performer.face_box
            performer.crop_side = max(performer.crop_side, face_side(performer.face_box))
            performer.face_score = float(scores[d])
            performer.lost = 0
        height = self.frame_wh[1]
        largest = self._largest_confirmed_face()
        seen: list[Candidate] = []
        for d in range(len(boxes)):
            if d in matched:
                continue
            box, size = boxes[d], face_side(boxes[d])
            if size < MIN_FACE_HEIGHT_FRACTION * height or size < MIN_FACE_RATIO * largest:
                continue                                                        # rule 1
            if self._same_body(box):
                continue                                                        # rule 2
            candidate = self._pending(box)
            if candidate is None:
                candidate = Candidate(box.copy(), float(scores[d]), frame_index, frame_index)
                self.candidates.append(candidate)
            else:
                candidate.face_box, candidate.face_score = box.copy(), float(scores[d])
                candidate.last_seen = frame_index
            if candidate not in seen:
                seen.append(candidate)
        # rule 3, after the matching so that every check blanks the performers found so far; a
        # check is repeated while a performer promoted meanwhile changes what its crop blanks
        # (the first frame: the first face checked has no neighbours yet)
        promoted = True
        while promoted:
            promoted = False
            for candidate in seen:
                if candidate in self.candidates and self._check_body(candidate, frame_index, frame):
                    promoted = True
        for candidate in seen:              # rule 2 against the performers promoted just now
            if candidate in self.candidates and self._same_body(candidate.face_box):
                self.candidates.remove(candidate)

    def _check_body(self, candidate: Candidate, frame_index: int, frame: np.ndarray) -> bool:
        """Rule 3 for a candidate of this frame's scan (once; again within the frame of that check
        when a performer promoted meanwhile blanks its crop differently); True when promoted."""
        box = candidate.face_box
        x0, y0, x1, y1 = body_crop(box, self.frame_wh)
        if x1 - x0 < 16 or y1 - y0 < 16:
            return False
        neighbours = {p.track_id: box_centre(p.face_box)[0] for p in self.performers
                      if blanks_crop(x0, x1, box, box_centre(p.face_box)[0])}
        if candidate.body_checked and (candidate.checked_frame != frame_index or
                                       set(neighbours) == candidate.blanked_by):
            return False
        if self._same_body(box):                    # a performer promoted meanwhile (rule 2)
            return False
        candidate.body_checked, candidate.blanked_by = True, set(neighbours)
        candidate.checked_frame = frame_index
        crop = blank_neighbours(frame[y0:y1, x0:x1], x0, box, list(neighbours.values()))
        if not has_body_below(self.body(crop), (x0, y0, x1 - x0, y1 - y0), box):
            return False
        self._promote(candidate, frame_index).body_found = True
        return True

    def _same_body(self, box: np.ndarray) -> bool:
        centre, size = box_centre(box), face_side(box)
        for p in self.performers:
            p_size = face_side(p.face_box)
            if np.linalg.norm(centre - box_centre(p.face_box)) < DUPLICATE_FACES * p_size:
                return True
            if size >= PART_FACE_RATIO * p_size:
                continue
            if p.body_box is not None:
                x0, y0, x1, y1 = p.body_box
                if x0 <= centre[0] <= x1 and y0 <= centre[1] <= y1:
                    return True
            if p.region is not None:           # below the face, inside the performer's crop
                x0, _, x1, y1 = p.region
                if x0 <= centre[0] <= x1 and p.face_box[3] <= centre[1] <= y1:
                    return True
        return False

    def _pending(self, box: np.ndarray) -> Candidate | None:
        centre = box_centre(box)
        best, best_d = None, np.inf
        for c in self.candidates:
            d = np.linalg.norm(centre - box_centre(c.face_box))
            if d < MATCH_FACES * face_side(c.face_box) and d < best_d and \
                    similar_size(c.face_box, box):
                best, best_d = c, d
        return best

    def _promote(self, candidate: Candidate, frame_index: int) -> Performer:
        self.candidates.remove(candidate)
        performer = Performer(self._next_id, candidate.face_box.copy(), candidate.face_score,
                              frame_index)
        performer.crop_side = face_side(performer.face_box)
        performer.region = person_region(performer.face_box, self.frame_wh)   # refined per frame
        self.performers.append(performer)
        self._next_id += 1
        return performer

    def _moving(self, box: np.ndarray) -> bool:
        if len(self.greys) < 3:
            return False
        motion = region_motion(self.greys[-1], self.greys[0], box, self.motion_scale)
        return motion >= max(MOTION_MIN_LEVEL, MOTION_NOISE_FACTOR * self.noise)

    def _motion(self, frame_index: int) -> None:
        for p in self.performers:
            if not p.confirmed and not p.moved and self._moving(p.face_box):
                p.moved = True
            if not p.confirmed and p.moved and p.observed and \
                    p.with_body >= PROBATION_BODY_SHARE * p.observed:           # rule 5
                p.confirmed = True
        largest = self._largest_confirmed_face()
        for candidate in list(self.candidates):                                 # rule 4
            if face_side(candidate.face_box) >= MIN_FACE_RATIO * largest and \
                    self._moving(candidate.face_box) and not self._same_body(candidate.face_box):
                self._promote(candidate, frame_index)

    def _drop(self, frame_index: int) -> list[int]:
        dropped = []
        keep = []
        cycle = max(1, int(np.ceil(len(self.windows) / SCAN_WINDOWS_PER_FRAME)))
        self.candidates = [c for c in self.candidates if frame_index - c.last_seen <= 2 * cycle]
        largest = self._largest_confirmed_face()
        for p in self.performers:
            if p.lost >= LOST_FRAMES:
                dropped.append(p.track_id)
            elif not p.confirmed and (frame_index - p.born >= PROBATION_FRAMES or
                                      face_side(p.face_box) < MIN_FACE_RATIO * largest):
                dropped.append(p.track_id)                                      # rule 5
                self.candidates.append(Candidate(p.face_box.copy(), p.face_score, frame_index,
                                                 frame_index, body_checked=True))
            else:
                keep.append(p)
        # rule 6: two performers on one face -> keep the older (lower id); a provisional one also
        # when the face Holistic poses in its crop is an older performer's
        survivors: list[Performer] = []
        for p in sorted(keep, key=lambda q: q.track_id):
            centres = [box_centre(p.face_box)]
            if not p.confirmed and p.anchor is not None:
                centres.append(p.anchor[1])
            if any(np.linalg.norm(c - box_centre(q.face_box)) < DUPLICATE_FACES / 3 * face_side(q.face_box)
                   for q in survivors for c in centres):
                dropped.append(p.track_id)
            else:
                survivors.append(p)
        self.performers = sorted(survivors, key=lambda q: q.track_id)
        return sorted(dropped)

    def _update_regions(self) -> None:
        # only performers with a body (rule 3) or confirmed (rule 5) narrow their neighbours'
        # crops: a provisional face promoted by motion alone is often a false one, and the crop
        # it takes from a real performer changes that performer's keypoints
        for p in self.performers:
            others = tuple(box_centre(q.face_box)[0] for q in self.performers
                           if q is not p and (q.confirmed or q.body_found))
            centre, half = box_centre(p.face_box), max(p.crop_side, face_side(p.face_box)) / 2
            region = person_region(np.concatenate([centre - half, centre + half]), self.frame_wh,
                                   others)
            if region_moved(p.region, region):
                p.region = region
