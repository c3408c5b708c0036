"""The ``points3d`` kind (issue 19) in the one framework: the encoder's shapes and masking, its
config through a checkpoint, the preparation and window on constructed files (known answers, named
skips and errors), the real CLI by kind name, and a known answer through the registered model: two
performers whose 2D projections are identical and whose depth motion alone differs."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.dataset import SongDataError
from core.metadata import SongInfo
from core.runner import SongSkipped
from core.world_points import (N_WORLD_POINTS, WORLD_POINTS_NAME, save_world_points,
                               world_points_info)
from separation.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from separation.conditions import condition_input_files, condition_window, prepare_condition
from separation.conventions import PROJECT
from separation.data import load_song_arrays
from separation.encoders import ENCODERS
from separation.points3d import PointEncoder, Points3DConfig
from separation.points3d_input import normalise_points
from separation.vovit import CHUNK_SAMPLES, VoViT, make_config

from sep_synthetic import (FPS, SR, chunk_turn_voices, named_and_swapped_si_sdr,  # noqa: F401
                           synthetic_dataset, tiny_config, train_tiny_model, turn_envelopes,
                           write_song)
from test_sep_trust import run_main

TINY_POINTS = {"point_channels": [16, 16], "out_channels": 16}


def tiny_points_config(**encoder):
    sizes = {k: tuple(v) if isinstance(v, list) else v
             for k, v in tiny_config("none").to_dict().items()
             if k not in ("visual", "preset", "cross_modal")}
    return make_config("points3d", "small", encoder={**TINY_POINTS, **encoder}, **sizes)


def present_points(batch: int, seed: int = 0) -> torch.Tensor:
    points = torch.randn(batch, 100, N_WORLD_POINTS, 4, generator=torch.Generator().manual_seed(seed))
    points[..., 3] = 1.0
    return points


# --- encoder and registry --------------------------------------------------------------------------

def test_point_encoder_shapes_and_its_max_ignores_absent_points():
    torch.manual_seed(0)
    encoder = PointEncoder(Points3DConfig(point_channels=(8, 12), out_channels=5), n_frames=100)
    assert encoder.input_shape == (100, 33, 4) and encoder.out_channels == 5
    points = present_points(2)
    out = encoder(points)
    assert out.shape == (2, 100, 5)
    assert encoder.last_point_features.shape == (2, 100, 33, 12)
    # an absent point (present = 0) does not count, wherever its coordinates are
    moved = points.clone()
    moved[:, :, 7, 3] = 0.0
    moved_far = moved.clone()
    moved_far[:, :, 7, :3] = 1000.0
    torch.testing.assert_close(encoder(moved), encoder(moved_far))
    assert not torch.allclose(encoder(points), encoder(moved_far))
    # the per-frame feature is the max over the present points' features (computed independently)
    features = encoder.point_features(moved)
    pooled = features[:, :, [i for i in range(33) if i != 7]].amax(dim=2)
    x = pooled.transpose(1, 2)
    for conv in encoder.temporal:
        x = torch.relu(conv(x))
    torch.testing.assert_close(encoder(moved), encoder.out(x.transpose(1, 2)))
    # a frame with no point at all pools to zeros, not -inf
    empty = points.clone()
    empty[:, 40, :, 3] = 0.0
    assert torch.isfinite(encoder(empty)).all()


def test_point_identity_off_is_permutation_invariant_and_on_is_not():
    torch.manual_seed(0)
    points = present_points(1)
    order = torch.randperm(33, generator=torch.Generator().manual_seed(3))
    plain = PointEncoder(Points3DConfig(point_identity=False))
    torch.testing.assert_close(plain(points), plain(points[:, :, order]))
    named = PointEncoder(Points3DConfig(point_identity=True))
    assert not torch.allclose(named(points), named(points[:, :, order]))


def test_points3d_model_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = VoViT(tiny_points_config())
    assert ENCODERS["points3d"].attribute == "point_net" and model.condition_encoder is model.point_net
    assert model.config.name == "points3d_small"
    assert model.config.encoder_options == {**Points3DConfig().to_options(), **TINY_POINTS,
                                            "point_channels": (16, 16)}
    mixture = 0.1 * torch.randn(2, CHUNK_SAMPLES, generator=torch.Generator().manual_seed(1))
    points = present_points(2)
    model.train()
    model(mixture, points)
    model.eval()
    path = tmp_path / "p.pt"
    save_checkpoint(path, model, instrument="vocal")
    assert read_checkpoint(path)["config"]["encoder"]["point_channels"] == [16, 16]
    loaded, meta = load_checkpoint(path, expect_visual="points3d")
    assert meta["config"] == model.config
    with torch.no_grad():
        assert torch.equal(model(mixture, points), loaded(mixture, points))
    with pytest.raises(ValueError, match=r"expected \(2, 100, 33, 4\) for visual=points3d"):
        model(mixture, points[..., :3])


def test_points3d_config_refuses_unknown_and_bad_options():
    with pytest.raises(ValueError, match=r"unknown points3d encoder option\(s\) \['voxel'\]"):
        VoViT(make_config("points3d", "small", encoder={"voxel": 0.02}))
    with pytest.raises(ValueError, match="temporal_kernel must be odd"):
        Points3DConfig(temporal_kernel=4)
    assert Points3DConfig.for_preset("vovit").point_channels == (64, 128, 256)


# --- preparation ----------------------------------------------------------------------------------

def points_song(root, seconds: float = 5.0, fps: float = FPS):
    """A synthetic song whose vocalist has world points: a fixed 33-point body (a random template)
    translated by ``(t, 0, 0)`` m and scaled by 1 + 0.5 t (t in seconds) in frame t·fps; point 5
    missing in frames 10..19, every point in frames 30..34."""
    folder = write_song(root, "Art", "Depth", seconds, np.random.default_rng(4))
    n = int(seconds * fps)
    template = np.random.default_rng(1).normal(0, 0.3, (N_WORLD_POINTS, 3))
    t = np.arange(n)[:, None, None] / fps
    points = (template[None] * (1 + 0.5 * t) + np.array([1.0, 0.0, 0.0]) * t).astype(np.float32)
    points[10:20, 5] = np.nan
    points[30:35] = np.nan
    save_world_points(folder / "vocal", points, world_points_info("test", synthetic=True, fps=fps))
    return folder, SongInfo("Art", "Depth", ("vocal", "violin"), FPS, seconds), template, points


def test_points3d_values_are_centred_and_scaled_per_performer(tmp_path):
    folder, song, template, points = points_song(tmp_path)
    values, mask = prepare_condition("points3d", folder, song, "vocal", conventions=PROJECT)
    n25 = int(np.floor((150 - 1) * 25 / 30 + 1e-9)) + 1
    assert values.shape == (n25, 33, 3) and mask.shape == (n25, 33) and values.dtype == np.float32
    # 25-fps frame k is at 30-fps position 1.2 k; a point needs both neighbours
    source = np.arange(n25) * 1.2
    lower = np.floor(source + 1e-9).astype(int)
    blocked = ((lower >= 30) & (lower <= 34)) | ((lower + 1 >= 30) & (lower + 1 <= 34) &
                                                  (source - lower > 1e-9))
    assert np.array_equal(~mask.any(axis=1), blocked)
    point5 = ((lower >= 10) & (lower <= 19)) | ((lower + 1 >= 10) & (lower + 1 <= 19) &
                                                 (source - lower > 1e-9))
    assert np.array_equal(~mask[:, 5] & ~blocked, point5 & ~blocked)
    # the points are linear in time, so the 25-fps frames are exact: per frame the template
    # scaled by (1 + 0.5 t), centred on its present points, divided by one scale s = the median
    # over the frames of the rms radius (computed here from the construction)
    t = source / 30.0
    shapes = template[None] * (1 + 0.5 * t[:, None, None])
    radii = [np.sqrt(((shapes[k][m] - shapes[k][m].mean(0)) ** 2).sum(-1).mean())
             for k, m in enumerate(mask) if m.sum() >= 2]
    s = np.median(radii)
    for k in range(n25):
        m = mask[k]
        if m.any():
            expected = (shapes[k][m] - shapes[k][m].mean(0)) / s
            np.testing.assert_allclose(values[k][m], expected, rtol=1e-4, atol=1e-5)
    radius = np.sqrt((values[mask.all(axis=1)] ** 2).sum(-1).mean(-1))
    assert radius[0] < 0.8 < 1.2 < radius[-1]                     # one scale: the size grows
    assert (values[~mask] == 0).all()


def test_points3d_window_appends_presence_and_pads_past_the_end(tmp_path):
    folder, song, _, _ = points_song(tmp_path)
    values, mask = prepare_condition("points3d", folder, song, "vocal", conventions=PROJECT)
    window, window_mask = condition_window("points3d", values, mask, 0, 100)
    assert window.shape == (100, 33, 4) and window_mask.shape == (100, 33)
    np.testing.assert_array_equal(window[..., :3], values[:100])
    np.testing.assert_array_equal(window[..., 3], mask[:100].astype(np.float32))
    late, late_mask = condition_window("points3d", values, mask, len(values) - 10, 100)
    assert (late[10:] == 0).all() and not late_mask[10:].any() and late_mask[:10].any()
    # the chunk cut by training/evaluation is this window; the missing-frame rule applies
    arrays = load_song_arrays(folder, song, "vocal", "points3d", conventions=PROJECT)
    chunk = arrays.crop(0)
    np.testing.assert_array_equal(chunk.visual, window)
    assert [p.name for p in condition_input_files("points3d", folder, "vocal")] == \
        [WORLD_POINTS_NAME, "world_points.json"]


def test_normalise_points_known_answer():
    points = np.zeros((2, 4, 3))
    points[0] = [[0, 0, 0], [2, 0, 0], [0, 2, 0], [2, 2, 0]]      # rms radius sqrt(2)
    points[1] = points[0] * 3 + 5                                 # rms radius 3 sqrt(2)
    valid = np.ones((2, 4), bool)
    out, ok, scale = normalise_points(points, valid)
    assert scale == pytest.approx(np.median([np.sqrt(2), 3 * np.sqrt(2)]))
    np.testing.assert_allclose(out[0], (points[0] - [1, 1, 0]) / scale, rtol=1e-6)
    np.testing.assert_allclose(out[1], (points[1] - [8, 8, 5]) / scale, rtol=1e-6)
    assert ok.all()


def test_points3d_missing_or_bad_files_are_named(tmp_path):
    folder, song, _, points = points_song(tmp_path)
    np.save(folder / "vocal" / WORLD_POINTS_NAME, points[:, :20])
    with pytest.raises(SongDataError, match=r"world_points.npy: float32 array of shape "
                                            r"\(150, 20, 3\), expected float \(F, 33, 3\)"):
        prepare_condition("points3d", folder, song, "vocal", conventions=PROJECT)
    (folder / "vocal" / WORLD_POINTS_NAME).write_bytes(b"not an array")
    with pytest.raises(SongDataError, match="world_points.npy"):
        prepare_condition("points3d", folder, song, "vocal", conventions=PROJECT)
    np.save(folder / "vocal" / WORLD_POINTS_NAME, np.full_like(points, np.nan))
    with pytest.raises(SongSkipped, match=r"no usable 3D points for vocal \(all NaN\)"):
        prepare_condition("points3d", folder, song, "vocal", conventions=PROJECT)
    np.save(folder / "vocal" / WORLD_POINTS_NAME, points)
    with pytest.raises(SongDataError, match="33 points per frame, the model reads 20"):
        prepare_condition("points3d", folder, song, "vocal", conventions=PROJECT,
                          options={"n_points": 20})
    with pytest.raises(SongSkipped, match=r"no 3D points for violin: violin/world_points.npy "
                                          r"does not exist"):
        prepare_condition("points3d", folder, song, "violin", conventions=PROJECT)


# --- the real command line, by kind name -----------------------------------------------------------

def add_world_points(folder, name: str, n_frames: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)[:, None] / FPS
    points = rng.normal(0, 0.3, (N_WORLD_POINTS, 3))[None] + 0.05 * np.sin(2 * np.pi * t)[..., None]
    save_world_points(folder / name, points, world_points_info("test", synthetic=True, fps=FPS))


def test_train_separate_and_evaluate_by_kind_name_on_the_command_line(synthetic_dataset, tmp_path,
                                                                      capsys):
    """``train --visual points3d`` (2 steps of the small preset) writes a checkpoint that
    ``separate`` and ``evaluate`` run; the song whose vocalist has no world points is left out
    (named skip), never a crash."""
    for song, seconds in (("Song One", 9.0), ("Song Two", 5.0)):
        add_world_points(synthetic_dataset / "Art" / song, "vocal", int(seconds * FPS), 1)
    out = tmp_path / "points3d.pt"
    code, err = run_main(capsys, "train", "--visual", "points3d", "--instrument", "vocal", "--out",
                         str(out), "--dataset_path", str(synthetic_dataset), "--steps", "2",
                         "--eval_every", "1", "--batch_size", "2", "--val_songs", "Art/Song Two",
                         "--encoder", "point_channels=[8,8]", "out_channels=8")
    assert code == 0, err[-2000:]
    payload = read_checkpoint(out)
    assert payload["config"]["visual"] == "points3d"
    assert payload["config"]["encoder"]["point_channels"] == [8, 8]
    assert payload["extra"]["train_songs"] == ["Art/Song One"]
    code, err = run_main(capsys, "separate", "--dataset_path", str(synthetic_dataset),
                         "--checkpoint", str(out))
    assert code == 0, err[-2000:]
    assert "No Pose" in err and "no 3D points for vocal" in err
    wav = synthetic_dataset / "Art" / "Song One" / "vocal" / "separated_points3d_small.wav"
    import soundfile as sf

    audio, rate = sf.read(wav)
    assert rate == SR and len(audio) == 9 * SR and np.isfinite(audio).all()
    code, err = run_main(capsys, "evaluate", "--dataset_path", str(synthetic_dataset),
                         "--checkpoint", str(out), "--song", "Song One")
    assert code == 0, err[-2000:]
    record = json.loads((wav.parent / "separation_eval_points3d_small.json").read_text())
    assert record["model"] == "points3d_small" and record["n_chunks"] == 2


# --- known answer: only the depth motion says which voice ------------------------------------------

BODY = np.random.default_rng(7).normal(0, 0.25, (N_WORLD_POINTS, 3))     # a fixed 3D body, metres
LEAN = np.random.default_rng(8).uniform(-1.0, 1.0, N_WORLD_POINTS)       # per-point depth gain


def depth_moving_points(envelope: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(100, 33, 4)`` chunk input of a performer: ``BODY`` with x and y fixed (the same 2D
    projection for every performer) and each point's z moved by ``0.3 · LEAN · envelope`` (its own
    voice's loudness, 0..1) plus 1 cm of depth noise; normalised like real input
    (``normalise_points``), every point present."""
    points = np.repeat(BODY[None], len(envelope), axis=0)
    points[..., 2] += 0.3 * envelope[:, None] * LEAN[None] + rng.normal(0, 0.01, points.shape[:2])
    values, ok, _ = normalise_points(points, np.ones(points.shape[:2], bool))
    return np.concatenate([values, ok[..., None].astype(np.float32)], axis=-1)


