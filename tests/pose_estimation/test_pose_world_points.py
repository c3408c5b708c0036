"""Metric 3D points ("world points") in the pose stage: real MediaPipe output is metric and
hip-centred, post-processing carries each person's points with its keypoints (constructed
records with known answers), the files' edges, and old pose files without them stay readable."""
from __future__ import annotations

import numpy as np
import pytest

from core.dataset import SongDataError
from core.io import save_pickle
from core.metadata import SongInfo
from core.world_points import (LEFT_HIP, LEFT_SHOULDER, N_WORLD_POINTS, RIGHT_HIP, RIGHT_SHOULDER,
                               WORLD_POINTS_INFO_NAME, WORLD_POINTS_NAME, load_world_points)
from pose_estimation.pose_record import load_record, make_record, validate_record
from pose_estimation.postprocess import split_performers, world_point_count
from pose_estimation.stage import PostJob, post_song
from tests.pose_estimation.pose_fixtures import stage_canvas
from tests.pose_estimation.test_pose_postprocess import F, H, W, synthetic_frames


def tagged_world(who, frame: int) -> np.ndarray:
    """``(33, 3)`` points that say whose they are and from which frame: point j of performer p in
    frame f is ``(p, f, j)`` (the wall art and false positives get 99)."""
    tag = who if isinstance(who, int) else 99
    points = np.zeros((N_WORLD_POINTS, 3), np.float32)
    points[:, 0], points[:, 1], points[:, 2] = tag, frame, np.arange(N_WORLD_POINTS)
    return points


def frames_with_world_points(rng, without=lambda f, who: False):
    frames = synthetic_frames(rng)
    for f, persons in enumerate(frames):
        for person in persons:
            if not without(f, person.get("who")):
                person["world_points"] = tagged_world(person.get("who"), f)
    return frames


def test_post_processing_moves_each_persons_world_points_with_its_keypoints():
    """The detections are shuffled in every frame and performer 1 is absent in frames 40..59; every
    performer's world points are the ones of its own detection, NaN where it has none, and a
    detection without world points (performer 2 in frames 70..74) leaves NaN only there."""
    frames = frames_with_world_points(np.random.default_rng(0),
                                      without=lambda f, who: who == 2 and 70 <= f < 75)
    tracks = split_performers(frames, 3, (W, H))
    assert tracks.world_points.shape == (3, F, N_WORLD_POINTS, 3)
    for p in range(3):
        for f in range(F):
            world = tracks.world_points[p, f]
            if (p == 1 and 40 <= f < 60) or (p == 2 and 70 <= f < 75):
                assert np.isnan(world).all()
                continue
            np.testing.assert_array_equal(world, tagged_world(p, f))
    # the keypoints came from the same detection (independent check through person_at's layout)
    assert np.isnan(tracks.keypoints[1, 40:60]).all()


