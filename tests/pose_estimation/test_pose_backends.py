"""Pose record format, top-down output conversion (rtmlib/MMPose), optional-backend errors, and a
real MMPose whole-body model (random weights) when the optional install is present."""
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from core.dataset import SongDataError
from core.settings import SettingsError, load_settings
from pose_estimation.backends import make_backend
from pose_estimation.pose_record import arrays_to_persons, make_record, validate_record
from pose_estimation.rtmlib_backend import RTMLibEstimator, check_model_paths, rtmlib_device


# `make test` installs the optional backends and sets this, so there a missing package is a failure,
# not a skip: every backend is checked on a clean clone.
REQUIRE_OPTIONAL_BACKENDS = os.environ.get("REQUIRE_OPTIONAL_BACKENDS") == "1"


def require_package(name: str, install: str) -> None:
    """Skip without ``name`` (``install`` adds it) -- fail instead under REQUIRE_OPTIONAL_BACKENDS=1."""
    if importlib.util.find_spec(name) is None:
        message = f"{name} is not installed ({install})"
        if REQUIRE_OPTIONAL_BACKENDS:
            pytest.fail(f"{message}, but REQUIRE_OPTIONAL_BACKENDS=1 says every backend is tested")
        pytest.skip(message)


def test_arrays_to_persons_converts_rtmlib_style_output():
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, 700, (2, 133, 2))
    keypoints[1, 5] = np.inf                     # a broken coordinate becomes NaN with score 0
    scores = rng.uniform(0, 9, (2, 133))
    boxes = np.array([[10, 20, 300, 700], [-5, 30, 1300, 800]])
    persons = arrays_to_persons(keypoints, scores, boxes, frame_wh=(1280, 720))
    assert len(persons) == 2
    for person in persons:
        assert person["keypoints"].shape == (133, 2) and person["keypoints"].dtype == np.float32
        assert person["scores"].shape == (133,) and person["scores"].dtype == np.float32
        assert person["box"].shape == (4,) and person["box"].dtype == np.float32
    np.testing.assert_allclose(persons[0]["keypoints"], keypoints[0], rtol=1e-6)
    np.testing.assert_allclose(persons[0]["scores"], scores[0], rtol=1e-6)
    assert np.isnan(persons[1]["keypoints"][5]).all() and persons[1]["scores"][5] == 0
    np.testing.assert_array_equal(persons[1]["box"], [0, 30, 1280, 720])
    assert arrays_to_persons(np.zeros((0, 133, 2)), np.zeros((0, 133)), np.zeros((0, 4))) == []


def test_arrays_to_persons_rejects_other_layouts():
    with pytest.raises(ValueError, match="predicts 17 keypoints.*133-point COCO-WholeBody"):
        arrays_to_persons(np.zeros((1, 17, 2)), np.zeros((1, 17)), np.zeros((1, 4)))


def test_record_round_trip_and_validation():
    person = arrays_to_persons(np.ones((1, 133, 2)), np.ones((1, 133)), np.array([[0, 0, 5, 5]]))[0]
    record = make_record("rtmlib", "m", 29.97, (1280, 720), "v.mov", [[person], []])
    assert record["score_scale"] == "simcc" and record["n_frames"] == 2
    assert validate_record(record) is record
    bad = {**record, "frames": [[{**person, "keypoints": np.zeros((17, 2))}], []]}
    with pytest.raises(SongDataError, match="frame 0 .*133-point"):
        validate_record(bad)
    nan_box = {**record, "frames": [[{**person, "box": np.full(4, np.nan, np.float32)}], []]}
    with pytest.raises(SongDataError, match="frame 0 has a person with a non-finite box"):
        validate_record(nan_box)
    with pytest.raises(SongDataError, match="missing frames"):
        validate_record({k: v for k, v in record.items() if k != "frames"})


def test_rtmlib_needs_local_model_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="RTMLIB_DET_ONNX"):
        check_model_paths(None, str(tmp_path / "pose.onnx"))
    (tmp_path / "det.onnx").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="RTMLIB_POSE_ONNX=.*pose.onnx: no such file"):
        check_model_paths(str(tmp_path / "det.onnx"), str(tmp_path / "pose.onnx"))
    settings = load_settings(env_file=None, environ={})
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        RTMLibEstimator.from_settings(settings)
    assert rtmlib_device("auto") == "cpu" and rtmlib_device("cuda") == "cuda:0"
    assert rtmlib_device("cuda:1") == "cuda:1"


