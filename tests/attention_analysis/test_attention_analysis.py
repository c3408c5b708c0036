"""Cross-modal attention: reductions, a real softmax attention model, the JSON shape, and the error
for models without the block."""
from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from attention_analysis import checkpoints, pipeline
from attention_analysis.attention_analysis import main
from attention_analysis.checkpoints import CheckpointInfo, NoCrossModalBlock
from attention_analysis.weights import rows_sum_to_one, summarise_attention

from conftest import REPO_ROOT, run_cli

T_AUDIO, HOP, T_VIDEO, JOINTS = 16, 32, 10, 68


class TinyCrossAttention(nn.Module):
    """Audio frames (queries) attend to keypoint frames (keys/values) with nn.MultiheadAttention."""

    def __init__(self, heads: int = 2, dim: int = 8, cross_modal: bool = True, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.config = SimpleNamespace(cross_modal=cross_modal, visual="face")
        self.audio_proj = nn.Linear(HOP, dim)
        self.visual_proj = nn.Linear(2 * JOINTS, dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.last_attention = None

    def tokens(self, mixture, visual):
        frames = mixture[:, :T_AUDIO * HOP].reshape(len(mixture), T_AUDIO, HOP)
        return self.audio_proj(frames), self.visual_proj(visual.permute(0, 2, 1, 3).flatten(2))

    def forward(self, mixture, visual):
        query, key = self.tokens(mixture, visual)
        out, weights = self.attention(query, key, key, need_weights=True,
                                      average_attn_weights=False)
        self.last_attention = weights.detach()            # (B, heads, T_audio, T_video)
        return mixture * (1 + out.mean(dim=(1, 2)))[:, None]


def toy_chunks(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [SimpleNamespace(index=i, mixture=rng.standard_normal(T_AUDIO * HOP).astype(np.float32),
                            target=rng.standard_normal(T_AUDIO * HOP).astype(np.float32) * 0.5,
                            visual=rng.standard_normal((2, T_VIDEO, JOINTS)).astype(np.float32))
            for i in range(n)]


def test_reductions_known_values():
    weights = np.zeros((1, 2, 2, 3))
    weights[0, 0] = [[1, 0, 0], [0, 1, 0]]
    weights[0, 1] = [[0, 0, 1], [0, 1, 0]]
    out = summarise_attention(weights)          # head mean: [[.5, 0, .5], [0, 1, 0]]
    np.testing.assert_allclose(out["video_attention"], [[0.25, 0.5, 0.25]])
    np.testing.assert_allclose(out["audio_attention"], [[1 / 3, 1 / 3]])
    np.testing.assert_allclose(out["audio_attention_peak"], [[0.5, 1.0]])
    assert rows_sum_to_one(weights)
    assert not rows_sum_to_one(weights * 0.5)
    with pytest.raises(ValueError, match="heads"):
        summarise_attention(np.zeros((2, 3, 4)))


def test_chunk_attention_matches_an_independent_softmax():
    model = TinyCrossAttention(heads=2, dim=8).eval()
    chunks = toy_chunks(3)
    records, normalised = pipeline.chunk_attention(model, chunks, "cpu", chunk_batch=2)
    assert normalised and [r["chunk"] for r in records] == [0, 1, 2]
    # recompute softmax(Q K^T / sqrt(d_h)) from the layer's projection weights
    mixture = torch.stack([torch.as_tensor(c.mixture) for c in chunks])
    visual = torch.stack([torch.as_tensor(c.visual) for c in chunks])
    with torch.no_grad():
        query, key = model.tokens(mixture, visual)
        w, b = model.attention.in_proj_weight, model.attention.in_proj_bias
        q = (query @ w[:8].T + b[:8]).reshape(3, T_AUDIO, 2, 4).transpose(1, 2)
        k = (key @ w[8:16].T + b[8:16]).reshape(3, T_VIDEO, 2, 4).transpose(1, 2)
        manual = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(4), dim=-1).mean(dim=1).numpy()
    for b_i, record in enumerate(records):
        np.testing.assert_allclose(record["video_attention"], manual[b_i].mean(axis=0), atol=1e-6)
        np.testing.assert_allclose(record["audio_attention"], manual[b_i].mean(axis=1), atol=1e-6)
        np.testing.assert_allclose(record["audio_attention_peak"], manual[b_i].max(axis=1), atol=1e-6)
        assert sum(record["video_attention"]) == pytest.approx(1.0, abs=1e-5)


def test_fallback_motion_is_the_mean_keypoint_speed():
    """Joint 0 moves 0.01 units/frame along x, joint 1 0.03 along y (25 fps -> 0.25 and 0.75 /s);
    joint 2 moves fast but is never observed; frame 5 has no observed point."""
    frames = 10
    visual = np.zeros((2, frames, 3))
    visual[0, :, 0] = 0.01 * np.arange(frames)
    visual[1, :, 1] = 0.03 * np.arange(frames)
    visual[:, :, 2] = np.arange(frames) * 5.0
    mask = np.ones((frames, 3), bool)
    mask[:, 2] = False
    mask[5] = False
    chunk = SimpleNamespace(index=2, visual=visual, visual_mask=mask)
    times, speed = pipeline.chunk_motion([chunk])
    np.testing.assert_allclose(times, 8.0 + np.arange(frames) / 25.0)
    expected = np.full(frames, 0.5)             # mean of 0.25 and 0.75
    expected[4:7] = np.nan                      # frame 5 and its neighbours (np.gradient reads it)
    np.testing.assert_allclose(speed, expected)


SONG = {"layout": ["violin", "vocal", "mridangam"], "moving_camera": False, "fps": 30.0,
        "duration": 12.0}


@pytest.fixture
def toy_dataset(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    metadata = {"A": {"s1": SONG, "s2": SONG}, "B": {"novocal": {**SONG, "layout": ["violin"]}}}
    (root / "dataset_metadata.json").write_text(json.dumps(metadata))
    features = {"fps": 30.0, "features": {"rms": [0.1, None, 0.3] * 40}}
    (root / "A" / "s1" / "vocal").mkdir(parents=True)
    (root / "A" / "s1" / "vocal" / "audio_features.json").write_text(json.dumps(features))
    calls = []

    def fake_chunks(song_dir, song, instrument, visual_kind):
        calls.append(song.key)
        return toy_chunks(3, seed=len(calls))

    monkeypatch.setattr(checkpoints, "load_attention_model", lambda model, ckpt, device:
                        checkpoints.LoadedModel(TinyCrossAttention().eval(), Path("toy_xattn.pt"),
                                                visual_kind="face", instrument="vocal"))
    monkeypatch.setattr(pipeline, "load_song_chunks", fake_chunks)
    return root, calls


def test_attention_json_has_the_published_shape(toy_dataset, capsys):
    root, calls = toy_dataset
    assert main(["--model", "vocal", "--dataset_path", str(root), "--device", "cpu"]) == 0
    scores = json.loads((root / "results" / "attention_scores_vocal.json").read_text())
    assert list(scores) == ["A"] and list(scores["A"]) == ["s1", "s2"]
    for chunks in scores["A"].values():
        assert isinstance(chunks, list) and [c["chunk"] for c in chunks] == [0, 1, 2]
        for c in chunks:
            assert {"chunk", "audio_attention", "video_attention"} <= set(c)
            assert len(c["audio_attention"]) == T_AUDIO and len(c["video_attention"]) == T_VIDEO
            np.testing.assert_allclose(c["audio_attention"], 1 / T_VIDEO, rtol=1e-5)
    info = json.loads((root / "results" / "attention_scores_vocal_info.json").read_text())
    assert info["rows_sum_to_one"] is True and info["T_audio"] == T_AUDIO
    assert "1/T_video" in info["note"]
    figures = sorted(p.name for p in (root / "results" / "attention_figures_vocal").iterdir())
    assert figures == ["A_s1.png", "A_s2.png"]
    assert "attention figures:" in capsys.readouterr().out
    calls.clear()
    assert main(["--model", "vocal", "--dataset_path", str(root), "-a", "A"]) == 0
    assert calls == []                                        # finished songs are not redone
    assert main(["--model", "vocal", "--dataset_path", str(root), "-a", "A", "-s", "s2", "-f"]) == 0
    assert calls == ["A/s2"]


def _inspect(table):
    return lambda path: CheckpointInfo(path, *table[path.name])


def test_model_without_the_block_gives_an_error_naming_those_with_it(tmp_path):
    table = {"vocal_face_small.pt": ("vocal", False, "face"),
             "violin_body_small.pt": ("violin", False, "body"),
             "vocal_face_body_xattn_small.pt": ("vocal", True, "face_body")}
    for name in table:
        (tmp_path / name).touch()
    inspect = _inspect(table)
    assert checkpoints.default_checkpoint("vocal", tmp_path, inspect).name == \
        "vocal_face_body_xattn_small.pt"
    with pytest.raises(NoCrossModalBlock, match=r"no violin checkpoint.*vocal_face_body_xattn_small"
                                                r"\.pt \(vocal\)"):
        checkpoints.default_checkpoint("violin", tmp_path, inspect)
    with pytest.raises(NoCrossModalBlock, match=r"vocal_face_small\.pt has no cross-modal.*"
                                                r"vocal_face_body_xattn_small\.pt"):
        checkpoints.load_attention_model(
            "vocal", tmp_path / "vocal_face_small.pt", "cpu", tmp_path, inspect,
            load=lambda path, device: (TinyCrossAttention(cross_modal=False), {}))


SHIPPED_DIR = REPO_ROOT / "separation" / "checkpoints"


@pytest.mark.skipif(not (SHIPPED_DIR / "vocal_face_small.pt").exists(),
                    reason="shipped checkpoints not present (separation stage not trained yet)")
def test_cli_error_for_a_checkpoint_without_the_block(tmp_path):
    (tmp_path / "dataset_metadata.json").write_text(json.dumps({"A": {"s": SONG}}))
    result = run_cli("attention_analysis.attention_analysis", "--model", "vocal", "--checkpoint",
                     str(SHIPPED_DIR / "vocal_face_small.pt"), "--dataset_path", str(tmp_path))
    assert result.returncode == 2
    assert "has no cross-modal attention block" in result.stderr
    assert "vocal_face_body_xattn_small.pt" in result.stderr


def test_real_vovit_cross_modal_block_gives_256_by_256_attention():
    from separation.vovit import VoViT, make_config

    torch.manual_seed(0)
    model = VoViT(make_config("face_body", "small", cross_modal=True)).eval()
    rng = np.random.default_rng(0)
    chunk = SimpleNamespace(index=5, mixture=rng.standard_normal(65535).astype(np.float32) * 0.1,
                            visual=rng.standard_normal((2, 100, 123)).astype(np.float32) * 0.3)
    records, normalised = pipeline.chunk_attention(model, [chunk], "cpu")
    assert normalised and records[0]["chunk"] == 5
    assert len(records[0]["video_attention"]) == 256 and len(records[0]["audio_attention"]) == 256
    assert sum(records[0]["video_attention"]) == pytest.approx(1.0, abs=1e-4)
    assert max(records[0]["audio_attention_peak"]) <= 1.0


@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED_DIR / "vocal_face_body_xattn_small.pt").exists(),
                    reason="shipped checkpoint vocal_face_body_xattn_small.pt not present "
                           "(separation stage not trained yet)")
def test_cli_end_to_end_on_the_demo_data(posed_demo_dataset, tmp_path):
    results = tmp_path / "results"
    result = run_cli("attention_analysis.attention_analysis", "--model", "vocal", "--dataset_path",
                     str(posed_demo_dataset), "--device", "cpu", env={"RESULTS_PATH": str(results)})
    # the demo has a moving-camera song (no keypoints: skipped) and an fps-null song (skipped)
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads((results / "attention_scores_vocal.json").read_text())
    chunks = [c for songs in scores.values() for song in songs.values() for c in song]
    assert chunks and all(len(c["video_attention"]) == 256 and len(c["audio_attention"]) == 256
                          for c in chunks)
    assert all(abs(sum(c["video_attention"]) - 1) < 1e-3 for c in chunks)
    assert len(list((results / "attention_figures_vocal").glob("*.png"))) == \
        sum(len(songs) for songs in scores.values())
    assert "attention figures:" in result.stdout
