"""Saliency over pixel regions of a frames model (``gradient_saliency.pixel_regions``) on a
hand-built model whose answer is known."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gradient_saliency.pixel_regions import (attribute_frames, frames_baseline, region_sums,
                                             save_region_figure)
from gradient_saliency.objective import SeparationObjective


class RegionGainModel(torch.nn.Module):
    """``estimate = mixture × (mean red value of rows 0–7, columns 8–15 of frames 0, 2, 4, ...) /
    255``: only that region of the crop (cell (0, 1) of a 4 × 4 grid on 32-px crops) and only the
    even frames matter."""

    def forward(self, mixture, crops):
        gain = crops[:, ::2, 0, 0:8, 8:16].mean(dim=(1, 2, 3)) / 255.0
        return mixture * gain[:, None]


def batch(seed: int = 0, b: int = 2, frames: int = 6, size: int = 32, samples: int = 512):
    gen = torch.Generator().manual_seed(seed)
    mixture = torch.randn(b, samples, generator=gen)
    crops = 255 * torch.rand(b, frames, 3, size, size, generator=gen)
    return mixture, crops, 0.2 * mixture


def test_region_sums_cut_the_crop_into_cells():
    attr = np.zeros((1, 2, 3, 8, 8))
    attr[0, 1, 2, 0, 7] = -3.0                      # row 0, column 7 → cell (0, 1) of a 2 × 2 grid
    attr[0, 0, 0, 5, 1] = 1.0                       # row 5, column 1 → cell (1, 0)
    np.testing.assert_array_equal(region_sums(attr, 2)[0], [[0.0, 3.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="3x3 grid"):
        region_sums(attr, 3)


@pytest.mark.parametrize("method", ["integrated_gradients", "gradient_saliency",
                                    "gradient_input_saliency"])
def test_attribution_lands_on_the_region_the_model_reads(method, tmp_path):
    model = RegionGainModel()
    mixture, crops, target = batch()
    out = attribute_frames(model, mixture, crops, target, method, n_steps=50, grid=4)
    expected = np.zeros((4, 4))
    expected[0, 1] = 1.0
    for chunk in out["region_importance"]:
        np.testing.assert_allclose(chunk, expected, atol=1e-9)
    assert np.abs(out["visual"][:, 1::2]).sum() == 0.0          # odd frames are never read
    assert ((0 < out["audio_share"]) & (out["audio_share"] < 1)).all()
    if method == "integrated_gradients":
        # completeness, computed independently: Σ attributions = f(x) − f(baseline)
        objective = SeparationObjective(model)
        with torch.no_grad():
            gap = (objective(mixture, crops, target)
                   - objective(torch.zeros_like(mixture), torch.zeros_like(crops), target))
        total = (out["visual"].astype(np.float64).reshape(2, -1).sum(axis=1)
                 + out["audio"].astype(np.float64).sum(axis=1))
        assert (np.abs(gap.numpy()) > 1.0).all()
        np.testing.assert_allclose(total, gap.numpy(), rtol=1e-3)
    figure = save_region_figure(crops[0].mean(dim=0).to(torch.uint8).numpy(),
                                out["region_importance"][0], tmp_path / "regions.png")
    assert figure.stat().st_size > 1000


def test_static_baseline_keeps_the_look_and_removes_the_change():
    _, crops, _ = batch(frames=4)
    static = frames_baseline(crops, "static")
    torch.testing.assert_close(static[:, 2], crops.mean(dim=1))
    assert torch.equal(frames_baseline(crops, "black"), torch.zeros_like(crops))
    with pytest.raises(ValueError, match="unknown frames baseline"):
        frames_baseline(crops, "blur")
