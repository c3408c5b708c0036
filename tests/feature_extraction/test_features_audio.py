"""Audio features: known answers and equality with librosa's full-signal computation."""
import librosa
import numpy as np
import pytest

from feature_extraction.audio import (HOP_LENGTH, SAMPLE_RATE, audio_features, stft_features,
                                      to_video_frames)

SR = SAMPLE_RATE


def sine(freq, seconds, amplitude=0.5, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_rms_of_a_sine_is_amplitude_over_sqrt2_on_every_video_frame():
    freq = 20 * SR / 2048                       # 468.75 Hz: exactly 20 periods per 2048-sample frame
    y = sine(freq, 3.0, amplitude=0.6)
    features = audio_features(y, fps=30.0, n_frames=90)
    assert features["rms"].shape == (90,)
    # away from the zero-padded ends (first/last analysis frame) RMS = A / sqrt(2)
    np.testing.assert_allclose(features["rms"][2:-2], 0.6 / np.sqrt(2), rtol=1e-4)


def test_spectral_centroid_of_a_pure_tone_is_its_frequency():
    y = sine(3000.0, 2.0)
    centroid = audio_features(y, fps=30.0, n_frames=60)["spectral_centroid"]
    np.testing.assert_allclose(centroid[3:-3], 3000.0, rtol=0.01)


def test_blockwise_features_equal_librosa_on_the_whole_signal():
    rng = np.random.default_rng(0)
    n = SR * 5 + 777
    y = (rng.normal(size=n) * np.linspace(0.01, 1, n) ** 2).astype(np.float32)
    ours = stft_features(y, SR, block_frames=37)             # many blocks, ragged last one
    rms = librosa.feature.rms(y=y, frame_length=2048, hop_length=HOP_LENGTH)[0]
    onset = librosa.onset.onset_strength(y=y, sr=SR, n_fft=2048, hop_length=HOP_LENGTH)
    centroid = librosa.feature.spectral_centroid(y=y, sr=SR, n_fft=2048, hop_length=HOP_LENGTH)[0]
    np.testing.assert_allclose(ours["rms"], rms, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours["onset_env"], onset, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours["spectral_centroid"], centroid, rtol=1e-4)


def test_onset_envelope_peaks_at_clicks():
    y = np.zeros(SR * 2, np.float32)
    clicks = [0.5, 1.0, 1.5]
    for c in clicks:
        y[int(c * SR):int(c * SR) + 200] = 0.8
    onset = audio_features(y, fps=30.0, n_frames=60)["onset_env"]
    for c in clicks:
        frame = int(round(c * 30))
        assert onset[frame - 2:frame + 3].max() > 5 * np.median(onset)


def test_to_video_frames_interpolates_linearly_and_keeps_nan_stretches():
    times = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    values = np.array([0.0, 1.0, np.nan, np.nan, 4.0])
    out = to_video_frames(values, times, fps=20.0, n_frames=9)           # frames every 0.05 s
    np.testing.assert_allclose(out[:3], [0.0, 0.5, 1.0])
    assert np.isnan(out[5]) and np.isnan(out[6])                          # between two NaNs
    assert out[8] == 4.0
    ramp = to_video_frames(np.arange(5.0), times, fps=10.0, n_frames=7)   # beyond the end: held
    np.testing.assert_allclose(ramp, [0, 1, 2, 3, 4, 4, 4])


def test_zero_length_audio_is_an_error():
    with pytest.raises(ValueError):
        stft_features(np.zeros(0, np.float32))


@pytest.mark.slow
def test_pyin_f0_of_a_sung_tone():
    y = sine(220.0, 1.0)
    f0 = audio_features(y, fps=30.0, n_frames=30, with_f0=True)["f0"]
    voiced = f0[np.isfinite(f0)]
    assert len(voiced) > 15
    np.testing.assert_allclose(np.median(voiced), 220.0, rtol=0.01)
