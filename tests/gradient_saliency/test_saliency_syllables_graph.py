"""Saliency over sung syllables (``text``) and over performer nodes and edges (``scene_graph``):
known answers on constructed models and scenes, completeness of Integrated Gradients, and the
command-line run on tiny models of both kinds (JSON, figures, named skips and failures).

The songs and scenes are the separation tests' builders (``tests/separation/sep_synthetic.py``,
``test_sep_text_graph_kinds.py``), imported rather than copied."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "separation"))

from core import syllables as sy  # noqa: E402
from gradient_saliency import cli  # noqa: E402
from gradient_saliency.graph_regions import (FEATURE_GROUPS, graph_song_saliency,  # noqa: E402
                                             held_edges)
from gradient_saliency.objective import LOSS_SCALE, SeparationObjective  # noqa: E402
from gradient_saliency.pipeline import SaliencyConfig  # noqa: E402
from gradient_saliency.regions import RegionContext, attribution_regions  # noqa: E402
from gradient_saliency.syllable_regions import (runs_as_alignment, text_baseline,  # noqa: E402
                                                text_song_saliency)
from separation.checkpoint import save_checkpoint  # noqa: E402
from separation.conventions import PROJECT  # noqa: E402
from separation.data import song_chunks  # noqa: E402
from separation.scene_graph import neighbours  # noqa: E402
from separation.text_input import chunk_frame_times, load_song_text  # noqa: E402
from separation.vovit import VoViT, make_config  # noqa: E402

from sep_synthetic import FPS, tiny_config, write_metadata, write_song  # noqa: E402
from test_sep_text_graph_kinds import TINY_GRAPH, graph_song  # noqa: E402

# sung syllables of chunk 1 (4-8 s): the model below reads frames 64..127 (5.0 .. 5.984 s), all
# inside "pa"; frames 128..159 (6.0 .. 6.484 s) are the silent gap before "ni"
SYLLABLES = ([4.0, 5.0, 6.5], [4.9, 6.0, 7.0], ["sa", "pa", "ni"])
PA_FRAMES, GAP_FRAMES = (64, 128), (128, 160)


class SyllableWindowModel(torch.nn.Module):
    """``estimate = mixture × Σ_{frames a..b, classes} P · w`` (``w`` fixed random weights): the
    output depends on the posteriorgram only through frames ``[a, b)``."""

    def __init__(self, frames: tuple[int, int]):
        super().__init__()
        self.frames = frames
        gen = torch.Generator().manual_seed(3)
        self.weights = torch.nn.Parameter(torch.rand(frames[1] - frames[0], sy.N_CLASSES,
                                                     generator=gen) + 0.5)

    def forward(self, mixture, posteriorgram):
        a, b = self.frames
        gain = (posteriorgram[:, a:b] * self.weights).sum(dim=(1, 2)) / (b - a)
        return mixture * gain[:, None]


def sung_chunk(tmp_path) -> tuple[SimpleNamespace, RegionContext]:
    """Chunk 1 of a song whose vocalist sings ``SYLLABLES``, and the context naming its file."""
    sy.save_alignment(tmp_path / "vocal" / sy.ALIGNMENT_NAME, *SYLLABLES)
    posteriorgram, _ = load_song_text(tmp_path, "vocal").window(65536)
    mixture = torch.randn(512, generator=torch.Generator().manual_seed(0)).numpy()
    chunk = SimpleNamespace(index=1, mixture=mixture, target=0.2 * mixture, visual=posteriorgram)
    return chunk, RegionContext(tmp_path, None, "vocal", {}, "silence")


def objective_by_hand(model, mixture, posteriorgram, target) -> float:
    with torch.no_grad():
        estimate = model(torch.as_tensor(mixture)[None], torch.as_tensor(posteriorgram)[None])
        return float(LOSS_SCALE * ((estimate - torch.as_tensor(target)) ** 2).mean())


@pytest.mark.parametrize("method, baseline", [("integrated_gradients", "silence"),
                                              ("integrated_gradients", "uniform"),
                                              ("gradient_saliency", "silence"),
                                              ("gradient_input_saliency", "silence")])
def test_attribution_lands_on_the_one_syllable_the_model_reads(tmp_path, method, baseline):
    chunk, context = sung_chunk(tmp_path)
    context = RegionContext(tmp_path, None, "vocal", {}, baseline)
    model = SyllableWindowModel(PA_FRAMES)
    out = text_song_saliency(model, [chunk], SaliencyConfig(method=method, n_steps=8), "cpu",
                             context)
    entry = out["per_chunk"][0]
    rows = {row["syllable"]: row for row in entry["syllables"]}
    assert list(rows) == ["sa", "pa", "ni", sy.SILENCE]
    assert (rows["pa"]["start_s"], rows["pa"]["end_s"], rows["pa"]["frames"]) == (5.0, 6.0, 64)
    assert rows["sa"]["frames"] == 58 and rows["ni"]["frames"] == 32            # 4.0-4.9, 6.5-7.0
    assert rows["pa"]["share"] == pytest.approx(1.0, abs=1e-12)
    for name in ("sa", "ni", sy.SILENCE):
        assert rows[name]["abs_attribution"] == 0.0 and rows[name]["attribution"] == 0.0
    assert out["syllable_importance"]["pa"] == pytest.approx(1.0, abs=1e-12)
    if method != "integrated_gradients":
        assert "delta" not in entry and out["convergence_delta"] is None
        return
    # completeness, against f computed by hand: the syllables' and the audio's attributions add
    # up to f(x) - f(x'); the loss is a polynomial of degree 4 along the path, which 8
    # Gauss-Legendre points integrate exactly (float32 rounding remains)
    fx = objective_by_hand(model, chunk.mixture, chunk.visual, chunk.target)
    fb = objective_by_hand(model, 0 * chunk.mixture,
                           text_baseline(torch.as_tensor(chunk.visual)[None], baseline)[0],
                           chunk.target)
    assert entry["loss"] == pytest.approx(fx, rel=1e-6)
    assert entry["baseline_loss"] == pytest.approx(fb, rel=1e-6)
    assert entry["attribution_sum"] == pytest.approx(fx - fb, rel=1e-5)
    assert entry["relative_delta"] < 1e-5
    assert sum(r["attribution"] for r in entry["syllables"]) == pytest.approx(
        entry["text_attribution"], rel=1e-9)
    assert out["convergence_delta"]["relative_max"] == entry["relative_delta"]


def test_a_posteriorgram_model_s_syllables_are_its_runs(tmp_path):
    """A model reading posteriorgram files has no alignment: its syllables are the chunk's runs
    of one most probable sung class, and the attribution still lands on "pa"."""
    chunk, _ = sung_chunk(tmp_path)
    out = text_song_saliency(SyllableWindowModel(PA_FRAMES), [chunk], SaliencyConfig(n_steps=8),
                             "cpu", RegionContext(tmp_path, None, "vocal",
                                                  {"source": "posteriorgram"}, "silence"))
    assert out["syllable_source"] == "posteriorgram runs"
    rows = {row["syllable"]: row for row in out["per_chunk"][0]["syllables"]}
    assert rows["pa"]["start_s"] == pytest.approx(5.0 - 0.5 / 64)
    assert rows["pa"]["end_s"] == pytest.approx(4.0 + 127 / 64 + 0.5 / 64)
    assert rows["pa"]["frames"] == 64 and rows["pa"]["share"] == pytest.approx(1.0, abs=1e-12)


def test_silent_frames_carry_attribution_only_against_the_uniform_baseline(tmp_path):
    """The model reads only the silent gap: knowing that nothing is sung there is information
    against ``uniform`` ("no idea") and none against ``silence`` (input = baseline there)."""
    chunk, _ = sung_chunk(tmp_path)
    model = SyllableWindowModel(GAP_FRAMES)
    config = SaliencyConfig(n_steps=8)
    silent = text_song_saliency(model, [chunk], config, "cpu",
                                RegionContext(tmp_path, None, "vocal", {}, "silence"))
    assert silent["per_chunk"][0]["text_abs_sum"] == 0.0
    uniform = text_song_saliency(model, [chunk], config, "cpu",
                                 RegionContext(tmp_path, None, "vocal", {}, "uniform"))
    rows = {row["syllable"]: row for row in uniform["per_chunk"][0]["syllables"]}
    assert rows[sy.SILENCE]["share"] == pytest.approx(1.0, abs=1e-12)
    assert rows[sy.SILENCE]["frames"] == 256 - 58 - 64 - 32


@pytest.mark.slow
def test_a_trained_text_model_credits_the_query_s_syllables_and_its_silences():
    """The separation tests' known answer (two same-timbre voices taking turns; only the query's
    syllables say which voice is asked for), trained as there (40 steps of the tiny model). Against
    the ``silence`` baseline every syllable the query sings lowers the loss (negative
    attribution); against ``uniform`` the frames where the query is silent carry nearly all of it:
    what the model uses most is *when the query does not sing* (the other voice's turns, muted).
    Measured on 3 new examples: every syllable negative (9 of 9), ``<sil>`` 97-99 % of the text
    attribution against ``uniform``; the relative deltas 0.5-2.7 % at 25 steps."""
    from sep_synthetic import train_tiny_model
    from test_sep_text_graph_kinds import alternating_voices

    rng = np.random.default_rng(0)
    model = train_tiny_model(tiny_config("text"), lambda: alternating_voices(rng, 4), "post", 40)
    b = alternating_voices(np.random.default_rng(99), 1)
    chunk = SimpleNamespace(index=0, mixture=b["mixture"][0].numpy(), target=b["target"][0].numpy(),
                            visual=b["post"][0].numpy())
    results = {}
    for baseline in ("silence", "uniform"):
        # a posteriorgram model's view: the query's turns are the runs of its sung classes
        context = RegionContext(None, None, "vocal", {"source": "posteriorgram"}, baseline)
        out = text_song_saliency(model, [chunk], SaliencyConfig(n_steps=25), "cpu", context)
        rows = out["per_chunk"][0]["syllables"]
        assert rows[-1]["syllable"] == sy.SILENCE             # the silent frames come last
        results[baseline] = rows[:-1], rows[-1]
        assert out["per_chunk"][0]["relative_delta"] < 0.05
    sung, silent = results["silence"]
    assert len(sung) >= 3 and all(r["attribution"] < 0 for r in sung)
    assert silent["attribution"] == 0.0
    assert results["uniform"][1]["share"] > 0.9


def test_text_baselines_and_syllables_of_a_posteriorgram():
    p = torch.rand(2, 5, sy.N_CLASSES)
    silence = text_baseline(p, "silence")
    assert (silence[..., 0] == 1).all() and silence.sum() == 10
    torch.testing.assert_close(text_baseline(p, "uniform").sum(-1), torch.ones(2, 5))
    with pytest.raises(ValueError, match="unknown text baseline 'blank'"):
        text_baseline(p, "blank")
    # a posteriorgram model's syllables: runs of one most probable sung class
    classes = np.r_[np.zeros(10, int), np.full(10, sy.class_index("sa")),
                    np.full(5, sy.class_index("ri")), np.zeros(3, int),
                    np.full(2, sy.class_index("ri"))]
    posteriorgram = np.eye(sy.N_CLASSES)[classes] * 0.6 + 0.4 / sy.N_CLASSES
    times = chunk_frame_times(2)[:len(classes)]
    runs = runs_as_alignment(posteriorgram, times)
    assert runs.syllables == ("sa", "ri", "ri")
    np.testing.assert_allclose(runs.starts, times[[10, 20, 28]] - 0.5 / 64)
    np.testing.assert_allclose(runs.ends, times[[19, 24, 29]] + 0.5 / 64)
    assert np.array_equal(sy.syllable_at(runs, times) >= 0, classes > 0)


# --- scene graph ----------------------------------------------------------------------------------

def graph_model(k_neighbours: int = 1) -> VoViT:
    torch.manual_seed(0)
    return VoViT(make_config("scene_graph", "small", encoder={**TINY_GRAPH,
                                                              "k_neighbours": k_neighbours},
                             d_model=32, nhead=2, dim_feedforward=32, audio_channels=4,
                             time_dilations=(1,), both_dilations=(2,)))


@pytest.fixture(scope="module")
def trio(tmp_path_factory):
    """The separation tests' trio (vocal at stage x 0.23, violin 0.55, mridangam 0.86; the vocalist
    unseen for a quarter of chunk 0), its chunk as the separation stage cuts it, and the saliency
    of a one-layer, one-neighbour graph model: the query hears from itself and the violin only."""
    folder, song = graph_song(tmp_path_factory.mktemp("trio"))
    model = graph_model(1)
    chunks = song_chunks(folder, song, "vocal", "scene_graph", conventions=PROJECT,
                         options=model.config.encoder_options)
    context = RegionContext(folder, song, "vocal", model.config.encoder_options, "zeros")
    out = graph_song_saliency(model, chunks, SaliencyConfig(n_steps=16), "cpu", context)
    return model, chunks, out, context


def test_a_performer_the_query_never_hears_gets_no_attribution(trio):
    _, chunks, out, _ = trio
    entry = out["per_chunk"][0]
    assert out["performers"] == ["vocal", "violin", "mridangam"]
    nodes = entry["nodes"]
    assert nodes[0]["present_frames"] == 100 - 26 and nodes[1]["present_frames"] == 100
    assert nodes[2]["abs_attribution"] == 0.0 and set(nodes[2]["group_abs"].values()) == {0.0}
    assert nodes[0]["abs_attribution"] > 0 and nodes[1]["abs_attribution"] > 0
    assert sum(n["share"] for n in nodes) == pytest.approx(1.0)
    for node in nodes[:2]:                              # the groups partition the node's |A|
        assert sum(node["group_abs"].values()) == pytest.approx(node["abs_attribution"])
        assert sum(node["groups"].values()) == pytest.approx(node["attribution"])
    assert list(nodes[0]["groups"]) == list(FEATURE_GROUPS)
    assert out["node_importance"][2] == 0.0
    # stage positions as the preparation wrote them (x in 0-1 of the frame width)
    assert out["positions"][0][0] < out["positions"][1][0] < out["positions"][2][0]


def test_edges_out_of_the_query_s_reach_get_no_gradient_and_its_attention_sums_to_one(trio):
    _, chunks, out, _ = trio
    edges = {(e["receiver"], e["sender"]): e for e in out["per_chunk"][0]["edges"]}
    # the query hears itself and its one nearest neighbour (the violin) in every frame
    assert edges[(0, 0)]["frames"] == edges[(0, 1)]["frames"] == 100 and (0, 2) not in edges
    assert edges[(0, 0)]["attention"] + edges[(0, 1)]["attention"] == pytest.approx(1.0, abs=1e-6)
    assert edges[(0, 1)]["gradient_x_attention"] != 0.0
    # one layer: the output reads the query's state only, so messages into the others count 0
    others = [e for key, e in edges.items() if key[0] != 0]
    assert others and all(e["gradient_x_attention"] == 0.0 for e in others)
    assert sum(e["share"] for e in edges.values()) == pytest.approx(1.0)
    # while the vocalist is unseen the violin's nearest present neighbour is the mridangam
    assert edges[(1, 2)]["frames"] == 26


def test_graph_integrated_gradients_is_complete_for_the_chunk_s_edges(trio):
    model, chunks, out, _ = trio
    entry = out["per_chunk"][0]
    chunk = chunks[0]
    mixture = torch.as_tensor(chunk.mixture)[None].float()
    target = torch.as_tensor(chunk.target)[None].float()
    nodes = torch.as_tensor(chunk.visual)[None].float()
    objective = SeparationObjective(model)
    encoder = model.condition_encoder
    edges = neighbours(nodes, 1)
    encoder.edges = lambda x: edges.expand(x.shape[0], -1, -1, -1)    # held by hand here
    try:
        with torch.no_grad():
            fx = float(objective(mixture, nodes, target)[0])
            fb = float(objective(0 * mixture, 0 * nodes, target)[0])
            held_path = float(objective(0.3 * mixture, 0.3 * nodes, target)[0])
    finally:
        del encoder.edges
    # why the edges are held (module docstring): 30 % along the path the presence feature is 0.3,
    # the encoder's own rule sees nobody there, and the query stops hearing the violin
    assert encoder.edges(0.3 * nodes)[0, :, 0, 1].sum() == 0
    with torch.no_grad():
        free_path = float(objective(0.3 * mixture, 0.3 * nodes, target)[0])
    assert free_path != held_path
    assert entry["loss"] == pytest.approx(fx, rel=1e-5)
    assert entry["baseline_loss"] == pytest.approx(fb, rel=1e-5)
    assert entry["delta"] == pytest.approx(entry["attribution_sum"] - (fx - fb), abs=1e-3)
    assert entry["relative_delta"] < 1e-3


def test_held_edges_follow_each_chunk_of_a_batch(trio):
    """Two chunks attributed together, several integration steps per forward pass: each chunk
    keeps its own edges (Captum's batches are the chunks repeated step after step). In the second
    chunk the violin and the mridangam swap places on stage, so the query hears the mridangam."""
    model, chunks, single, context = trio
    swapped = np.array(chunks[0].visual, copy=True)
    swapped[[1, 2], :, 1] = swapped[[2, 1], :, 1]
    pair = [chunks[0], SimpleNamespace(index=1, mixture=chunks[0].mixture,
                                       target=chunks[0].target, visual=swapped)]
    out = graph_song_saliency(model, pair, SaliencyConfig(n_steps=16, internal_batch_size=6,
                                                          chunk_batch=2), "cpu", context)
    first, second = (entry["nodes"] for entry in out["per_chunk"])
    assert first[2]["abs_attribution"] == 0.0 and first[1]["abs_attribution"] > 0
    assert second[1]["abs_attribution"] == 0.0 and second[2]["abs_attribution"] > 0
    # the first chunk's numbers do not depend on its batch company
    for together, alone in zip(first, single["per_chunk"][0]["nodes"]):
        assert together["abs_attribution"] == pytest.approx(alone["abs_attribution"], rel=1e-4)


def test_held_edges_serve_whole_multiples_of_the_batch_only():
    encoder = graph_model(1).condition_encoder
    edges = torch.zeros(2, 100, 3, 3, dtype=torch.bool)
    edges[:, :, 0, 0] = True
    with held_edges(encoder, edges):
        assert encoder.edges(torch.zeros(6, 3, 100, 8)).shape == (6, 100, 3, 3)
        with pytest.raises(RuntimeError, match="held edges for 2 chunks cannot serve a batch of 3"):
            encoder.edges(torch.zeros(3, 3, 100, 8))
    assert "edges" not in vars(encoder)                   # the encoder's own rule is back


# --- the command line -----------------------------------------------------------------------------

def test_regions_are_registered_for_the_two_kinds_only():
    assert attribution_regions("text").baselines == ("silence", "uniform")
    assert attribution_regions("scene_graph").baselines == ("zeros",)
    assert attribution_regions("face") is None and attribution_regions("frames") is None


def run_saliency(root: Path, kind: str, checkpoint: Path, *extra: str) -> int:
    return cli.main(None, ["--method", "integrated_gradients", "--model", kind, "--checkpoint",
                           str(checkpoint), "--dataset_path", str(root), "--num_steps", "4",
                           "--device", "cpu", *extra])


def song_entry(layout, seconds: float = 5.0) -> dict:
    return {"layout": list(layout), "fps": FPS, "moving_camera": False, "duration": seconds}


@pytest.mark.slow
def test_text_cli_writes_syllables_and_figures_and_names_the_songs_it_cannot_use(tmp_path, capsys):
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for name in ("Sung", "Silent", "Broken"):
        write_song(root, "Art", name, 5.0, rng)
    sy.save_alignment(root / "Art" / "Sung" / "vocal" / sy.ALIGNMENT_NAME,
                      [0.5, 1.5, 2.5], [1.25, 2.25, 3.5], ["sa", "ri", "ga"])
    (root / "Art" / "Broken" / "vocal" / sy.ALIGNMENT_NAME).write_text("0\t1\tsa\n2\t1\tri\n")
    write_metadata(root, {"Art": {n: song_entry(("vocal", "violin"))
                                  for n in ("Sung", "Silent", "Broken")}})
    model = VoViT(tiny_config("text"))
    # the FiLM layer starts as the identity (no text effect): weights as after some training
    torch.nn.init.normal_(model.audio_network.cross_modal.block.film.weight, std=0.5,
                          generator=torch.Generator().manual_seed(1))
    checkpoint = save_checkpoint(tmp_path / "text.pt", model, instrument="vocal")
    code = run_saliency(root, "text", checkpoint)
    assert code == 1                                        # Broken failed; the others went on
    captured = capsys.readouterr()
    log = captured.err
    assert "Integrated Gradients convergence over 1 chunk(s)" in captured.out
    assert "Art/Silent: skipped: no text for vocal: vocal/syllables.tsv does not exist" in log
    assert "Art/Broken: failed:" in log and "line 2: end 1.0 is not after start 2.0" in log
    out_dir = root / "results" / "integrated_gradients_all_text"
    song = json.loads((out_dir / "Art_Sung.json").read_text())
    assert song["visual"] == "text" and song["condition_baseline"] == "silence"
    assert song["chunks"] == [0] and song["syllable_source"] == "alignment"
    rows = song["per_chunk"][0]["syllables"]
    assert [(r["syllable"], r["start_s"], r["end_s"]) for r in rows] == [
        ("sa", 0.5, 1.25), ("ri", 1.5, 2.25), ("ga", 2.5, 3.5), (sy.SILENCE, None, None)]
    assert rows[-1]["attribution"] == 0.0                  # silence baseline: silent frames 0
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert song["per_chunk"][0]["relative_delta"] < 0.05
    assert set(song["syllable_importance"]) == {"sa", "ri", "ga", sy.SILENCE}
    average = json.loads((out_dir / "_average.json").read_text())
    assert average["songs"] == ["Art/Sung"] and average["n_chunks"] == 1
    assert average["convergence_delta"]["relative_max"] == song["per_chunk"][0]["relative_delta"]
    figures = sorted(p.name for p in (out_dir / "figures").glob("*.png"))
    assert figures == ["Art_Sung_syllables.png", "_average_syllables.png"]
    assert all((out_dir / "figures" / f).stat().st_size > 10_000 for f in figures)
    # a checkpoint of another kind than --model is a bad setting: named, exit 2
    assert run_saliency(root, "scene_graph", checkpoint) == 2
    assert "scene_graph" in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.slow
def test_scene_graph_cli_writes_nodes_edges_and_the_stage_figure(tmp_path, capsys):
    root = tmp_path / "data"
    graph_song(root)
    write_song(root, "Art", "Solo", 5.0, np.random.default_rng(1), instruments=("vocal",),
               keypoints_for=("vocal",))
    write_metadata(root, {"Art": {"Trio": song_entry(("vocal", "violin", "mridangam")),
                                  "Solo": song_entry(("vocal",))}})
    checkpoint = save_checkpoint(tmp_path / "graph.pt", graph_model(1), instrument="vocal")
    code = run_saliency(root, "scene_graph", checkpoint)
    assert code == 0
    assert "Art/Solo: skipped: no scene graph for vocal: no other performer with keypoints" \
        in capsys.readouterr().err
    out_dir = root / "results" / "integrated_gradients_all_scene_graph"
    song = json.loads((out_dir / "Art_Trio.json").read_text())
    assert song["performers"] == ["vocal", "violin", "mridangam"]
    assert song["node_importance"][2] == 0.0 and song["node_importance"][0] > 0
    assert song["condition_baseline"] == "zeros"
    assert {(e["receiver"], e["sender"]) for e in song["edges"]} >= {(0, 0), (0, 1)}
    assert song["per_chunk"][0]["relative_delta"] < 0.05
    average = json.loads((out_dir / "_average.json").read_text())
    assert average["songs"] == ["Art/Trio"] and average["node_importance"][2] == 0.0
    figures = sorted(p.name for p in (out_dir / "figures").glob("*.png"))
    assert figures == ["Art_Trio_graph.png"]
    assert (out_dir / "figures" / figures[0]).stat().st_size > 10_000


def test_the_text_baseline_option_is_listed_as_a_divergence():
    from core.settings import REPO_ROOT

    action = next(a for a in cli.build_parser("integrated_gradients")._actions
                  if "--text-baseline" in a.option_strings)
    assert action.default == "silence" and tuple(action.choices) == ("silence", "uniform")
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    divergences = readme.split("## Divergences from the published pipeline")[1].split("\n## ")[0]
    assert "`--text-baseline silence`" in divergences and "`uniform`" in divergences
