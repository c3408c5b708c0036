"""``scene_graph``: the queried performer in the context of the others on stage (after AVSGS,
Chatterjee et al., ICCV 2021), as a condition encoder of the one separation framework.

Published system (``../shared/reference/seeds/004``): object detections become graph nodes
(2048-d appearance features) with context nodes; graph attention and edge convolution build
embeddings of candidate sources, a recurrent multi-head attention emits one embedding per source,
which conditions a U-Net. Here the nodes are the performers the pose stage found, the features are
their motion, and the embedding of the *queried* performer in its scene conditions the VoViT audio
path like any condition sequence. The question it answers: does knowing the other performers'
motion help separate the query's source (e.g. while the query's own keypoints are missing and an
accompanist shadows the line)?

Input (one example, ``scene_input``): ``(N, T, D)`` float32, ``N = max_nodes`` performer slots,
node 0 the queried performer, the others in stage order (left to right), empty slots all zero;
``T`` = 100 video frames (25 fps, one 4-s chunk); per node and frame ``D = 4 + instruments + 2 J``:

* ``[0]`` present (1 when the performer has keypoints in that frame, else 0: a missing query is
  a node whose features are all zero but which still receives messages);
* ``[1:3]`` position on stage: the body's centre in the frame, x and y in 0–1 of the frame size;
* ``[3]`` scale: the body's radius (largest point distance from its centre) / frame height;
* ``[4:4+I]`` the performer's instrument, one-hot over ``INSTRUMENTS`` (all zero if unknown);
* ``[4+I:]`` the body keypoints normalised per frame (centre 0, radius 1; ``J`` = 55 points of
  ``core.keypoints.BODY_55``), x then y per point, 0 where missing.

Edges (``neighbours``): in each frame every present node attends to itself and to its
``k_neighbours`` nearest present nodes by stage position (x); the query attends to its
neighbours even when it is itself absent, which is how context reaches a missing performer.

Network (``SceneGraphEncoder``): a shared per-node encoder (linear, then a temporal convolution,
kernel 5, over the frames), ``layers`` graph-attention layers (GAT, Veličković et al. 2018:
``e_ij = LeakyReLU(a_h · [W_h x_i ‖ W_h x_j])`` over the edges, softmax over ``j``, heads
concatenated, residual + LayerNorm), then the query node's sequence projected to
``out_channels``: ``(B, T, C)``. ``last_attention`` keeps the latest ``(B, heads, T, N, N)`` edge
weights for saliency over nodes and edges. The layer is written here (~40 lines) rather than taken
from torch-geometric: one attention over at most a handful of nodes needs no sparse graph library,
and the project stays on its pinned dependencies.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from core.keypoints import BODY_55

from .encoders import config_from_options

INSTRUMENTS = ("vocal", "violin", "mridangam", "ghatam", "kanjira", "morsing", "tanpura",
               "flute", "veena")
N_FIXED = 4                                   # present, x, y, scale
N_FEATURES = N_FIXED + len(INSTRUMENTS) + 2 * len(BODY_55)


@dataclass(frozen=True)
class SceneGraphConfig:
    max_nodes: int = 4
    k_neighbours: int = 2
    hidden: int = 32
    heads: int = 2
    layers: int = 2
    out_channels: int = 64

    def __post_init__(self):
        for name in ("max_nodes", "hidden", "heads", "layers", "out_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"scene_graph {name} must be ≥ 1, got {getattr(self, name)}")
        if self.k_neighbours < 0:
            raise ValueError(f"scene_graph k_neighbours must be ≥ 0, got {self.k_neighbours}")
        if self.hidden % self.heads:
            raise ValueError(f"scene_graph hidden ({self.hidden}) must be a multiple of heads "
                             f"({self.heads})")

    @classmethod
    def for_preset(cls, preset: str) -> "SceneGraphConfig":
        return cls() if preset == "small" else cls(hidden=128, heads=4, layers=3, out_channels=256)

    @classmethod
    def from_options(cls, options: dict) -> "SceneGraphConfig":
        return config_from_options(cls, options, "scene_graph encoder")

    def to_options(self) -> dict:
        return asdict(self)


# --- input ---------------------------------------------------------------------------------------

def node_features(body: np.ndarray, valid: np.ndarray, instrument: str | None,
                  frame_size: tuple[int, int]) -> np.ndarray:
    """One performer's ``(T, D)`` node features (module docstring) from its body keypoints
    ``body`` ``(T, 55, 2)`` pixels and ``valid`` ``(T, 55)``; ``frame_size`` = (width, height).
    A frame with fewer than 2 valid points is absent (all zero)."""
    width, height = frame_size
    n_frames = len(body)
    out = np.zeros((n_frames, N_FEATURES), np.float32)
    present = valid.sum(axis=1) >= 2
    if not present.any():
        return out
    points = np.where(valid[..., None], body, np.nan).astype(np.float64)
    with warnings.catch_warnings():                  # absent frames: all-NaN means, zeroed below
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(points, axis=1)                                    # (T, 2)
        radius = np.nanmax(np.linalg.norm(points - centre[:, None], axis=2), axis=1)
    radius = np.where(radius > 0, radius, 1.0)
    normalised = np.nan_to_num((points - centre[:, None]) / radius[:, None, None])
    out[:, 0] = 1.0
    out[:, 1] = centre[:, 0] / width
    out[:, 2] = centre[:, 1] / height
    out[:, 3] = radius / height
    if instrument in INSTRUMENTS:
        out[:, N_FIXED + INSTRUMENTS.index(instrument)] = 1.0
    out[:, N_FIXED + len(INSTRUMENTS):] = normalised.reshape(n_frames, -1)        # x, y per point
    out[~present] = 0.0
    return out


def scene_input(query: np.ndarray, others: list[np.ndarray], max_nodes: int) -> np.ndarray:
    """``(max_nodes, T, D)``: the query's node features (``node_features``) in slot 0, then the
    others (stage order) up to ``max_nodes - 1``; empty slots zero. Raises ``ValueError`` with no
    other performer (a scene graph of one node is audio-plus-self; use a pose kind)."""
    if not others:
        raise ValueError("a scene graph needs at least one other performer besides the query")
    nodes = np.zeros((max_nodes, *query.shape), np.float32)
    for slot, features in enumerate([query, *others][:max_nodes]):
        nodes[slot] = features
    return nodes


def neighbours(nodes: torch.Tensor, k: int) -> torch.Tensor:
    """Edges ``(B, T, N, N)`` bool, ``[.., i, j]`` = node ``i`` receives from ``j``, for node
    features ``(B, N, T, D)``: every present node and the query (node 0) receive from themselves
    and from their ``k`` nearest present nodes by stage x (module docstring)."""
    present = nodes[..., 0] > 0.5                                           # (B, N, T)
    present = present.permute(0, 2, 1)                                      # (B, T, N)
    x = nodes[..., 1].permute(0, 2, 1)                                      # (B, T, N)
    n = nodes.shape[1]
    distance = (x[..., :, None] - x[..., None, :]).abs()                    # (B, T, N, N)
    eye = torch.eye(n, dtype=torch.bool, device=nodes.device)
    candidate = present[..., None, :] & ~eye                                # senders j ≠ i
    ranked = torch.where(candidate, distance, torch.full_like(distance, float("inf")))
    order = ranked.argsort(dim=-1)
    rank = order.argsort(dim=-1)                                            # rank of j for i
    edges = candidate & (rank < k)
    receivers = present.clone()
    receivers[..., 0] = True                                                # the query always
    return (edges | eye) & receivers[..., :, None]


# --- network -------------------------------------------------------------------------------------

class GraphAttention(nn.Module):
    """One multi-head GAT layer over ``(B, T, N, H)`` node states with edges ``(B, T, N, N)``;
    a node without edges keeps its state (residual). Keeps ``last_attention``
    ``(B, heads, T, N, N)``."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.project = nn.Linear(hidden, hidden, bias=False)
        self.score_receiver = nn.Parameter(torch.randn(heads, self.head_dim) * 0.1)
        self.score_sender = nn.Parameter(torch.randn(heads, self.head_dim) * 0.1)
        self.norm = nn.LayerNorm(hidden)
        self.last_attention: torch.Tensor | None = None
        # saliency (gradient_saliency.graph_regions): a (B, heads, T, N, N) tensor of ones
        # multiplied into the edge weights; its gradient is gradient x attention per edge
        self.edge_gate: torch.Tensor | None = None

    def forward(self, states: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        b, t, n, _ = states.shape
        h = self.project(states).view(b, t, n, self.heads, self.head_dim)
        receiver = (h * self.score_receiver).sum(-1)                        # (B, T, N, heads)
        sender = (h * self.score_sender).sum(-1)
        logits = nn.functional.leaky_relu(receiver[:, :, :, None] + sender[:, :, None], 0.2)
        logits = logits.permute(0, 4, 1, 2, 3)                              # (B, heads, T, N, N)
        mask = edges[:, None]
        logits = logits.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(logits, dim=-1)
        weights = torch.nan_to_num(weights) * mask                          # no edges: zeros
        self.last_attention = weights.detach()
        if self.edge_gate is not None:
            weights = weights * self.edge_gate
        messages = torch.einsum("bstij,btjsd->btisd", weights, h).reshape(b, t, n, -1)
        return self.norm(states + nn.functional.elu(messages))


class SceneGraphEncoder(nn.Module):
    """``forward(nodes (B, N, T, D)) -> (B, T, out_channels)``: the query node's embedding in its
    scene, per frame (module docstring)."""

    def __init__(self, config: SceneGraphConfig | None = None, n_frames: int = 100):
        super().__init__()
        self.config = cfg = config or SceneGraphConfig()
        self.input_shape = (cfg.max_nodes, n_frames, N_FEATURES)
        self.out_channels = cfg.out_channels
        self.node_in = nn.Linear(N_FEATURES, cfg.hidden)
        self.temporal = nn.Conv1d(cfg.hidden, cfg.hidden, kernel_size=5, padding=2)
        self.graph = nn.ModuleList(GraphAttention(cfg.hidden, cfg.heads) for _ in range(cfg.layers))
        self.out = nn.Linear(cfg.hidden, cfg.out_channels)

    @property
    def last_attention(self) -> torch.Tensor | None:
        """The last layer's edge weights ``(B, heads, T, N, N)`` of the latest forward."""
        return self.graph[-1].last_attention

    def edges(self, nodes: torch.Tensor) -> torch.Tensor:
        """The scene's edges ``(B, T, N, N)`` for node features ``(B, N, T, D)`` (``neighbours``).
        Saliency overrides it per instance to hold a chunk's edges fixed along an integration path
        (``gradient_saliency.graph_regions.held_edges``)."""
        return neighbours(nodes, self.config.k_neighbours)

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        b, n, t, d = nodes.shape
        edges = self.edges(nodes)                                           # (B, T, N, N)
        x = torch.relu(self.node_in(nodes))                                 # (B, N, T, H)
        x = self.temporal(x.reshape(b * n, t, -1).transpose(1, 2))          # (B N, H, T)
        x = x.transpose(1, 2).reshape(b, n, t, -1).permute(0, 2, 1, 3)      # (B, T, N, H)
        for layer in self.graph:
            x = layer(x, edges)
        return self.out(x[:, :, 0])                                          # (B, T, C)

    encode = forward
