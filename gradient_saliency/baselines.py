"""Integrated-Gradients baselines: the "absent" input each attributed input is integrated from.

Published choice: the mean face for the face keypoints, zeros for the body keypoints and for the
audio. Alternatives (selectable on the command line):

* face  ``mean_face``: VoViT's mean face in the model's input space, the same in every frame;
        ``dataset_mean``: the mean of the run's own face inputs (every frame of the selected songs
        with all 68 points; ``models.dataset_mean_face``), the same in every frame: a typical face
        of this data, where VoViT's 3DDFA mean face has a wider jaw than MediaPipe-landmarked faces;
        ``zeros``; ``static``: the chunk's own time-averaged pose (motion removed, shape kept).
* body  ``zeros``; ``static`` (as for the face).
* audio ``zeros``; ``input``: the mixture itself, i.e. the audio is held fixed and only the
        keypoints are integrated (the audio attribution is then exactly zero).

The keypoint tensor is ``(B, 2, T, J)`` (x/y, video frames, joints); for ``face_body`` models the 68
face joints come first, then the 55 body joints.
"""
from __future__ import annotations

import torch

from core.keypoints import BODY_55, FACE

FACE_JOINTS, BODY_JOINTS = len(FACE), len(BODY_55)
FACE_BASELINES = ("mean_face", "dataset_mean", "zeros", "static")
# face baselines that are one fixed face template, the same in every frame
TEMPLATE_FACE_BASELINES = ("mean_face", "dataset_mean")
BODY_BASELINES = ("zeros", "static")
AUDIO_BASELINES = ("zeros", "input")


def joint_groups(visual_kind: str) -> dict[str, slice]:
    """Which joints of the keypoint tensor are face and which are body, for a model's visual kind."""
    if visual_kind == "face":
        return {"face": slice(0, FACE_JOINTS)}
    if visual_kind == "body":
        return {"body": slice(0, BODY_JOINTS)}
    if visual_kind == "face_body":
        return {"face": slice(0, FACE_JOINTS), "body": slice(FACE_JOINTS, FACE_JOINTS + BODY_JOINTS)}
    if visual_kind in ("none", None):
        return {}
    raise ValueError(f"unknown visual kind {visual_kind!r}: expected face, body, face_body or none")


def audio_baseline(mixture: torch.Tensor, kind: str = "zeros") -> torch.Tensor:
    """``(B, N)`` baseline for the mixture wave."""
    if kind == "zeros":
        return torch.zeros_like(mixture)
    if kind == "input":
        return mixture.detach().clone()
    raise ValueError(f"unknown audio baseline {kind!r}: expected one of {AUDIO_BASELINES}")


def visual_baseline(visual: torch.Tensor, visual_kind: str, face: str = "mean_face",
                    body: str = "zeros", mean_face: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, 2, T, J)`` baseline for the keypoint tensor.

    ``mean_face``: ``(2, 68)`` face template already in the model's input coordinates (VoViT's mean
    face, ``models.mean_face_in_model_space``, or the run's mean face, ``models.dataset_mean_face``);
    required when ``face`` is one of ``TEMPLATE_FACE_BASELINES`` and the model sees faces.
    """
    if face not in FACE_BASELINES:
        raise ValueError(f"unknown face baseline {face!r}: expected one of {FACE_BASELINES}")
    if body not in BODY_BASELINES:
        raise ValueError(f"unknown body baseline {body!r}: expected one of {BODY_BASELINES}")
    baseline = torch.zeros_like(visual)
    static = visual.detach().mean(dim=2, keepdim=True).expand_as(visual)
    for group, joints in joint_groups(visual_kind).items():
        kind = face if group == "face" else body
        if kind == "static":
            baseline[..., joints] = static[..., joints]
        elif kind in TEMPLATE_FACE_BASELINES:
            if mean_face is None:
                raise ValueError(f"the {kind} face baseline needs its face template in model "
                                 f"coordinates")
            template = mean_face.to(visual.device, visual.dtype)          # (2, 68)
            baseline[..., joints] = template[None, :, None, :].expand_as(baseline[..., joints])
    return baseline
