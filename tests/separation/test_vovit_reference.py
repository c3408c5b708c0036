"""Preset ``vovit`` computes public VoViT's singing-voice function: a known-answer fixture.

The fixture (``vovit_singing_reference/``: README + ``vovit_singing_reference.npz``, data only) holds
the inputs, outputs and intermediates of the public network (``JuanFMontesinos/VoViT`` commit 9fe2df6)
with weights from a deterministic recipe. The recipe is re-implemented here from the README's words;
its per-tensor checksums must match the stored ones. The model is then run on the stored inputs with
VoViT's conventions (mixture divided by its peak over the batch, raw face-crop landmarks) and every
stored array is compared, within ``max|diff| <= 1e-4 * max|ref|`` (the README's float32 acceptance;
the float32-vs-float64 spread it measured is <= 3.5e-6 relative).

Where the fixture lives: ``$VOVIT_REFERENCE_DIR``, else ``shared/reference/vovit_singing_reference``
in or beside the repository root. A missing fixture is a failure, never a skip.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from separation.vovit import CHUNK_SAMPLES, VoViT, make_config

REPO = Path(__file__).resolve().parents[2]
FIXTURE_NAME = "vovit_singing_reference"
TSV = REPO / "core" / "reference" / "vovit_singing_voice_state_dict.tsv"
RELATIVE_TOLERANCE = 1e-4
FIXED_TABLES = ("graph_net.A", "temporal_enc.pos_emb.weight", "spectral_enc.pos_emb.weight")


def fixture_dir() -> Path:
    candidates = [Path(os.environ["VOVIT_REFERENCE_DIR"])] if os.environ.get("VOVIT_REFERENCE_DIR") \
        else []
    candidates += [root / "shared" / "reference" / FIXTURE_NAME
                   for root in (REPO, REPO.parent, REPO.parent.parent)]
    for path in candidates:
        if (path / f"{FIXTURE_NAME}.npz").exists():
            return path
    raise FileNotFoundError(f"the VoViT known-answer fixture {FIXTURE_NAME}.npz is in none of "
                            f"{[str(p) for p in candidates]} (set VOVIT_REFERENCE_DIR)")


def read_tsv(path: Path = TSV) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, shape)`` rows of the official state-dict listing, in file order."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            name, shape = line.split("\t")
            rows.append((name, tuple(int(x) for x in shape.strip("()").split(",") if x.strip())))
    return rows


def recipe_tensor(i: int, name: str, shape: tuple[int, ...], constructed: dict) -> torch.Tensor:
    """Entry ``i`` of the README's weight recipe (first matching rule wins)."""
    g = torch.Generator().manual_seed(1000 + i)
    if name.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.long)
    if name.endswith(FIXED_TABLES):
        return constructed[name].clone()          # what the model constructs
    if name.endswith("running_mean"):
        return 0.1 * torch.randn(shape, generator=g)
    if name.endswith("running_var"):
        return 1 + 0.1 * torch.rand(shape, generator=g)
    if name.endswith("edge_importance"):
        return 1 + 0.1 * torch.randn(shape, generator=g)
    if len(shape) >= 2:
        return torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
    if name.endswith("weight"):
        return 1 + 0.1 * torch.randn(shape, generator=g)
    return 0.1 * torch.randn(shape, generator=g)


