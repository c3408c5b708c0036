"""End-to-end runs of ``python -m visualization.main`` on synthetic songs (real files, real codecs)."""
import shutil

import av
import numpy as np
import pytest

from conftest import run_cli
from core.video import iter_frames, probe_video
from visualization.render import format_seconds
from visualization.style import bar_region, instrument_colour
from visualization.synthetic import build_synthetic_song

W, H, FPS = 640, 360, 30.0


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    dataset = tmp_path_factory.mktemp("vis") / "data"
    full = build_synthetic_song(dataset, "Artist", "Full", seconds=2.0, fps=FPS, width=W, height=H,
                                missing_frames=(12, 13))
    bare = build_synthetic_song(dataset, "Artist", "Bare", seconds=1.0, fps=FPS, width=W, height=H,
                                features=False, correlations=False, audio="stems")
    return dataset, full, bare


def _render(dataset, *args):
    return run_cli("visualization.main", "--dataset_path", str(dataset), *args)


def _decode(path):
    """(video stream facts, audio stream facts or None, frames as a list of RGB arrays)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        facts = {"codec": video.codec_context.name, "fps": float(video.average_rate),
                 "size": (video.codec_context.width, video.codec_context.height),
                 "pix_fmt": video.codec_context.pix_fmt}
        audio = None
        if container.streams.audio:
            stream = container.streams.audio[0]
            samples = np.concatenate([f.to_ndarray().mean(axis=0) for f in container.decode(stream)])
            audio = {"codec": stream.codec_context.name, "rate": stream.codec_context.sample_rate,
                     "samples": samples}
    frames = [frame for _, frame in iter_frames(path)]
    return facts, audio, frames


def _colour_near(frame, xy, colour, radius=4, margin=40):
    """Is a pixel of ``colour``'s hue within ``radius`` px of ``xy``? (Its dominant channel leads the
    others by ``margin``: robust to PCA dimming and to H.264's halved chroma resolution.)"""
    x, y = np.rint(xy).astype(int)
    patch = frame[y - radius:y + radius + 1, x - radius:x + radius + 1].reshape(-1, 3).astype(int)
    main = int(np.argmax(colour))
    others = np.delete(patch, main, axis=1).max(axis=1)
    return bool((patch[:, main] - others > margin).any())


