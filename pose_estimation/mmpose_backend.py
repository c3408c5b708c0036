"""Optional MMPose backend (``make mmpose``): top-down whole-body model on person boxes.

The user's config and checkpoint come from the settings (``MMPOSE_CONFIG``, ``MMPOSE_CHECKPOINT``;
``CONFIG_FILE``/``CHECKPOINT_FILE`` also accepted). Person boxes come from an MMDetection detector
when ``DETECTOR_CONFIG``/``DETECTOR_CHECKPOINT`` are set (needs the full ``mmcv`` with compiled ops,
for the detector's NMS), otherwise from the MediaPipe performer finder (face detection → person
region, ``pose_estimation.tracking``). All boxes of a frame go through the model as one batch
(``mmpose.apis.inference_topdown``) on ``--device``.

Two imports need care with the lightweight install (DESIGN section 4): ``mmcv._ext`` is absent in
``mmcv-lite`` (only compiled ops need it: detector NMS, deformable attention of other heads) and
torchvision (imported by MMPose's SimCC visualiser only) cannot be installed beside the CPU torch
here. ``mmpose_imports`` puts placeholder modules in their place that raise a clear error if
anything actually calls into them; top-down inference never does.

Scores are the model's SimCC confidences (``score_scale = "simcc"``, not probabilities). Frames are
passed as BGR, the channel order MMPose's data preprocessors expect for arrays.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import logging
import sys
import types
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from core.settings import Settings

from .pose_record import arrays_to_persons

log = logging.getLogger(__name__)

INSTALL_HINT = "install the optional backend with `make mmpose` (see requirements-mmpose.txt)"


class _MissingExtension(types.ModuleType):
    """Stands in for a compiled module that is not installed; any use raises a clear error."""

    def __init__(self, name: str):
        super().__init__(name)
        # a spec without a loader: mmengine's "is full mmcv installed?" check then says no
        self.__spec__ = importlib.machinery.ModuleSpec(name, None)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def unavailable(*args, **kwargs):
            raise RuntimeError(f"{self.__name__}.{name} is not available: mmcv-lite has no compiled "
                               f"ops (install the full mmcv to use detectors with NMS)")
        return unavailable


def check_installed() -> None:
    """``ImportError`` with the install hint unless mmpose, mmcv(-lite) and mmengine are present."""
    for name in ("mmpose", "mmcv", "mmengine"):
        if importlib.util.find_spec(name) is None:
            raise ImportError(f"the mmpose backend needs the {name} package: {INSTALL_HINT}")


@contextlib.contextmanager
def mmpose_imports():
    """Within it, ``import mmpose.apis`` works with mmcv-lite and without torchvision (module doc).

    The torchvision placeholders are taken out of ``sys.modules`` again on exit (the MMPose modules
    imported inside keep their own references): left there, a later import in the same process
    would take the placeholder for a real torchvision (torchmetrics probes for one and then imports
    ``torchvision.models``). Raises ``ImportError`` with the install hint when MMPose itself is
    missing.
    """
    check_installed()
    try:
        importlib.import_module("mmcv._ext")
    except ImportError:
        sys.modules["mmcv._ext"] = _MissingExtension("mmcv._ext")
    placeholders = {}
    try:
        importlib.import_module("torchvision.transforms")
    except Exception:  # noqa: BLE001 -- absent, or present but broken beside this torch build
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        torchvision = _MissingExtension("torchvision")
        transforms = _MissingExtension("torchvision.transforms")
        torchvision.transforms = transforms
        placeholders = {"torchvision": torchvision, "torchvision.transforms": transforms}
        sys.modules.update(placeholders)
    try:
        yield
    finally:
        for name, placeholder in placeholders.items():
            if sys.modules.get(name) is placeholder:
                del sys.modules[name]


# Where the person boxes come from when no MMDetection detector is configured.
FINDER_BOXES = "boxes: MediaPipe performer finder (face detection), no detector"


def recorded_model_name(config, checkpoint, detector_config=None, detector_checkpoint=None) -> str:
    """The ``model`` recorded in the pose pickle: the pose model, its weights, and where the
    person boxes came from (a top-down model's keypoints depend on its boxes), e.g.
    ``"rtmw-x_8xb320-270e_cocktail14-384x288 (rtmw-x.pth); boxes: MediaPipe performer finder (face
    detection), no detector"``."""
    name = Path(config).stem + (f" ({Path(checkpoint).name})" if checkpoint else " (random weights)")
    if not detector_config:
        return f"{name}; {FINDER_BOXES}"
    weights = f" ({Path(detector_checkpoint).name})" if detector_checkpoint else " (random weights)"
    return f"{name}; boxes: detector {Path(detector_config).stem}{weights}"