def recipe_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The recipe weights under the official names (which are the model's own names)."""
    constructed = model.state_dict()
    return {name: recipe_tensor(i, name, shape, constructed)
            for i, (name, shape) in enumerate(read_tsv())}


def checksums(state: dict[str, torch.Tensor]) -> np.ndarray:
    """``(N, 2)`` float64 ``(sum, sum of squares)`` per tensor, in TSV order."""
    rows = []
    for name, _ in read_tsv():
        t = state[name].double()
        rows.append((t.sum().item(), (t * t).sum().item()))
    return np.array(rows)


def reference_model(device: str = "cpu") -> VoViT:
    """Preset ``vovit``, visual ``face``, no cross-modal block, recipe weights loaded strictly."""
    model = VoViT(make_config("face", "vovit", cross_modal=False))
    model.load_state_dict(recipe_state_dict(model), strict=True)
    return model.to(device).eval()


def run_with_hooks(model: VoViT, mixture: torch.Tensor, landmarks: torch.Tensor,
                   sub_frames: torch.Tensor) -> dict[str, np.ndarray]:
    """Run the fixture's inputs with VoViT's conventions; the fixture's arrays by name, from the
    model's outputs and forward hooks."""
    got: dict[str, torch.Tensor] = {}
    graph, audio = model.graph_net, model.audio_network
    fusion = audio.fusion_module
    hooks = [
        graph.st_gcn_networks[0].register_forward_pre_hook(
            lambda m, args: got.__setitem__("stgcn_data_bn", args[0])),
        graph.register_forward_hook(
            lambda m, args, out: got.__setitem__("visual_100", out.transpose(1, 2))),
        fusion.register_forward_pre_hook(
            lambda m, args: got.__setitem__("visual_256", args[0][..., :graph.out_channels])),
        audio.audio_net.register_forward_pre_hook(
            lambda m, args: got.__setitem__("spec2vec_input_sub", args[0][:, :, sub_frames])),
        audio.audio_net.register_forward_hook(
            lambda m, args, out: got.__setitem__("spec2vec_output_sub", out[:, sub_frames])),
        fusion.encoder.av_dim_adaptation.register_forward_hook(
            lambda m, args, out: got.__setitem__("av_dim_adaptation_sub", out[:, sub_frames])),
        fusion.encoder.temporal_enc.encoder.register_forward_hook(
            lambda m, args, out: got.__setitem__("temporal_encoder_sub", out[:, sub_frames])),
        fusion.encoder.spectral_enc.register_forward_hook(
            lambda m, args, out: got.__setitem__("spectral_encoder_sub",
                                                 out.transpose(1, 2)[:, sub_frames])),
        fusion.decoder.register_forward_hook(
            lambda m, args, out: got.__setitem__("decoder_sub", out[:, sub_frames])),
        fusion.register_forward_hook(lambda m, args, out: got.__setitem__("mask_logits", out)),
    ]
    blocks = []
    hooks += [block.register_forward_hook(lambda m, args, out: blocks.append(out[0].mean(dim=-1)))
              for block in graph.st_gcn_networks]
    try:
        with torch.no_grad():
            # VoViT's wrapper: the mixture divided by its absolute maximum over the whole batch;
            # landmarks (B, 100, 68, [x, y]) raw, laid out (B, [x, y], 100, 68).
            normalised = mixture / mixture.abs().max()
            out = model.forward_spectrogram(normalised, landmarks.permute(0, 3, 1, 2))
    finally:
        for hook in hooks:
            hook.remove()
    got["stgcn_blocks_item0"] = torch.cat(blocks, dim=0)
    got["estimated_sp"] = torch.view_as_real(out["estimate_stft"])
    got["estimated_wav"] = out["estimate"]
    state = model.state_dict()
    got["graph_net_A"] = state["graph_net.A"]
    got["temporal_pos_emb"] = state["audio_network.fusion_module.encoder.temporal_enc.pos_emb.weight"]
    got["spectral_pos_emb"] = state["audio_network.fusion_module.encoder.spectral_enc.pos_emb.weight"]
    return {k: v.detach().cpu().numpy() for k, v in got.items()}


COMPARED = ("stgcn_data_bn", "stgcn_blocks_item0", "visual_100", "visual_256", "spec2vec_input_sub",
            "spec2vec_output_sub", "av_dim_adaptation_sub", "temporal_encoder_sub",
            "spectral_encoder_sub", "decoder_sub", "mask_logits", "estimated_sp", "estimated_wav",
            "graph_net_A", "temporal_pos_emb", "spectral_pos_emb")


@pytest.fixture(scope="module")
def reference():
    with np.load(fixture_dir() / f"{FIXTURE_NAME}.npz") as data:
        return {k: data[k] for k in data.files}


def test_recipe_weights_match_the_fixture_checksums(reference):
    model = VoViT(make_config("face", "vovit", cross_modal=False))
    assert [n for n, _ in read_tsv()] == list(reference["weight_names"])
    assert [n for n, _ in read_tsv()] == list(model.state_dict())   # official names = ours
    ours = checksums(recipe_state_dict(model))
    ref = reference["weight_checksums"]
    # Same torch expressions → bit-for-bit equal sums (README); 1e-7 allows ulp-level reorderings.
    np.testing.assert_allclose(ours, ref, rtol=1e-7, atol=1e-9)
    assert np.any(ref[:, 1] > 0)


def assert_matches(got: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    """Every compared array within ``max|diff| <= 1e-4 · max|ref|``; all failures listed at once."""
    failures = []
    for name in COMPARED:
        ref = reference[name]
        ours = got[name]
        if ours.shape != ref.shape:
            failures.append(f"{name}: shape {ours.shape} != {ref.shape}")
            continue
        scale = np.abs(ref).max()
        diff = np.abs(ours.astype(np.float64) - ref).max()
        if not diff <= RELATIVE_TOLERANCE * scale:
            failures.append(f"{name}: max|diff| {diff:.3g} = {diff / scale:.3g} × max|ref|")
    assert not failures, "\n".join(failures)


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device on this machine"))]


@pytest.mark.parametrize("device", DEVICES)
def test_vovit_preset_reproduces_the_public_network(reference, device):
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model = reference_model(device)
    got = run_with_hooks(model, torch.from_numpy(reference["mixture"]).to(device),
                         torch.from_numpy(reference["landmarks"]).to(device),
                         torch.from_numpy(reference["sub_frames"]).to(device))
    assert_matches(got, reference)


def test_the_comparison_catches_a_known_mistake(reference):
    """The tolerance is tight enough: per-item instead of batch-peak normalisation (a README "typical
    mistake", 2.2e-1 on the waveform) fails the waveform comparison."""
    mixture = torch.from_numpy(reference["mixture"])
    per_item = mixture / mixture.abs().amax(dim=1, keepdim=True) * mixture.abs().max()
    model = reference_model()
    got = run_with_hooks(model, per_item, torch.from_numpy(reference["landmarks"]),
                         torch.from_numpy(reference["sub_frames"]))
    with pytest.raises(AssertionError, match="estimated_wav"):
        assert_matches(got, reference)


def test_import_vovit_turns_an_official_file_into_a_checkpoint_that_separates_like_vovit(
        reference, tmp_path, capsys):
    """``import-vovit`` on a file in the official layout (recipe weights under a wrapper prefix, plus
    the STFT-window and mel extras older VoViT code saved): the checkpoint records VoViT's input
    conventions, and whole-song separation with it reproduces the fixture's waveform. Item 0 is the
    loudest, so VoViT's batch peak is item 0's own peak, i.e. its song peak."""
    from core.face import load_mean_face
    from gradient_saliency.models import load_model, mean_face_in_model_space
    from separation.checkpoint import load_checkpoint
    from separation.conventions import OFFICIAL_VOVIT
    from separation.inference import separate_song
    from separation.main import main

    recipe = recipe_state_dict(VoViT(make_config("face", "vovit", cross_modal=False)))
    extras = {"audio_processor._window": torch.hann_window(1022),
              "ap._window": torch.hann_window(1022), "mel_filterbank": torch.ones(64, 512)}
    official = {f"avse.{k}": v for k, v in {**recipe, **extras}.items()}
    source, out = tmp_path / "vovit_singing_voice.pth", tmp_path / "vocal_face_vovit.pt"
    torch.save({"state_dict": official}, source)
    assert main(["import-vovit", str(source), "--instrument", "vocal", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dropped 3 non-parameter key(s)" in printed
    assert all(f"avse.{k}" in printed for k in extras)

    model, meta = load_checkpoint(out)
    assert meta["conventions"] == OFFICIAL_VOVIT and meta["instrument"] == "vocal"
    assert meta["imported_from"]["dropped_keys"] == [f"avse.{k}" for k in extras]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in recipe.items())
    mixture = reference["mixture"][0]
    faces = reference["landmarks"][0]                               # (100, 68, 2) raw pixels
    estimate = separate_song(model, mixture, faces, np.ones(faces.shape[:2], bool),
                             torch.device("cpu"), hop=CHUNK_SAMPLES, conventions=meta["conventions"])
    expected = reference["estimated_wav"][0] * np.abs(reference["mixture"]).max()
    assert np.abs(estimate - expected).max() <= RELATIVE_TOLERANCE * np.abs(expected).max()
    # saliency and attention load it too; its mean-face baseline is in its own (pixel) input space
    loaded = load_model("face", out, "cpu")
    assert loaded.conventions == OFFICIAL_VOVIT
    np.testing.assert_allclose(mean_face_in_model_space(loaded.conventions).numpy(),
                               load_mean_face().T, rtol=1e-6)
