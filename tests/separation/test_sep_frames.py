"""The condition registry and the ``frames`` kind: encoder shapes and weights, checkpoint round
trip, crop preparation on constructed videos, and a known answer (appearance decides)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from core.dataset import KEYPOINTS_NAME
from core.keypoints import NUM_KEYPOINTS
from core.metadata import load_metadata
from core.pose_files import InstrumentPose, save_instrument_pose
from core.runner import SongSkipped
from demo_generator.concerts import GROUND_TRUTH_NAME
from separation import frame_crops as fc
from separation.checkpoint import CHECKPOINT_DIR, load_checkpoint, read_checkpoint, save_checkpoint
from separation.conditions import CONDITIONS, condition_input_files
from separation.conventions import PROJECT
from separation.data import song_chunks
from separation.encoders import ENCODERS, KINDS
from separation.frames import FrameEncoder, FramesConfig, ResNet18, load_torchvision_resnet18
from separation.metrics import chunk_metrics
from separation.vovit import CHUNK_SAMPLES, VISUAL_INPUTS, VoViT, VoViTConfig, make_config

from crafted_inputs import PAYLOADS
from sep_synthetic import SR, TINY_FRAMES, tiny_config, write_song
from test_sep_benchmark import deterministic_torch  # noqa: F401  (fixture)

# torchvision's resnet18 has 11,689,512 parameters; its classifier fc (512 × 1000 + 1000) is not used
TORCHVISION_RESNET18_WITHOUT_FC = 11_689_512 - 513_000


# --- registry --------------------------------------------------------------------------------------

def test_every_kind_has_an_encoder_and_a_preparation():
    assert set(ENCODERS) == set(CONDITIONS)
    assert VISUAL_INPUTS == KINDS and KINDS[-1] == "none"
    for kind in ENCODERS:
        model = VoViT(tiny_config(kind))
        encoder = model.condition_encoder
        assert encoder is getattr(model, ENCODERS[kind].attribute)
        assert all(k.startswith(ENCODERS[kind].attribute + ".") or k.startswith("audio_network.")
                   for k in model.state_dict())
    assert VoViT(tiny_config("none")).condition_encoder is None


def test_original_kinds_keep_their_config_keys():
    """The ST-GCN kinds' configs gain no key, so the shipped checkpoints' configs are what this
    code writes (and the benchmark's same-settings check still recognises them)."""
    for path in sorted(CHECKPOINT_DIR.glob("*.pt")):
        stored = read_checkpoint(path)["config"]
        config = VoViTConfig.from_dict(stored)
        assert config.to_dict() == stored, path.name
        assert "encoder" not in make_config(config.visual, config.preset).to_dict()


def test_frames_config_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(2)
    model = VoViT(tiny_config("frames"))
    assert model.config.encoder_options == {**FramesConfig().to_options(), **TINY_FRAMES,
                                            "crop_size": 32}
    frames = torch.randint(0, 256, (2, 100, 3, 32, 32), dtype=torch.uint8)
    mixture = 0.1 * torch.randn(2, CHUNK_SAMPLES)
    model.train()
    model(mixture, frames)                     # BN statistics away from their defaults
    model.eval()
    path = save_checkpoint(tmp_path / "f.pt", model, instrument="vocal")
    assert read_checkpoint(path)["config"]["encoder"]["crop_size"] == 32
    loaded, meta = load_checkpoint(path, expect_visual="frames")
    assert meta["config"] == model.config and loaded.config.name == "frames_small"
    with torch.no_grad():
        assert torch.equal(model(mixture, frames), loaded(mixture, frames))


# --- encoder ---------------------------------------------------------------------------------------

def torchvision_resnet18_keys() -> list[str]:
    """torchvision's resnet18 state-dict keys without fc, written out from its layer layout."""
    def bn(prefix):
        return [f"{prefix}.{n}" for n in ("weight", "bias", "running_mean", "running_var",
                                           "num_batches_tracked")]
    keys = ["conv1.weight", *bn("bn1")]
    for layer in range(1, 5):
        for block in range(2):
            p = f"layer{layer}.{block}"
            keys += [f"{p}.conv1.weight", *bn(f"{p}.bn1"), f"{p}.conv2.weight", *bn(f"{p}.bn2")]
            if layer > 1 and block == 0:
                keys += [f"{p}.downsample.0.weight", *bn(f"{p}.downsample.1")]
    return keys


def test_resnet18_has_torchvisions_names_and_size():
    net = ResNet18(64)
    assert list(net.state_dict()) == torchvision_resnet18_keys()
    assert sum(p.numel() for p in net.parameters()) == TORCHVISION_RESNET18_WITHOUT_FC
    with torch.no_grad():
        assert ResNet18(8, dilated=True)(torch.zeros(1, 3, 64, 64)).shape == (1, 64, 4, 4)
        assert ResNet18(8, dilated=False)(torch.zeros(1, 3, 64, 64)).shape == (1, 64, 2, 2)


def test_frame_encoder_shapes_and_max_pool():
    encoder = FrameEncoder(FramesConfig(crop_size=64, frame_stride=4, width=8, channels=5)).eval()
    frames = torch.randint(0, 256, (3, 100, 3, 64, 64), dtype=torch.uint8)
    with torch.no_grad():
        out = encoder(frames)
        maps = encoder.frame_maps(frames)
    assert out.shape == (3, 25, 5) and maps.shape == (3, 25, 5, 4, 4)
    # the vector is each channel's spatial maximum of the encoded frames 0, 4, ...
    torch.testing.assert_close(out, maps.amax(dim=(3, 4)))
    published = FrameEncoder(FramesConfig(crop_size=64, frame_stride=4, width=8, channels=5,
                                          activation="sigmoid")).eval()
    published.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(published(frames), torch.sigmoid(out))
    with torch.no_grad():
        torch.testing.assert_close(encoder(frames[:, :4])[:, :1], out[:, :1])
    model = VoViT(tiny_config("frames")).eval()
    with pytest.raises(ValueError, match=r"visual input has shape \(2, 100, 3, 16, 16\).*"
                                         r"\(2, 100, 3, 32, 32\) for visual=frames"):
        model(torch.zeros(2, CHUNK_SAMPLES), torch.zeros(2, 100, 3, 16, 16))


def test_torchvision_weights_load_into_the_backbone(tmp_path):
    torch.manual_seed(0)
    source = ResNet18(64)
    state = {k: torch.randn_like(v.float()).to(v.dtype) if v.is_floating_point() else v
             for k, v in source.state_dict().items()}
    state.update({"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)})
    torch.save(state, tmp_path / "resnet18.pth")
    encoder = FrameEncoder(FramesConfig.for_preset("vovit"))
    assert load_torchvision_resnet18(encoder, tmp_path / "resnet18.pth") == ["fc.bias", "fc.weight"]
    for key, value in encoder.backbone.state_dict().items():
        assert torch.equal(value, state[key]), key
    with pytest.raises(ValueError, match="torchvision weights need width 64"):
        load_torchvision_resnet18(FrameEncoder(FramesConfig(width=16)), tmp_path / "resnet18.pth")
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="no 'bn1.weight'"):
        load_torchvision_resnet18(encoder, tmp_path / "partial.pth")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_visual_weights_refuse_a_file_that_names_code(tmp_path, payload):
    from core.io import RefusedFileError

    marker, path = tmp_path / "ran", tmp_path / "evil.pth"
    torch.save({"conv1.weight": payload(marker)}, path)
    with pytest.raises(RefusedFileError):
        load_torchvision_resnet18(FrameEncoder(FramesConfig.for_preset("vovit")), path)
    assert not marker.exists()


# --- crops -----------------------------------------------------------------------------------------

def test_boxes_frame_mapping_and_crops_on_constructed_arrays():
    kp = np.full((4, 3, 2), np.nan)
    kp[0] = [[10, 20], [30, 60], [20, 40]]        # extent 20 x 40 → centre (20, 40)
    kp[2] = [[50, 20], [70, 60], [60, 40]]        # centre (60, 40)
    kp[3] = [[50, 20], [70, 50], [60, 40]]        # centre (60, 35), extent 30
    valid = np.isfinite(kp).all(axis=-1)
    centres, side = fc.performer_boxes(kp, valid, margin=0.25)
    # frame 1 has no point: the nearest frames are 0 and 2, the earlier one wins the tie
    np.testing.assert_allclose(centres, [[20, 40], [20, 40], [60, 40], [60, 35]])
    assert side == pytest.approx(40 * 1.5)        # median of 40, 40, 30, × (1 + 2 × 0.25)
    with pytest.raises(ValueError):
        fc.performer_boxes(kp[1:2], valid[1:2])
    # 30 fps → 25 fps: frame k is video frame round(1.2 k)
    assert fc.source_frames(11, 30.0).tolist() == [0, 1, 2, 4, 5, 6, 7, 8, 10]
    # a crop half outside the picture is black there
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, :, 0] = 200
    crop = fc.crop_square(image, (5, 20), 20, 10)   # x from -5 to 15
    assert crop.shape == (3, 10, 10) and crop.dtype == np.uint8
    assert (crop[0, :, :2] == 0).all() and (crop[0, :, 3:] == 200).all()
    window, mask = fc.frames_window(np.ones((5, 3, 2, 2), np.uint8), np.ones((5, 1), bool), 3, 4)
    assert window.shape == (4, 3, 2, 2) and mask[:, 0].tolist() == [True, True, False, False]
    assert window[2:].sum() == 0


def box_keypoints(n_frames: int, box: tuple[float, float, float, float]) -> np.ndarray:
    """``(F, 133, 2)``: four points on the corners of ``box`` (x0, y0, x1, y1), the rest missing."""
    x0, y0, x1, y1 = box
    kp = np.full((n_frames, NUM_KEYPOINTS, 2), np.nan, np.float32)
    kp[:, :4] = [[x0, y0], [x1, y0], [x0, y1], [x1, y1]]
    return kp


PERFORMERS = {"vocal": ((40, 60, 100, 180), (220, 30, 30)),      # box, RGB colour
              "violin": ((200, 60, 260, 180), (30, 30, 220))}


def write_video_song(root, seconds: float = 9.0, fps: float = 30.0):
    """A synthetic song (``sep_synthetic.write_song``) whose video shows two coloured performers
    on grey and whose keypoints mark their boxes' corners."""
    from core.video import VideoWriter

    folder = write_song(root, "Art", "Song One", seconds, np.random.default_rng(0))
    n_frames = int(seconds * fps)
    frame = np.full((240, 320, 3), 128, np.uint8)
    for name, ((x0, y0, x1, y1), colour) in PERFORMERS.items():
        frame[y0:y1, x0:x1] = colour
        kp = box_keypoints(n_frames, (x0, y0, x1, y1))
        kp[10:14] = np.nan                                  # the pose stage missed these frames
        scores = np.where(np.isnan(kp[..., 0]), 0.0, 0.9).astype(np.float32)
        save_instrument_pose(folder / name, InstrumentPose(kp, scores, {
            "backend": "mediapipe", "score_scale": "probability", "fps": fps,
            "frame_size": [320, 240]}))
    with VideoWriter(folder / "video.mov", fps, 320, 240) as writer:
        for _ in range(n_frames):
            writer.write(frame)
    entry = {"layout": ["vocal", "violin"], "fps": fps, "moving_camera": False,
             "duration": seconds}
    (root / "dataset_metadata.json").write_text(json.dumps({"Art": {"Song One": entry}}))
    return folder


def test_song_frames_crop_the_queried_performer_and_are_cached(tmp_path, monkeypatch):
    root = tmp_path / "data"
    folder = write_video_song(root)
    song = load_metadata(root / "dataset_metadata.json")[0]
    options = {**FramesConfig().to_options(), "crop_size": 32}
    chunks = song_chunks(folder, song, "vocal", "frames", conventions=PROJECT, options=options)
    assert [c.index for c in chunks] == [0, 1]
    frames = chunks[0].visual
    assert frames.shape == (100, 3, 32, 32) and frames.dtype == np.uint8
    assert chunks[0].visual_mask.shape == (100, 1) and chunks[0].visual_mask.all()
    # the crop is centred on the red performer (side 120 × 1.3 = 156 px): its middle is red,
    # even in the frames whose keypoints are missing (nearest frame's box)
    middle = frames[:, :, 12:20, 12:20].reshape(100, 3, -1).mean(axis=2)
    assert (middle[:, 0] > 180).all() and (middle[:, 2] < 70).all()
    violin = song_chunks(folder, song, "violin", "frames", conventions=PROJECT, options=options)
    middle = violin[0].visual[:, :, 12:20, 12:20].reshape(100, 3, -1).mean(axis=2)
    assert (middle[:, 2] > 180).all() and (middle[:, 0] < 70).all()
    cache = fc.cache_path(folder, "vocal", 32)
    assert cache.exists() and (folder / "video.mov") in condition_input_files("frames", folder,
                                                                              "vocal")

    def no_decoding(*args, **kwargs):
        raise AssertionError("the cache is current: the video must not be decoded")

    monkeypatch.setattr(fc, "extract_crops", no_decoding)
    again = song_chunks(folder, song, "vocal", "frames", conventions=PROJECT, options=options)
    assert np.array_equal(again[1].visual, chunks[1].visual)
    # new keypoints make the cache stale
    kp = np.load(folder / "vocal" / KEYPOINTS_NAME)
    np.save(folder / "vocal" / KEYPOINTS_NAME, kp + 1.0)
    with pytest.raises(AssertionError, match="must not be decoded"):
        song_chunks(folder, song, "vocal", "frames", conventions=PROJECT, options=options)


def test_song_without_video_or_keypoints_is_a_named_skip(tmp_path):
    root = tmp_path / "data"
    folder = write_video_song(root, seconds=5.0)
    song = load_metadata(root / "dataset_metadata.json")[0]
    (folder / "vocal" / KEYPOINTS_NAME).unlink()
    with pytest.raises(SongSkipped, match="no frames input for vocal"):
        fc.load_song_frames(folder, song, "vocal", 32)
    (folder / "video.mov").unlink()
    with pytest.raises(SongSkipped, match="no .mov video"):
        fc.load_song_frames(folder, song, "violin", 32)


@pytest.mark.slow
def test_frames_on_the_posed_demo_follow_the_performer(posed_demo_dataset):
    """Real pose output on the demo videos: the crop centre lies inside the performer's ground-truth
    box in every frame that has keypoints."""
    checked = 0
    for song in load_metadata(posed_demo_dataset / "dataset_metadata.json"):
        if "vocal" not in song.instruments or not song.fps or song.moving_camera:
            continue
        folder = song.folder(posed_demo_dataset)
        try:
            crops, present = fc.load_song_frames(folder, song, "vocal", 64)
        except SongSkipped:
            continue
        truth = json.loads((folder / GROUND_TRUTH_NAME).read_text())["performers"]["vocal"]
        with np.load(fc.cache_path(folder, "vocal", 64)) as cached:
            centres = cached["centres"]                       # (F, 2) per video frame
        boxes = np.asarray(truth["boxes"], float)[:len(centres)]   # (F, 4) x0, y0, x1, y1
        inside = ((centres[:, 0] >= boxes[:, 0]) & (centres[:, 0] <= boxes[:, 2])
                  & (centres[:, 1] >= boxes[:, 1]) & (centres[:, 1] <= boxes[:, 3]))
        assert inside.mean() > 0.95, (song.key, inside.mean())
        assert crops.shape[1:] == (3, 64, 64) and present.shape == (len(crops), 1)
        assert present.mean() > 0.95
        checked += 1
    assert checked >= 1


# --- known answer ----------------------------------------------------------------------------------

def harmonic_tone(f0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``(B,)`` fundamentals → ``(B, N)`` tones with the same timbre (harmonics 1..4, amplitude 1/h)."""
    return sum(torch.sin(2 * math.pi * h * f0[:, None] * t[None]) / h for h in range(1, 5))


def appearance_batch(gen: torch.Generator, batch: int, query=None):
    """Two performers, same timbre: the red one sings low (150–250 Hz), the blue one high
    (600–1000 Hz), both at once. The query is a crop of one of them (random colour noise
    around its colour); the target is its voice. Returns mixture, target, crops, other voice and
    the query (0 red, 1 blue)."""
    t = torch.arange(CHUNK_SAMPLES) / SR
    low = harmonic_tone(150 + 100 * torch.rand(batch, generator=gen), t)
    high = harmonic_tone(600 + 400 * torch.rand(batch, generator=gen), t)
    gains = 0.1 + 0.1 * torch.rand(batch, 2, generator=gen)
    low, high = gains[:, :1] * low, gains[:, 1:] * high
    if query is None:
        query = (torch.rand(batch, generator=gen) < 0.5).long()
    colours = torch.tensor([[220.0, 30, 30], [30, 30, 220]])[query]          # (B, 3)
    noise = 20 * torch.randn(batch, 100, 3, 32, 32, generator=gen)
    crops = (colours[:, None, :, None, None] + noise).clamp(0, 255).to(torch.uint8)
    target = torch.where(query[:, None] == 0, low, high)
    other = torch.where(query[:, None] == 0, high, low)
    return low + high, target, crops, other, query


def train_and_score_on_appearance(config, steps: int = 120):
    """Train a fresh model of ``config`` for ``steps`` on ``appearance_batch`` (batch 4, seed 0),
    then score it on 8 new examples: SI-SDR ``(8,)`` of its output towards the shown performer's
    voice, towards the other voice, and towards the other voice once the other's crop is shown."""
    from separation.training import train_step

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = VoViT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        mixture, target, crops, _, _ = appearance_batch(gen, 4)
        train_step(model, optimizer, mixture, target, crops)
    model.eval()
    test_gen = torch.Generator().manual_seed(99)
    mixture, target, crops, other, query = appearance_batch(test_gen, 8)
    _, _, swapped, _, _ = appearance_batch(test_gen, 8, query=1 - query)
    with torch.no_grad():
        shown, flipped = model(mixture, crops).numpy(), model(mixture, swapped).numpy()
    return (chunk_metrics(shown, target.numpy())["si_sdr"],
            chunk_metrics(shown, other.numpy())["si_sdr"],
            chunk_metrics(flipped, other.numpy())["si_sdr"])


@pytest.mark.slow
def test_frames_encoder_learns_which_performer_the_query_shows():
    """Known answer: the two voices share a timbre and sound together, so the mixture alone cannot
    say which one is asked for; only the crop's appearance can. After 120 steps the model returns
    the shown performer's voice, and swapping the crop swaps the output (measured on 8 new
    examples: mean SI-SDR +9.6 dB towards the shown voice (min +1.7), -24.2 dB towards the other;
    +10.5 dB towards the other voice once its crop is shown). A model that ignored the crop
    could not be closer to the shown voice in every example."""
    right, wrong, after_swap = train_and_score_on_appearance(tiny_config("frames"))
    # every example nearer the shown performer's voice by at least 3 dB (half the power); with
    # OMP_NUM_THREADS=2 (the suite's setting) the weakest example is 3.4 dB, with 1 thread 5+
    assert (right - wrong).min() > 3.0, (right, wrong)
    assert right.mean() > 6.0 and wrong.mean() < -10.0, (right, wrong)
    assert after_swap.mean() > 6.0 and after_swap.min() > 3.0, after_swap


# --- benchmark row ---------------------------------------------------------------------------------

def add_mouth_video(folder) -> None:
    """A 640 × 400 video for a constructed benchmark scene (``test_sep_benchmark``): a skin-coloured
    face block around the singer's keypoints and a dark mouth whose height is 20 px plus the chin's
    drop since the first frame (the keypoints' jaw follows the singer's own loudness), so the crop
    shows the jaw opening the keypoints show."""
    from core.pose_files import load_instrument_pose
    from core.video import VideoWriter

    kp = load_instrument_pose(folder, "vocal").keypoints
    lips = kp[:, 23 + 48:23 + 68]
    with VideoWriter(folder / "video.mov", 30.0, 640, 400) as writer:
        for f in range(len(kp)):
            frame = np.full((400, 640, 3), 120, np.uint8)
            frame[100:330, 300:500] = (200, 160, 130)
            top, centre = int(np.nanmean(lips[f, :, 1]) - 10), int(np.nanmean(lips[f, :, 0]))
            height = max(2, int(20 + kp[f, 23 + 8, 1] - kp[0, 23 + 8, 1]))
            frame[top:top + height, centre - 30:centre + 30] = 20
            writer.write(frame)


@pytest.mark.slow
def test_tiny_benchmark_frames_beats_audio_only_where_the_mouth_is_the_cue(tmp_path,
                                                                         deterministic_torch):
    """The benchmark's ``frames`` row on the constructed duets (same voice, exchangeable) whose
    videos show the query's mouth: the crops carry the cue, the audio does not (measured: frames
    +15.0 dB [12.7, 17.8] SI-SDR over audio-only, audio-only -2.5 dB)."""
    from separation.benchmark import rows_need_video
    from separation.benchmark_run import BenchmarkSettings, run_benchmark
    from test_sep_benchmark import TINY_SIZES, write_constructed_scenes

    assert rows_need_video(("none", "frames")) and not rows_need_video(("none", "face_body"))
    scenes = write_constructed_scenes(tmp_path / "scenes", {"train": 6, "validation": 2, "test": 6})
    for folder in sorted(scenes.glob("Scenes */*")):
        add_mouth_video(folder)
    sizes = {**TINY_SIZES, "encoder": {**TINY_FRAMES, "crop_size": 64, "frame_stride": 2,
                                       "width": 8}}
    settings = BenchmarkSettings(steps=120, batch_size=4, lr=3e-3, eval_every=40,
                                 rows=("none", "frames"), sizes=sizes, n_resamples=2000)
    doc = run_benchmark(scenes, tmp_path / "out", tmp_path / "ckpt", settings,
                        torch.device("cpu"), figure=False)
    group = doc["scenes"]["same_timbre"]
    assert group["n_chunks"] == 12
    gain = group["models"]["frames"]["si_sdr_minus_audio_only"]
    assert gain["mean"] > 8.0 and gain["ci95"][0] > 4.0, (gain, group["models"]["none"]["si_sdr"])
    assert group["models"]["none"]["si_sdr"]["mean"] < 3.0
    stored = read_checkpoint(tmp_path / "ckpt" / "vocal_frames_small.pt")["config"]
    assert stored["encoder"]["crop_size"] == 64 and "encoder" not in read_checkpoint(
        tmp_path / "ckpt" / "vocal_none_small.pt")["config"]


# --- saliency --------------------------------------------------------------------------------------

def test_saliency_cli_attributes_a_frames_model_per_pixel_region(tmp_path):
    """``--model frames`` runs the saliency stage on a frames checkpoint: per song the crop's
    attribution per region (shares summing to 1), per chunk the completeness delta, a figure."""
    from gradient_saliency import cli

    root = tmp_path / "data"
    write_video_song(root)
    torch.manual_seed(0)
    model = VoViT(tiny_config("frames")).eval()
    save_checkpoint(tmp_path / "frames.pt", model, instrument="vocal")
    assert cli.main("integrated_gradients", [
        "--model", "frames", "--checkpoint", str(tmp_path / "frames.pt"), "--dataset_path",
        str(root), "--num_steps", "4", "--grid", "4", "--frames-baseline", "black",
        "--device", "cpu"]) == 0
    out_dir = root / "results" / "integrated_gradients_all_frames"
    song = json.loads((out_dir / "Art_Song One.json").read_text())
    regions = np.asarray(song["region_importance"], float)
    assert regions.shape == (4, 4) and regions.sum() == pytest.approx(1.0)
    assert song["chunks"] == [0, 1] and song["frames"]["baseline"] == "black"
    assert all("delta" in c for c in song["per_chunk"]) and 0 < song["audio_share"] < 1
    assert (out_dir / "figures" / "Art_Song One_regions.png").stat().st_size > 1000
    average = json.loads((out_dir / "_average.json").read_text())
    np.testing.assert_allclose(average["region_importance"], regions)
    assert cli.main("integrated_gradients", ["--model", "frames", "--dataset_path",
                                             str(root)]) == 2       # no shipped frames model


def test_sanity_cli_runs_the_randomisation_check_on_a_frames_model(tmp_path):
    """``gradient_saliency.sanity --model frames``: the chunks are prepared with the checkpoint's
    encoder options (32-px crops), the crops' baseline is recorded, the frames model's blocks are
    re-initialised output side first, and only the crop pixels of the frames the encoder reads
    (4 of 100) are compared."""
    from gradient_saliency import sanity

    root = tmp_path / "data"
    write_video_song(root)
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "frames.pt", VoViT(tiny_config("frames")).eval(), instrument="vocal")
    assert sanity.main(["--model", "frames", "--checkpoint", str(tmp_path / "frames.pt"),
                        "--dataset_path", str(root), "--method", "gradient_saliency",
                        "--max-chunks", "1", "--depth", "2", "--frames-baseline", "static",
                        "--device", "cpu"]) == 0
    doc = json.loads((root / "results" / "sanity_gradient_saliency_frames" / "randomisation.json")
                     .read_text())
    assert doc["settings"]["visual"] == "frames" and doc["settings"]["frames_baseline"] == "static"
    assert doc["chunks"] == [{"song": "Art/Song One", "chunk": 0}]
    assert [s["group"] for s in doc["steps"]] == ["audio_network.fusion_module",
                                                 "audio_network.audio_net", "frame_net.fc",
                                                 "frame_net.backbone"]
    read = 4 * 3 * 32 * 32                    # frames 0, 25, 50, 75 of the chunk (frame_stride 25)
    assert all(0.9 * read <= s["entries"] <= read for s in doc["steps"]), doc["steps"]
    assert isinstance(doc["passed"], bool) and np.isfinite(doc["final"]["spearman_signed"])
    assert sanity.main(["--model", "frames", "--dataset_path", str(root)]) == 2   # none shipped


# --- command line ----------------------------------------------------------------------------------

def run_main(capsys, *argv):
    from test_sep_cli import run_main_in_process

    code, _, err = run_main_in_process(capsys, *argv)
    return code, err


def test_train_refuses_bad_encoder_options_before_any_song(tmp_path, capsys):
    common = ("train", "--instrument", "vocal", "--dataset_path", str(tmp_path), "--out",
              str(tmp_path / "m.pt"))
    for extra, message in ((("--visual", "frames", "--encoder", "crop_size=16"), "at least 32"),
                           (("--visual", "frames", "--encoder", "depth=3"),
                            "unknown frames encoder option(s) ['depth']"),
                           (("--visual", "face", "--encoder", "width=4"),
                            "visual=face takes no --encoder options"),
                           (("--visual", "face", "--visual_weights", "w.pth"),
                            "visual=face takes no --visual_weights")):
        code, err = run_main(capsys, *common, *extra)
        assert code == 2 and message in err and "Traceback" not in err, err[-2000:]
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.slow
def test_train_and_separate_cli_with_frames(tmp_path, capsys):
    """``train --visual frames`` with encoder options, then ``separate``: the checkpoint records
    the options and the run, and the whole song is separated from its crops."""
    import soundfile as sf

    root = tmp_path / "data"
    write_video_song(root)
    out = tmp_path / "vocal_frames.pt"
    code, err = run_main(capsys, "train", "--visual", "frames", "--instrument", "vocal",
                         "--dataset_path", str(root), "--out", str(out), "--steps", "2",
                         "--batch_size", "2", "--eval_every", "2", "--encoder", "crop_size=32",
                         "frame_stride=25", "width=4", "channels=4", "activation=sigmoid",
                         "--device", "cpu")
    assert code == 0, err[-3000:]
    payload = read_checkpoint(out)
    assert payload["config"]["encoder"] == {**FramesConfig().to_options(), **TINY_FRAMES,
                                            "activation": "sigmoid"}
    assert payload["extra"]["run"]["visual"] == "frames" and payload["extra"]["step"] == 2
    code, err = run_main(capsys, "separate", "--dataset_path", str(root), "--checkpoint",
                         str(out), "--device", "cpu")
    assert code == 0, err[-3000:]
    wave, sr = sf.read(root / "Art" / "Song One" / "vocal" / "separated_frames_small.wav")
    assert sr == SR and len(wave) == 9 * SR and np.isfinite(wave).all()
