"""Helpers shared by the pose tests: real photographs on a stage canvas, crafted pose records."""
from __future__ import annotations

import numpy as np

from core.keypoints import NUM_KEYPOINTS


def photo_people() -> list[np.ndarray]:
    """Three real RGB photos of people that ship offline (astronaut, Grace Hopper, astronaut
    mirrored)."""
    import matplotlib.cbook as cbook
    import skimage.data
    from PIL import Image

    astronaut = skimage.data.astronaut()
    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = np.asarray(Image.open(fh).convert("RGB"))
    return [astronaut, hopper, np.ascontiguousarray(astronaut[:, ::-1])]


def stage_canvas(width: int = 1280, height: int = 720) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """The three photos side by side (420 px wide each) on a dark 1280x720 canvas.

    Returns the canvas and each photo's xyxy box on it, left to right.
    """
    import cv2

    canvas = np.full((height, width, 3), 40, np.uint8)
    boxes = []
    x = 0
    for photo in photo_people():
        scale = 420 / photo.shape[1]
        photo = cv2.resize(photo, (420, int(photo.shape[0] * scale)))
        visible = min(photo.shape[0], height - 20)
        canvas[height - visible:, x:x + 420] = photo[:visible]
        boxes.append((x, height - visible, x + 420, height))
        x += 430
    return canvas, boxes


def person_at(box, score: float = 0.9) -> dict:
    """A person entry whose keypoints all lie inside ``box`` (keypoint k at a fixed spot)."""
    x0, y0, x1, y1 = box
    t = np.linspace(0.1, 0.9, NUM_KEYPOINTS)
    keypoints = np.stack([x0 + t * (x1 - x0), y0 + t[::-1] * (y1 - y0)], axis=1).astype(np.float32)
    return {"keypoints": keypoints, "scores": np.full(NUM_KEYPOINTS, score, np.float32),
            "box": np.asarray(box, dtype=np.float32)}


def box_around(cx: float, cy: float, w: float = 200, h: float = 300) -> tuple[float, ...]:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
