import numpy as np
import pytest
import soundfile as sf

from core.audio import load_stem, read_audio
from core.dataset import SongDataError, find_stems, find_video
from core.video import VideoWriter, iter_frames, probe_video


def test_video_round_trip_is_h264_with_right_size_rate_and_content(tmp_path):
    path = tmp_path / "clip.mov"
    with VideoWriter(path, fps=30, width=64, height=48, crf=10) as writer:
        for i in range(12):
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:, : 5 * (i + 1)] = 200          # a bar growing by 5 px per frame
            writer.write(frame)
    info = probe_video(path)
    assert (info.width, info.height, info.n_frames, info.codec) == (64, 48, 12, "h264")
    assert info.fps == pytest.approx(30)
    frames = list(iter_frames(path, start=3, stop=6))
    assert [i for i, _ in frames] == [3, 4, 5]
    bar_widths = [(f[24, :, 0] > 100).sum() for _, f in frames]
    assert bar_widths == pytest.approx([20, 25, 30], abs=1)


def test_corrupt_and_empty_videos_are_named_errors(tmp_path):
    empty = tmp_path / "empty.mov"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.mov"
    corrupt.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(SongDataError, match="empty"):
        probe_video(empty)
    with pytest.raises(SongDataError, match="corrupt.mov"):
        list(iter_frames(corrupt))


def test_find_video_and_stems(tmp_path):
    with pytest.raises(SongDataError, match="no .mov"):
        find_video(tmp_path)
    for name in ["b.mov", "a.mov", "vocal_1.wav", "mri_left.wav", "mridangam_r.wav", "mixture.wav"]:
        (tmp_path / name).write_bytes(b"")
    assert find_video(tmp_path).name == "a.mov"
    assert [p.name for p in find_stems(tmp_path, "mridangam")] == ["mri_left.wav", "mridangam_r.wav"]
    assert [p.name for p in find_stems(tmp_path, "vocal")] == ["vocal_1.wav"]


def test_load_stem_averages_files_and_resamples(tmp_path):
    sr = 48000
    t = np.arange(sr) / sr
    sf.write(tmp_path / "mri_left.wav", 0.4 * np.sin(2 * np.pi * 100 * t), sr)
    sf.write(tmp_path / "mri_right.wav", 0.2 * np.sin(2 * np.pi * 100 * t), sr)
    stem = load_stem(tmp_path, "mridangam", 16000)
    assert len(stem) == 16000
    # mean of the two: amplitude 0.3, RMS 0.3/sqrt(2)
    assert np.sqrt(np.mean(stem[1000:-1000] ** 2)) == pytest.approx(0.3 / np.sqrt(2), rel=1e-3)
    with pytest.raises(SongDataError, match="no violin stem"):
        load_stem(tmp_path, "violin", 16000)


def test_read_audio_segment_seeks_to_the_right_samples_and_averages_channels(tmp_path):
    sr = 8000
    ramp = np.arange(3 * sr, dtype=np.float32) / (3 * sr)          # value = time / 3 s
    sf.write(str(tmp_path / "st.wav"), np.stack([ramp, ramp * 0.5], axis=1), sr, subtype="FLOAT")
    segment, file_sr = read_audio(tmp_path / "st.wav", start_s=1.0, duration_s=0.5)
    assert file_sr == sr and segment.shape == (sr // 2,)
    np.testing.assert_allclose(segment, 0.75 * ramp[sr:sr + sr // 2], rtol=1e-6)
    with pytest.raises(SongDataError, match="cannot be read"):
        read_audio(tmp_path / "missing.wav")


def test_an_empty_stem_among_several_is_a_named_error_not_silence(tmp_path):
    sr = 48000
    t = np.arange(sr) / sr
    sf.write(tmp_path / "mri_left.wav", 0.4 * np.sin(2 * np.pi * 100 * t), sr)
    sf.write(tmp_path / "mri_right.wav", np.zeros(0), sr)
    with pytest.raises(SongDataError, match=r"mri_right\.wav has 0\.00 s of audio but mri_left\.wav "
                                            r"has 1\.00 s: refusing to average it in as silence"):
        load_stem(tmp_path, "mridangam", 16000)
    # a truncated stem (more than a second short) is refused the same way
    sf.write(tmp_path / "mri_right.wav", 0.4 * np.sin(2 * np.pi * 100 * t[: sr // 4]), sr)
    sf.write(tmp_path / "mri_left.wav", 0.4 * np.sin(2 * np.pi * 100 * np.arange(3 * sr) / sr), sr)
    with pytest.raises(SongDataError, match=r"mri_right\.wav has 0\.25 s"):
        load_stem(tmp_path, "mridangam", 16000)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_save_wav_refuses_non_finite_audio_and_writes_nothing(tmp_path, bad):
    from core.audio import save_wav

    wave = np.zeros(100, np.float32)
    wave[[10, 20]] = bad
    with pytest.raises(ValueError, match=r"out\.wav: 2 of 100 samples are NaN or infinite \(first at "
                                         r"sample 10\)"):
        save_wav(tmp_path / "out.wav", wave, 16000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spec, normal", [(None, "auto"), ("AUTO", "auto"), (" cpu ", "cpu"),
                                          ("cuda", "cuda"), ("cuda:1", "cuda:1")])
def test_device_spec_is_checked_without_torch(spec, normal):
    from core.device import check_device_spec

    assert check_device_spec(spec) == normal


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "cpu0", "mps", "cuda:0,1"])
def test_misspelt_device_is_an_error(spec):
    from core.device import DeviceError, check_device_spec, resolve_device

    with pytest.raises(DeviceError, match="unknown device"):
        check_device_spec(spec)
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device(spec)
