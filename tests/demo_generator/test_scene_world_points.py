"""The benchmark scenes' synthetic 3D points (``demo_generator.scenes``, "3D points"): the depth
model's known answer on constructed keypoints, a pure function of the scene folder, and the
scene's other files byte-identical to what the generator wrote before the 3D points existed."""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from conftest import run_cli
from core.keypoints import NUM_KEYPOINTS
from core.world_points import (COCO_FOR_WORLD_POINT, LEFT_SHOULDER, N_WORLD_POINTS, RIGHT_SHOULDER,
                               WORLD_POINT_NAMES, WORLD_POINTS_INFO_NAME, WORLD_POINTS_NAME,
                               load_world_points)
from demo_generator import scenes

PREVIOUS_GENERATOR_SHA256 = {
    "demo_ground_truth.json":
        "95a3912db6c4afa6003ae62345c767e8a6557b159d76152b3b11140ad560f4e4",
    "mixture.wav":
        "89a5e7aa9c114f7ba9c47e6d8eaa68046356dcacdd1b0c4ad997ca4bd200a91b",
    "mridangam/keypoint_scores.npy":
        "7e88eb435456826492f73581cacf5da875eaaef87ce2abdab2667a5eae74c23b",
    "mridangam/keypoints.npy":
        "6dd6d5c5d876593aa734d5ac3cd84241cc23102b49a81b5aed161601f422f4e8",
    "mridangam/pose_info.json":
        "d3a37d427a540fcca795d78a9f08a745ebd6983e0610b7ada2e6f396d696ac68",
    "mridangam_left.wav":
        "29bb07ff99d39f9487cb0410f2ab2049d098a08d6b95d57f43b87851f71bd14a",
    "mridangam_right.wav":
        "ae111a05cc1ade5215de55e174b2ecc7ad63338c24bcdec34da497e647c56330",
    "singer/keypoint_scores.npy":
        "996026bec1d368d0d3f6b73b89293bb918bcdd9fa282b494fa94f9800137a4dd",
    "singer/keypoints.npy":
        "f8055e347eb963fb9209089ca5389820fac7329d7c749a14ad81faca4a47d95c",
    "singer/pose_info.json":
        "7d9dcc15b9af5a114a61ed6ad43a78b64a98c5e09a5e63f38d674476be213a26",
    "singer/syllables.tsv":
        "0c690c95aa89e065173c018add821418f8bdf735a859b838a415c63802c7500f",
    "singer_close.wav":
        "79bd44bbf16b989cc78ccea836c923646a775c670e16edc59196d23b6f25ec2b",
    "vocal/keypoint_scores.npy":
        "c12554438952975e7a3e7863ff2819ab3ab067cd2bd4bcc009a9b1a40ef62960",
    "vocal/keypoints.npy":
        "7a860229af1aba1754e861a3975b221b315b48e1f79469a501a8bf87c82c0cb4",
    "vocal/pose_info.json":
        "97053a5577f5d64e4083c2fea676be6e57bef8098100424f51986a03d5f72fe3",
    "vocal/syllables.tsv":
        "c37f20837ba5ca7f56ddaf853fda5d54bb136a9329f8517192b27f6a5933eafc",
    "vocal_close.wav":
        "a69b8e84f2e45cc6bfba0fe6455fda64b05950acb64e5131b468cd45d2bf1603",
}
# sha256 of the files of scene "duet 10000" (train split, 5 s, no video) written by the generator
# at commit 98e69f1, before the 3D points were added (with 1 BLAS thread, which the generator now
# always uses), with its version number 4 -> 5 in the three JSON files (checked: the only
# difference): the scene must not change by a byte


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def constructed_keypoints(n_frames: int = 6) -> np.ndarray:
    """``(F, 133, 2)``: shoulders at x = 500 and 600 px (100 px apart), y = 300; every other
    point at (550 + 3 j, 300 - 2 j) for COCO index j; point 0 (nose) missing in frame 2, the
    hands never there."""
    kp = np.full((n_frames, NUM_KEYPOINTS, 2), np.nan, np.float32)
    j = np.arange(91)
    kp[:, :91] = np.stack([550 + 3.0 * j, 300 - 2.0 * j], axis=1)
    kp[:, 5], kp[:, 6] = (600.0, 300.0), (500.0, 300.0)
    kp[2, 0] = np.nan
    return kp


