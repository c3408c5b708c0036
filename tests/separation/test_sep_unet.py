"""Sound of Pixels' U-Net audio path (``separation.unet``, ``VoViTConfig.audio_net = "unet"``):
resampling, the log-frequency warp and its inverse, mask targets and losses against independent
computations, shapes, config → checkpoint → load, the benchmark row, the command line, and a known
answer (the shown performer's voice)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from separation import unet
from separation.benchmark import ROW_BY_NAME, DEFAULT_ROWS, checkpoint_stem, rows_need_video
from separation.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from separation.vovit import CHUNK_SAMPLES, SAMPLE_RATE, VoViT, VoViTConfig, make_config

from sep_synthetic import TINY_FRAMES, tiny_config

TINY_UNET = {"width": 4}


def tiny_unet_config(visual: str = "frames", **audio) -> VoViTConfig:
    """The tiny model of ``sep_synthetic.tiny_config`` with a width-4, 7-level U-Net audio path."""
    sizes = {k: tuple(v) if isinstance(v, list) else v
             for k, v in tiny_config(visual).to_dict().items()
             if k not in ("visual", "preset", "cross_modal", "encoder")}
    return make_config(visual, "small", audio_net="unet",
                       encoder=TINY_FRAMES if visual == "frames" else None,
                       audio={**TINY_UNET, **audio}, **sizes)


def example_visual(visual: str, batch: int, gen: torch.Generator):
    if visual == "none":
        return None
    if visual == "frames":
        return torch.randint(0, 256, (batch, 100, 3, 32, 32), dtype=torch.uint8, generator=gen)
    return torch.randn(batch, 2, 100, 68, generator=gen)


# --- resampling ---------------------------------------------------------------------------------------

def test_fft_resampling_is_scipys_and_keeps_a_sinusoid():
    rng = np.random.default_rng(0)
    for n_in, n_out in ((65536, 44100), (44100, 65536), (1000, 1501), (1001, 700)):
        x = rng.normal(size=(2, n_in))
        ours = unet.fft_resample(torch.from_numpy(x), n_out).numpy()
        np.testing.assert_allclose(ours, scipy.signal.resample(x, n_out, axis=-1), atol=1e-10)
    # 4 s at 16384 Hz → 11025 Hz: 65535 samples padded to 65536, then 44100; a 1000 Hz sinusoid
    # (4000 whole periods) is the same sinusoid at the new sample times, away from the padded end
    t = torch.arange(CHUNK_SAMPLES, dtype=torch.float64) / SAMPLE_RATE
    low = unet.to_sop_rate(torch.sin(2 * math.pi * 1000 * t)[None], SAMPLE_RATE)[0]
    assert low.shape == (44100,) and unet.padded_length(CHUNK_SAMPLES, SAMPLE_RATE) == 65536
    expected = torch.sin(2 * math.pi * 1000 * torch.arange(44100, dtype=torch.float64) / 11025)
    assert (low - expected)[2000:-2000].abs().max() < 1e-3
    back = unet.from_sop_rate(low[None], SAMPLE_RATE, CHUNK_SAMPLES)[0]
    assert back.shape == (CHUNK_SAMPLES,)
    assert (back - torch.sin(2 * math.pi * 1000 * t))[3000:-3000].abs().max() < 1e-3


# --- the log-frequency warp ---------------------------------------------------------------------------

def source_bin(row: np.ndarray) -> np.ndarray:
    """The linear bin log row ``row`` reads (issue 19 / public warp grid, written out here)."""
    return 511 * (21.0 ** (row / 255) - 1) / 20


def test_a_sinusoid_lands_in_its_log_frequency_row():
    """A sinusoid exactly on bin b peaks in the log row whose source bin is nearest b, which is
    255 · log(1 + 20 b / 511) / log 21 rounded."""
    rows = np.arange(256)
    t = torch.arange(44100, dtype=torch.float64) / unet.SOP_SAMPLE_RATE
    for b in (20, 93, 371):
        frequency = b * unet.SOP_SAMPLE_RATE / unet.SOP_N_FFT
        magnitude = unet.sop_stft(torch.sin(2 * math.pi * frequency * t)[None]).abs()
        assert magnitude.shape == (1, 512, 173) and int(magnitude[0, :, 86].argmax()) == b
        warped = unet.log_frequency_warp(magnitude[:, None])
        assert warped.shape == (1, 1, 256, 173)
        peak = int(warped[0, 0, :, 86].argmax())
        assert peak == int(np.argmin(np.abs(source_bin(rows) - b))), (b, peak)
        assert abs(peak - 255 * math.log(1 + 20 * b / 511) / math.log(21)) < 0.6


def test_warp_and_inverse_on_constructed_spectrograms():
    frames = 7
    # a linear ramp over bins is sampled exactly (bilinear interpolation of a linear function)
    ramp = torch.arange(512, dtype=torch.float64)[None, None, :, None].expand(1, 1, 512, frames)
    warped = unet.log_frequency_warp(ramp)
    np.testing.assert_allclose(warped[0, 0, :, 3].numpy(), source_bin(np.arange(256)), atol=1e-6)
    # the inverse: bin b reads log row 255 · log(1 + 20 b / 511) / log 21
    row_ramp = torch.arange(256, dtype=torch.float64)[None, None, :, None].expand(1, 1, 256, frames)
    unwarped = unet.linear_frequency_warp(row_ramp)
    assert unwarped.shape == (1, 1, 512, frames)
    b = np.arange(512)
    np.testing.assert_allclose(unwarped[0, 0, :, 0].numpy(),
                               255 * np.log(1 + 20 * b / 511) / np.log(21), atol=1e-6)
    # there and back: the ramp within 0.02 bins (the log rows are 5 bins apart at the top)
    np.testing.assert_allclose(unet.linear_frequency_warp(warped)[0, 0, :, 5].numpy(), b, atol=0.02)
    # a mask that is 1 from log row 128 up is 1 from the bin row 128 reads (92.2) up, 0 below
    # the bin row 127 reads (90.8), linear in between (bins 91, 92 read rows 127.12, 127.84)
    step = torch.zeros(1, 1, 256, frames, dtype=torch.float64)
    step[:, :, 128:] = 1.0
    linear = unet.linear_frequency_warp(step)[0, 0, :, 0].numpy()
    assert (linear[:91] == 0).all() and (linear[93:] == 1).all()
    np.testing.assert_allclose(linear[91:93], 255 * np.log(1 + 20 * b[91:93] / 511) / np.log(21)
                               - 127, atol=1e-6)
    # time is untouched
    columns = torch.randn(1, 1, 512, frames, dtype=torch.float64)
    flat = columns[:, :, :1].expand(1, 1, 512, frames)
    torch.testing.assert_close(unet.log_frequency_warp(flat + 0 * columns)[..., 0, :],
                               flat[..., 0, :])


# --- targets and losses --------------------------------------------------------------------------------

def test_binary_and_ratio_targets_and_weighted_losses_against_numpy():
    rng = np.random.default_rng(1)
    target = rng.uniform(0, 2, (2, 1, 5, 6))
    other = rng.uniform(0, 2, (2, 1, 5, 6))
    other[0, 0, 0, :3] = target[0, 0, 0, :3]                       # ties count for the target
    mixture = rng.uniform(0.1, 30, (2, 1, 5, 6))
    logits = rng.normal(0, 2, (2, 1, 5, 6))
    tt, to, tm, tz = (torch.from_numpy(a) for a in (target, other, mixture, logits))

    binary = unet.mask_target(tt, to, tm, "binary").numpy()
    np.testing.assert_array_equal(binary, (target >= other).astype(float))
    assert binary[0, 0, 0, :3].tolist() == [1.0, 1.0, 1.0]
    ratio = unet.mask_target(tt, to, tm, "ratio").numpy()
    np.testing.assert_allclose(ratio, np.clip(target / mixture, 0, 5))

    weight = unet.loss_weights(tm).numpy()
    np.testing.assert_allclose(weight, np.clip(np.log(1 + mixture), 1e-3, 10))
    assert weight.max() > 3 and (unet.loss_weights(tm, weighted=False).numpy() == 1).all()
    assert unet.loss_weights(torch.tensor([0.0, 1e6])).tolist() == pytest.approx([1e-3, 10.0])

    p = 1 / (1 + np.exp(-logits))
    bce = -(binary * np.log(p) + (1 - binary) * np.log(1 - p))
    assert unet.mask_loss(tz, torch.from_numpy(binary), torch.from_numpy(weight),
                          "binary").item() == pytest.approx((weight * bce).mean(), rel=1e-9)
    assert unet.mask_loss(tz, torch.from_numpy(ratio), torch.from_numpy(weight),
                          "ratio").item() == pytest.approx((weight * np.abs(p - ratio)).mean(),
                                                           rel=1e-9)


@pytest.mark.parametrize("mask_type", unet.MASK_TYPES)
def test_training_loss_when_the_target_is_the_whole_mixture(mask_type):
    """With target = mixture the other sources are silent: the binary target is 1 everywhere
    (loss = mean(w · softplus(−z))); the ratio target is |X| / (|X| + 1e-10) ≈ 1."""
    torch.manual_seed(0)
    model = VoViT(tiny_unet_config("none", mask_type=mask_type)).eval()
    mixture = 0.1 * torch.randn(2, CHUNK_SAMPLES)
    with torch.no_grad():
        internals = model.forward_spectrogram(mixture)
        loss = model.training_loss(mixture, mixture.clone(), None).item()
    warped = unet.log_frequency_warp(internals["mixture_stft"].abs()[:, None] + 1e-10)
    weight = torch.clamp(torch.log1p(warped), 1e-3, 10)
    z = internals["logits"]
    if mask_type == "binary":
        expected = (weight * torch.nn.functional.softplus(-z)).mean().item()
    else:
        expected = (weight * (torch.sigmoid(z) - 1).abs()).mean().item()
    assert loss == pytest.approx(expected, rel=1e-4)


# --- the model ------------------------------------------------------------------------------------

@pytest.mark.parametrize("visual", ["frames", "none", "face"])
def test_unet_model_shapes(visual):
    gen = torch.Generator().manual_seed(0)
    model = VoViT(tiny_unet_config(visual)).eval()
    mixture = 0.1 * torch.randn(2, CHUNK_SAMPLES, generator=gen)
    with torch.no_grad():
        out = model.forward_spectrogram(mixture, example_visual(visual, 2, gen))
    assert out["estimate"].shape == (2, CHUNK_SAMPLES)
    assert out["mixture_stft"].shape == (2, 512, 173) and out["mask"].shape == (2, 512, 173)
    assert out["logits"].shape == (2, 1, 256, 173)
    assert ((out["mask"] >= 0) & (out["mask"] <= 1)).all()
    k = model.audio_network.components
    assert k == {"frames": 4, "none": 32, "face": 8}[visual]      # the encoder's C (tiny ST-GCN 8)
    assert (model.audio_network.constant_visual is None) == (visual != "none")
    assert all(key.startswith(("audio_network.sound_net.", "audio_network.synthesizer.",
                               "audio_network.constant_visual", "frame_net.", "graph_net."))
               for key in model.state_dict())


def test_the_mask_applies_to_the_mixture_with_its_phase():
    """A mask of ones gives the mixture back (through 11025 Hz: its content below 5.5 kHz; the
    sample padded to reach 4 s rings a little, about −60 dB 2000 samples from either end); the
    estimate is the mask times the mixture STFT."""
    torch.manual_seed(0)
    model = VoViT(tiny_unet_config("none")).eval()
    with torch.no_grad():
        model.audio_network.synthesizer.bias.fill_(40.0)              # sigmoid → 1
        model.audio_network.synthesizer.weight.zero_()
        t = torch.arange(CHUNK_SAMPLES) / SAMPLE_RATE
        mixture = (0.3 * torch.sin(2 * math.pi * 440 * t) + 0.2 * torch.sin(2 * math.pi * 3000 * t)
                   )[None]
        out = model.forward_spectrogram(mixture)
    torch.testing.assert_close(out["estimate_stft"], out["mixture_stft"])
    assert (out["estimate"] - mixture)[0, 2000:-2000].abs().max() < 1e-3      # measured 4.7e-4


def test_threshold_output_mask_outside_training_only():
    torch.manual_seed(0)
    model = VoViT(tiny_unet_config("none", output_mask="threshold"))
    mixture = 0.1 * torch.randn(1, CHUNK_SAMPLES)
    with torch.no_grad():
        model.eval()
        hard = model.forward_spectrogram(mixture)["log_mask"]
        model.train()
        soft = model.forward_spectrogram(mixture)["log_mask"]
    assert set(torch.unique(hard).tolist()) <= {0.0, 1.0}
    assert ((soft > 0) & (soft < 1)).all()
    with pytest.raises(ValueError, match="output_mask=threshold is for binary masks"):
        tiny_unet_config("none", output_mask="threshold", mask_type="ratio")


def test_config_checks_and_names():
    config = make_config("frames", "small", audio_net="unet")
    assert config.name == "frames_unet_small" and config.audio_options == {
        "levels": 7, "width": 16, "mask_type": "binary", "weighted_loss": True,
        "visual_activation": "sigmoid", "output_mask": "soft"}
    assert make_config("frames", "vovit", audio_net="unet").audio_options["width"] == 64
    stored = config.to_dict()
    assert stored["audio_net"] == "unet" and stored["audio"]["width"] == 16
    assert VoViTConfig.from_dict(stored) == config
    # the VoViT path's configs gain no key (shipped checkpoints and benchmark rows stay equal)
    vovit_config = make_config("face", "small", audio={"width": 4})
    assert "audio_net" not in vovit_config.to_dict() and "audio" not in vovit_config.to_dict()
    with pytest.raises(ValueError, match="cross_modal is a block of the VoViT audio path"):
        make_config("frames", "small", cross_modal=True, audio_net="unet")
    with pytest.raises(ValueError, match=r"unknown unet audio path option\(s\) \['depth'\]"):
        make_config("frames", "small", audio_net="unet", audio={"depth": 3})
    with pytest.raises(ValueError, match="mask_type must be one of"):
        make_config("none", "small", audio_net="unet", audio={"mask_type": "soft"})
    with pytest.raises(ValueError, match="audio_net must be one of"):
        make_config("none", "small", audio_net="demucs")
    with pytest.raises(ValueError, match="are for audio_net=unet"):
        VoViTConfig(visual="none", audio=(("width", 4),))
    with pytest.raises(ValueError, match="use forward_spectrogram"):
        VoViT(tiny_unet_config("none")).separate_stft(torch.zeros(1, 512, 256, dtype=torch.cfloat),
                                                     None)


@pytest.mark.parametrize("visual", ["frames", "none"])
def test_unet_config_round_trips_through_a_checkpoint(tmp_path, visual):
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    model = VoViT(tiny_unet_config(visual, mask_type="ratio"))
    mixture = 0.1 * torch.randn(2, CHUNK_SAMPLES, generator=gen)
    vis = example_visual(visual, 2, gen)
    model.train()
    model(mixture, vis)                        # BN statistics away from their defaults
    model.eval()
    path = save_checkpoint(tmp_path / "u.pt", model, instrument="vocal")
    stored = read_checkpoint(path)["config"]
    assert stored["audio_net"] == "unet" and stored["audio"]["mask_type"] == "ratio"
    loaded, meta = load_checkpoint(path, expect_visual=visual)
    assert meta["config"] == model.config and loaded.config.name == f"{visual}_unet_small"
    assert isinstance(loaded.audio_network, unet.UNetAudioPath)
    with torch.no_grad():
        assert torch.equal(model(mixture, vis), loaded(mixture, vis))


# --- the benchmark row and the command line -----------------------------------------------------------

def test_frames_unet_is_an_opt_in_benchmark_row():
    from separation.benchmark_run import BenchmarkSettings

    row = ROW_BY_NAME["frames_unet"]
    assert row.visual == "frames" and row.audio_net == "unet" and "frames_unet" not in DEFAULT_ROWS
    assert rows_need_video(("none", "frames_unet"))
    config = BenchmarkSettings().config(row)
    assert config.audio_net == "unet" and config.encoder_options["crop_size"] == 64
    assert checkpoint_stem("vocal", config.name) == "vocal_frames_unet_small"
    # one set of test sizes serves every row: a VoViT-path row ignores the U-Net options
    sizes = {"audio": {"width": 4}, "encoder": TINY_FRAMES}
    settings = BenchmarkSettings(sizes=sizes)
    assert settings.config(row).audio_options["width"] == 4
    assert "audio" not in settings.config(ROW_BY_NAME["frames"]).to_dict()


def test_checkpoints_table_names_the_unet_fusion():
    from separation.report_tables import checkpoints_table

    row = {"checkpoint": "vocal_frames_unet_small.pt", "visual": "frames", "cross_modal": False,
           "audio_net": "unet", "parameters": 1000, "file_mb": 1.0, "steps": 10, "best_step": 10,
           "wall_time_s": 60.0, "device": "cpu"}
    doc = {"rows": {"frames_unet": row}, "target": "vocal", "git_commit": "abc",
           "generator_version": 1, "architecture_version": 2,
           "training": {"preset": "small", "steps": 10, "batch_size": 4, "lr": 1e-3, "seed": 0,
                        "eval_every": 5}}
    table = checkpoints_table(doc)
    assert "| frames | U-Net maps × visual vector (Sound of Pixels) |" in table
    doc["rows"]["frames"] = {**row, "checkpoint": "vocal_frames_small.pt", "audio_net": "vovit"}
    assert "| frames | concat (VoViT) |" in checkpoints_table(doc)


def test_train_refuses_bad_audio_options_before_any_song(tmp_path, capsys):
    from test_sep_cli import run_main_in_process

    common = ("train", "--instrument", "vocal", "--dataset_path", str(tmp_path), "--out",
              str(tmp_path / "m.pt"))
    for extra, message in (
            (("--visual", "frames", "--audio_net", "unet", "--audio", "mask_type=soft"),
             "mask_type must be one of"),
            (("--visual", "frames", "--audio_net", "unet", "--audio", "depth=3"),
             "unknown unet audio path option(s) ['depth']"),
            (("--visual", "face", "--audio", "width=4"), "--audio options are for --audio_net unet"),
            (("--visual", "face", "--audio_net", "unet", "--cross_modal"),
             "cross_modal is a block of the VoViT audio path")):
        code, _, err = run_main_in_process(capsys, *common, *extra)
        assert code == 2 and message in err and "Traceback" not in err, err[-2000:]
    assert not (tmp_path / "m.pt").exists()


# --- known answer ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_unet_with_frames_learns_which_performer_the_query_shows():
    """Known answer (the frames kind's, ``test_sep_frames``): two same-timbre voices sound
    together, low (red performer) and high (blue); only the crop's colour says which one is asked
    for. The frames encoder + U-Net audio path (binary masks, weighted BCE), 120 steps: the output
    is the shown performer's voice and follows a swapped crop (measured with OMP_NUM_THREADS=1 on
    8 new examples: SI-SDR +13.5 dB towards the shown voice (min +5.4), −21.7 dB towards the
    other; +12.2 dB (min +9.2) towards the other once its crop is shown)."""
    from test_sep_frames import train_and_score_on_appearance

    right, wrong, after_swap = train_and_score_on_appearance(tiny_unet_config("frames"))
    assert (right - wrong).min() > 6.0, (right, wrong)
    assert right.mean() > 9.0 and wrong.mean() < -10.0, (right, wrong)
    assert after_swap.mean() > 8.0 and after_swap.min() > 4.0, after_swap


def test_the_unet_divergences_are_listed_in_the_readme():
    import re

    from core.settings import REPO_ROOT

    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Divergences from the published pipeline\n(.*?)(?=^## )", text,
                        re.S | re.M).group(1)
    assert "--audio_net unet" in section and "output_mask=threshold" in section
    assert unet.UNetConfig().output_mask == "soft" and unet.UNetConfig().mask_type == "binary"


@pytest.mark.slow
def test_tiny_benchmark_trains_and_scores_the_frames_unet_row(tmp_path):
    """The benchmark's ``frames_unet`` row through the whole benchmark on constructed scenes with
    video (a few steps: the wiring, not a result): trained by the one loop with the U-Net's loss,
    its checkpoint and JSON row name the audio path, it is scored on the same chunks as
    audio-only, and a second run with the same settings reuses it (the stored U-Net config equals
    the one the settings make)."""
    from separation.benchmark_run import BenchmarkSettings, run_benchmark
    from test_sep_benchmark import TINY_SIZES, write_constructed_scenes
    from test_sep_frames import add_mouth_video

    scenes = write_constructed_scenes(tmp_path / "scenes", {"train": 2, "validation": 1, "test": 1})
    for folder in sorted(scenes.glob("Scenes */*")):
        add_mouth_video(folder)
    sizes = {**TINY_SIZES, "encoder": {**TINY_FRAMES, "crop_size": 32}, "audio": TINY_UNET}
    settings = BenchmarkSettings(steps=4, batch_size=2, lr=3e-3, eval_every=2,
                                 rows=("none", "frames_unet"), sizes=sizes, n_resamples=200)
    doc = run_benchmark(scenes, tmp_path / "out", tmp_path / "ckpt", settings,
                        torch.device("cpu"), figure=False)
    row = doc["rows"]["frames_unet"]
    assert row["checkpoint"] == "vocal_frames_unet_small.pt" and row["audio_net"] == "unet"
    assert doc["rows"]["none"]["audio_net"] == "vovit"
    assert [h["step"] for h in row["learning_curve"]] == [2, 4]
    stored = read_checkpoint(tmp_path / "ckpt" / "vocal_frames_unet_small.pt")["config"]
    assert stored["audio"]["width"] == 4 and stored["encoder"]["crop_size"] == 32
    group = doc["scenes"]["same_timbre"]
    assert group["n_chunks"] == 2 and group["models"]["frames_unet"]["si_sdr"]["n"] == 2
    assert group["models"]["frames_unet"]["si_sdr_minus_audio_only"] is not None
    path = tmp_path / "ckpt" / "vocal_frames_unet_small.pt"
    written = path.stat().st_mtime_ns
    run_benchmark(scenes, tmp_path / "out", tmp_path / "ckpt", settings, torch.device("cpu"),
                  figure=False)
    assert path.stat().st_mtime_ns == written                          # reused, not retrained
