"""Whole-song separation by overlapping chunks, and the named metrics."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from separation.conventions import OFFICIAL_VOVIT, PROJECT
from separation.inference import overlap_weight, separate_song, window_starts
from separation.metrics import SDR_NAME, chunk_metrics
from separation.vovit import CHUNK_SAMPLES


class ScaleModel(torch.nn.Module):
    """Test double: multiplies the mixture by 0.5 plus the mean of the visual input (per chunk)."""

    def forward(self, mixture, visual=None):
        offset = 0.0 if visual is None else visual.mean(dim=(1, 2, 3))[:, None]
        return 0.5 * mixture + offset


def test_windows_cover_the_song():
    assert window_starts(1000) == [0]
    starts = window_starts(10 * 16384)
    assert starts[0] == 0 and all(b - a == 32768 for a, b in zip(starts, starts[1:]))
    assert starts[-1] + CHUNK_SAMPLES >= 10 * 16384 > starts[-2] + CHUNK_SAMPLES
    assert (overlap_weight() > 0).all()


def test_overlap_add_of_a_linear_model_is_exact():
    rng = np.random.default_rng(0)
    mixture = rng.standard_normal(int(9.3 * 16384)).astype(np.float32)
    out = separate_song(ScaleModel(), mixture, None, None, torch.device("cpu"),
                        conventions=PROJECT)
    assert out.shape == mixture.shape
    np.testing.assert_allclose(out, 0.5 * mixture, atol=1e-6)


def test_visual_windows_follow_the_audio_windows():
    # Visual value = frame number; the model adds each window's mean visual value, so the output
    # at a sample reveals which frames the overlapping windows saw.
    n_frames = 250
    visual = np.repeat(np.arange(n_frames, dtype=np.float32)[:, None, None], 2, axis=2)[:, :, :]
    visual = np.repeat(visual, 3, axis=1)                            # (F, 3, 2)
    mask = np.ones((n_frames, 3), bool)
    mixture = np.zeros(10 * 16384, np.float32)
    out = separate_song(ScaleModel(), mixture, visual, mask, torch.device("cpu"),
                        conventions=PROJECT)
    # Sample 0 is only in the first window (frames 0-99, mean 49.5).
    assert out[0] == pytest.approx(49.5, abs=1e-4)
    # At the middle of the second window (start 2 s -> frames 50-149, mean 99.5) the first and third
    # windows have (almost) zero weight.
    assert out[32768 + 32767] == pytest.approx(99.5, abs=1e-2)


class PeakRecorder(torch.nn.Module):
    """Test double: records the absolute peak of every window it is given, returns the input."""

    def __init__(self):
        super().__init__()
        self.peaks = []

    def forward(self, mixture, visual=None):
        self.peaks += mixture.abs().amax(dim=1).tolist()
        return mixture


def loud_and_quiet_song(seconds: float = 13.0) -> np.ndarray:
    """Noise whose level changes 100-fold along the song, so window peaks differ."""
    rng = np.random.default_rng(3)
    n = int(seconds * 16384)
    level = np.where(np.arange(n) < n // 2, 1.0, 0.01)
    return (0.5 * level * rng.standard_normal(n)).astype(np.float32)


def test_mixture_normalisation_known_answers():
    mixture = loud_and_quiet_song()
    starts = window_starts(len(mixture))
    padded = np.zeros(starts[-1] + CHUNK_SAMPLES, np.float32)
    padded[:len(mixture)] = mixture
    window_peaks = np.array([np.abs(padded[s:s + CHUNK_SAMPLES]).max() for s in starts])
    # chunk_peak: the model sees every window at peak 1
    recorder = PeakRecorder()
    out = separate_song(recorder, mixture, None, None, torch.device("cpu"), conventions=PROJECT)
    np.testing.assert_allclose(recorder.peaks, np.ones(len(starts)), rtol=1e-6)
    np.testing.assert_allclose(out, mixture, atol=1e-6)            # and × scale back
    # song_peak (VoViT's batch peak over the whole song): windows keep their relative levels
    recorder = PeakRecorder()
    separate_song(recorder, mixture, None, None, torch.device("cpu"), conventions=OFFICIAL_VOVIT)
    np.testing.assert_allclose(recorder.peaks, window_peaks / np.abs(mixture).max(), rtol=1e-6)


@pytest.mark.parametrize("conventions", [PROJECT, OFFICIAL_VOVIT])
def test_whole_song_inference_does_not_depend_on_the_batching(conventions):
    """A real (tiny, non-linear) model: the estimate is the same whichever windows share a batch."""
    from sep_synthetic import tiny_config
    from separation.vovit import VoViT

    torch.manual_seed(0)
    model = VoViT(tiny_config("none")).eval()
    mixture = loud_and_quiet_song()
    outs = [separate_song(model, mixture, None, None, torch.device("cpu"), batch_size=size,
                          conventions=conventions) for size in (1, 2, 5)]
    assert np.abs(outs[0]).max() > 1e-3
    for other in outs[1:]:
        np.testing.assert_allclose(other, outs[0], atol=1e-5 * np.abs(outs[0]).max())


def test_metrics_known_answers():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((2, 16384))
    noise = rng.standard_normal((2, 16384))
    noise -= (noise * ref).sum(-1, keepdims=True) / (ref * ref).sum(-1, keepdims=True) * ref
    noise *= np.linalg.norm(ref, axis=-1, keepdims=True) / np.linalg.norm(noise, axis=-1,
                                                                        keepdims=True) / 10
    est = 3.0 * ref + 3.0 * noise            # orthogonal noise at -20 dB, any gain
    m = chunk_metrics(est, ref)
    np.testing.assert_allclose(m["si_sdr"], 20.0, atol=0.05)
    assert (m["sdr"] > 19.0).all()           # v3 SDR: the filter can only explain more
    silent = chunk_metrics(est, np.zeros_like(ref))
    assert np.isnan(silent["sdr"]).all() and np.isnan(silent["si_sdr"]).all()
    assert "BSS-eval v3" in SDR_NAME
