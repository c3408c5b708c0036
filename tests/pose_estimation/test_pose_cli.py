"""The real CLI on small crafted datasets: bad inputs, interrupted writes, re-runs."""
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from core.dataset import POSE_PICKLE_NAME
from core.io import load_pickle, save_pickle
from core.video import VideoWriter
from pose_estimation import main as pose_main
from pose_estimation.pose_record import make_record
from tests.conftest import run_cli
from tests.crafted_inputs import PAYLOADS, write_truncated_video
from tests.pose_estimation.pose_fixtures import box_around, person_at, stage_canvas

LAYOUT = ["mridangam", "vocal", "violin"]
N_FRAMES = 8


def entry(**changes):
    return {"layout": LAYOUT, "moving_camera": False, "fps": 30.0, "duration": N_FRAMES / 30,
            "correct_body_detection": True, "face_false_positive_frames": [], **changes}


def write_stage_video(path: Path, n_frames: int = N_FRAMES) -> None:
    canvas, _ = stage_canvas()
    with VideoWriter(path, 30, canvas.shape[1], canvas.shape[0]) as writer:
        for f in range(n_frames):
            writer.write(np.roll(canvas, f, axis=1))   # a little motion


def crafted_record(n_people: int, n_frames: int = 30) -> dict:
    xs = (250, 640, 1030)[:n_people]
    frames = [[person_at(box_around(x, 470)) for x in xs] for _ in range(n_frames)]
    return make_record("mediapipe", "test", 30.0, (1280, 720), "video.mov", frames)


@pytest.fixture
def bad_dataset(tmp_path):
    root = tmp_path / "ds"
    songs = {"A": {"good": entry(), "empty": entry(), "corrupt": entry(), "novideo": entry(),
                   "nofps": entry(fps=None), "truncated": entry(duration=4.0),
                   "str fps": entry(fps="30")},
             # metadata from elsewhere naming folders outside the dataset (issue 11, cause 3)
             "..": {"escape": entry()}}
    for song in songs["A"]:
        (root / "A" / song).mkdir(parents=True)
    (root / "dataset_metadata.json").write_text(json.dumps(songs))
    write_stage_video(root / "A" / "good" / "video.mov")
    (root / "A" / "empty" / "video.mov").write_bytes(b"")
    (root / "A" / "corrupt" / "video.mov").write_bytes(np.random.default_rng(0).bytes(20000))
    write_truncated_video(root / "A" / "truncated" / "video.mov", 120, 30)
    write_stage_video(root / "A" / "str fps" / "video.mov")
    (tmp_path / "escape").mkdir()
    write_stage_video(tmp_path / "escape" / "video.mov")     # what '../escape' would reach
    return root


@pytest.mark.slow
def test_bad_inputs_are_named_others_processed_exit_nonzero(bad_dataset):
    result = run_cli("pose_estimation.main", "--pose", "--dataset_path", str(bad_dataset))
    log = result.stderr
    assert result.returncode == 1, log[-3000:]
    assert "pose: 1 done, 0 already up to date (use -f to redo), 1 skipped, 6 failed" in log
    assert "A/empty: SongDataError: video" in log and "is empty (0 bytes)" in log
    assert "A/corrupt: SongDataError: video" in log
    assert "A/novideo: SongDataError: no .mov video in" in log
    assert "skipped A/nofps: null fps in metadata" in log
    # a truncated video is named, whichever way the decoder notices (issue 11, cause 10)
    truncated = next(line for line in log.splitlines() if "FAILED  A/truncated" in line)
    assert str(bad_dataset / "A" / "truncated" / "video.mov") in truncated
    assert "truncated or damaged file" in truncated
    assert ("FAILED  A/str fps: bad entry in dataset_metadata.json: fps must be a positive number "
            "or null, got '30'") in log
    assert "FAILED  ../escape: bad entry in dataset_metadata.json: artist name '..' would leave" in log
    assert not (bad_dataset.parent / "escape" / POSE_PICKLE_NAME).exists()
    record = load_pickle(bad_dataset / "A" / "good" / POSE_PICKLE_NAME)
    assert record["n_frames"] == N_FRAMES and record["fps"] == 30.0
    assert record["frame_size"] == (1280, 720) and record["backend"] == "mediapipe"
    # the three photographed people are found in every frame, each inside its own photo
    _, photo_boxes = stage_canvas()
    for persons in record["frames"]:
        centres = sorted(((p["box"][0] + p["box"][2]) / 2, (p["box"][1] + p["box"][3]) / 2)
                         for p in persons)
        assert len(centres) == 3
        for (cx, cy), (x0, y0, x1, y1) in zip(centres, photo_boxes):
            assert x0 - 10 <= cx <= x1 + 10 and y0 <= cy <= y1
    for song in ("empty", "corrupt", "novideo", "nofps", "truncated", "str fps"):
        assert not (bad_dataset / "A" / song / POSE_PICKLE_NAME).exists()

    # post-processing: the good song is split; a crafted 2-person record fails on the 3-layout
    save_pickle(bad_dataset / "A" / "novideo" / POSE_PICKLE_NAME, crafted_record(2))
    result = run_cli("pose_estimation.main", "--post", "--dataset_path", str(bad_dataset))
    log = result.stderr
    assert result.returncode == 1
    assert "A/novideo: LayoutMismatchError: layout has 3 performers, found 2 stable people" in log
    assert "A/empty: SongDataError:" in log and "run pose_estimation --pose first" in log
    assert "FAILED  ../escape: bad entry" in log and not (bad_dataset.parent / "escape" / "vocal").exists()
    keypoints = np.load(bad_dataset / "A" / "good" / "vocal" / "keypoints.npy")
    assert keypoints.shape == (N_FRAMES, 133, 2)
    assert np.isfinite(keypoints[:, 0]).all()                   # the middle person's nose
    assert 430 <= np.nanmean(keypoints[:, 0, 0]) <= 850         # ... in the middle photo
    face = np.load(bad_dataset / "A" / "good" / "vocal" / "face_keypoints.npy")
    assert face.shape == (N_FRAMES, 68, 2)
    assert not (bad_dataset / "A" / "novideo" / "vocal").exists()


