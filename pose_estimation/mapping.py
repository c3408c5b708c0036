"""MediaPipe Holistic landmarks → the 133-point COCO-WholeBody layout (``core.keypoints``).

Holistic returns, per person, normalised landmarks ``(x, y)`` in [0, 1] of the image it was given
(here: a crop of the full frame). Pixel coordinates in the full frame are
``x_full = crop_x0 + x * crop_w`` and ``y_full = crop_y0 + y * crop_h`` (crops are never resized).

Index tables (MediaPipe index → COCO-WholeBody index):

* Body 0–16 ← Pose 33: nose 0, left eye 2, right eye 5, left ear 7, right ear 8, shoulders 11/12,
  elbows 13/14, wrists 15/16, hips 23/24, knees 25/26, ankles 27/28 (MediaPipe "left" is the
  person's left, as in COCO).
* Feet 17–22 ← Pose: left big toe ← left_foot_index 31, left heel ← left_heel 29, right big toe ←
  right_foot_index 32, right heel ← right_heel 30. MediaPipe's "foot index" is the tip of the foot
  (around the big/second toe), so it stands for the big toe; MediaPipe has no small-toe landmark,
  so COCO left/right small toe (18, 21) are always NaN with score 0.
* Face 23–90 ← face mesh 468/478: ``FACE_MESH_TO_IBUG68`` below, in iBUG-300W order. Derivation:
  jaw = 17 points of the mesh's face oval (``FACEMESH_FACE_OVAL``) from the subject's right temple
  at eye level (127) through the chin (152) to the left temple (356), picked at equal arc length on
  a frontal face (``skimage.data.astronaut``) on the right half and mirrored with the mesh's
  left/right symmetric pairs; brows = upper brow contour, outer→inner on the subject's right
  (17–21), inner→outer on the left (22–26); nose bridge 168→197→5→tip 4; nostril base 98, 97,
  subnasale 2, 326, 327; eyes: outer corner, two upper-lid points, inner corner, two lower-lid points
  (subject's right eye 33/160/158/133/153/144, left eye 362/385/387/263/373/380); outer lips from the
  right corner 61 clockwise in the image (upper lip 40, 37, 0, 267, 270, left corner 291, lower lip
  321, 314, 17, 84, 91); inner lips 78, 81, 13, 311, 308, 402, 14, 178. The subject's right is the
  image's left for a frontal face, as in iBUG (point 0 is on the image left).
* Hands 91–111 / 112–132 ← Holistic ``left_hand_landmarks`` / ``right_hand_landmarks``, same order
  (wrist, thumb CMC/MCP/IP/TIP, then index, middle, ring, pinky from base to tip). In the holistic
  solution the hand crops come from the pose wrists, so ``left_hand_landmarks`` is the person's own
  left hand (the one at pose landmark 15, left_wrist), not the mirrored "selfie" convention of the
  stand-alone Hands solution. Checked: the body's left/right on real face photos (the person's right
  eye lies on the image left), and the hands on the demo video (no shipped photo gives Holistic a
  hand): every hand found has its wrist next to the same side's body wrist (tests).

Scores (``score_scale = "probability"``, 0–1):

* body and feet: the pose landmark's ``visibility``;
* face: the face-detection confidence of the tracked performer (Holistic gives no face score);
* hands: the ``visibility`` of the matching pose wrist (the probability that the hand is in view;
  0.5 in the rare case of a hand without a pose).

Points of a part that was not found are NaN with score 0.

World points (``world_landmarks_to_array``): Holistic's ``pose_world_landmarks``, the 33 pose
landmarks in metres with the origin between the hips (``core.world_points``: x, y as the image's,
z away from the camera). They do not depend on where the crop lies in the frame, so they are stored
as they come; a person whose pose was not found gets all NaN.
"""
from __future__ import annotations

import numpy as np

from core.keypoints import FACE_OFFSET, LEFT_HAND_OFFSET, NUM_KEYPOINTS, RIGHT_HAND_OFFSET

# COCO-WholeBody index -> MediaPipe Pose index (None: no equivalent, always NaN)
COCO_FROM_POSE: tuple[int | None, ...] = (
    0,            # 0 nose
    2, 5,         # 1 left eye, 2 right eye
    7, 8,         # 3 left ear, 4 right ear
    11, 12,       # 5 left shoulder, 6 right shoulder
    13, 14,       # 7 left elbow, 8 right elbow
    15, 16,       # 9 left wrist, 10 right wrist
    23, 24,       # 11 left hip, 12 right hip
    25, 26,       # 13 left knee, 14 right knee
    27, 28,       # 15 left ankle, 16 right ankle
    31, None, 29,  # 17 left big toe, 18 left small toe, 19 left heel
    32, None, 30,  # 20 right big toe, 21 right small toe, 22 right heel
)
assert len(COCO_FROM_POSE) == 23

POSE_LEFT_WRIST, POSE_RIGHT_WRIST = 15, 16

