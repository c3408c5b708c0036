"""Files from another lab never run code: crafted pickles, .npy, torch files and JSON.

Every payload below would create a marker file when loaded the unsafe way; each test first proves
that (the positive control), then asserts the project's loader refuses the file, names it, and the
marker does not exist.
"""
import io
import json
import pickle
import types

import numpy as np
import pytest
import torch

from core.io import (RefusedFileError, UnreadableFileError, load_json, load_npy, load_npz,
                     load_pickle, load_torch)
from crafted_inputs import PAYLOADS, TouchPayload


def pose_record_with(payload) -> dict:
    """A valid-looking pose record (the published format) with a payload hidden in one person."""
    person = {"keypoints": np.zeros((133, 2), np.float32), "scores": np.ones(133, np.float32),
              "box": np.array([0, 0, 10, 10], np.float32), "track_id": payload}
    return {"backend": "mediapipe", "model": "m", "score_scale": "probability", "fps": 30.0,
            "frame_size": (64, 48), "n_frames": 1, "video": "v.mov", "frames": [[person]]}


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_crafted_pose_pickle_is_refused_and_its_payload_never_runs(tmp_path, payload, protocol):
    marker = tmp_path / "payload_ran"
    data = pickle.dumps(pose_record_with(payload(marker)), protocol=protocol)
    pickle.loads(data)                                   # positive control: the unsafe way runs it
    assert marker.exists()
    marker.unlink()
    path = tmp_path / "pose_estimation_30fps.pkl"
    path.write_bytes(data)
    with pytest.raises(RefusedFileError, match=r"pose_estimation_30fps\.pkl refused: it refers to"):
        load_pickle(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_pose_records_of_every_protocol_load_with_the_right_values(tmp_path, protocol):
    record = pose_record_with(7)
    record["frames"][0][0]["extra"] = {"set": {1, 2}, "frozen": frozenset({3}), "c": 1j,
                                       "b": b"\x00\xff", "ba": bytearray(b"ab"),
                                       "scalar": np.float32(1.5), "i": np.int64(-3),
                                       "strs": np.array(["a", "bc"]),
                                       "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
                                       "struct": np.zeros(2, dtype=[("x", "<f4"), ("y", "i8", (2,))])}
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps(record, protocol=protocol))
    loaded = load_pickle(path)
    person, original = loaded["frames"][0][0], record["frames"][0][0]
    np.testing.assert_array_equal(person["keypoints"], original["keypoints"])
    assert person["keypoints"].dtype == np.float32 and loaded["frame_size"] == (64, 48)
    for key, value in original["extra"].items():
        got = person["extra"][key]
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got, value)
            assert got.dtype == value.dtype
        else:
            assert got == value and type(got) is type(value)


class Numpy1Pickler(pickle._Pickler):
    """Writes numpy's globals under numpy 1's module names (``numpy.core.*``), as pickles made
    before numpy 2 (most published pose files) do."""

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", "") or ""
        if module.startswith("numpy._core"):
            module, name = module.replace("numpy._core", "numpy.core"), name or obj.__name__
            if self.proto >= 4:
                self.save(module)
                self.save(name)
                self.write(pickle.STACK_GLOBAL)
            else:
                self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
            self.memoize(obj)
            return
        super().save_global(obj, name)

    # the pure-Python pickler dispatches functions to the base class's save_global directly
    dispatch = {**pickle._Pickler.dispatch, types.FunctionType: save_global}


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickles_written_by_numpy_1_load(tmp_path, protocol):
    record = {"frames": [[{"keypoints": np.arange(266, dtype=np.float32).reshape(133, 2),
                           "score": np.float64(0.5)}]]}
    buffer = io.BytesIO()
    Numpy1Pickler(buffer, protocol=protocol).dump(record)
    assert b"numpy.core" in buffer.getvalue() and b"numpy._core" not in buffer.getvalue()
    path = tmp_path / "old.pkl"
    path.write_bytes(buffer.getvalue())
    loaded = load_pickle(path)
    np.testing.assert_array_equal(loaded["frames"][0][0]["keypoints"],
                                  record["frames"][0][0]["keypoints"])
    assert loaded["frames"][0][0]["score"] == 0.5


