"""Scoring pose output against generator ground truth (the stress scenes, ``demo_generator.stress``).

Per performer of a scene, over its frames:

* **recall**: the share of frames in which a detected person's body lies in the performer's
  ground-truth box (the centre of the person's ``box`` inside it). Each detected person counts for
  at most one performer per frame: among the persons whose body centre is inside the box, the
  performer gets the one whose face centre is nearest to the true face centre (performers in
  increasing order of that distance, greedily), so two overlapping performers are not both
  credited with one detection;
* **face-centre error**: for the frames counted, the distance from the detected face centre (mean
  of the person's finite face points, else the nose) to the true face centre, in units of the
  performer's face size; the median over frames is reported.
"""
from __future__ import annotations

import numpy as np

from core.keypoints import FACE_OFFSET


def face_centre(keypoints: np.ndarray) -> np.ndarray:
    """(2,) mean of the finite 68 face points of ``(133, 2)`` keypoints, else the nose, else NaN."""
    face = keypoints[FACE_OFFSET:FACE_OFFSET + 68]
    finite = np.isfinite(face).all(axis=1)
    if finite.any():
        return face[finite].mean(axis=0).astype(np.float64)
    return np.asarray(keypoints[0], dtype=np.float64)


def _inside(point: np.ndarray, box) -> bool:
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])


def score_performers(frames: list[list[dict]], truth: dict) -> dict[str, dict]:
    """``{instrument: {"recall", "face_error_median", "frames", "found"}}`` for a pose record's
    ``frames`` against a stress ground truth (``performers[name]["boxes"]`` (F, 4), ``face_centre``
    (F, 2), ``face_size``)."""
    names = list(truth["performers"])
    boxes = {n: np.asarray(truth["performers"][n]["boxes"], dtype=np.float64) for n in names}
    faces = {n: np.asarray(truth["performers"][n]["face_centre"], dtype=np.float64) for n in names}
    sizes = {n: float(truth["performers"][n]["face_size"]) for n in names}
    found = {n: 0 for n in names}
    errors: dict[str, list[float]] = {n: [] for n in names}
    for f, persons in enumerate(frames):
        bodies = [((p["box"][0] + p["box"][2]) / 2, (p["box"][1] + p["box"][3]) / 2) for p in persons]
        centres = [face_centre(np.asarray(p["keypoints"])) for p in persons]
        options = []
        for n in names:
            for i, (body, centre) in enumerate(zip(bodies, centres)):
                if _inside(np.asarray(body), boxes[n][f]):
                    d = np.linalg.norm(centre - faces[n][f]) / sizes[n]
                    options.append((d if np.isfinite(d) else np.inf, n, i))
        used_p, used_n = set(), set()
        for d, n, i in sorted(options, key=lambda o: (o[0], names.index(o[1]), o[2])):
            if n in used_n or i in used_p:
                continue
            used_n.add(n)
            used_p.add(i)
            found[n] += 1
            if np.isfinite(d):
                errors[n].append(float(d))
    n_frames = max(len(frames), 1)
    return {n: {"recall": found[n] / n_frames, "found": found[n], "frames": len(frames),
                "face_error_median": float(np.median(errors[n])) if errors[n] else float("nan")}
            for n in names}