# iBUG-300W 68-point order (face-local index) -> MediaPipe face mesh index
FACE_MESH_TO_IBUG68: tuple[int, ...] = (
    # jaw 0-16, image left to right through the chin (8)
    127, 234, 93, 58, 172, 136, 149, 176, 152, 400, 378, 365, 397, 288, 323, 454, 356,
    # right brow 17-21 (outer -> inner), left brow 22-26 (inner -> outer)
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # nose bridge 27-30 (top -> tip), nostril base 31-35 (image left -> right)
    168, 197, 5, 4, 98, 97, 2, 326, 327,
    # right eye 36-41, left eye 42-47 (corner, upper lid x2, corner, lower lid x2)
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    # outer lips 48-59 (right corner, upper lip, left corner, lower lip)
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,
    # inner lips 60-67
    78, 81, 13, 311, 308, 402, 14, 178,
)
assert len(FACE_MESH_TO_IBUG68) == 68 and len(set(FACE_MESH_TO_IBUG68)) == 68

_POSE_COCO = np.array([i for i, p in enumerate(COCO_FROM_POSE) if p is not None])
_POSE_MP = np.array([p for p in COCO_FROM_POSE if p is not None])
_FACE_MP = np.array(FACE_MESH_TO_IBUG68)


def landmarks_to_array(landmark_list, with_visibility: bool = False) -> np.ndarray | None:
    """A MediaPipe ``NormalizedLandmarkList`` → ``(N, 2)`` (or ``(N, 3)`` with visibility) float64.

    Coordinates are normalised to the processed image (0–1). None stays None.
    """
    if landmark_list is None:
        return None
    if with_visibility:
        return np.array([(p.x, p.y, p.visibility) for p in landmark_list.landmark], dtype=np.float64)
    return np.array([(p.x, p.y) for p in landmark_list.landmark], dtype=np.float64)


def world_landmarks_to_array(landmark_list) -> np.ndarray:
    """A MediaPipe ``LandmarkList`` of pose world landmarks → ``(33, 3)`` float32 metres
    (``core.world_points`` layout); None → all NaN."""
    from core.world_points import N_WORLD_POINTS

    if landmark_list is None:
        return np.full((N_WORLD_POINTS, 3), np.nan, np.float32)
    points = np.array([(p.x, p.y, p.z) for p in landmark_list.landmark], dtype=np.float32)
    if points.shape != (N_WORLD_POINTS, 3):
        raise ValueError(f"pose world landmarks have shape {points.shape}, expected "
                         f"({N_WORLD_POINTS}, 3)")
    return points


def holistic_to_wholebody(pose: np.ndarray | None, face: np.ndarray | None,
                          left_hand: np.ndarray | None, right_hand: np.ndarray | None,
                          crop_xywh: tuple[float, float, float, float], face_score: float = 1.0
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Map one person's Holistic output to COCO-WholeBody in full-frame pixels.

    ``pose``: (33, 3) normalised x, y, visibility or None; ``face``: (468 or 478, 2) or None;
    ``left_hand``/``right_hand``: (21, 2) or None — all normalised to the crop
    ``crop_xywh = (x0, y0, w, h)`` in full-frame pixels. ``face_score``: 0–1 score given to the
    face points. Returns ``keypoints`` (133, 2) float32 pixels (NaN = not found) and ``scores``
    (133,) float32 in 0–1.
    """
    x0, y0, w, h = crop_xywh
    scale = np.array([w, h], dtype=np.float64)
    offset = np.array([x0, y0], dtype=np.float64)
    keypoints = np.full((NUM_KEYPOINTS, 2), np.nan, dtype=np.float64)
    scores = np.zeros(NUM_KEYPOINTS, dtype=np.float64)
    if pose is not None:
        keypoints[_POSE_COCO] = pose[_POSE_MP, :2] * scale + offset
        scores[_POSE_COCO] = np.clip(pose[_POSE_MP, 2], 0.0, 1.0)
    if face is not None:
        keypoints[FACE_OFFSET:FACE_OFFSET + 68] = face[_FACE_MP, :2] * scale + offset
        scores[FACE_OFFSET:FACE_OFFSET + 68] = face_score
    for hand, start, wrist in ((left_hand, LEFT_HAND_OFFSET, POSE_LEFT_WRIST),
                               (right_hand, RIGHT_HAND_OFFSET, POSE_RIGHT_WRIST)):
        if hand is None:
            continue
        keypoints[start:start + 21] = hand[:, :2] * scale + offset
        # no hand score from Holistic: use how visible the pose thinks that wrist is
        scores[start:start + 21] = np.clip(pose[wrist, 2], 0.0, 1.0) if pose is not None else 0.5
    return keypoints.astype(np.float32), scores.astype(np.float32)


def keypoint_box(keypoints: np.ndarray, scores: np.ndarray | None = None, min_score: float = 0.0,
                 frame_wh: tuple[int, int] | None = None) -> np.ndarray | None:
    """Tight ``(4,)`` float32 xyxy box around the finite points of ``keypoints`` (N, 2), or None.

    Only points with ``scores >= min_score`` count (when scores are given); the box is clipped to
    the frame ``(width, height)`` when given (MediaPipe extrapolates hidden joints past the image).
    """
    finite = np.isfinite(keypoints).all(axis=1)
    if scores is not None:
        finite &= scores >= min_score
    if not finite.any():
        return None
    pts = keypoints[finite]
    box = np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()],
                   dtype=np.float32)
    if frame_wh is not None:
        box = np.clip(box, 0, np.array([frame_wh[0], frame_wh[1]] * 2, dtype=np.float32))
    return box
