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
