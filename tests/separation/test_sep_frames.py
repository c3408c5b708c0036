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
        truth = json.loads((folder / "ground_truth.json").read_text())["performers"]["vocal"]
        boxes = np.asarray(truth["boxes"], float)            # (F, 4) x0, y0, x1, y1 per video frame
        cached = np.load(fc.cache_path(folder, "vocal", 64))
        centres = cached["centres"]
        inside = ((centres[:, 0] >= boxes[:len(centres), 0]) & (centres[:, 0] <= boxes[:len(centres), 2])
                  & (centres[:, 1] >= boxes[:len(centres), 1]) & (centres[:, 1] <= boxes[:len(centres), 3]))
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


@pytest.mark.slow
def test_frames_encoder_learns_which_performer_the_query_shows():
    """Known answer: the two voices share a timbre and sound together, so the mixture alone cannot
    say which one is asked for; only the crop's appearance can. After 120 steps the model returns
    the shown performer's voice, and swapping the crop swaps the output (measured on 8 new
    examples: mean SI-SDR +9.6 dB towards the shown voice (min +1.7), -24.2 dB towards the other;
    +10.5 dB towards the other voice once its crop is shown). A model that ignored the crop
    could not be closer to the shown voice in every example."""
    from separation.training import train_step

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = VoViT(tiny_config("frames"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(120):
        mixture, target, crops, _, _ = appearance_batch(gen, 4)
        train_step(model, optimizer, mixture, target, crops)
    model.eval()
    test_gen = torch.Generator().manual_seed(99)
    mixture, target, crops, other, query = appearance_batch(test_gen, 8)
    _, _, swapped, _, _ = appearance_batch(test_gen, 8, query=1 - query)
    with torch.no_grad():
        shown, flipped = model(mixture, crops).numpy(), model(mixture, swapped).numpy()
    right = chunk_metrics(shown, target.numpy())["si_sdr"]
    wrong = chunk_metrics(shown, other.numpy())["si_sdr"]
    after_swap = chunk_metrics(flipped, other.numpy())["si_sdr"]
    assert (right - wrong).min() > 5.0, (right, wrong)
    assert right.mean() > 6.0 and wrong.mean() < -10.0, (right, wrong)
    assert after_swap.mean() > 6.0 and after_swap.min() > 3.0, after_swap
