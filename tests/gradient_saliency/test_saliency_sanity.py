"""The cascading model-parameter randomisation test (Adebayo et al. 2018) and its command line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from core.face import load_mean_face
from gradient_saliency import randomisation as rnd
from gradient_saliency.attribution import attribute_chunks
from gradient_saliency.objective import SeparationObjective

from saliency_toy_models import TwoLayerPoseGate, mouth_task, train_on_mouth_task

MEAN_FACE = torch.as_tensor(load_mean_face().T, dtype=torch.float32)


@pytest.fixture(scope="module")
def trained():
    return train_on_mouth_task(TwoLayerPoseGate(seed=0))


def test_cascade_runs_from_the_output_side_and_is_cumulative(trained):
    mixture, visual, _ = mouth_task(2, seed=1)
    order = rnd.execution_order(trained, mixture, visual)
    assert order == ["hidden", "out"]                     # forward order
    groups = rnd.cascade_groups(order)
    assert groups == [("out", ["out"]), ("hidden", ["hidden"])]
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    steps = list((name, {k: v.clone() for k, v in model.state_dict().items()})
                 for name, model in rnd.cascading_randomisation(trained, groups, seed=3))
    (first, after_1), (second, after_2) = steps
    assert first == "out" and second == "hidden"
    assert not torch.equal(after_1["out.weight"], before["out.weight"])
    assert torch.equal(after_1["hidden.weight"], before["hidden.weight"])     # not yet
    assert torch.equal(after_2["out.weight"], after_1["out.weight"])          # cumulative
    assert not torch.equal(after_2["hidden.weight"], before["hidden.weight"])
    assert torch.equal(after_2["reference"], before["reference"])             # a buffer, not learned
    for key, value in trained.state_dict().items():                           # original untouched
        assert torch.equal(value, before[key])


def test_grouping_by_depth_keeps_order_of_the_last_member():
    order = ["enc.a.0", "enc.a.1", "enc.b", "dec.x.0", "enc.c", "dec.y"]
    assert rnd.cascade_groups(order, depth=1) == [("dec", ["dec.x.0", "dec.y"]),
                                                  ("enc", ["enc.a.0", "enc.a.1", "enc.b", "enc.c"])]
    assert [g for g, _ in rnd.cascade_groups(order, depth=2)] == ["dec.y", "enc.c", "dec.x",
                                                                  "enc.b", "enc.a"]
    assert [g for g, _ in rnd.cascade_groups(order, depth=None)] == list(reversed(order))


def test_reinitialise_resets_batchnorm_statistics_and_keeps_fixed_tables():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Embedding(4, 3))
    model[1].running_mean.fill_(5.0)
    model[2].weight.requires_grad_(False)                 # e.g. a sinusoidal position table
    table = model[2].weight.detach().clone()
    weight = model[0].weight.detach().clone()
    rnd.reinitialise(model, rnd.parameterised_modules(model), generator_seed=0)
    assert torch.equal(model[1].running_mean, torch.zeros(3))
    assert torch.equal(model[2].weight, table)
    assert not torch.equal(model[0].weight, weight)


def test_rank_correlation_is_spearman_with_ties():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 200).astype(float)
    b = a + rng.normal(0, 2, 200)
    assert rnd.rank_correlation(a, b) == pytest.approx(spearmanr(a, b).statistic)
    assert np.isnan(rnd.rank_correlation(np.ones(5), np.arange(5)))
    mask = np.array([True, True, True, False])
    scores = rnd.compare(np.array([1.0, 2, 3, 100]), np.array([-1.0, -2, -3, -100]), mask)
    assert scores == {"spearman_signed": pytest.approx(-1.0), "spearman_abs": pytest.approx(1.0)}


def _gradient_map(model, mixture, visual, target) -> np.ndarray:
    return attribute_chunks(SeparationObjective(model), mixture, visual, target,
                            "gradient_saliency").visual.numpy()


def test_a_known_answer_model_passes(trained):
    """The task gates the mixture by the lips' opening (face points 51 and 57), and the trained
    gate's gradients put exactly those two on top (known answer); they lose all rank agreement once
    its layers are re-initialised."""
    mixture, visual, target = mouth_task(8, seed=1)
    trained_map = _gradient_map(trained, mixture, visual, target)
    per_keypoint = np.abs(trained_map).mean(axis=(0, 1, 2))
    assert set(np.argsort(-per_keypoint)[:2].tolist()) == {51, 57}
    groups = rnd.cascade_groups(rnd.execution_order(trained, mixture, visual))
    result = rnd.randomisation_test(trained, lambda m: _gradient_map(m, mixture, visual, target),
                                    groups)
    assert result["passed"] is True
    assert [s["group"] for s in result["steps"]] == ["out", "hidden"]
    assert abs(result["final"]["spearman_signed"]) < 0.5 and result["final"]["spearman_abs"] < 0.5


def test_an_attribution_that_ignores_the_weights_fails(trained):
    """The input itself as "attribution" does not change with the weights: ρ = 1 at every step."""
    mixture, visual, _ = mouth_task(8, seed=1)
    groups = rnd.cascade_groups(rnd.execution_order(trained, mixture, visual))
    result = rnd.randomisation_test(trained, lambda m: visual.numpy(), groups)
    assert result["passed"] is False
    assert all(s["spearman_signed"] == pytest.approx(1.0) and s["spearman_abs"] == pytest.approx(1.0)
               for s in result["steps"])


SHIPPED_FACE = Path(__file__).resolve().parents[2] / "separation" / "checkpoints" / "vocal_face_small.pt"


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_FACE.exists(), reason="shipped checkpoint vocal_face_small.pt absent")
def test_sanity_cli_on_the_shipped_face_model_and_a_demo_chunk(posed_demo_dataset, tmp_path):
    """The real tool: the shipped face model's blocks (depth 2: fusion transformer, audio encoder,
    ST-GCN, its input BatchNorm) re-initialised from the output side; vanilla gradients of the
    trained model lose their ranking (the check passes), and the JSON and figure say so."""
    from conftest import run_cli

    results = tmp_path / "results"
    out = run_cli("gradient_saliency.sanity", "--model", "face", "--method", "gradient_saliency",
                  "--max-chunks", "1", "--depth", "2", "--dataset_path", str(posed_demo_dataset), "-a",
                  "Demo Artist A", "-s", "Varnam Śrī", "--device", "cpu",
                  env={"RESULTS_PATH": str(results)}, check=True)
    document = json.loads((results / "sanity_gradient_saliency_face" / "randomisation.json")
                          .read_text())
    assert document["chunks"] == [{"song": "Demo Artist A/Varnam Śrī", "chunk": 0}]
    groups = [s["group"] for s in document["steps"]]
    assert groups == ["audio_network.fusion_module", "audio_network.audio_net",
                      "graph_net.st_gcn_networks", "graph_net.data_bn"]     # output side first
    assert document["passed"] is True and "PASSED" in out.stdout
    assert abs(document["final"]["spearman_signed"]) < 0.5
    assert (results / "sanity_gradient_saliency_face" / "randomisation.png").stat().st_size > 10_000


# --- frames models (any registered kind: the entries compared come from the input's shape) ---------

TINY_FRAMES_MODEL = dict(audio_channels=4, time_dilations=(1,), both_dilations=(2,), d_model=32,
                         nhead=2, dim_feedforward=32, encoder_layers=1, decoder_layers=1,
                         cross_heads=2, dropout=0.0,
                         encoder={"crop_size": 32, "frame_stride": 25, "width": 4, "channels": 4})


def frames_chunks(n: int = 2, seed: int = 0) -> list:
    """Chunks of a frames model: random crops ``(100, 3, 32, 32)`` uint8, the performer unseen in
    frame 25 (read by a stride-25 encoder) and frame 10 (not read) of the first chunk."""
    from types import SimpleNamespace

    from separation.vovit import CHUNK_SAMPLES

    rng = np.random.default_rng(seed)
    chunks = []
    for i in range(n):
        mixture = (0.1 * rng.standard_normal(CHUNK_SAMPLES)).astype(np.float32)
        present = np.ones((100, 1), bool)
        if i == 0:
            present[[10, 25]] = False
        chunks.append(SimpleNamespace(index=i, mixture=mixture, target=0.5 * mixture,
                                      visual=rng.integers(0, 256, (100, 3, 32, 32), np.uint8),
                                      visual_mask=present))
    return chunks


@pytest.mark.parametrize("audio_net, groups", [
    ("vovit", ["audio_network.fusion_module", "audio_network.audio_net", "frame_net.fc",
               "frame_net.backbone"]),
    ("unet", ["audio_network.synthesizer", "audio_network.sound_net", "frame_net.fc",
              "frame_net.backbone"])])
def test_sanity_check_on_a_tiny_frames_model(audio_net, groups):
    """The frames model's layers are re-initialised from the output side (audio path, then the
    ResNet's projection, then the ResNet); the crop pixels compared are those of the frames the
    encoder reads (0, 25, 50, 75 of each chunk) where the performer is present: 3 frames of
    3 × 32 × 32 in the first chunk, 4 in the second, for the VoViT path (its condition is a time
    sequence: every read frame gets a gradient, all but a few pixels of it); the U-Net path
    max-pools the frames over time, so only the frames that win the maximum (for the trained or
    the re-initialised weights) have any.
    Re-initialised weights change the gradient map (the check passes)."""
    from gradient_saliency.pipeline import SaliencyConfig
    from gradient_saliency.sanity import sanity_check
    from separation.vovit import VoViT, make_config

    torch.manual_seed(0)
    sizes = dict(TINY_FRAMES_MODEL, **({"audio": {"width": 4}} if audio_net == "unet" else {}))
    model = VoViT(make_config("frames", "small", audio_net=audio_net, **sizes)).eval()
    config = SaliencyConfig(method="gradient_saliency", internal_batch_size=None)
    result = sanity_check(model, "frames", frames_chunks(), config, "cpu", depth=2)
    assert [s["group"] for s in result["steps"]] == groups
    read_present = (3 + 4) * 3 * 32 * 32
    entries = [s["entries"] for s in result["steps"]]
    if audio_net == "vovit":       # a few pixels get no gradient through ReLU / max-pool
        assert all(0.99 * read_present <= n <= read_present for n in entries), entries
    else:
        assert all(3 * 32 * 32 <= n < read_present for n in entries), entries
    assert result["passed"] is True
    assert abs(result["final"]["spearman_signed"]) < 0.5 and result["final"]["spearman_abs"] < 0.5


def test_entry_mask_broadcasts_presence_to_the_visual_input():
    from gradient_saliency.sanity import entry_mask

    keypoints = np.array([[[True, False], [True, True], [False, True]]])       # (1, T=3, J=2)
    mask = entry_mask(keypoints, (1, 2, 3, 2))
    assert mask.shape == (1, 2, 3, 2) and (mask[0, 0] == keypoints[0]).all() and \
        (mask[0, 1] == keypoints[0]).all()
    frames = np.array([[[True], [False], [True]]])                              # (1, T=3, 1)
    mask = entry_mask(frames, (1, 3, 3, 4, 4))
    assert mask[0, 1].sum() == 0 and mask[0, [0, 2]].all()
    # a mask that matches neither layout (e.g. per node of a graph, T second): every entry
    assert entry_mask(np.ones((1, 3, 5), bool), (1, 5, 3, 7)) is None
