import numpy as np
import pytest

from core.dataset import SongDataError
from visualization.inputs import load_song_inputs
from visualization.synthetic import build_synthetic_song


@pytest.fixture
def song(tmp_path):
    return build_synthetic_song(tmp_path, "A", "S", seconds=0.5, width=160, height=90,
                                layout=("vocal", "violin"), audio=None)


def test_inputs_list_missing_feature_files(song):
    (song.folder / "violin" / "audio_features.json").unlink()
    (song.folder / "correlation" / "correlations.json").unlink()
    inputs = load_song_inputs(song.folder, ("vocal", "violin"))
    assert inputs.missing == ["violin/audio_features.json", "correlation/correlations.json"]
    assert [p.instrument for p in inputs.performers] == ["vocal", "violin"]
    vocal = inputs.performers[0]
    assert set(vocal.feature_files) == {"motion_features.json", "audio_features.json",
                                        "vocal_motion_features.json"}
    rms = vocal.feature_files["audio_features.json"].features["rms"]
    assert rms.shape == (song.n_frames,) and np.isnan(rms[:3]).all()     # JSON nulls → NaN
    assert load_song_inputs(song.folder, ("vocal", "violin"), with_features=False).missing == []


def test_layout_mismatch_and_missing_keypoints_are_named(song):
    with pytest.raises(SongDataError, match="layout"):
        load_song_inputs(song.folder, ("violin", "vocal"))
    (song.folder / "violin" / "keypoints.npy").unlink()
    with pytest.raises(SongDataError, match="no keypoints for violin"):
        load_song_inputs(song.folder, ("vocal", "violin"))