def depth_scenes(rng: np.random.Generator, batch: int):
    """Two voices with the same timbre taking turns (f0 and level from the same ranges: the audio
    cannot say which is the query's); the query's points move in depth with its voice, the other
    performer's with the other voice. Returns mixture, the query's and the other's voice
    ``(B, 65535)``, the query's and the other's points ``(B, 100, 33, 4)``."""
    out = {"mixture": [], "target": [], "other": [], "points": [], "other_points": []}
    for _ in range(batch):
        voices, gates = chunk_turn_voices(rng)
        envelopes = turn_envelopes(gates)
        q = int(rng.integers(2))
        for key, value in (("mixture", voices.sum(0)), ("target", voices[q]),
                           ("other", voices[1 - q]),
                           ("points", depth_moving_points(envelopes[q], rng)),
                           ("other_points", depth_moving_points(envelopes[1 - q], rng))):
            out[key].append(value)
    return {k: torch.tensor(np.stack(v), dtype=torch.float32) for k, v in out.items()}


def test_constructed_performers_differ_only_in_depth():
    """The 2D (x, y) of either performer's input does not move over the chunk (its projection is
    the fixed ``BODY``; only the per-performer scale, a 3D quantity, sets its size); z moves."""
    b = depth_scenes(np.random.default_rng(5), 2)
    for key in ("points", "other_points"):
        assert b[key][..., :2].std(dim=1).max() < 1e-5
        assert b[key][..., 2].std(dim=1).max() > 0.05
    ratio = b["points"][..., :2] / b["other_points"][..., :2]
    torch.testing.assert_close(ratio, ratio[:, :1, :1, :1].expand_as(ratio))


