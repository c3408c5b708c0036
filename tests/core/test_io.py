import json
import math

import numpy as np
import pytest

from core.io import atomic_path, load_json, null_to_nan, save_json, save_npy


def test_save_json_writes_nan_as_null_and_round_trips(tmp_path):
    path = tmp_path / "sub" / "out.json"
    save_json(path, {"x": np.array([1.0, np.nan, np.inf]), "n": np.int64(3), "ok": np.bool_(True)})
    raw = json.loads(path.read_text())
    assert raw == {"x": [1.0, None, None], "n": 3, "ok": True}
    back = null_to_nan(load_json(path)["x"])
    assert back[0] == 1.0 and math.isnan(back[1]) and math.isnan(back[2])


def test_interrupted_write_leaves_no_final_file_and_no_temp(tmp_path):
    target = tmp_path / "keypoints.npy"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a file")
            raise RuntimeError("killed mid-write")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_previous_complete_file(tmp_path):
    target = tmp_path / "a.npy"
    save_npy(target, np.arange(3))
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"garbage")
            raise KeyboardInterrupt
    np.testing.assert_array_equal(np.load(target), np.arange(3))


def test_temp_file_keeps_extension_for_format_sniffing_writers(tmp_path):
    with atomic_path(tmp_path / "clip.mp4") as tmp:
        assert tmp.suffix == ".mp4" and tmp.parent == tmp_path
        tmp.write_bytes(b"x")
    assert (tmp_path / "clip.mp4").read_bytes() == b"x"


def test_atomic_outputs_get_umask_permissions_not_private_temp_permissions(tmp_path):
    import os
    import stat
    old = os.umask(0o022)
    try:
        save_npy(tmp_path / "a.npy", np.zeros(3))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.npy").stat().st_mode) == 0o644


def test_float_arrays_become_json_with_null_for_nan_in_any_shape(tmp_path):
    from core.io import float_array_to_json
    values = np.array([[1.5, np.nan], [np.inf, -2.0]], dtype=np.float32)
    assert float_array_to_json(values) == [[1.5, None], [None, -2.0]]
    save_json(tmp_path / "c.json", {"r": values, "strong": np.array([True, False])}, indent=None)
    text = (tmp_path / "c.json").read_text()
    assert text.strip() == '{"r":[[1.5,null],[null,-2.0]],"strong":[true,false]}'
    back = null_to_nan(load_json(tmp_path / "c.json")["r"])
    np.testing.assert_array_equal(np.isnan(back), [[False, True], [True, False]])