class MMPoseEstimator:
    """Top-down MMPose whole-body estimation; ``estimate`` follows ``backends.Backend``."""

    def __init__(self, config: str | Path, checkpoint: str | Path | None, device: str = "cpu",
                 detector_config: str | None = None, detector_checkpoint: str | None = None,
                 detection_threshold: float = 0.3):
        with mmpose_imports():
            from mmpose.apis import init_model

            self.model = init_model(str(config), None if checkpoint is None else str(checkpoint),
                                    device=str(device))
        n_keypoints = int(self.model.dataset_meta.get("num_keypoints", 0) or 0)
        if n_keypoints and n_keypoints != 133:
            raise ValueError(f"{config}: the model predicts {n_keypoints} keypoints; the pipeline "
                             f"needs a 133-point COCO-WholeBody model")
        self.model_name = recorded_model_name(config, checkpoint, detector_config,
                                              detector_checkpoint)
        self.detector = None
        self.detection_threshold = detection_threshold
        if detector_config:
            with mmpose_imports():
                from mmdet.apis import init_detector

                self.detector = init_detector(str(detector_config), detector_checkpoint,
                                              device=str(device))

    @classmethod
    def from_settings(cls, settings: Settings, device: str | None = None) -> "MMPoseEstimator":
        from core.device import resolve_device

        check_installed()
        config = settings.require("mmpose_config")
        checkpoint = settings.require("mmpose_checkpoint")
        for path in (config, checkpoint):
            if not Path(path).exists():
                raise FileNotFoundError(f"MMPose file {path} does not exist (check .env)")
        return cls(config, checkpoint, str(resolve_device(device or settings.device)),
                   settings.detector_config, settings.detector_checkpoint)

    def person_boxes(self, frame_rgb: np.ndarray) -> np.ndarray:
        """``(N, 4)`` xyxy boxes of people from the MMDetection detector (class 0 = person)."""
        from mmdet.apis import inference_detector

        result = inference_detector(self.detector, np.ascontiguousarray(frame_rgb[..., ::-1]))
        pred = result.pred_instances
        keep = (pred.labels == 0) & (pred.scores > self.detection_threshold)
        return pred.bboxes[keep].cpu().numpy().reshape(-1, 4)

    def estimate_frame(self, frame_rgb: np.ndarray, boxes: np.ndarray) -> list[dict]:
        """Persons in one frame for the given ``(N, 4)`` xyxy boxes (one batch)."""
        from mmpose.apis import inference_topdown

        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        if not len(boxes):
            return []
        samples = inference_topdown(self.model, np.ascontiguousarray(frame_rgb[..., ::-1]), boxes,
                                    bbox_format="xyxy")
        keypoints = np.concatenate([s.pred_instances.keypoints for s in samples])
        scores = np.concatenate([s.pred_instances.keypoint_scores for s in samples])
        height, width = frame_rgb.shape[:2]
        return arrays_to_persons(keypoints, scores, boxes, (width, height))

    def estimate(self, frames: Iterable[tuple[int, np.ndarray]]) -> Iterator[tuple[int, list[dict]]]:
        finder = None if self.detector is not None else _MediaPipePersonFinder()
        try:
            for frame_index, frame in frames:
                boxes = self.person_boxes(frame) if finder is None else finder(frame_index, frame)
                persons = self.estimate_frame(frame, boxes)
                if finder is not None:
                    finder.observe(persons)
                yield frame_index, persons
        finally:
            if finder is not None:
                finder.close()


class _MediaPipePersonFinder:
    """Person boxes from the MediaPipe backend's performer finder (``finder.PerformerFinder``:
    multi-scale face scan and its rules); the performers are followed through MMPose's own
    keypoints (same COCO-WholeBody layout) instead of Holistic's."""

    def __init__(self):
        from .finder import MIN_FACE_CONFIDENCE
        from .mediapipe_backend import mediapipe_detectors

        self.detect, self.body, self._close = mediapipe_detectors(MIN_FACE_CONFIDENCE)
        self.finder = None
        self.track_ids: list[int] = []

    def __call__(self, frame_index: int, frame: np.ndarray) -> np.ndarray:
        from .finder import PerformerFinder

        if self.finder is None:
            self.finder = PerformerFinder((frame.shape[1], frame.shape[0]), self.detect, self.body)
        self.finder.step(frame_index, frame)
        self.track_ids = [t.track_id for t in self.finder.tracks]
        return np.array([t.region for t in self.finder.tracks], dtype=np.float32).reshape(-1, 4)

    def observe(self, persons: list[dict]) -> None:
        """MMPose's persons for the boxes of the last call, in the same order."""
        for track_id, person in zip(self.track_ids, persons):
            self.finder.observe(track_id, person["keypoints"], person["scores"])

    def close(self) -> None:
        self._close()