def test_depth_model_known_answer():
    kp = constructed_keypoints()
    motion = np.linspace(-1.0, 1.0, len(kp))
    out = scenes.lift_to_3d(kp, motion, still=False, rng=np.random.default_rng(3))
    assert out.shape == (6, N_WORLD_POINTS, 3) and out.dtype == np.float32
    metres_per_px = scenes.SHOULDER_WIDTH_M / 100.0
    hips = np.array([550.0, 300.0 + scenes.TORSO_M / metres_per_px])
    coco = np.array(COCO_FOR_WORLD_POINT)
    xy = (kp[:, coco].astype(np.float64) - hips) * metres_per_px
    template = np.array([scenes.DEPTH_TEMPLATE_M[n] for n in WORLD_POINT_NAMES])
    noise = np.random.default_rng(3).normal(0, scenes.DEPTH_NOISE_M, (6, N_WORLD_POINTS))
    z = template - (-xy[..., 1]) * np.sin(scenes.LEAN_RAD * motion)[:, None] + noise
    expected = np.concatenate([xy, z[..., None]], axis=-1)
    present = np.isfinite(expected).all(axis=-1)
    np.testing.assert_allclose(out[present], expected[present], rtol=1e-5, atol=1e-6)
    assert np.array_equal(np.isfinite(out).all(axis=-1), present)
    assert not present[2, 0] and present[3, 0] and not present[:, 17].any()     # nose, left pinky
    shoulders = out[:, LEFT_SHOULDER, :2] - out[:, RIGHT_SHOULDER, :2]       # in the image plane
    np.testing.assert_allclose(np.linalg.norm(shoulders, axis=1), scenes.SHOULDER_WIDTH_M,
                               rtol=1e-6)
    # shoulders TORSO_M above the origin between the hips; the lean moves the head, not the hips
    np.testing.assert_allclose(out[:, LEFT_SHOULDER, 1], -scenes.TORSO_M, rtol=1e-6)
    still = scenes.lift_to_3d(kp, motion, still=True, rng=np.random.default_rng(3))
    np.testing.assert_allclose(still[present][:, 2], (template + noise)[present], atol=1e-6)
    with pytest.raises(ValueError, match="no frame with both shoulders"):
        scenes.lift_to_3d(np.where(np.arange(133)[None, :, None] == 5, np.nan, kp), motion,
                          False, np.random.default_rng(0))


def test_scene_files_are_unchanged_and_the_3d_points_are_a_pure_function_of_the_folder(tmp_path):
    folder = tmp_path / "duet 10000"
    truth = scenes.generate_scene(scenes.SCENE_KINDS["duet"], folder, 10000, seconds=5.0,
                                  split="train")
    for name, digest in PREVIOUS_GENERATOR_SHA256.items():
        assert sha256(folder / name) == digest, name
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    extra = sorted(set(written) - set(PREVIOUS_GENERATOR_SHA256))
    assert extra == sorted(f"{n}/{f}" for n in truth["layout"]
                           for f in (WORLD_POINTS_NAME, WORLD_POINTS_INFO_NAME))
    # rewriting from the folder alone gives the same bytes and touches nothing else
    before = {name: sha256(folder / name) for name in written}
    assert scenes.write_scene_world_points(folder) == truth["layout"]
    assert {name: sha256(folder / name) for name in written} == before
    for name in truth["layout"]:
        points, info = load_world_points(folder, name)
        keypoints = np.load(folder / name / "keypoints.npy")
        assert points.shape == (len(keypoints), N_WORLD_POINTS, 3)
        assert info["synthetic"] is True and info["depth_model"]["version"] == 1
        # missing exactly where the mapped 2D point is missing
        assert np.array_equal(np.isfinite(points).all(-1),
                              np.isfinite(keypoints[:, list(COCO_FOR_WORLD_POINT)]).all(-1))
        width = np.linalg.norm(points[:, LEFT_SHOULDER] - points[:, RIGHT_SHOULDER], axis=1)
        assert abs(np.nanmedian(width) - scenes.SHOULDER_WIDTH_M) < 0.01
    # the depth follows the performer's own motion: the nose's z against its motion coordinate
    vocal, _ = load_world_points(folder, "vocal")
    motion = np.asarray(truth["performers"]["vocal"]["motion_coordinate"])
    ok = np.isfinite(vocal[:, 0, 2])
    assert np.corrcoef(vocal[ok, 0, 2], motion[ok])[0, 1] < -0.9


def test_add_world_points_to_a_generated_scene_set(tmp_path):
    """The command line writes the 3D points into scenes generated without them (as the lead's
    already generated sets are), equal to what the generator writes now."""
    out = tmp_path / "scenes"
    run_cli("demo_generator.main", str(out), "--scenes", "--scene_kinds", "shadow", "--train",
            "1", "--validation", "1", "--test", "1", "--seconds", "4.5", check=True)
    reference = {p: p.read_bytes() for p in out.rglob(WORLD_POINTS_NAME)}
    assert len(reference) == 9
    for p in out.rglob("world_points.*"):
        p.unlink()
    others = {p: sha256(p) for p in out.rglob("*") if p.is_file()}
    run_cli("demo_generator.main", str(out), "--add_world_points", check=True)
    assert {p: p.read_bytes() for p in out.rglob(WORLD_POINTS_NAME)} == reference
    assert {p: sha256(p) for p in others} == others
    result = run_cli("demo_generator.main", str(tmp_path / "nothing"), "--add_world_points")
    assert result.returncode == 2 and "is not a generated scene dataset" in result.stderr
    # a crafted splits file whose scene key leaves the dataset: refused, nothing written
    splits = json.loads((out / scenes.SPLITS_FILE).read_text(encoding="utf-8"))
    outside = tmp_path / "outside"          # a whole scene: unguarded, its points would be written
    shutil.copytree(out / next(iter(splits["scenes"])), outside,
                    ignore=shutil.ignore_patterns("world_points.*"))
    splits["scenes"]["../outside"] = next(iter(splits["scenes"].values()))
    (out / scenes.SPLITS_FILE).write_text(json.dumps(splits), encoding="utf-8")
    result = run_cli("demo_generator.main", str(out), "--add_world_points")
    assert result.returncode == 2 and "outside" in result.stderr, result.stderr
    assert not list(outside.rglob("world_points.*"))
