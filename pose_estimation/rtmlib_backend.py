"""Optional rtmlib backend: RTMPose/RTMW whole-body ONNX exports run by onnxruntime (no mmcv).

Models are local files from the settings, ``RTMLIB_DET_ONNX`` (a YOLOX or RTMDet person detector)
and ``RTMLIB_POSE_ONNX`` (a 133-point whole-body RTMPose/RTMW). rtmlib downloads a model when given
a path that does not exist, so the paths are checked here first and a missing file is an error:
nothing is ever downloaded. Model input sizes are read from the ONNX files (``[1, 3, H, W]``); note
that rtmlib's detectors take ``model_input_size`` as ``(H, W)`` and its RTMPose as ``(W, H)``.
Frames are passed to rtmlib as BGR (its convention, images read with OpenCV). Scores are SimCC
confidences (``score_scale = "simcc"``).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from core.settings import Settings

from .pose_record import arrays_to_persons

INSTALL_HINT = "install it with `pip install --no-deps -r requirements-rtmlib.txt`"


def check_model_paths(det_onnx: str | None, pose_onnx: str | None) -> tuple[Path, Path]:
    """Both ONNX paths as ``Path``; ``FileNotFoundError`` naming the setting when one is missing."""
    paths = []
    for setting, value in (("RTMLIB_DET_ONNX", det_onnx), ("RTMLIB_POSE_ONNX", pose_onnx)):
        if not value:
            raise FileNotFoundError(f"the rtmlib backend needs {setting} (a local .onnx file) in "
                                    f".env or the environment; nothing is downloaded")
        path = Path(value).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{setting}={value}: no such file (rtmlib would try to download "
                                    f"it; this pipeline only uses local models)")
        paths.append(path)
    return paths[0], paths[1]


def onnx_input_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an ONNX image model's ``[N, 3, H, W]`` input."""
    import onnxruntime as ort

    shape = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()[0].shape
    height, width = shape[-2], shape[-1]
    if not isinstance(height, int) or not isinstance(width, int):
        raise ValueError(f"{path}: input shape {shape} has no fixed size")
    return width, height


def rtmlib_device(device: str) -> str:
    """rtmlib's device name (``cpu`` or ``cuda:N``) for a torch-style device string."""
    device = str(device)
    return "cpu" if device in ("cpu", "auto") else (device if ":" in device else "cuda:0")


class RTMLibEstimator:
    """Detector + top-down whole-body pose with rtmlib; ``estimate`` follows ``backends.Backend``."""

    def __init__(self, det_onnx: str | Path, pose_onnx: str | Path, device: str = "cpu"):
        det_path, pose_path = check_model_paths(str(det_onnx), str(pose_onnx))
        for name in ("rtmlib", "onnxruntime"):
            if importlib.util.find_spec(name) is None:
                raise ImportError(f"the rtmlib backend needs {name}: {INSTALL_HINT}")
        from rtmlib import RTMDet, RTMPose, YOLOX

        detector_cls = YOLOX if "yolox" in det_path.name.lower() else RTMDet
        # rtmlib's detectors read model_input_size as (height, width), its RTMPose as (width, height)
        det_width, det_height = onnx_input_size(det_path)
        self.detector = detector_cls(str(det_path), model_input_size=(det_height, det_width),
                                     backend="onnxruntime", device=rtmlib_device(device))
        self.pose = RTMPose(str(pose_path), model_input_size=onnx_input_size(pose_path),
                            backend="onnxruntime", device=rtmlib_device(device))
        self.model_name = f"rtmlib {pose_path.name} + {det_path.name}"

    @classmethod
    def from_settings(cls, settings: Settings, device: str | None = None) -> "RTMLibEstimator":
        det, pose = check_model_paths(settings.rtmlib_det_onnx, settings.rtmlib_pose_onnx)
        return cls(det, pose, device or settings.device)

    def estimate(self, frames: Iterable[tuple[int, np.ndarray]]) -> Iterator[tuple[int, list[dict]]]:
        for frame_index, frame in frames:
            bgr = np.ascontiguousarray(frame[..., ::-1])
            boxes = np.asarray(self.detector(bgr), dtype=np.float32).reshape(-1, 4)
            if not len(boxes):
                yield frame_index, []
                continue
            keypoints, scores = self.pose(bgr, bboxes=list(boxes))
            yield frame_index, arrays_to_persons(keypoints, scores, boxes,
                                                 (frame.shape[1], frame.shape[0]))