def test_unreadable_metadata_is_a_clear_error(tmp_path):
    (tmp_path / "dataset_metadata.json").write_text("{not json")
    result = run_cli("pose_estimation.main", "--pose", "--post", "--dataset_path", str(tmp_path))
    assert result.returncode == 2
    assert "is not valid JSON" in result.stderr


def test_no_action_is_a_usage_error(tmp_path):
    result = run_cli("pose_estimation.main", "--dataset_path", str(tmp_path))
    assert result.returncode == 2 and "give --pose, --post or both" in result.stderr


@pytest.fixture
def posed_dataset(tmp_path):
    """One static song and one moving-camera song with crafted pose records (no video needed)."""
    root = tmp_path / "ds"
    meta = {"A": {"s1": entry(duration=1.0), "pan": entry(duration=1.0, moving_camera=True)}}
    for song in meta["A"]:
        save_pickle(root / "A" / song / POSE_PICKLE_NAME, crafted_record(3))
    (root / "dataset_metadata.json").write_text(json.dumps(meta))
    return root


def outputs(song_dir: Path) -> list[Path]:
    from pose_estimation.stage import post_outputs

    return post_outputs(song_dir, tuple(LAYOUT))


def test_post_rerun_skips_unless_forced_and_moving_camera_is_skipped(posed_dataset, capsys):
    song_dir = posed_dataset / "A" / "s1"
    assert pose_main.main(["--post", "--dataset_path", str(posed_dataset)]) == 0
    paths = outputs(song_dir)
    assert all(p.exists() for p in paths) and len(paths) == 10
    assert not (posed_dataset / "A" / "pan" / "vocal").exists()
    info = json.loads((song_dir / "violin" / "pose_info.json").read_text())
    assert info["position"] == 2 and info["n_performers"] == 3 and info["layout"] == LAYOUT
    assert info["score_scale"] == "probability" and info["fps"] == 30.0
    np.testing.assert_allclose(info["cluster_centre"], [1030, 470], atol=1)
    assert info["settings"]["post_processing"]["wall_art_rule"] == "published"
    stamps = [p.stat().st_mtime_ns for p in paths]
    capsys.readouterr()
    assert pose_main.main(["--post", "--dataset_path", str(posed_dataset)]) == 0
    assert [p.stat().st_mtime_ns for p in paths] == stamps
    log = capsys.readouterr().err      # main() logs to stderr (core.log.setup_logging)
    assert "A/s1: outputs exist, skipping" in log
    assert "skipped A/pan: moving camera" in log
    assert pose_main.main(["--post", "-f", "--wall-art-rule", "top_quarter",
                           "--dataset_path", str(posed_dataset)]) == 0
    assert all(new > old for new, old in zip((p.stat().st_mtime_ns for p in paths), stamps))
    info = json.loads((song_dir / "violin" / "pose_info.json").read_text())
    assert info["settings"]["post_processing"] == {
        "wall_art_rule": "top_quarter", "published": False,
        "definition": "drop stable clusters whose mean centre is in the top 25% of the frame "
                      "height, then keep the N lowest"}


