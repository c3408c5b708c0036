"""Saliency per 3D point of a points3d model (``gradient_saliency.point_regions``): a hand-built
model whose answer is known, a real points3d model with a cue only on some points, and the
command-line run on a points3d checkpoint."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gradient_saliency.objective import SeparationObjective
from gradient_saliency.point_regions import (attribute_points, point_sums, points_baseline,
                                             save_point_figure)


class DepthGainModel(torch.nn.Module):
    """``estimate = mixture × (mean z of points 15 and 16 over the frames + 2)``: only the depth of
    the two wrists matters."""

    def forward(self, mixture, points):
        gain = points[:, :, [15, 16], 2].mean(dim=(1, 2)) + 2.0
        return mixture * gain[:, None]


def batch(seed: int = 0, b: int = 2, frames: int = 6, n: int = 33, samples: int = 512):
    gen = torch.Generator().manual_seed(seed)
    mixture = torch.randn(b, samples, generator=gen)
    points = torch.randn(b, frames, n, 4, generator=gen)
    points[..., 3] = 1.0
    points[:, :, 20] = 0.0                                          # point 20 absent
    return mixture, points, 0.2 * mixture


def test_point_sums_per_point_and_axis():
    attr = np.zeros((1, 2, 3, 4))
    attr[0, 0, 1, 2] = -3.0                     # point 1, z
    attr[0, 1, 2, 0] = 1.0                      # point 2, x
    attr[0, 1, 2, 3] = 5.0                      # presence: never counted
    per_point, per_axis = point_sums(attr)
    np.testing.assert_array_equal(per_point[0], [0.0, 3.0, 1.0])
    np.testing.assert_array_equal(per_axis[0], [1.0, 0.0, 3.0])


@pytest.mark.parametrize("method", ["integrated_gradients", "gradient_saliency",
                                    "gradient_input_saliency"])
def test_attribution_lands_on_the_points_and_the_axis_the_model_reads(method, tmp_path):
    model = DepthGainModel()
    mixture, points, target = batch()
    out = attribute_points(model, mixture, points, target, method, n_steps=50)
    expected = np.zeros(33)
    expected[[15, 16]] = 0.5
    for chunk, axes in zip(out["point_importance"], out["axis_importance"]):
        np.testing.assert_allclose(chunk[[15, 16]].sum(), 1.0, atol=1e-9)
        assert (chunk[np.r_[0:15, 17:33]] == 0).all()
        np.testing.assert_allclose(axes, [0.0, 0.0, 1.0], atol=1e-9)
    assert ((0 < out["audio_share"]) & (out["audio_share"] < 1)).all()
    if method == "integrated_gradients":
        # completeness, computed independently: Σ attributions = f(x) − f(baseline)
        objective = SeparationObjective(model)
        with torch.no_grad():
            gap = (objective(mixture, points, target)
                   - objective(torch.zeros_like(mixture), points_baseline(points), target))
        total = (out["visual"].astype(np.float64).reshape(2, -1).sum(axis=1)
                 + out["audio"].astype(np.float64).sum(axis=1))
        assert (np.abs(gap.numpy()) > 1.0).all()
        np.testing.assert_allclose(total, gap.numpy(), rtol=1e-3)
        assert (out["visual"][..., 3] == 0).all()
    mean_points = points[0, :, :, :3].mean(dim=0).numpy()
    figure = save_point_figure(mean_points, out["point_importance"][0], tmp_path / "points.png",
                               "test", out["axis_importance"][0])
    assert figure.stat().st_size > 1000


def test_baselines_keep_presence_and_static_is_each_points_mean_over_its_frames():
    _, points, _ = batch(frames=4)
    points[0, 1, 5, 3] = 0.0                                       # point 5 absent in frame 1
    points[0, 1, 5, :3] = 0.0
    zeros = points_baseline(points, "zeros")
    assert (zeros[..., :3] == 0).all() and torch.equal(zeros[..., 3], points[..., 3])
    static = points_baseline(points, "static")
    torch.testing.assert_close(static[1, 2, 7, :3], points[1, :, 7, :3].mean(dim=0))
    present = [0, 2, 3]
    torch.testing.assert_close(static[0, 0, 5, :3], points[0, present, 5, :3].mean(dim=0))
    assert (static[0, 1, 5, :3] == 0).all() and torch.equal(static[..., 3], points[..., 3])
    with pytest.raises(ValueError, match="unknown points baseline"):
        points_baseline(points, "mean_face")


def test_on_a_real_points3d_model_only_the_moving_points_get_attribution():
    """A real (random-weight) points3d model; the chunk's points stand still except points 3 and
    7. Against the ``static`` baseline every other point's input IS its baseline, so Integrated
    Gradients gives them exactly nothing; the moving points carry all of it."""
    from separation.vovit import CHUNK_SAMPLES, VoViT, make_config

    torch.manual_seed(0)
    model = VoViT(make_config("points3d", "small", encoder={"point_channels": [8, 8],
                                                             "out_channels": 8},
                              audio_channels=4, time_dilations=(1,), both_dilations=(2,),
                              d_model=32, nhead=2, dim_feedforward=32)).eval()
    gen = torch.Generator().manual_seed(1)
    # multiples of 1/8: a constant point's mean over the frames is exactly itself
    points = (torch.randn(1, 1, 33, 4, generator=gen) * 8).round().div(8).repeat(1, 100, 1, 1)
    points[..., 3] = 1.0
    t = torch.arange(100) / 25.0
    points[0, :, 3, 2] += torch.sin(2 * np.pi * t)
    points[0, :, 7, :3] += 0.5 * torch.cos(2 * np.pi * t)[:, None]
    mixture = 0.1 * torch.randn(1, CHUNK_SAMPLES, generator=gen)
    out = attribute_points(model, mixture, points, 0.5 * mixture, "integrated_gradients",
                           baseline="static", n_steps=16)
    share = out["point_importance"][0]
    assert (share[[i for i in range(33) if i not in (3, 7)]] == 0).all()
    # (a point that never wins the encoder's max-pool has no gradient at all: with these weights
    # point 7 does not, so point 3 carries everything; which wins is the network's, not the test's)
    assert share[3] > 0 and share[3] + share[7] == pytest.approx(1.0)


def test_saliency_cli_attributes_a_points3d_model_per_point(tmp_path):
    """``--model points3d`` runs the saliency stage on a points3d checkpoint: per song the shares
    per 3D point and axis (summing to 1), per chunk the completeness delta, a figure."""
    from core.world_points import WORLD_POINT_NAMES
    from gradient_saliency import cli
    from separation.checkpoint import save_checkpoint
    from separation.vovit import VoViT, make_config
    import soundfile as sf

    from core.world_points import save_world_points, world_points_info

    root = tmp_path / "data"
    folder = root / "Art" / "Song One"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(9 * 16384) / 16384
    for k, name in enumerate(("vocal", "violin")):
        wave = 0.3 * np.sin(2 * np.pi * 220 * (k + 1) * t) + 0.01 * rng.standard_normal(len(t))
        sf.write(folder / f"{name}_close.wav", wave.astype(np.float32), 16384)
    frames = np.arange(9 * 30)[:, None, None] / 30.0
    points = rng.normal(0, 0.3, (1, 33, 3)) + 0.05 * np.sin(2 * np.pi * frames)
    save_world_points(folder / "vocal", points, world_points_info("test", True, fps=30.0))
    (root / "dataset_metadata.json").write_text(json.dumps({"Art": {"Song One": {
        "layout": ["vocal", "violin"], "fps": 30.0, "moving_camera": False, "duration": 9.0}}}))
    torch.manual_seed(0)
    model = VoViT(make_config("points3d", "small", encoder={"point_channels": [8, 8],
                                                             "out_channels": 8},
                              audio_channels=4, time_dilations=(1,), both_dilations=(2,),
                              d_model=32, nhead=2, dim_feedforward=32)).eval()
    save_checkpoint(tmp_path / "points3d.pt", model, instrument="vocal")
    assert cli.main("integrated_gradients", [
        "--model", "points3d", "--checkpoint", str(tmp_path / "points3d.pt"), "--dataset_path",
        str(root), "--num_steps", "4", "--points-baseline", "static", "--device", "cpu"]) == 0
    out_dir = root / "results" / "integrated_gradients_all_points3d"
    song = json.loads((out_dir / "Art_Song One.json").read_text())
    shares = np.asarray(song["point_importance"], float)
    assert shares.shape == (33,) and shares.sum() == pytest.approx(1.0)
    assert sum(song["axis_importance"]) == pytest.approx(1.0)
    assert song["point_names"] == list(WORLD_POINT_NAMES)
    assert song["chunks"] == [0, 1] and song["points3d"]["baseline"] == "static"
    assert all("delta" in c for c in song["per_chunk"]) and 0 < song["audio_share"] < 1
    assert (out_dir / "figures" / "Art_Song One_points.png").stat().st_size > 1000
    average = json.loads((out_dir / "_average.json").read_text())
    np.testing.assert_allclose(average["point_importance"], shares)
    assert cli.main("integrated_gradients", ["--model", "points3d", "--dataset_path",
                                             str(root)]) == 2       # no shipped points3d model