@pytest.mark.slow
def test_clip_with_audio_has_right_streams_and_colours(synth):
    dataset, full, _ = synth
    result = _render(dataset, "-a", "Artist", "-s", "Full", "-st", "0", "-et", "1.5", "--add_audio")
    assert result.returncode == 0, result.stderr
    out = full.folder / "0_1.5_test.mp4"
    facts, audio, frames = _decode(out)
    assert facts == {"codec": "h264", "fps": pytest.approx(FPS), "size": (W, H), "pix_fmt": "yuv420p"}
    assert len(frames) == 45
    assert audio is not None and audio["codec"] == "aac"
    assert len(audio["samples"]) / audio["rate"] == pytest.approx(1.5, abs=0.05)
    # the mixture: three sines of amplitude 0.2, RMS sqrt(3 * 0.2**2 / 2)
    steady = audio["samples"][audio["rate"] // 10:-audio["rate"] // 10]
    assert np.sqrt(np.mean(steady ** 2)) == pytest.approx(np.sqrt(3 * 0.04 / 2), rel=0.05)
    # frame 20: each performer's shown joints carry the instrument's colour
    for instrument, joints in (("vocal", (6, 8)), ("violin", (5, 6, 7, 8)), ("mridangam", (5, 7))):
        for joint in joints:
            assert _colour_near(frames[20], full.keypoints[instrument][20, joint],
                                instrument_colour(instrument)), (instrument, joint)
    # frames 12-13 had no detection: the skeleton is interpolated there, not missing
    assert _colour_near(frames[12], (full.keypoints["violin"][11, 5] + full.keypoints["violin"][14, 5]) / 2,
                        instrument_colour("violin"))
    png = full.folder / "feature_timeseries.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the bar region is drawn on (compare with the source video there)
    source = [f for _, f in iter_frames(full.folder / "video.mov", 0, 45)]
    x0, y0, x1, y1 = bar_region(W, H, 5)
    assert np.abs(frames[20][y0:y1].astype(int) - source[20][y0:y1]).mean() > 10

    # a second run finds the clip and leaves it alone
    mtime = out.stat().st_mtime_ns
    again = _render(dataset, "-a", "Artist", "-s", "Full", "-st", "0", "-et", "1.5", "--add_audio")
    assert again.returncode == 0 and "1 already up to date" in again.stderr
    assert out.stat().st_mtime_ns == mtime


def test_no_features_leaves_bar_region_as_decoded(synth):
    dataset, full, _ = synth
    result = _render(dataset, "-a", "Artist", "-s", "Full", "-et", "1", "--no_features")
    assert result.returncode == 0, result.stderr
    facts, audio, frames = _decode(full.folder / "0_1_test.mp4")
    assert audio is None and len(frames) == 30
    source = [f for _, f in iter_frames(full.folder / "video.mov", 0, 30)]
    x0, y0, x1, y1 = bar_region(W, H, 5)          # the tallest panel the song could have
    for k in (0, 15, 29):
        diff = np.abs(frames[k][y0:y1].astype(int) - source[k][y0:y1])
        assert diff.mean() < 2.0 and np.percentile(diff, 99) < 16     # re-encoding noise only
    # ...while the skeleton is still drawn
    assert _colour_near(frames[15], full.keypoints["violin"][15, 6], instrument_colour("violin"))


def test_missing_features_end_past_video_and_stem_sum(synth):
    dataset, _, bare = synth
    result = _render(dataset, "-a", "Artist", "-s", "Bare", "-et", "30", "--add_audio")
    assert result.returncode == 0, result.stderr
    assert "rendering the skeleton only" in result.stderr
    assert "past the end" in result.stderr
    out = bare.folder / "0_1_test.mp4"                  # clipped to the 1-s video
    facts, audio, frames = _decode(out)
    assert len(frames) == 30 and facts["size"] == (W, H)
    # no mixture.wav: the sum of the three 0.2-amplitude stems
    steady = audio["samples"][audio["rate"] // 10:-audio["rate"] // 10]
    assert np.sqrt(np.mean(steady ** 2)) == pytest.approx(np.sqrt(3 * 0.04 / 2), rel=0.05)
    assert not (bare.folder / "feature_timeseries.png").exists()


def test_missing_video_or_keypoints_are_named_and_others_continue(tmp_path):
    dataset = tmp_path / "data"
    for name in ("Good", "NoVideo", "NoKeypoints"):
        build_synthetic_song(dataset, "Artist", name, seconds=0.5, fps=FPS, width=320, height=180,
                             features=False, correlations=False, audio=None)
    (dataset / "Artist" / "NoVideo" / "video.mov").unlink()
    (dataset / "Artist" / "NoKeypoints" / "violin" / "keypoints.npy").unlink()
    result = _render(dataset, "--no_features")
    assert result.returncode == 1
    failed = [line for line in result.stderr.splitlines() if "FAILED" in line]
    assert len(failed) == 2
    assert "Artist/NoVideo" in failed[0] and "no .mov video" in failed[0]
    assert "Artist/NoKeypoints" in failed[1] and "no keypoints for violin" in failed[1]
    assert (dataset / "Artist" / "Good" / "0_0.5_test.mp4").exists()
    assert not list((dataset / "Artist" / "NoKeypoints").glob("*.mp4"))


def test_bad_arguments_exit_non_zero(synth):
    dataset, _, _ = synth
    assert _render(dataset, "-a", "Nobody").returncode == 2
    assert _render(dataset, "-st", "5", "-et", "2").returncode == 2


def test_audio_is_cut_at_the_clip_start_in_sync(tmp_path):
    import soundfile as sf

    song = build_synthetic_song(tmp_path / "data", "Artist", "Burst", seconds=2.0, fps=FPS, width=320,
                                height=180, features=False, correlations=False, audio=None)
    sr = 48000
    mixture = np.zeros(2 * sr, np.float32)
    t = np.arange(int(0.2 * sr)) / sr
    mixture[int(1.2 * sr):int(1.4 * sr)] = 0.5 * np.sin(2 * np.pi * 440 * t)   # burst at 1.2 s
    sf.write(song.folder / "mixture.wav", mixture, sr)
    result = _render(tmp_path / "data", "-st", "0.8", "-et", "1.8", "--add_audio", "--no_features")
    assert result.returncode == 0, result.stderr
    with av.open(str(song.folder / "0.8_1.8_test.mp4")) as container:
        video_start = float(container.streams.video[0].start_time * container.streams.video[0].time_base)
        onset = None
        for frame in container.decode(audio=0):
            loud = np.flatnonzero(np.abs(frame.to_ndarray().mean(axis=0)) > 0.1)
            if len(loud):
                onset = frame.time + loud[0] / frame.sample_rate
                break
    # the burst is 0.4 s into the clip, measured on the container's clock against the first frame
    assert onset - video_start == pytest.approx(0.4, abs=0.025)


@pytest.mark.slow
def test_demo_dataset_end_to_end(request, tmp_path):
    """The real pipeline's demo data after pose estimation: one clip per song."""
    import importlib.util

    for module in ("demo_generator.main", "pose_estimation.main"):
        if importlib.util.find_spec(module.split(".")[0]) is None or \
                importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not in the tree yet: no posed demo dataset to render")
    posed = request.getfixturevalue("posed_demo_dataset")
    songs = sorted(p.parent.parent for p in posed.glob("*/*/vocal/keypoints.npy"))
    if not songs:
        pytest.skip("posed_demo_dataset has no keypoints (pose stage failed or absent)")
    dataset = tmp_path / "demo"
    shutil.copytree(posed, dataset)
    result = _render(dataset, "--add_audio")
    assert result.returncode == 0, result.stderr[-3000:]
    for song in songs:
        folder = dataset / song.relative_to(posed)
        source = probe_video(next(folder.glob("*.mov")), count_frames=True)
        frames_expected = min(source.n_frames, int(round(20 * source.fps)))
        out = folder / f"0_{format_seconds(frames_expected / source.fps)}_test.mp4"
        facts, audio, frames = _decode(out)
        assert facts["size"] == (source.width, source.height) and facts["codec"] == "h264"
        assert facts["fps"] == pytest.approx(source.fps)
        assert len(frames) == frames_expected
        assert audio is not None
        assert len(audio["samples"]) / audio["rate"] == pytest.approx(frames_expected / source.fps,
                                                                      abs=0.05)


def test_clip_is_redrawn_when_its_keypoints_change_and_bad_entries_are_named(tmp_path, capsys):
    """Issue 11: cause 11 (a clip is current only for the inputs it was drawn from) and cause 3
    (a metadata entry naming a folder outside the dataset fails by name, nothing is written)."""
    import json

    from visualization.main import main

    dataset = tmp_path / "data"
    song = build_synthetic_song(dataset, "Artist", "Good", seconds=0.5, fps=FPS, width=320,
                                height=180, features=False, correlations=False, audio=None)
    metadata_path = dataset / "dataset_metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata[".."] = {"outside": metadata["Artist"]["Good"]}
    metadata_path.write_text(json.dumps(metadata))
    shutil.copytree(song.folder, tmp_path / "outside")           # what "../outside" would reach
    args = ["--no_features", "--dataset_path", str(dataset)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "FAILED  ../outside: bad entry in dataset_metadata.json: artist name '..' would leave " \
           "its folder" in err
    assert not list((tmp_path / "outside").glob("*.mp4"))
    clip = song.folder / "0_0.5_test.mp4"
    first = clip.stat().st_mtime_ns
    assert main(args + ["-a", "Artist"]) == 0
    assert clip.stat().st_mtime_ns == first and "1 already up to date" in capsys.readouterr().err
    keypoints_path = song.folder / "violin" / "keypoints.npy"
    np.save(keypoints_path, np.load(keypoints_path) + 3.0)       # post-processing was redone
    assert main(args + ["-a", "Artist"]) == 0
    assert clip.stat().st_mtime_ns != first
    assert "1 done" in capsys.readouterr().err
    second = clip.stat().st_mtime_ns
    assert main(args + ["-a", "Artist", "-ct", "0.9"]) == 0      # other drawing settings
    assert clip.stat().st_mtime_ns != second and "1 done" in capsys.readouterr().err