def test_pose_rerun_skips_existing_pickle_without_touching_the_video(posed_dataset, capsys):
    # s1 has a pickle but no video at all: up to date, not a failure
    assert pose_main.main(["--pose", "-s", "s1", "--dataset_path", str(posed_dataset)]) == 0
    assert "A/s1: outputs exist, skipping" in capsys.readouterr().err


def test_interrupted_post_leaves_nothing_taken_for_finished(posed_dataset, monkeypatch):
    from pose_estimation import stage

    real_save = stage.save_instrument_pose
    calls = []

    def crash_on_second(out_dir, pose):
        calls.append(out_dir)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated crash while writing the second performer")
        real_save(out_dir, pose)

    monkeypatch.setattr(stage, "save_instrument_pose", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        pose_main.main(["--post", "-s", "s1", "--dataset_path", str(posed_dataset)])
    song_dir = posed_dataset / "A" / "s1"
    assert (song_dir / "mridangam" / "pose_info.json").exists()
    assert not (song_dir / "vocal" / "pose_info.json").exists()
    assert not list(song_dir.rglob("*.part*"))
    monkeypatch.setattr(stage, "save_instrument_pose", real_save)
    assert pose_main.main(["--post", "-s", "s1", "--dataset_path", str(posed_dataset)]) == 0
    assert all(p.exists() for p in outputs(song_dir))


def test_interrupted_pickle_write_leaves_no_file(tmp_path, monkeypatch):
    from core import io as core_io

    def half_write(obj, fh, protocol=None):
        fh.write(pickle.dumps(obj)[:100])
        raise KeyboardInterrupt("simulated crash mid-write")

    monkeypatch.setattr(core_io.pickle, "dump", half_write)
    target = tmp_path / "song" / POSE_PICKLE_NAME
    with pytest.raises(KeyboardInterrupt):
        save_pickle(target, crafted_record(3, n_frames=3))
    assert not target.exists() and not list(target.parent.iterdir())


@pytest.mark.parametrize("payload", PAYLOADS)
def test_crafted_pose_pickle_never_runs_and_only_its_song_fails(posed_dataset, tmp_path, payload,
                                                                capsys):
    """Issue 11, cause 2: a pose pickle from elsewhere with a code payload is refused by name."""
    marker = tmp_path / "payload_ran"
    record = crafted_record(3)
    record["frames"][0][0]["track_id"] = payload(marker)
    evil = posed_dataset / "A" / "s1" / POSE_PICKLE_NAME
    evil.write_bytes(pickle.dumps(record))
    meta = json.loads((posed_dataset / "dataset_metadata.json").read_text())
    meta["A"]["s2"] = entry(duration=1.0)
    save_pickle(posed_dataset / "A" / "s2" / POSE_PICKLE_NAME, crafted_record(3))
    (posed_dataset / "dataset_metadata.json").write_text(json.dumps(meta))
    assert pose_main.main(["--post", "--dataset_path", str(posed_dataset)]) == 1
    assert not marker.exists()
    log = capsys.readouterr().err
    assert f"FAILED  A/s1: SongDataError: {evil} refused: it refers to " in log
    assert "post: 1 done" in log and (posed_dataset / "A" / "s2" / "vocal" / "keypoints.npy").exists()
    assert not (posed_dataset / "A" / "s1" / "vocal").exists()


def test_post_redoes_when_the_pose_file_was_redone(posed_dataset, capsys):
    """Issue 11, cause 11: ``--pose -f`` on a changed video, then ``--post``, must not say "up
    to date": the keypoints follow the new pose file."""
    song_dir = posed_dataset / "A" / "s1"
    assert pose_main.main(["--post", "-s", "s1", "--dataset_path", str(posed_dataset)]) == 0
    assert np.load(song_dir / "vocal" / "keypoints.npy").shape[0] == 30
    save_pickle(song_dir / POSE_PICKLE_NAME, crafted_record(3, n_frames=60))   # what --pose -f does
    capsys.readouterr()
    assert pose_main.main(["--post", "-s", "s1", "--dataset_path", str(posed_dataset)]) == 0
    assert "outputs exist" not in capsys.readouterr().err
    for instrument in LAYOUT:
        assert np.load(song_dir / instrument / "keypoints.npy").shape[0] == 60
    assert np.load(song_dir / "vocal" / "face_keypoints.npy").shape[0] == 60


def test_post_redoes_for_another_wall_art_rule_or_a_corrected_layout(posed_dataset, capsys):
    """Cause 11 for settings, and cause 6's consequence: keypoints made with another wall-art rule,
    or under a layout the metadata has since corrected (same instruments, other order), are stale;
    a re-run must not leave each performer's keypoints under another instrument's name."""
    song_dir = posed_dataset / "A" / "s1"
    args = ["--post", "-s", "s1", "--dataset_path", str(posed_dataset)]
    assert pose_main.main(args) == 0
    capsys.readouterr()
    assert pose_main.main(args + ["--wall-art-rule", "top_quarter"]) == 0
    assert "outputs exist" not in capsys.readouterr().err
    info = json.loads((song_dir / "vocal" / "pose_info.json").read_text())
    assert info["settings"]["post_processing"]["wall_art_rule"] == "top_quarter"
    assert np.nanmean(np.load(song_dir / "vocal" / "keypoints.npy")[:, :, 0]) == \
        pytest.approx(640, abs=60)                                # the middle performer
    meta = json.loads((posed_dataset / "dataset_metadata.json").read_text())
    meta["A"]["s1"]["layout"] = ["mridangam", "violin", "vocal"]  # the metadata was corrected
    (posed_dataset / "dataset_metadata.json").write_text(json.dumps(meta))
    assert pose_main.main(args + ["--wall-art-rule", "top_quarter"]) == 0
    assert "outputs exist" not in capsys.readouterr().err
    assert np.nanmean(np.load(song_dir / "vocal" / "keypoints.npy")[:, :, 0]) == \
        pytest.approx(1030, abs=60)                               # now the rightmost one
    assert pose_main.main(args + ["--wall-art-rule", "top_quarter"]) == 0
    assert "A/s1: outputs exist, skipping" in capsys.readouterr().err


def test_pose_redoes_a_changed_video_and_names_a_truncated_one(tmp_path):
    """Issue 11, causes 10 and 11 at the stage level (real decoding, a backend double that finds
    nobody): a replaced video is re-posed, a truncated one is a named error and writes nothing."""
    from core.metadata import SongInfo
    from pose_estimation.backends import Backend
    from pose_estimation.stage import PoseJob, pose_song

    def nobody(frames):
        for index, _ in frames:
            yield index, []

    job = PoseJob(tmp_path, Backend("mediapipe", "nobody", nobody), progress_bar=False)
    song = SongInfo("A", "s", tuple(LAYOUT), 30.0, 1.0)
    video = tmp_path / "A" / "s" / "video.mov"
    video.parent.mkdir(parents=True)
    write_stage_video(video, 4)
    assert pose_song(song, job) is None
    assert pose_song(song, job) == "up-to-date"
    write_stage_video(video, 6)                       # the video was replaced
    assert pose_song(song, job) is None
    assert load_pickle(video.parent / POSE_PICKLE_NAME)["n_frames"] == 6

    (video.parent / POSE_PICKLE_NAME).unlink()
    write_truncated_video(video, 120, 30)
    with pytest.raises(Exception, match="truncated or damaged file") as caught:
        pose_song(song, job)
    assert str(video) in str(caught.value)
    assert not (video.parent / POSE_PICKLE_NAME).exists()


def test_device_is_checked_even_for_mediapipe(posed_dataset, monkeypatch, capsys):
    """Issue 11, cause 15: a misspelt --device/DEVICE is a setup error (exit 2) for every backend;
    a GPU asked of MediaPipe is a warning, not silence."""
    args = ["--pose", "--post", "--dataset_path", str(posed_dataset)]
    assert pose_main.main(args + ["--device", "gpu"]) == 2
    assert "unknown device 'gpu'" in capsys.readouterr().err
    monkeypatch.setenv("DEVICE", "cuda:x")
    assert pose_main.main(args) == 2
    assert "unknown device 'cuda:x'" in capsys.readouterr().err
    monkeypatch.delenv("DEVICE")
    assert pose_main.main(args + ["--device", "cuda:0", "-s", "s1"]) == 0
    assert "--device/DEVICE cuda:0 has no effect: the MediaPipe backend runs on the CPU" in \
        capsys.readouterr().err
