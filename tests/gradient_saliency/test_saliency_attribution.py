"""Attribution methods on hand-built models with known answers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.face import load_mean_face
from gradient_saliency.attribution import METHODS, attribute_chunks
from gradient_saliency.baselines import visual_baseline
from gradient_saliency.objective import LOSS_SCALE, SeparationObjective
from gradient_saliency.pipeline import SaliencyConfig, song_saliency
from gradient_saliency.randomisation import reinitialised_copy
from gradient_saliency.summary import keypoint_importance
from separation.conventions import PROJECT

from saliency_toy_models import (MOUTH_IDX, LinearPoseGate, MouthGainModel, SmoothAVModel,
                                 face_chunks, mouth_task)

MEAN_FACE = torch.as_tensor(load_mean_face().T, dtype=torch.float32)


def _batch(chunks):
    mixture = torch.stack([torch.as_tensor(c.mixture) for c in chunks])
    visual = torch.stack([torch.as_tensor(c.visual) for c in chunks])
    target = torch.stack([torch.as_tensor(c.target) for c in chunks])
    return mixture, visual, target


def test_objective_is_scaled_mse():
    model = MouthGainModel()
    mixture, visual, target = _batch(face_chunks(2, samples=256))
    expected = ((model(mixture, visual) - target) ** 2).mean(dim=1) * 65536.0
    assert LOSS_SCALE == 2 ** 16
    torch.testing.assert_close(SeparationObjective(model)(mixture, visual, target), expected)


def test_integrated_gradients_completeness_and_reported_delta():
    model = SmoothAVModel()
    objective = SeparationObjective(model)
    mixture, visual, target = _batch(face_chunks(3, samples=2048, seed=1))
    baselines = (torch.zeros_like(mixture), visual_baseline(visual, "face", mean_face=MEAN_FACE))
    result = attribute_chunks(objective, mixture, visual, target, "integrated_gradients",
                              baselines=baselines, n_steps=25, internal_batch_size=10)
    with torch.no_grad():   # independent evaluation of f(x) - f(x')
        gap = (objective(mixture, visual, target) - objective(*baselines, target)).double()
    total = result.audio.double().sum(dim=1) + result.visual.double().flatten(1).sum(dim=1)
    assert torch.all(gap.abs() > 1.0)                      # a non-trivial path
    assert torch.allclose(total, gap, rtol=1e-3, atol=1e-3)
    # Captum's delta is exactly "sum of attributions - (f(x) - f(x'))"
    assert torch.allclose(result.delta.double(), total - gap, atol=1e-2)
    torch.testing.assert_close(result.loss.double() - result.baseline_loss.double(), gap,
                               rtol=1e-5, atol=1e-4)


def test_song_saliency_reports_the_delta():
    chunks = face_chunks(2, samples=1024, seed=2)
    song = song_saliency(SmoothAVModel(), "face", chunks, SaliencyConfig(n_steps=25),
                         mean_face=MEAN_FACE, show_progress=False)
    gaps = [abs(c["loss"] - c["baseline_loss"]) for c in song["per_chunk"]]
    assert song["convergence_delta"]["max_abs"] < 1e-3 * max(gaps)
    relative = [abs(c["delta"]) / abs(c["loss"] - c["baseline_loss"]) for c in song["per_chunk"]]
    assert [c["relative_delta"] for c in song["per_chunk"]] == pytest.approx(relative)
    assert song["convergence_delta"]["relative_max"] == pytest.approx(max(relative))
    assert song["convergence_delta"]["relative_median"] == pytest.approx(np.median(relative))
    assert song["convergence_delta"]["relative_max"] < 1e-3
    assert song["convergence_delta"]["n_steps"] == [25]
    assert [c["chunk"] for c in song["per_chunk"]] == [0, 1]
    for c in song["per_chunk"]:     # completeness, from the JSON-ready numbers alone
        assert c["attribution_sum"] == pytest.approx(c["loss"] - c["baseline_loss"], rel=1e-3)
        assert c["delta"] == pytest.approx(c["attribution_sum"] - (c["loss"] - c["baseline_loss"]),
                                           abs=1e-3 * abs(c["loss"] - c["baseline_loss"]))


def test_target_relative_delta_raises_the_steps_until_it_holds():
    """Option: too few steps leave a large completeness error; the steps of a batch are doubled
    until every chunk's relative delta is below the target (and never beyond --max-steps)."""
    chunks = face_chunks(2, samples=1024, seed=2)
    coarse = song_saliency(SmoothAVModel(), "face", chunks, SaliencyConfig(n_steps=1),
                           mean_face=MEAN_FACE, show_progress=False)
    assert coarse["convergence_delta"]["relative_max"] > 1e-3
    fine = song_saliency(SmoothAVModel(), "face", chunks,
                         SaliencyConfig(n_steps=1, target_relative_delta=1e-3, max_steps=64),
                         mean_face=MEAN_FACE, show_progress=False)
    assert fine["convergence_delta"]["relative_max"] < 1e-3
    steps = fine["convergence_delta"]["n_steps"]
    assert steps and all(s in (2, 4, 8, 16, 32, 64) for s in steps)
    capped = song_saliency(SmoothAVModel(), "face", chunks,
                           SaliencyConfig(n_steps=1, target_relative_delta=1e-12, max_steps=4),
                           mean_face=MEAN_FACE, show_progress=False)
    assert capped["convergence_delta"]["n_steps"] == [4]


