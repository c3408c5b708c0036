"""The scene-graph condition encoder: input features, edges, shapes, round trip, and a known
answer: context from a shadowing accompanist replaces the query's missing keypoints."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from separation.scene_graph import (INSTRUMENTS, N_FEATURES, N_FIXED, SceneGraphConfig,
                                    SceneGraphEncoder, neighbours, node_features, scene_input)

J = 55


def test_node_features_known_values():
    body = np.zeros((3, J, 2))
    body[:, :, 0], body[:, :, 1] = 100.0, 50.0
    body[:, 0] = (110.0, 50.0)                      # one point 10 px right of the others
    valid = np.ones((3, J), bool)
    valid[2] = False                                # frame 2: absent
    valid[2, :1] = True                             # (one point is not a body)
    out = node_features(body, valid, "violin", frame_size=(200, 100))
    assert out.shape == (3, N_FEATURES) and N_FEATURES == N_FIXED + len(INSTRUMENTS) + 2 * J
    centre_x = 100 + 10 / J
    np.testing.assert_allclose(out[0, :4], [1.0, centre_x / 200, 0.5, (110 - centre_x) / 100],
                               rtol=1e-6)
    assert out[0, N_FIXED + INSTRUMENTS.index("violin")] == 1.0
    assert out[0, N_FIXED:N_FIXED + len(INSTRUMENTS)].sum() == 1.0
    xy = out[0, N_FIXED + len(INSTRUMENTS):].reshape(J, 2)
    np.testing.assert_allclose(xy[0], [1.0, 0.0], atol=1e-6)           # the farthest point: radius 1
    assert (out[2] == 0).all()


def test_scene_input_places_the_query_first_and_needs_another_performer():
    query, other = np.full((4, N_FEATURES), 1.0, np.float32), np.full((4, N_FEATURES), 2.0, np.float32)
    nodes = scene_input(query, [other], max_nodes=3)
    assert nodes.shape == (3, 4, N_FEATURES)
    assert (nodes[0] == 1).all() and (nodes[1] == 2).all() and (nodes[2] == 0).all()
    with pytest.raises(ValueError, match="at least one other performer"):
        scene_input(query, [], max_nodes=3)


def _nodes(xs, present):
    """(1, N, 1, D) nodes at stage positions ``xs`` with presence flags."""
    nodes = torch.zeros(1, len(xs), 1, N_FEATURES)
    nodes[0, :, 0, 0] = torch.tensor(present, dtype=torch.float32)
    nodes[0, :, 0, 1] = torch.tensor(xs)
    return nodes


def test_edges_are_the_nearest_present_performers_by_stage_position():
    # query at 0.5; others at 0.1, 0.45, 0.9 (0.9 absent)
    edges = neighbours(_nodes([0.5, 0.1, 0.45, 0.9], [1, 1, 1, 0]), k=1)[0, 0]
    assert edges[0].tolist() == [True, False, True, False]     # self + nearest (0.45)
    assert edges[1].tolist() == [False, True, True, False]     # 0.1's nearest present: 0.45
    assert not edges[3].any()                                  # absent, not the query: receives nothing
    # an absent query still receives from its neighbours: how context reaches it
    missing = neighbours(_nodes([0.5, 0.1, 0.45], [0, 1, 1]), k=2)[0, 0]
    assert missing[0].tolist() == [True, True, True]
    assert not missing[:, 0][1:].any()                         # nobody receives from it


def test_shapes_and_round_trip_through_a_checkpoint_buffer():
    config = SceneGraphConfig(max_nodes=3, hidden=16, heads=2, layers=2, out_channels=8)
    assert SceneGraphConfig.from_options(config.to_options()) == config
    torch.manual_seed(0)
    encoder = SceneGraphEncoder(config, n_frames=20).eval()
    assert encoder.input_shape == (3, 20, N_FEATURES)
    nodes = torch.rand(2, 3, 20, N_FEATURES)
    nodes[:, :, :, 0] = 1.0
    out = encoder(nodes)
    assert out.shape == (2, 20, 8)
    assert encoder.last_attention.shape == (2, 2, 20, 3, 3)
    buffer = io.BytesIO()
    torch.save({"options": config.to_options(), "state": encoder.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    copy = SceneGraphEncoder(SceneGraphConfig.from_options(saved["options"]), n_frames=20).eval()
    copy.load_state_dict(saved["state"])
    assert torch.equal(copy(nodes), out)
    with pytest.raises(ValueError, match="unknown scene_graph encoder option"):
        SceneGraphConfig.from_options({"hiden": 3})


def _shadow_scenes(batch: int, rng: np.random.Generator, frames: int = 60):
    """Query (vocal, x 0.5) and a violinist (x 0.3) move one point by the same line ``s(t)``; a
    mridangam player (x 0.8) moves by noise. The query is absent for 30 frames of each example."""
    t = np.arange(frames)
    nodes = np.zeros((batch, 3, frames, N_FEATURES), np.float32)
    target = np.zeros((batch, frames), np.float32)
    for b in range(batch):
        line = np.sin(2 * np.pi * (t / rng.uniform(12, 30) + rng.uniform()))
        noise = np.convolve(rng.standard_normal(frames + 4), np.ones(5) / 5, "valid")
        target[b] = line
        for slot, (x, instrument, signal) in enumerate(((0.5, "vocal", line), (0.3, "violin", line),
                                                        (0.8, "mridangam", noise))):
            nodes[b, slot, :, 0] = 1.0
            nodes[b, slot, :, 1] = x
            nodes[b, slot, :, N_FIXED + INSTRUMENTS.index(instrument)] = 1.0
            nodes[b, slot, :, N_FIXED + len(INSTRUMENTS) + 1] = signal      # point 0's y
        gap = rng.integers(0, frames - 30)
        nodes[b, 0, gap:gap + 30] = 0.0
    return torch.as_tensor(nodes), torch.as_tensor(target)


def _fit(k: int, steps: int = 250) -> float:
    """Train encoder + linear head to output the query's line; the error on the frames where the
    query is absent, on fresh scenes."""
    torch.manual_seed(0)
    encoder = SceneGraphEncoder(SceneGraphConfig(max_nodes=3, k_neighbours=k, hidden=16, heads=2,
                                                 layers=1, out_channels=8), n_frames=60)
    head = torch.nn.Linear(8, 1)
    optimiser = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-2)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        nodes, target = _shadow_scenes(16, rng)
        loss = ((head(encoder(nodes))[..., 0] - target) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    nodes, target = _shadow_scenes(64, np.random.default_rng(1))
    with torch.no_grad():
        error = (head(encoder(nodes))[..., 0] - target) ** 2
    absent = nodes[:, 0, :, 0] == 0
    return float(error[absent].mean())


@pytest.mark.slow
def test_context_from_the_shadowing_accompanist_fills_in_the_missing_query():
    """With edges (k = 2) the query's embedding carries its line where its own keypoints are
    missing (the violinist shadows it); self-only (k = 0) it cannot: the line's variance is 0.5."""
    with_context, self_only = _fit(k=2), _fit(k=0)
    assert self_only > 0.3
    assert with_context < 0.1