def test_records_without_world_points_give_none_and_mixed_counts_are_refused():
    frames = synthetic_frames(np.random.default_rng(1))
    assert world_point_count(frames) is None
    assert split_performers(frames, 3, (W, H)).world_points is None
    frames[3][0]["world_points"] = np.zeros((33, 3), np.float32)
    frames[5][0]["world_points"] = np.zeros((20, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[20, 33\] points per person"):
        world_point_count(frames)


def write_record(song_dir, frames) -> None:
    persons = [[{k: v for k, v in p.items() if k != "who"} for p in persons] for persons in frames]
    save_pickle(song_dir / "pose_estimation_30fps.pkl",
                make_record("mediapipe", "test", 30.0, (W, H), "video.mov", persons))


def test_post_song_writes_world_points_beside_the_keypoints_and_removes_stale_ones(tmp_path):
    dataset = tmp_path / "data"
    song_dir = dataset / "Art" / "Song"
    song_dir.mkdir(parents=True)
    frames = frames_with_world_points(np.random.default_rng(2))
    write_record(song_dir, frames)
    song = SongInfo("Art", "Song", ("mridangam", "vocal", "violin"), 30.0, F / 30.0)
    assert post_song(song, PostJob(dataset)) is None
    for p, name in enumerate(("mridangam", "vocal", "violin")):
        points, info = load_world_points(song_dir, name)
        assert points.shape == (F, N_WORLD_POINTS, 3) and points.dtype == np.float32
        np.testing.assert_array_equal(points[0], tagged_world(p, 0))
        assert info["layout"] == "blazepose_33" and info["synthetic"] is False and info["fps"] == 30
        keypoints = np.load(song_dir / name / "keypoints.npy")
        assert np.array_equal(np.isnan(points).all(axis=(1, 2)), np.isnan(keypoints).all(axis=(1, 2)))
    # the song re-posed by a backend without world points: the old files go, the keypoints stay
    write_record(song_dir, synthetic_frames(np.random.default_rng(2)))
    assert post_song(song, PostJob(dataset, force=True)) is None
    for name in ("mridangam", "vocal", "violin"):
        assert not (song_dir / name / WORLD_POINTS_NAME).exists()
        assert not (song_dir / name / WORLD_POINTS_INFO_NAME).exists()
        assert (song_dir / name / "keypoints.npy").exists()


def test_pose_files_without_world_points_load_and_bad_ones_are_named(tmp_path):
    frames = synthetic_frames(np.random.default_rng(3))[:2]
    persons = [[{k: v for k, v in p.items() if k != "who"} for p in persons] for persons in frames]
    path = tmp_path / "pose.pkl"
    save_pickle(path, make_record("mmpose", "rtmw", 30.0, (W, H), "v.mov", persons))
    assert "world_points" not in load_record(path)["frames"][0][0]
    persons[1][0]["world_points"] = np.zeros((33, 2), np.float32)
    with pytest.raises(SongDataError, match=r"frame 1 has a person with world points float32 "
                                            r"\(33, 2\); expected float \(N, 3\)"):
        validate_record(make_record("mediapipe", "m", 30.0, (W, H), "v.mov", persons), "p.pkl")
    persons[0][0]["world_points"] = np.zeros((33, 3), np.float32)
    persons[1][0]["world_points"] = np.zeros((20, 3), np.float32)
    with pytest.raises(SongDataError, match="frame 1 has a person with 20 world points, others "
                                            "have 33"):
        validate_record(make_record("mediapipe", "m", 30.0, (W, H), "v.mov", persons), "p.pkl")


@pytest.mark.slow
def test_mediapipe_world_points_are_metric_and_hip_centred():
    """Real MediaPipe on three real photographs: every person carries its pose world landmarks,
    in metres (shoulder width 0.25-0.50 m: adults measure ~0.33-0.40 m between the shoulder
    joints; the three people here give 0.32-0.34 m), centred between the hips, the nose above
    the shoulders (y down) and in front of them (z towards the camera)."""
    from pose_estimation.mediapipe_backend import MediaPipeOptions, estimate_poses

    canvas, _ = stage_canvas()
    ((_, persons),) = list(estimate_poses(enumerate([canvas]), MediaPipeOptions(n_workers=0)))
    assert len(persons) == 3
    for person in persons:
        world = person["world_points"]
        assert world.shape == (N_WORLD_POINTS, 3) and world.dtype == np.float32
        assert np.isfinite(world).all()
        shoulders = np.linalg.norm(world[LEFT_SHOULDER] - world[RIGHT_SHOULDER])
        assert 0.25 < shoulders < 0.50, shoulders
        hips = (world[LEFT_HIP] + world[RIGHT_HIP]) / 2
        assert np.abs(hips).max() < 0.05, hips
        shoulder_mid = (world[LEFT_SHOULDER] + world[RIGHT_SHOULDER]) / 2
        assert world[0, 1] < shoulder_mid[1] < 0 and world[0, 2] < shoulder_mid[2]


def test_world_points_on_the_posed_demo_are_metric_and_follow_the_keypoints(posed_demo_dataset):
    """Real pose CLI (MediaPipe, --pose --post) on the demo videos: every posed performer has
    world_points.npy with the keypoints' frames, present exactly where its body was found, with a
    metric shoulder width."""
    from core.metadata import load_metadata

    checked = 0
    for song in load_metadata(posed_demo_dataset / "dataset_metadata.json"):
        song_dir = song.folder(posed_demo_dataset)
        for name in song.instruments:
            keypoints_file = song_dir / name / "keypoints.npy"
            if not keypoints_file.exists():
                continue
            keypoints = np.load(keypoints_file)
            points, info = load_world_points(song_dir, name)
            assert points.shape == (len(keypoints), N_WORLD_POINTS, 3)
            assert info["synthetic"] is False and "mediapipe" in info["source"]
            found = np.isfinite(points).all(axis=(1, 2))
            shoulders_2d = np.isfinite(keypoints[:, 5:7]).all(axis=(1, 2))
            assert np.array_equal(found, shoulders_2d)
            assert found.mean() > 0.5
            width = np.linalg.norm(points[found, LEFT_SHOULDER] - points[found, RIGHT_SHOULDER],
                                   axis=1)
            assert 0.2 < np.median(width) < 0.55, (song.key, name, np.median(width))
            checked += 1
    assert checked >= 3


def test_frames_between_posed_ones_interpolate_the_world_points_per_performer():
    """``--holistic-every K``: the skipped frame's world points are ``(1 - w) before + w after``
    of the same performer (``track_id``); a point missing on either side is missing."""
    from pose_estimation.mediapipe_backend import interpolate_persons

    def person(track_id, keypoints_offset, world):
        return {"track_id": track_id, "scores": np.full(133, 0.9, np.float32),
                "keypoints": np.full((133, 2), 300.0 + keypoints_offset, np.float32),
                "world_points": world.astype(np.float32)}

    world = np.random.default_rng(0).normal(0, 0.3, (N_WORLD_POINTS, 3))
    later = world + 0.3
    later[4] = np.nan
    before = [person(0, 0, world), person(1, 500, world - 1)]
    after = [person(1, 500, world), person(0, 30, later)]               # shuffled
    by_track = {p["track_id"]: p for p in interpolate_persons(before, after, 0.25, (1280, 720))}
    np.testing.assert_allclose(by_track[0]["world_points"][:4], world[:4] + 0.075, rtol=1e-5)
    assert np.isnan(by_track[0]["world_points"][4]).all()
    np.testing.assert_allclose(by_track[1]["world_points"], world - 0.75, rtol=1e-5, atol=1e-6)
    # persons without world points (another backend's record) interpolate without them
    plain = [{k: v for k, v in p.items() if k != "world_points"} for p in before]
    assert all("world_points" not in p for p in interpolate_persons(plain, after, 0.5, (1280, 720)))