def test_internal_batching_does_not_change_integrated_gradients():
    objective = SeparationObjective(SmoothAVModel())
    mixture, visual, target = _batch(face_chunks(2, samples=512, seed=3))
    one = attribute_chunks(objective, mixture, visual, target, n_steps=10, internal_batch_size=2)
    together = attribute_chunks(objective, mixture, visual, target, n_steps=10, internal_batch_size=None)
    torch.testing.assert_close(one.visual, together.visual, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(one.audio, together.audio, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("visual_kind", ["face", "face_body"])
def test_mouth_only_model_puts_the_mouth_on_top(method, visual_kind):
    chunks = face_chunks(2, samples=1024, seed=4)
    if visual_kind == "face_body":      # 55 body joints after the face, moving too
        rng = np.random.default_rng(0)
        for c in chunks:
            c.visual = np.concatenate([c.visual, rng.standard_normal((2, 10, 55)).astype(np.float32)
                                       * 50.0], axis=-1)
            c.visual_mask = np.ones((10, 123), bool)
    model = MouthGainModel(face_offset=0)
    model.config.visual = visual_kind
    song = song_saliency(model, visual_kind, chunks, SaliencyConfig(method=method, n_steps=8),
                         mean_face=MEAN_FACE, show_progress=False)
    face = song["keypoint_importance"]["face"]
    top = set(np.argsort(-face)[:len(MOUTH_IDX)].tolist())
    assert top == set(MOUTH_IDX)
    others = np.delete(face, MOUTH_IDX)
    assert np.all(others == 0.0) and np.all(face[MOUTH_IDX] > 0)
    if visual_kind == "face_body":
        assert np.all(song["keypoint_importance"]["body"] == 0.0)
    assert song["part_importance"]["face"]["mouth"] > 0 and song["part_importance"]["face"]["jaw"] == 0


def _ig_importance(model, mixture, visual, target):
    objective = SeparationObjective(model)
    baselines = (torch.zeros_like(mixture), visual_baseline(visual, "face", mean_face=MEAN_FACE))
    result = attribute_chunks(objective, mixture, visual, target, baselines=baselines, n_steps=10,
                              internal_batch_size=40)
    return keypoint_importance(result.visual.numpy()).mean(axis=0)


def _spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_model_randomisation_sanity_check():
    """Adebayo et al.: attributions of a trained model and of its re-initialised copy must differ."""
    mixture, visual, target = mouth_task(256)
    model = LinearPoseGate(seed=0)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    objective = SeparationObjective(model.train())
    for _ in range(150):
        optimiser.zero_grad()
        objective(mixture, visual, target).mean().backward()
        optimiser.step()
    model.eval()
    test_mix, test_vis, test_target = mouth_task(8, seed=1)
    trained = _ig_importance(model, test_mix, test_vis, test_target)
    fresh_model = reinitialised_copy(model, seed=1)
    assert not torch.equal(fresh_model.gate.weight, model.gate.weight)
    fresh = _ig_importance(fresh_model, test_mix, test_vis, test_target)
    mouth_share = lambda imp: imp[MOUTH_IDX].sum() / imp.sum()   # noqa: E731
    assert mouth_share(trained) > 0.6                 # the trained model looks at the lips
    assert mouth_share(fresh) < 0.45                  # 20 of 68 points ≈ 0.29 by chance
    assert _spearman(trained, fresh) < 0.5


@pytest.mark.slow
def test_completeness_on_the_real_vovit_architecture():
    """Integrated Gradients on a randomly initialised VoViT face model with the real mean-face
    baseline, one chunk (small preset thinned further, 4 steps: this CPU is slow at 256 x 256)."""
    from gradient_saliency.models import mean_face_in_model_space
    from separation.vovit import VoViT, make_config

    torch.manual_seed(0)
    model = VoViT(make_config("face", "small", audio_channels=8, time_dilations=(1, 2),
                              both_dilations=(1, 2))).eval()
    mean_face = mean_face_in_model_space(PROJECT)
    rng = np.random.default_rng(0)
    mixture = torch.as_tensor(rng.standard_normal((1, 65535)) * 0.1, dtype=torch.float32)
    target = mixture * 0.3
    visual = mean_face[None, :, None, :] + torch.as_tensor(
        rng.standard_normal((1, 2, 100, 68)) * 0.05, dtype=torch.float32)
    baselines = (torch.zeros_like(mixture), visual_baseline(visual, "face", mean_face=mean_face))
    assert torch.allclose(baselines[1][0, :, 7], mean_face)
    objective = SeparationObjective(model)
    result = attribute_chunks(objective, mixture, visual, target, baselines=baselines, n_steps=4,
                              internal_batch_size=4)
    gap = float(result.loss[0] - result.baseline_loss[0])
    total = float(result.audio.double().sum() + result.visual.double().sum())
    assert abs(gap) > 0
    assert abs(total - gap) <= 0.02 * abs(gap) + 1e-3
    assert abs(float(result.delta[0]) - (total - gap)) <= 1e-2 * abs(gap) + 1e-3


SHIPPED_FACE = Path(__file__).resolve().parents[2] / "separation" / "checkpoints" / "vocal_face_small.pt"


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_FACE.exists(),
                    reason=f"shipped checkpoint {SHIPPED_FACE.name} not present (separation stage "
                           f"not trained yet); the trained toy model above covers the check")
def test_model_randomisation_sanity_check_on_the_shipped_checkpoint(posed_demo_dataset):
    from core.metadata import load_metadata
    from separation.checkpoint import load_checkpoint
    from separation.data import song_chunks

    model, meta = load_checkpoint(SHIPPED_FACE, expect_visual="face")
    song = next(s for s in load_metadata(posed_demo_dataset / "dataset_metadata.json")
                if s.song == "Varnam Śrī")
    chunk = song_chunks(song.folder(posed_demo_dataset), song, "vocal", "face",
                        conventions=meta["conventions"])[0]
    mixture, visual, target = (torch.as_tensor(x)[None] for x in (chunk.mixture, chunk.visual,
                                                                   chunk.target))

    def importance(m):
        result = attribute_chunks(SeparationObjective(m), mixture, visual, target,
                                  "gradient_saliency")
        return keypoint_importance(result.visual.numpy())[0]

    trained = importance(model)
    fresh = importance(reinitialised_copy(model, seed=1))
    rho = _spearman(trained, fresh)
    print(f"shipped {SHIPPED_FACE.name}: Spearman(trained, re-initialised) = {rho:.3f}")
    assert rho < 0.5


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_FACE.exists(),
                    reason=f"shipped checkpoint {SHIPPED_FACE.name} not present")
