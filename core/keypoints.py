"""The COCO-WholeBody keypoint layout (133 points per person), defined once for the whole pipeline.

Index ranges (0-based):

* 0–16   body, COCO order (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles)
* 17–22  feet (left big toe, left small toe, left heel, right big toe, right small toe, right heel)
* 23–90  face, 68 points in iBUG-300W order (jaw 0–16, brows 17–26, nose 27–35, eyes 36–47,
         lips 48–67 in face-local numbering)
* 91–111 left hand, 112–132 right hand: 21 points each (wrist, then thumb, index, middle, ring,
         pinky, four points each from base to tip)

"left"/"right" are the performer's own sides, as in COCO. Arrays on disk are ``(F, 133, 2)`` float32
pixel coordinates (x right, y down) with NaN where a point was not found, and ``(F, 133)`` float32
scores.
"""
from __future__ import annotations

import numpy as np

NUM_KEYPOINTS = 133

BODY_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
FOOT_NAMES = ("left_big_toe", "left_small_toe", "left_heel",
              "right_big_toe", "right_small_toe", "right_heel")
HAND_POINT_NAMES = ("wrist",) + tuple(
    f"{finger}_{joint}" for finger in ("thumb", "index", "middle", "ring", "pinky")
    for joint in (1, 2, 3, 4))

BODY = tuple(range(0, 17))
FEET = tuple(range(17, 23))
FACE = tuple(range(23, 91))
LEFT_HAND = tuple(range(91, 112))
RIGHT_HAND = tuple(range(112, 133))
FACE_OFFSET, LEFT_HAND_OFFSET, RIGHT_HAND_OFFSET = 23, 91, 112

KEYPOINT_NAMES = (BODY_NAMES + FOOT_NAMES + tuple(f"face_{i}" for i in range(68))
                  + tuple(f"left_hand_{n}" for n in HAND_POINT_NAMES)
                  + tuple(f"right_hand_{n}" for n in HAND_POINT_NAMES))
assert len(KEYPOINT_NAMES) == NUM_KEYPOINTS

# Named body joints used by the feature definitions.
NOSE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 5, 6
LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST = 7, 8, 9, 10
LEFT_HIP, RIGHT_HIP = 11, 12

# Body-part groups used for per-part motion features and for display.
BODY_PARTS: dict[str, tuple[int, ...]] = {
    "head": (0, 1, 2, 3, 4),
    "left_arm": (LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST),
    "right_arm": (RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST),
    "face": FACE,
    "left_hand": LEFT_HAND,
    "right_hand": RIGHT_HAND,
}
# Hips, legs and feet: cross-legged seated performers, mostly hidden by instruments; always dropped
# from motion analysis (published procedure).
LOWER_BODY = (LEFT_HIP, RIGHT_HIP, 13, 14, 15, 16) + FEET
LEFT_ARM_AND_HAND = BODY_PARTS["left_arm"] + LEFT_HAND
RIGHT_ARM_AND_HAND = BODY_PARTS["right_arm"] + RIGHT_HAND

# The 55 points of the body model: nose, eyes, ears, shoulders, elbows, wrists, hips + both hands.
BODY_55 = tuple(range(0, 13)) + LEFT_HAND + RIGHT_HAND
assert len(BODY_55) == 55

# --- skeleton edges (pairs of 133-layout indices) -------------------------------------------------
BODY_EDGES = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
              (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))
FOOT_EDGES = ((15, 17), (15, 18), (15, 19), (16, 20), (16, 21), (16, 22))
# Hand edges in hand-local numbering: wrist to each finger base, then along each finger.
HAND_LOCAL_EDGES = tuple(
    edge for base in (1, 5, 9, 13, 17)
    for edge in ((0, base), (base, base + 1), (base + 1, base + 2), (base + 2, base + 3)))
# Face chains in face-local (iBUG 0–67) numbering: jaw, brows, nose bridge, nostrils, eyes, lips.
FACE_CHAINS = ((0, 16), (17, 21), (22, 26), (27, 30), (31, 35), (36, 41), (42, 47), (48, 59), (60, 67))
FACE_LOCAL_EDGES = tuple((i, i + 1) for start, end in FACE_CHAINS for i in range(start, end))

MOUTH = tuple(range(48, 68))       # face-local: outer lips 48–59, inner lips 60–67
FACE_RIGID = tuple(range(0, 48))   # face-local points used for rigid registration (no lips)
NOSE_TIP_LOCAL, CHIN_LOCAL = 33, 8


def _offset(edges, offset):
    return tuple((a + offset, b + offset) for a, b in edges)


HAND_EDGES = (_offset(HAND_LOCAL_EDGES, LEFT_HAND_OFFSET) + _offset(HAND_LOCAL_EDGES, RIGHT_HAND_OFFSET)
              + ((LEFT_WRIST, LEFT_HAND_OFFSET), (RIGHT_WRIST, RIGHT_HAND_OFFSET)))
FACE_EDGES = _offset(FACE_LOCAL_EDGES, FACE_OFFSET)
SKELETON_EDGES = BODY_EDGES + FOOT_EDGES + HAND_EDGES + FACE_EDGES


def body55_local_edges() -> tuple[tuple[int, int], ...]:
    """Edges of the 55-point body graph in its own 0–54 numbering (upper body + both hands)."""
    position = {index: i for i, index in enumerate(BODY_55)}
    return tuple((position[a], position[b]) for a, b in BODY_EDGES + HAND_EDGES
                 if a in position and b in position)


def part_of(index: int) -> str:
    """Name of the body-part group (or 'lower_body'/'other') a 133-layout index belongs to."""
    for name, indices in BODY_PARTS.items():
        if index in indices:
            return name
    return "lower_body" if index in LOWER_BODY else "other"


def occluded_stage_edge_points(position: int, n_performers: int) -> tuple[int, ...]:
    """Points dropped for a performer at stage ``position`` (0 = leftmost in the image).

    Published procedure (DESIGN section 5): for the leftmost performer drop the COCO ``left_*`` arm
    and hand, for the rightmost the ``right_*`` arm and hand (stage-edge occlusion). A single
    performer is both leftmost and rightmost and loses both arms.
    """
    dropped: tuple[int, ...] = ()
    if position == 0:
        dropped += LEFT_ARM_AND_HAND
    if position == n_performers - 1:
        dropped += RIGHT_ARM_AND_HAND
    return dropped


def empty_keypoints(n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """All-missing arrays: ``(F, 133, 2)`` NaN float32 coordinates and ``(F, 133)`` zero scores."""
    return (np.full((n_frames, NUM_KEYPOINTS, 2), np.nan, dtype=np.float32),
            np.zeros((n_frames, NUM_KEYPOINTS), dtype=np.float32))
