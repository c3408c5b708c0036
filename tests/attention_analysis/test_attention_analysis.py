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
from attention_analysis.weights import rows_sum_to_one, step_presence, summarise_attention
from separation.conventions import PROJECT

from conftest import REPO_ROOT, run_cli
from crafted_inputs import PAYLOADS

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

    def fake_chunks(song_dir, song, instrument, visual_kind, conventions, options=None):
        assert conventions == PROJECT
        calls.append(song.key)
        return toy_chunks(3, seed=len(calls))

    monkeypatch.setattr(checkpoints, "load_attention_model", lambda model, ckpt, device:
                        checkpoints.LoadedModel(TinyCrossAttention().eval(), Path("toy_xattn.pt"),
                                                visual_kind="face", instrument="vocal",
                                                meta={"conventions": PROJECT}))
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
    figures = sorted(p.name for p in (root / "results" / "attention_figures_vocal").glob("*.png"))
    assert figures == ["A_s1.png", "A_s2.png"]
    assert "attention figures:" in capsys.readouterr().out
    calls.clear()
    assert main(["--model", "vocal", "--dataset_path", str(root), "-a", "A"]) == 0
    assert calls == []                                        # finished songs are not redone
    assert main(["--model", "vocal", "--dataset_path", str(root), "-a", "A", "-s", "s2", "-f"]) == 0
    assert calls == ["A/s2"]


def test_a_song_whose_inputs_changed_is_redone_without_force(toy_dataset):
    """Issue 11, cause 11 for attention: new keypoints (post-processing redone) or new feature
    files make that song's attention stale; the other song stays up to date."""
    root, calls = toy_dataset
    args = ["--model", "vocal", "--dataset_path", str(root), "-a", "A"]
    keypoints = root / "A" / "s2" / "vocal" / "keypoints.npy"
    keypoints.parent.mkdir(parents=True)
    np.save(keypoints, np.zeros((30, 133, 2), np.float32))
    assert main(args) == 0 and calls == ["A/s1", "A/s2"]
    figure = root / "results" / "attention_figures_vocal" / "A_s2.png"
    assert (figure.parent / ".A_s2.png.inputs.json").exists()
    np.save(keypoints, np.ones((60, 133, 2), np.float32))      # post-processing was redone
    calls.clear()
    assert main(args) == 0 and calls == ["A/s2"]
    features = root / "A" / "s1" / "vocal" / "audio_features.json"
    features.write_text(json.dumps({"fps": 30.0, "features": {"rms": [0.2] * 120}}))
    calls.clear()
    assert main(args) == 0 and calls == ["A/s1"]
    calls.clear()
    assert main(args) == 0 and calls == []


def test_failed_body_detection_is_skipped_unless_asked(toy_dataset, capsys):
    root, calls = toy_dataset
    metadata = json.loads((root / "dataset_metadata.json").read_text())
    metadata["A"]["s2"]["correct_body_detection"] = False
    (root / "dataset_metadata.json").write_text(json.dumps(metadata))
    assert main(["--model", "vocal", "--dataset_path", str(root), "-a", "A"]) == 0
    assert calls == ["A/s1"]
    assert "skipped A/s2: correct_body_detection is false" in capsys.readouterr().err
    info = json.loads((root / "results" / "attention_scores_vocal_info.json").read_text())
    assert info["include_incorrect_body_detection"] is False
    assert main(["--model", "vocal", "--dataset_path", str(root), "-a", "A",
                 "--include-incorrect-body-detection"]) == 0
    assert calls == ["A/s1", "A/s2"]


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


@pytest.mark.parametrize("payload", PAYLOADS)
def test_crafted_checkpoint_is_refused_by_name_and_never_runs(tmp_path, capsys, payload):
    """Issue 11: a ``--checkpoint`` with a code payload is refused in one line (exit 2); the
    payload never runs."""
    marker = tmp_path / "payload_ran"
    crafted = tmp_path / "crafted.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "extra": payload(marker)}, crafted)
    (tmp_path / "dataset_metadata.json").write_text(json.dumps({"A": {"s": SONG}}))
    assert main(["--model", "vocal", "--checkpoint", str(crafted), "--dataset_path",
                 str(tmp_path), "--device", "cpu"]) == 2
    assert not marker.exists()
    errors = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"{crafted} refused: it names " in errors[0]
    assert "weights_only" not in errors[0]