def test_relative_convergence_delta_on_the_shipped_checkpoint_and_a_demo_chunk(posed_demo_dataset):
    """A shipped checkpoint and a real demo chunk: the relative completeness error is reported as
    |delta| / |F(x) − F(x')| and shrinks with the steps; with --target-relative-delta 0.01 the
    steps are doubled from the published 25 until it is bounded by 0.01 (on this chunk the 25
    steps alone are not enough, which is what the option is for)."""
    from core.metadata import load_metadata
    from gradient_saliency.models import mean_face_in_model_space
    from separation.checkpoint import load_checkpoint
    from separation.data import song_chunks

    model, meta = load_checkpoint(SHIPPED_FACE, expect_visual="face")
    song = next(s for s in load_metadata(posed_demo_dataset / "dataset_metadata.json")
                if s.song == "Varnam Śrī")
    chunk = song_chunks(song.folder(posed_demo_dataset), song, "vocal", "face",
                        conventions=meta["conventions"])[0]

    def run(**config):
        result = song_saliency(model, "face", [chunk], SaliencyConfig(**config),
                               mean_face=mean_face_in_model_space(PROJECT), show_progress=False)
        return result["per_chunk"][0], result["convergence_delta"]

    coarse, _ = run(n_steps=5)
    published, _ = run(n_steps=25)
    bounded, summary = run(n_steps=25, target_relative_delta=0.01, max_steps=400)
    print(f"relative convergence delta, {SHIPPED_FACE.name}, demo chunk: 5 steps "
          f"{coarse['relative_delta']:.4f}, 25 steps {published['relative_delta']:.4f}, "
          f"{bounded['n_steps']} steps {bounded['relative_delta']:.4f}")
    for entry in (coarse, published, bounded):
        assert entry["relative_delta"] == pytest.approx(
            abs(entry["delta"]) / abs(entry["loss"] - entry["baseline_loss"]))
    assert published["relative_delta"] < coarse["relative_delta"]
    assert bounded["relative_delta"] < 0.01
    assert bounded["n_steps"] in (25, 50, 100, 200, 400)
    assert (bounded["n_steps"] > 25) == (published["relative_delta"] >= 0.01)
    assert summary["relative_max"] == pytest.approx(bounded["relative_delta"])


