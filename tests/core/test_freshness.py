"""The re-run rule (core.freshness): outputs are up to date only for the inputs they were made from."""
import os

from core.freshness import is_up_to_date, record_inputs, record_path, snapshot, stale_reason


def touch(path, text="x", mtime_ns=None):
    path.write_text(text)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_recorded_inputs_decide_and_every_change_is_seen(tmp_path):
    video = touch(tmp_path / "video.mov", "v1", 1_000_000_000)
    out = touch(tmp_path / "pose.pkl", "p", 2_000_000_000)
    record_inputs([out], [video])
    assert record_path([out]) == tmp_path / ".pose.pkl.inputs.json"
    assert is_up_to_date([out], [video])
    assert not is_up_to_date([out], [video], force=True)
    # rewritten with the same size but another time (e.g. re-encoded, or restored from a backup)
    touch(video, "v2", 500_000_000)
    assert stale_reason([out], [video]) == "video.mov changed since pose.pkl was made"
    record_inputs([out], [video])
    assert is_up_to_date([out], [video])
    extra = touch(tmp_path / "features.json")
    assert stale_reason([out], [video, extra]) == "features.json is new since pose.pkl was made"
    # an input deleted after use (e.g. a pose pickle removed to save space) cannot be redone from
    video.unlink()
    assert is_up_to_date([out], [video])


def test_missing_output_is_never_up_to_date(tmp_path):
    video = touch(tmp_path / "v.mov")
    assert stale_reason([tmp_path / "a.npy", tmp_path / "b.npy"], [video]) == "a.npy missing"


def test_without_a_record_inputs_newer_than_the_oldest_output_redo(tmp_path):
    pickle_file = touch(tmp_path / "pose.pkl", "p", 3_000_000_000)
    keypoints = touch(tmp_path / "keypoints.npy", "k", 2_000_000_000)
    scores = touch(tmp_path / "scores.npy", "s", 4_000_000_000)
    assert stale_reason([keypoints, scores], [pickle_file]) == "pose.pkl is newer than keypoints.npy"
    os.utime(pickle_file, ns=(1_000_000_000, 1_000_000_000))
    assert is_up_to_date([keypoints, scores], [pickle_file])


def test_a_snapshot_taken_before_reading_catches_an_input_changed_mid_run(tmp_path):
    stem = touch(tmp_path / "vocal.wav", "a", 1_000_000_000)
    before = snapshot([stem])
    touch(stem, "ab", 2_000_000_000)                # replaced while the stage was reading it
    out = touch(tmp_path / "audio_features.json")
    record_inputs([out], before)
    assert stale_reason([out], [stem]) == "vocal.wav changed since audio_features.json was made"


def test_records_survive_moving_the_dataset(tmp_path):
    song = tmp_path / "data" / "A" / "s"
    song.mkdir(parents=True)
    (song / "vocal").mkdir()
    pkl = touch(song / "pose.pkl")
    out = touch(song / "vocal" / "keypoints.npy")
    record_inputs([out], [pkl])
    moved = tmp_path / "moved"
    (tmp_path / "data").rename(moved)
    assert is_up_to_date([moved / "A" / "s" / "vocal" / "keypoints.npy"], [moved / "A" / "s" / "pose.pkl"])


def test_corrupt_record_falls_back_to_modification_times(tmp_path):
    video = touch(tmp_path / "v.mov", "v", 1_000_000_000)
    out = touch(tmp_path / "o.pkl", "o", 2_000_000_000)
    record_path([out]).write_text("{broken")
    assert is_up_to_date([out], [video])
    os.utime(video, ns=(3_000_000_000, 3_000_000_000))
    assert not is_up_to_date([out], [video])


def test_settings_are_part_of_what_an_output_was_made_from(tmp_path):
    """A stage whose result depends on options (saliency's integration steps, an evaluation's
    baseline) records them: other settings, or a record made without settings, redo the work."""
    checkpoint = touch(tmp_path / "model.pt", "w", 1_000_000_000)
    out = touch(tmp_path / "A_s.json", "{}", 2_000_000_000)
    record_inputs([out], [checkpoint], settings={"n_steps": 25, "baselines": ("mean_face", "zeros")})
    assert is_up_to_date([out], [checkpoint], settings={"n_steps": 25,
                                                        "baselines": ["mean_face", "zeros"]})
    assert stale_reason([out], [checkpoint], {"n_steps": 50, "baselines": ["mean_face", "zeros"]}) \
        == "settings changed since A_s.json was made"
    assert is_up_to_date([out], [checkpoint])          # a stage that does not use settings
    record_inputs([out], [checkpoint])                  # made by a version that recorded none
    assert stale_reason([out], [checkpoint], {"n_steps": 25}) == \
        "settings changed since A_s.json was made"
    record_path([out]).unlink()                         # no record at all: settings unknown
    assert stale_reason([out], [checkpoint], {"n_steps": 25}) == \
        "no record of the settings A_s.json was made with"
    checkpoint.unlink()                                 # ... and nothing to remake them from
    assert is_up_to_date([out], [checkpoint], settings={"n_steps": 25})
