"""Crop geometry for the performer finder (``pose_estimation.finder``): face boxes → person
regions, matching, NMS.

MediaPipe Holistic is single-person, so every performer gets their own crop. Pure functions over
numpy arrays; boxes are ``(4,)`` or ``(N, 4)`` float ``xyxy`` in full-frame pixels.

Person region from a face box of width ``fw`` and height ``fh`` centred at ``(cx, cy)`` (a seated
musician with an instrument in the lap or on the shoulder): a square of side ``SIDE_FACES * s``,
``s = max(fw, fh)``, centred horizontally on the face, its top ``ABOVE_FACES * s`` above the face:

    x0 = cx - SIDE_FACES / 2 * s,      x1 = cx + SIDE_FACES / 2 * s
    y0 = face_y0 - ABOVE_FACES * s,    y1 = y0 + SIDE_FACES * s

(square because MediaPipe's person detector letterboxes its input to a square: on the demo's
mridangam player a tall 368x512 crop was missed in 10/10 frames at confidence 0.5, a 512x512 one
found in 10/10),
then clipped to the frame and, horizontally, to the midpoints between this performer's face centre
and the neighbouring performers' face centres (so a crop does not contain half of the neighbour,
which Holistic could lock onto), never narrower than ``MIN_WIDTH_FACES * s``.

Matching (``match_boxes``): detections are matched to followed faces greedily by increasing centre
distance, accepted when the distance is below ``MATCH_FACES`` face sizes. A crop region is only
moved when the newly computed region's centre or size differs by more than ``REGION_TOLERANCE`` of
the region size (``region_moved``), so Holistic's frame-to-frame tracking inside the crop is not
disturbed by jitter.
"""
from __future__ import annotations

import numpy as np

SIDE_FACES = 5.5
ABOVE_FACES = 0.9
MIN_WIDTH_FACES = 2.2
MATCH_FACES = 1.0
REGION_TOLERANCE = 0.12


def box_centre(boxes: np.ndarray) -> np.ndarray:
    """Centres ``(..., 2)`` of xyxy boxes ``(..., 4)``."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.stack([(boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2], -1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU ``(N, M)`` of xyxy boxes ``a`` (N, 4) and ``b`` (M, 4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3
                        ) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, highest score first."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = list(np.argsort(-np.asarray(scores, dtype=np.float64)))
    keep = []
    while order:
        best = order.pop(0)
        keep.append(best)
        if order:
            ious = box_iou(boxes[best:best + 1], boxes[order])[0]
            order = [o for o, iou in zip(order, ious) if iou <= iou_threshold]
    return np.array(keep, dtype=int)


def person_region(face_box: np.ndarray, frame_wh: tuple[int, int],
                  neighbour_cx: tuple[float, ...] = ()) -> np.ndarray:
    """Integer xyxy crop region ``(4,)`` for the performer whose face is ``face_box``.

    ``neighbour_cx``: face-centre x of the other performers (see the module docstring).
    """
    width, height = frame_wh
    fx0, fy0, fx1, fy1 = np.asarray(face_box, dtype=np.float64)
    size = max(fx1 - fx0, fy1 - fy0)
    cx = (fx0 + fx1) / 2
    x0, x1 = cx - SIDE_FACES / 2 * size, cx + SIDE_FACES / 2 * size
    y0 = fy0 - ABOVE_FACES * size
    y1 = y0 + SIDE_FACES * size
    min_half = MIN_WIDTH_FACES / 2 * size
    for ncx in neighbour_cx:
        mid = (cx + ncx) / 2
        if ncx < cx:
            x0 = max(x0, min(mid, cx - min_half))
        elif ncx > cx:
            x1 = min(x1, max(mid, cx + min_half))
    x0, x1 = np.clip([x0, x1], 0, width)
    y0, y1 = np.clip([y0, y1], 0, height)
    return np.array([int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))])


def region_moved(old: np.ndarray | None, new: np.ndarray, tolerance: float = REGION_TOLERANCE) -> bool:
    """True when ``new`` differs from ``old`` by more than ``tolerance`` of ``old``'s size."""
    if old is None:
        return True
    old = np.asarray(old, dtype=np.float64)
    new = np.asarray(new, dtype=np.float64)
    size = np.array([old[2] - old[0], old[3] - old[1]])
    shift = np.abs(box_centre(new) - box_centre(old))
    resize = np.abs(np.array([new[2] - new[0], new[3] - new[1]]) - size)
    return bool(np.any(shift > tolerance * size) or np.any(resize > tolerance * size))


def match_boxes(track_boxes: np.ndarray, detection_boxes: np.ndarray,
                max_distance_faces: float = MATCH_FACES) -> list[tuple[int, int]]:
    """Greedy one-to-one matching of tracks to detections by centre distance.

    Returns ``(track_index, detection_index)`` pairs whose centre distance is below
    ``max_distance_faces`` × the track's face size.
    """
    track_boxes = np.asarray(track_boxes, dtype=np.float64).reshape(-1, 4)
    detection_boxes = np.asarray(detection_boxes, dtype=np.float64).reshape(-1, 4)
    if not len(track_boxes) or not len(detection_boxes):
        return []
    dist = np.linalg.norm(box_centre(track_boxes)[:, None] - box_centre(detection_boxes)[None],
                          axis=-1)
    size = np.maximum(track_boxes[:, 2] - track_boxes[:, 0], track_boxes[:, 3] - track_boxes[:, 1])
    pairs, used_t, used_d = [], set(), set()
    for flat in np.argsort(dist, axis=None):
        t, d = np.unravel_index(flat, dist.shape)
        if t in used_t or d in used_d or dist[t, d] > max_distance_faces * size[t]:
            continue
        pairs.append((int(t), int(d)))
        used_t.add(t)
        used_d.add(d)
    return pairs