def test_dataset_mean_baseline_uses_its_template_in_every_frame():
    rng = np.random.default_rng(0)
    visual = torch.as_tensor(rng.standard_normal((2, 2, 10, 68)), dtype=torch.float32)
    template = torch.as_tensor(rng.standard_normal((2, 68)), dtype=torch.float32)
    baseline = visual_baseline(visual, "face", face="dataset_mean", mean_face=template)
    assert torch.equal(baseline, template[None, :, None, :].expand_as(visual))
    with pytest.raises(ValueError, match="dataset_mean face baseline needs its face template"):
        visual_baseline(visual, "face", face="dataset_mean")


@pytest.mark.slow
def test_dataset_mean_face_is_a_typical_registered_demo_face(posed_demo_dataset):
    """Issue 14, "baselines inside the input distribution": on the demo's vocalists (MediaPipe
    landmarks, similarity-registered face input) the registered faces' median radius (largest point
    distance from the face's centroid, model units) is within 5 % of the ``dataset_mean`` baseline's
    radius, and the template is the frame-weighted mean computed here independently. VoViT's mean
    face (the published default baseline) stays about 12 % larger: its 3DDFA jaw is wider, relative
    to brows, nose and eyes, than these faces' (README, Known limitations)."""
    from core.metadata import load_metadata
    from gradient_saliency.models import face_baseline_template, mean_face_in_model_space
    from separation.checkpoint import LoadedModel
    from separation.data import SongSkipped, load_song_visual

    def radius(faces):                                        # (N, 68, 2) -> (N,)
        return np.linalg.norm(faces - faces.mean(axis=1, keepdims=True), axis=2).max(axis=1)

    songs = load_metadata(posed_demo_dataset / "dataset_metadata.json")
    complete = []
    for song in songs:
        try:
            faces, mask = load_song_visual(song.folder(posed_demo_dataset), song, "vocal", "face",
                                           conventions=PROJECT)
        except SongSkipped:
            continue
        complete.append(faces[mask.all(axis=1)])
    complete = np.concatenate(complete).astype(np.float64)
    assert len(complete) > 100
    loaded = LoadedModel(None, Path("unused.pt"), "face", "vocal", {"conventions": PROJECT})
    template, record = face_baseline_template("dataset_mean", loaded, posed_demo_dataset, songs)
    assert template.shape == (2, 68) and record["frames"] == len(complete)
    np.testing.assert_allclose(template.numpy().T, complete.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(record["template"], template.numpy().T.tolist(), atol=1e-7)
    typical = np.median(radius(complete))
    assert abs(typical / record["radius"] - 1) < 0.05
    vovit_radius = radius(mean_face_in_model_space(PROJECT).numpy().T[None])[0]
    assert typical / vovit_radius < 0.95                     # why the option exists