def test_rtmlib_estimate_streams_persons_from_its_models():
    """``RTMLibEstimator.estimate`` with stand-ins for rtmlib's detector and pose model (test
    doubles: rtmlib is optional): frames go in as BGR, boxes and keypoints come out in the pickle
    format, a frame without detections gives no persons."""
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (72, 128, 3), dtype=np.uint8) for _ in range(3)]
    boxes = {0: np.array([[1, 2, 60, 70], [50, 0, 140, 72]], float), 1: np.zeros((0, 4)),
             2: np.array([[10, 10, 40, 40]], float)}
    seen = []

    def detector(bgr):
        index = next(i for i, f in enumerate(frames) if np.array_equal(f[..., ::-1], bgr))
        seen.append(index)
        return boxes[index]

    def pose(bgr, bboxes):
        n = len(bboxes)
        keypoints = np.stack([np.full((133, 2), b[0], np.float32) for b in bboxes])
        return keypoints, np.full((n, 133), 7.5, np.float32)

    estimator = RTMLibEstimator.__new__(RTMLibEstimator)
    estimator.detector, estimator.pose, estimator.model_name = detector, pose, "fake"
    out = list(estimator.estimate(enumerate(frames)))
    assert seen == [0, 1, 2] and [i for i, _ in out] == [0, 1, 2]
    assert [len(p) for _, p in out] == [2, 0, 1]
    # boxes clipped to the 128x72 frame; each person's points are those its box produced
    np.testing.assert_array_equal(out[0][1][1]["box"], [50, 0, 128, 72])
    assert (out[0][1][0]["keypoints"] == 1).all() and (out[0][1][1]["keypoints"] == 50).all()
    assert out[2][1][0]["scores"].dtype == np.float32 and (out[2][1][0]["scores"] == 7.5).all()


def export_tiny_rtm_models(folder: Path) -> tuple[Path, Path]:
    """Two tiny ONNX models with rtmlib's input/output conventions and known answers.

    Detector (RTMDet export with NMS inside, input 1x3x320x480, not square, so that height and
    width cannot be confused): always the detections ``[48, 60, 144, 240, 0.9]`` and
    ``[0, 0, 10, 10, 0.1]`` (xyxy in model pixels, score).
    Pose (RTMPose, input 1x3x256x192, SimCC split ratio 2): for all 133 points, x logits peaking at
    bin 192 of 384 and y logits peaking at bin 256 of 512, i.e. at the centre of the model input,
    with peak value 5.
    """
    import torch

    class Detector(torch.nn.Module):
        def forward(self, image):
            dets = torch.tensor([[[48.0, 60.0, 144.0, 240.0, 0.9], [0.0, 0.0, 10.0, 10.0, 0.1]]])
            return dets + image.mean() * 0

    class Pose(torch.nn.Module):
        def forward(self, image):
            bins_x = torch.arange(384, dtype=torch.float32)
            bins_y = torch.arange(512, dtype=torch.float32)
            zero = image.mean() * 0
            return (5 - (bins_x - 192) ** 2 / 50).expand(1, 133, 384) + zero, \
                (5 - (bins_y - 256) ** 2 / 50).expand(1, 133, 512) + zero

    det_path, pose_path = folder / "rtmdet-tiny.onnx", folder / "rtmw-tiny.onnx"
    torch.onnx.export(Detector(), torch.zeros(1, 3, 320, 480), str(det_path), dynamo=False,
                      input_names=["input"], output_names=["dets"])
    torch.onnx.export(Pose(), torch.zeros(1, 3, 256, 192), str(pose_path), dynamo=False,
                      input_names=["input"], output_names=["simcc_x", "simcc_y"])
    return det_path, pose_path


