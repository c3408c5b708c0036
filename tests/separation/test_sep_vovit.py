"""Model family: reference state dict, shapes, mask application, attention, overfitting."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from separation.stgcn import hop_distances, spatial_adjacency
from separation.vovit import (CHUNK_SAMPLES, CHUNK_VIDEO_FRAMES, N_FRAMES, VoViT, apply_mask,
                              count_parameters, istft, make_config, stft)

from sep_synthetic import tiny_config

REFERENCE = Path(__file__).resolve().parents[2] / "core" / "reference"
JOINTS = {"face": 68, "body": 55, "face_body": 123, "none": None}


def read_tsv(path: Path) -> list[tuple[str, tuple[int, ...]]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            key, shape = line.split("\t")
            rows.append((key, tuple(int(x) for x in shape.strip("()").split(",") if x.strip())))
    return rows


def inputs(visual: str, batch: int = 2, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    mixture = 0.1 * torch.randn(batch, CHUNK_SAMPLES, generator=gen)
    joints = JOINTS[visual]
    vis = None if joints is None else torch.randn(batch, 2, CHUNK_VIDEO_FRAMES, joints, generator=gen)
    return mixture, vis


def test_vovit_face_state_dict_equals_reference_exactly():
    model = VoViT(make_config("face", "vovit", cross_modal=False))
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    reference = read_tsv(REFERENCE / "vovit_singing_voice_state_dict.tsv")
    assert ours == reference                       # same keys, same shapes, same order
    assert count_parameters(model) == pytest.approx(26.7e6, rel=0.01)
    # An official file saved under a wrapper prefix loads strictly once the prefix is stripped.
    from separation.official import official_state_dict

    wrapped = {f"module.{k}": v for k, v in model.state_dict().items()}
    kept, dropped = official_state_dict(wrapped, set(model.state_dict()))
    assert dropped == []
    VoViT(make_config("face", "vovit")).load_state_dict(kept, strict=True)


@pytest.mark.parametrize("visual", ["face", "body", "face_body", "none"])
@pytest.mark.parametrize("cross_modal", [False, True])
def test_output_shapes_for_every_visual_input(visual, cross_modal):
    if visual == "none" and cross_modal:
        with pytest.raises(ValueError, match="cross_modal"):
            tiny_config(visual, cross_modal)
        return
    model = VoViT(tiny_config(visual, cross_modal)).eval()
    mixture, vis = inputs(visual)
    with torch.no_grad():
        out = model.forward_spectrogram(mixture, vis)
    assert out["estimate"].shape == (2, CHUNK_SAMPLES)
    assert out["mask"].shape == (2, 2, 256, N_FRAMES)
    assert out["mixture_stft"].shape == (2, 512, N_FRAMES)
    assert torch.isfinite(out["estimate"]).all()
    if visual != "none":
        with pytest.raises(ValueError, match="visual input has shape"):
            model(mixture, vis[..., :-1])


def test_small_preset_is_small():
    for visual, cross in (("face", False), ("body", False), ("face_body", True), ("none", False)):
        n = count_parameters(VoViT(make_config(visual, "small", cross_modal=cross)))
        assert 0.5e6 < n <= 2.0e6, (visual, n)


def test_mask_of_ones_returns_the_mixture():
    mixture, _ = inputs("none", batch=3)
    spec = stft(mixture)
    ones = torch.zeros(3, 2, 256, spec.shape[-1])
    ones[:, 0] = 1.0
    back = istft(apply_mask(ones, spec), CHUNK_SAMPLES)
    assert torch.max(torch.abs(back - mixture)).item() < 1e-4
    # And a mask of 0.5 halves it (the mask really multiplies the mixture STFT).
    half = istft(apply_mask(0.5 * ones, spec), CHUNK_SAMPLES)
    assert torch.max(torch.abs(half - 0.5 * mixture)).item() < 1e-4


def test_model_applies_its_predicted_mask_to_the_mixture_stft():
    model = VoViT(tiny_config("face")).eval()
    mixture, vis = inputs("face")
    with torch.no_grad():
        out = model.forward_spectrogram(mixture, vis)
    up = out["mask"].repeat_interleave(2, dim=2)
    # VoViT's convention: the mask (2 × logits) multiplies the mixture's share X / 2 (n_sources).
    expected = torch.complex(up[:, 0], up[:, 1]) * out["mixture_stft"] / 2
    assert torch.allclose(out["estimate_stft"], expected)


def test_cross_attention_shape_and_normalisation():
    model = VoViT(tiny_config("face_body", cross_modal=True)).eval()
    mixture, vis = inputs("face_body", batch=3)
    with torch.no_grad():
        model(mixture, vis)
    att = model.last_attention
    assert att.shape == (3, 2, N_FRAMES, N_FRAMES)          # (B, heads, T_audio, T_video)
    assert torch.all(att >= 0)
    assert torch.allclose(att.sum(dim=-1), torch.ones(3, 2, N_FRAMES), atol=1e-5)
    assert set(model.last_film) == {"scale", "shift"}
    assert model.last_film["scale"].shape == (3, N_FRAMES, 32)
    assert VoViT(tiny_config("face")).last_attention is None


def test_graph_partitions():
    a = spatial_adjacency("face")
    assert a.shape == (3, 68, 68)
    # Column sums of the three partitions together are 1 (A D^-1 normalisation).
    np.testing.assert_allclose(a.sum(axis=(0, 1)), np.ones(68), atol=1e-6)
    # VoViT's layout: centre 0, distances cut at max_hop 1 → 68 / 116 / 2 non-zeros; only 0 → 1 and
    # 1 → 2 lead away from the centre (A[k, v, w]: input node v feeding output node w).
    assert [int((a[k] != 0).sum()) for k in range(3)] == [68, 116, 2]
    assert sorted(map(tuple, np.argwhere(a[2]).tolist())) == [(0, 1), (1, 2)]
    assert a[1, 1, 0] > 0 and a[1, 2, 1] > 0 and a[1, 29, 30] > 0 and a[1, 30, 29] > 0
    assert list(hop_distances(4, [(0, 1), (1, 2)], [0])) == [0, 1, 2, np.inf]
    assert list(hop_distances(4, [(0, 1), (1, 2)], [0], max_hop=1)) == [0, 1, np.inf, np.inf]
    # body and face_body follow the same rules: each centre's neighbours lead away from it.
    for visual, centres in (("body", (0,)), ("face_body", (0, 68))):
        b = spatial_adjacency(visual)
        np.testing.assert_allclose(b.sum(axis=(0, 1)), np.ones(b.shape[1]), atol=1e-6)
        sources = {v for v, w in np.argwhere(b[2]).tolist()}
        near = {c for c in centres} | {v for v, w in np.argwhere(b[1] + b[2]).tolist()
                                       if w in centres}
        assert sources <= near, (visual, sources - near)
    assert spatial_adjacency("face_body").shape == (3, 123, 123)


@pytest.mark.slow
def test_tiny_model_overfits_one_batch():
    """15 Adam steps on one fixed example cut the training loss at least 5x
    (measured: 0.94 -> 0.09, ~10x).

    Target = a 440 Hz tone, interference = a 1500 Hz tone: a mask that keeps one band and drops the
    other separates them exactly, so a model that can learn at all drives the loss towards 0.
    """
    from separation.training import batch_loss

    torch.manual_seed(0)
    model = VoViT(tiny_config("face"))
    t = torch.arange(CHUNK_SAMPLES) / 16384.0
    target = 0.3 * torch.sin(2 * np.pi * 440 * t)[None]
    noise = 0.3 * torch.sin(2 * np.pi * 1500 * t + 1.0)[None]
    _, vis = inputs("face", batch=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = batch_loss(model, target + noise, target, vis)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # Mean of the last three steps: one noisy Adam step must not decide the test.
    assert np.mean(losses[-3:]) < losses[0] / 5, losses


def test_import_vovit_refuses_what_is_not_the_published_network(tmp_path, capsys):
    """A file without the network, or with a parameter the network does not have: exit 2, one line
    naming the file and the reason; nothing written."""
    from separation.main import main
    from separation.official import NotAVoViTFile, official_state_dict

    out = tmp_path / "out.pt"
    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "other.pth")
    assert main(["import-vovit", str(tmp_path / "other.pth"), "--instrument", "vocal",
                 "--out", str(out)]) == 2
    assert "other.pth: no '...graph_net.A' key" in capsys.readouterr().err and not out.exists()
    expected = set(VoViT(make_config("face", "vovit")).state_dict())
    with pytest.raises(NotAVoViTFile, match=r"1 key\(s\) the vovit/face network does not have"):
        official_state_dict({"m.graph_net.A": torch.zeros(1), "m.graph_net.extra_head.weight":
                             torch.zeros(1), "m.ap._window": torch.zeros(1)}, expected)
    kept, dropped = official_state_dict({"graph_net.A": torch.zeros(1), "ap._window": torch.zeros(1),
                                         "audio_processor.mel_fb": torch.zeros(1)}, expected)
    assert list(kept) == ["graph_net.A"] and dropped == ["ap._window", "audio_processor.mel_fb"]
    # keys outside the network's prefix are dropped (and listed) too
    kept, dropped = official_state_dict({"net.graph_net.A": torch.zeros(1),
                                         "optimizer_step": torch.zeros(1)}, expected)
    assert list(kept) == ["graph_net.A"] and dropped == ["optimizer_step"]