@pytest.fixture(scope="module")
def real_vovit():
    from separation.vovit import VoViT, make_config

    torch.manual_seed(0)
    model = VoViT(make_config("face_body", "small", cross_modal=True)).eval()
    rng = np.random.default_rng(0)
    chunk = SimpleNamespace(index=5, mixture=rng.standard_normal(65535).astype(np.float32) * 0.1,
                            visual=rng.standard_normal((2, 100, 123)).astype(np.float32) * 0.3)
    return model, chunk


@pytest.mark.parametrize("grad_mode", ["no_grad", "inference_mode"])
def test_real_vovit_cross_modal_block_gives_256_by_256_attention_in_eval(real_vovit, grad_mode):
    """eval() under no_grad and under inference_mode (where PyTorch's transformer fast path skips
    submodule hooks): the attention is recorded, fresh, and the same in both modes as with
    gradients enabled."""
    model, chunk = real_vovit
    assert not model.training
    records, normalised = pipeline.chunk_attention(model, [chunk], "cpu", grad_mode=grad_mode)
    assert normalised and records[0]["chunk"] == 5 and records[0]["video_coverage"] == 1.0
    assert len(records[0]["video_attention"]) == 256 and len(records[0]["audio_attention"]) == 256
    assert sum(records[0]["video_attention"]) == pytest.approx(1.0, abs=1e-4)
    assert max(records[0]["audio_attention_peak"]) <= 1.0
    reference, _ = pipeline.chunk_attention(model, [chunk], "cpu", grad_mode="enable_grad")
    np.testing.assert_allclose(records[0]["video_attention"], reference[0]["video_attention"],
                               rtol=1e-5, atol=1e-7)