def test_real_rtmlib_with_tiny_onnx_models(tmp_path):
    """rtmlib + onnxruntime for real (optional install: requirements-rtmlib.txt; exporting the
    test models also needs the onnx package), models from the settings: the detector's box is
    scaled back to the frame (1280x720 into 480x320: ratio min(320/720, 480/1280) = 0.375), its low-score box dropped, and
    every keypoint decoded at the box centre."""
    for name in ("rtmlib", "onnxruntime", "onnx"):
        require_package(name, "make rtmlib")
    det_path, pose_path = export_tiny_rtm_models(tmp_path)
    settings = load_settings(env_file=None, environ={"RTMLIB_DET_ONNX": str(det_path),
                                                     "RTMLIB_POSE_ONNX": str(pose_path)})
    backend = make_backend("rtmlib", settings, "cpu")
    assert backend.name == "rtmlib" and "rtmw-tiny.onnx" in backend.model
    frames = [(i, np.full((720, 1280, 3), 60 * i, np.uint8)) for i in range(2)]
    out = list(backend.estimate(frames))
    assert [i for i, _ in out] == [0, 1]
    for _, persons in out:
        assert len(persons) == 1
        person = persons[0]
        np.testing.assert_allclose(person["box"], [128, 160, 384, 640], atol=1e-3)
        assert person["keypoints"].shape == (133, 2) and person["keypoints"].dtype == np.float32
        np.testing.assert_allclose(person["keypoints"], np.tile([256.0, 400.0], (133, 1)), atol=1.5)
        np.testing.assert_allclose(person["scores"], 5.0, atol=1e-4)
    record = make_record(backend.name, backend.model, 30.0, (1280, 720), "v.mov", [p for _, p in out])
    assert validate_record(record)["score_scale"] == "simcc"


def test_mmpose_backend_names_the_missing_setting():
    settings = load_settings(env_file=None, environ={})
    if importlib.util.find_spec("mmpose") is None:
        require_package("mmpose", "make mmpose")       # fails under REQUIRE_OPTIONAL_BACKENDS=1
        with pytest.raises(ImportError, match="make mmpose"):
            make_backend("mmpose", settings)
    else:
        with pytest.raises(SettingsError, match="MMPOSE_CONFIG"):
            make_backend("mmpose", settings)


@pytest.mark.mmpose
@pytest.mark.slow
def test_real_mmpose_wholebody_model_with_random_weights():
    require_package("mmpose", "make mmpose")
    import importlib.util

    from pose_estimation.mmpose_backend import MMPoseEstimator

    torchvision_before = importlib.util.find_spec("torchvision")
    mmpose_dir = Path(importlib.util.find_spec("mmpose").origin).parent
    config = (mmpose_dir / ".mim" / "configs" / "wholebody_2d_keypoint" / "rtmpose"
              / "ubody" / "rtmpose-t_8xb64-270e_coco-ubody-wholebody-256x192.py")
    estimator = MMPoseEstimator(config, None, "cpu")
    # the torchvision placeholder MMPose's imports needed is gone again: a later import in this
    # process (torchmetrics probes for torchvision) must not take it for the real package
    assert importlib.util.find_spec("torchvision") == torchvision_before
    assert "random weights" in estimator.model_name and "MediaPipe performer finder" in estimator.model_name
    frame = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    boxes = np.array([[10, 20, 200, 340], [300, 0, 640, 360]], dtype=np.float32)
    persons = estimator.estimate_frame(frame, boxes)
    assert len(persons) == 2
    for person, box in zip(persons, boxes):
        assert person["keypoints"].shape == (133, 2) and person["scores"].shape == (133,)
        np.testing.assert_array_equal(person["box"], box)
        # top-down decoding puts every keypoint inside the (padded) box it was run on
        kp = person["keypoints"]
        w, h = box[2] - box[0], box[3] - box[1]
        assert (kp[:, 0] >= box[0] - 0.5 * w).all() and (kp[:, 0] <= box[2] + 0.5 * w).all()
        assert (kp[:, 1] >= box[1] - 0.5 * h).all() and (kp[:, 1] <= box[3] + 0.5 * h).all()
        assert np.isfinite(person["scores"]).all()
    # the streaming interface, with the MediaPipe person finder on a blank frame: no people
    out = list(estimator.estimate([(0, np.zeros((360, 640, 3), np.uint8))]))
    assert out == [(0, [])]


def test_mmpose_recorded_model_name_says_where_the_boxes_came_from():
    from pose_estimation.mmpose_backend import FINDER_BOXES, recorded_model_name

    finder = recorded_model_name("cfg/rtmw-x_384x288.py", "w/rtmw-x.pth")
    assert finder == f"rtmw-x_384x288 (rtmw-x.pth); {FINDER_BOXES}"
    assert "MediaPipe performer finder" in finder
    detector = recorded_model_name("cfg/rtmw-x_384x288.py", None, "det/rtmdet-m_640.py",
                                   "det/rtmdet-m.pth")
    assert detector == "rtmw-x_384x288 (random weights); boxes: detector rtmdet-m_640 (rtmdet-m.pth)"
    assert "MediaPipe" not in detector