def test_damaged_pickle_is_named_not_a_traceback(tmp_path):
    path = tmp_path / "pose_estimation_30fps.pkl"
    path.write_bytes(pickle.dumps(pose_record_with(1))[:200])
    with pytest.raises(UnreadableFileError, match=r"pose_estimation_30fps\.pkl is not a readable"):
        load_pickle(path)


def test_object_npy_is_refused_and_its_payload_never_runs(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "keypoints.npy"
    np.save(path, np.array([TouchPayload(marker)], dtype=object), allow_pickle=True)
    np.load(path, allow_pickle=True)                     # positive control
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UnreadableFileError, match=r"keypoints\.npy is not a readable \.npy"):
        load_npy(path)
    assert not marker.exists()


def test_object_array_in_an_npz_cache_is_refused_and_its_payload_never_runs(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "frames_64px.npz"
    np.savez(path, crops=np.zeros((2, 3), np.uint8),
             present=np.array([TouchPayload(marker)], dtype=object))
    with np.load(path, allow_pickle=True) as archive:    # positive control
        archive["present"]
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UnreadableFileError, match=r"frames_64px\.npz is not a readable \.npz"):
        load_npz(path, ("crops", "present"))
    assert not marker.exists()
    np.savez(path, crops=np.zeros((2, 3), np.uint8))
    with pytest.raises(UnreadableFileError, match="present"):           # an array missing
        load_npz(path, ("crops", "present"))
    assert load_npz(path, ("crops",))["crops"].shape == (2, 3)


def test_random_bytes_npy_names_the_file(tmp_path):
    path = tmp_path / "keypoints.npy"
    path.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(UnreadableFileError, match=str(path)):
        load_npy(path)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_crafted_torch_file_is_refused_without_torch_advice(tmp_path, payload):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "model.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "extra": payload(marker)}, path)
    torch.load(path, weights_only=False)                 # positive control
    assert marker.exists()
    marker.unlink()
    with pytest.raises(RefusedFileError) as caught:
        load_torch(path)
    assert not marker.exists()
    message = str(caught.value)
    assert message.startswith(f"{path} refused: it names ")
    assert "weights_only" not in message and "\n" not in message


def test_torch_file_of_tensors_and_plain_data_loads(tmp_path):
    path = tmp_path / "state.pt"
    state = {"w": torch.arange(3.0), "rng": np.random.default_rng(5).bit_generator.state,
             "history": [{"loss": 0.5}], "name": "x"}
    torch.save(state, path)
    loaded = load_torch(path)
    assert torch.equal(loaded["w"], state["w"]) and loaded["rng"] == state["rng"]
    assert loaded["history"] == [{"loss": 0.5}]


def test_damaged_torch_file_is_named_without_torch_advice(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(100)}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(UnreadableFileError) as caught:
        load_torch(path)
    assert not isinstance(caught.value, RefusedFileError)
    assert str(path) in str(caught.value) and "weights_only" not in str(caught.value)


def test_json_is_data_whatever_it_claims_to_be(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "features.json"
    # what jsonpickle-style loaders would turn into a call; plain JSON keeps it as data
    crafted = {"py/reduce": [{"py/function": "os.system"}, {"py/tuple": [f"touch {marker}"]}],
               "__class__": "os.system"}
    path.write_text(json.dumps(crafted))
    assert load_json(path) == crafted
    assert not marker.exists()


def test_corrupt_json_names_the_file(tmp_path):
    path = tmp_path / "aggregated_strong_windows.json"
    path.write_text('{"A": {"s": ')
    with pytest.raises(UnreadableFileError, match=r"aggregated_strong_windows\.json is not valid"):
        load_json(path)