class HookedEncoder(nn.Module):
    """Records "attention" from a hook on ``nn.TransformerEncoderLayer.self_attn`` (a global module
    hook: a hook registered on the layer itself would switch the fast path off). In eval under
    no_grad / inference_mode the layer takes PyTorch's fast path, never calls ``self_attn``, and the
    hook silently does not run (DESIGN §7)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.config = SimpleNamespace(cross_modal=True, visual="face")
        self.proj = nn.Linear(HOP, 8)
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.last_attention = None

    def hook(self, module, inputs, _output):    # stands in for the weights: proves it ran
        if module is self.layer.self_attn:
            batch, steps = inputs[0].shape[:2]
            self.last_attention = torch.full((batch, 1, steps, steps), 1.0 / steps)

    def forward(self, mixture, visual):
        tokens = self.proj(mixture[:, :T_AUDIO * HOP].reshape(len(mixture), T_AUDIO, HOP))
        return mixture * (1 + self.layer(tokens).mean(dim=(1, 2)))[:, None]


@pytest.mark.parametrize("grad_mode", ["no_grad", "inference_mode"])
def test_a_capture_that_records_nothing_is_an_error_not_an_empty_result(grad_mode):
    """With gradients the hook runs; in eval under no_grad / inference_mode the fast path skips it
    and the capture says so instead of writing nothing."""
    from torch.nn.modules.module import register_module_forward_hook

    model = HookedEncoder().eval()
    handle = register_module_forward_hook(model.hook)
    try:
        records, _ = pipeline.chunk_attention(model, toy_chunks(2), "cpu", grad_mode="enable_grad")
        assert len(records) == 2
        with pytest.raises(pipeline.AttentionNotRecorded, match=f"under {grad_mode} recorded 0"):
            pipeline.chunk_attention(model, toy_chunks(2), "cpu", grad_mode=grad_mode)
    finally:
        handle.remove()


def test_attention_left_from_an_earlier_forward_is_never_reused():
    class Forgetful(TinyCrossAttention):
        def forward(self, mixture, visual):         # computes, but records only the first time
            kept = self.last_attention
            out = super().forward(mixture, visual)
            if getattr(self, "seen", False):
                self.last_attention = kept
            self.seen = True
            return out

    model = Forgetful().eval()
    pipeline.chunk_attention(model, toy_chunks(2), "cpu")
    with pytest.raises(pipeline.AttentionNotRecorded):
        pipeline.chunk_attention(model, toy_chunks(2, seed=1), "cpu")


def test_video_steps_without_keypoints_are_no_data():
    """Head-mean weights for 2 audio steps over 4 video steps; step 2 has no keypoints: its
    video_attention is NaN, and audio attention / peak use steps 0, 1, 3 only."""
    weights = np.zeros((1, 1, 2, 4))
    weights[0, 0] = [[0.1, 0.2, 0.6, 0.1], [0.4, 0.3, 0.2, 0.1]]
    present = np.array([[True, True, False, True]])
    out = summarise_attention(weights, present)
    np.testing.assert_allclose(out["video_attention"], [[0.25, 0.25, np.nan, 0.1]])
    np.testing.assert_allclose(out["audio_attention"], [[0.4 / 3, 0.8 / 3]])
    np.testing.assert_allclose(out["audio_attention_peak"], [[0.2, 0.4]])
    np.testing.assert_allclose(out["video_coverage"], [0.75])
    nothing = summarise_attention(weights, np.zeros((1, 4), bool))
    assert np.isnan(nothing["audio_attention"]).all() and nothing["video_coverage"][0] == 0
    # 100 frames resampled to 256 steps: frames 40-59 missing -> the steps reading them
    frames = np.ones((1, 100), bool)
    frames[0, 40:60] = False
    steps = step_presence(frames, 256)
    source = np.clip((np.arange(256) + 0.5) * 100 / 256 - 0.5, 0, 99)
    reads_missing = (np.ceil(source) >= 40) & (np.floor(source) <= 59)
    np.testing.assert_array_equal(steps[0], ~reads_missing)
    assert 50 <= (~steps[0]).sum() <= 54


def test_video_steps_without_keypoints_are_drawn_as_no_data_not_zero(tmp_path, monkeypatch):
    """Issue 14, "missing data is never a number", in the figure: null steps are gaps in the curve
    on a grey band labelled "no data" (steps of 1 s: chunk 0 misses steps 1-2, chunk 1 step 2)."""
    from attention_analysis import figures

    records = [{"chunk": 0, "video_attention": [0.25, None, None, 0.25]},
               {"chunk": 1, "video_attention": [0.5, 0.25, None, 0.25]}]
    times, values = figures.timeline(records, "video_attention")
    assert figures.no_data_spans(times, values) == [(1.0, 3.0), (6.0, 7.0)]
    drawn = {}
    monkeypatch.setattr(figures, "save_figure", lambda path, fig, dpi: drawn.setdefault("fig", fig))
    figures.save_attention_figure(tmp_path / "a.png", records, "t", None, None)
    axis = drawn["fig"].axes[0]
    curve = axis.lines[0].get_ydata()
    np.testing.assert_array_equal(np.isnan(curve), [0, 1, 1, 0, 1, 0, 0, 1, 0, 1])  # 1 = gap
    bands = [(p.get_x(), p.get_x() + p.get_width()) for p in axis.patches]
    assert bands == [(1.0, 3.0), (6.0, 7.0)]
    assert "no keypoints (no data)" in [t.get_text() for t in axis.get_legend().get_texts()]


def test_chunks_with_missing_frames_give_null_attention_there(tmp_path):
    from core.io import load_json, save_json

    model = TinyCrossAttention().eval()
    chunks = toy_chunks(1)
    chunks[0].visual_mask = np.ones((T_VIDEO, JOINTS), bool)
    chunks[0].visual_mask[:5] = False                  # first half of the frames: no keypoints
    records, _ = pipeline.chunk_attention(model, chunks, "cpu")
    video = records[0]["video_attention"]
    assert np.isnan(video[:5]).all() and np.isfinite(video[5:]).all()
    assert records[0]["video_coverage"] == 0.5
    save_json(tmp_path / "a.json", records)
    assert load_json(tmp_path / "a.json")[0]["video_attention"][:5] == [None] * 5


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
    for c in chunks:        # null = a video step without keypoints; the rest sums to at most 1
        present = [v for v in c["video_attention"] if v is not None]
        assert len(present) == round(256 * c["video_coverage"])
        assert sum(present) <= 1 + 1e-3
        if c["video_coverage"] == 1.0:
            assert abs(sum(present) - 1) < 1e-3
    assert len(list((results / "attention_figures_vocal").glob("*.png"))) == \
        sum(len(songs) for songs in scores.values())
    assert "attention figures:" in result.stdout


def test_chunk_rms_puts_chunks_back_at_the_song_level():
    """Chunks come at the model's input scale (each divided by its own peak): the RMS curve
    multiplies the scale back, so a loud and a quiet chunk keep their 10× level ratio."""
    tone = np.sin(2 * np.pi * 440 * np.arange(65535) / 16384).astype(np.float32)
    chunks = [SimpleNamespace(index=0, target=tone, scale=1.0),
              SimpleNamespace(index=1, target=tone, scale=0.1)]     # raw: 0.1 × tone
    times, values = pipeline.chunk_rms(chunks)
    first, second = values[times < 4.0], values[times >= 4.0]
    assert np.median(first) == pytest.approx(1 / np.sqrt(2), rel=0.02)
    assert np.median(second) == pytest.approx(0.1 * np.median(first), rel=1e-5)