@pytest.mark.slow
def test_registered_points3d_model_returns_the_voice_its_depth_motion_follows():
    """Known answer: the voices are exchangeable in the audio and the two performers' 2D
    projections are identical (x, y fixed), so only the depth (z) motion of the query's points can
    say which voice is asked for. After 100 training steps of the tiny ``points3d`` model (the
    registry's PointNet encoder in the VoViT audio path) it returns the named voice, and given the
    other performer's points it returns the other voice (measured on 8 new examples: SI-SDR
    +29.8 dB mean (min +27.4) towards the named voice, -51.6 dB towards the other; +29.7 dB (min
    +27.3) towards the other once its points are given; at 60 steps it was still near 0 dB). A
    model that ignored z could not follow the swap."""
    rng = np.random.default_rng(0)
    # measured: still at ~0 dB after 60 steps, 22 dB after 80
    model = train_tiny_model(tiny_points_config(), lambda: depth_scenes(rng, 4), "points", 100)
    right, wrong, after_swap = named_and_swapped_si_sdr(
        model, depth_scenes(np.random.default_rng(99), 8), "points", "other_points")
    assert right.mean() > 15.0 and right.min() > 10.0, right
    assert wrong.mean() < -10.0, wrong
    assert after_swap.mean() > 15.0 and after_swap.min() > 10.0, after_swap

