"""Spatial-temporal graph convolution (ST-GCN, Yan et al. 2018) as used by VoViT's visual encoder.

Graphs
------
``face``       68 iBUG points, chain edges inside jaw, brows, nose, eyes and lips
               (``core.keypoints.FACE_LOCAL_EDGES``); centre = node 0 (first jaw point), as in VoViT's
               "acappella" layout.
``body``       55 points (``core.keypoints.BODY_55``: nose, eyes, ears, shoulders, elbows, wrists, hips,
               both hands) with the COCO body + hand edges (``body55_local_edges``); centre = node 0
               (nose).
``face_body``  the two graphs side by side (face points 0–67, then body points 68–122), each with its
               own centre (0 and 68); no edge joins them (the face points are already part of the head).

Spatial partitioning (ST-GCN's "spatial" strategy with ``max_hop = 1``, exactly as VoViT builds it; the
same rules for all three graphs). With ``A`` the 0/1 adjacency including self loops and ``N = A D^-1``
(``D`` = column degrees, so every column of ``N`` sums to 1), every entry ``N[j, i]`` with
``hop(i, j) <= 1`` goes to one of three subsets by comparing the distances ``d`` of ``j`` and ``i`` to
the centre:

* ``d`` is the hop distance **cut at max_hop**: 0 for a centre, 1 for a neighbour of a centre, inf for
  every other node (ST-GCN computes hop distances only up to ``max_hop``). For two centres
  (``face_body``) ``d`` is the smaller of the two.
* hop 0 (self loops) → subset 0; hop 1 with ``d(j) == d(i)`` (inf == inf included) or
  ``d(j) > d(i)`` → subset 1 (root + centripetal); ``d(j) < d(i)`` → subset 2 (centrifugal).

The result ``A_k`` is ``(3, V, V)``. For ``face`` the non-zeros per subset are 68 / 116 / 2: only the
edges ``[0, 1]`` and ``[1, 2]`` are centrifugal, almost every edge lands in subset 1. ``A.sum(0)`` has
column sums 1.

Block: ``y = ReLU(TCN(GCN(x)) + residual(x))`` with
``GCN(x)[n, c, t, w] = sum_k sum_v (W_k x)[n, c, t, v] (A_k ∘ M_k)[v, w]`` (``W_k`` a 1×1 conv, ``M_k``
the learnable edge importance, initialised to ones) and TCN = BN → ReLU → Conv(kt×1) → BN → Dropout.
Shapes: input ``(N, C, T, V)`` → output ``(N, C_out, T, V)``.
"""
from __future__ import annotations

from collections import deque

import numpy as np
import torch
from torch import nn

from core.keypoints import BODY_55, FACE_LOCAL_EDGES, body55_local_edges

FACE_CENTRE = 0       # face-local first jaw point (VoViT's "acappella" layout)
BODY_CENTRE = 0       # nose (first of BODY_55)
MAX_HOP = 1
NUM_JOINTS = {"face": 68, "body": len(BODY_55), "face_body": 68 + len(BODY_55)}


def graph_edges(visual: str) -> tuple[int, tuple[tuple[int, int], ...], tuple[int, ...]]:
    """``(number of joints, undirected edges, centre joints)`` of the graph for a visual input."""
    if visual == "face":
        return 68, tuple(FACE_LOCAL_EDGES), (FACE_CENTRE,)
    if visual == "body":
        return len(BODY_55), body55_local_edges(), (BODY_CENTRE,)
    if visual == "face_body":
        body = tuple((a + 68, b + 68) for a, b in body55_local_edges())
        return 68 + len(BODY_55), tuple(FACE_LOCAL_EDGES) + body, (FACE_CENTRE, 68 + BODY_CENTRE)
    raise ValueError(f"no graph for visual input {visual!r} (face, body or face_body)")


def hop_distances(n: int, edges, sources, max_hop: float = np.inf) -> np.ndarray:
    """Breadth-first hop distance from the nearest of ``sources`` to every node; inf if unreachable
    or farther than ``max_hop`` (ST-GCN's cut, module docstring)."""
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    dist = np.full(n, np.inf)
    queue = deque()
    for s in sources:
        dist[s] = 0
        queue.append(s)
    while queue:
        node = queue.popleft()
        for other in neighbours[node]:
            if dist[other] == np.inf and dist[node] + 1 <= max_hop:
                dist[other] = dist[node] + 1
                queue.append(other)
    return dist


def spatial_adjacency(visual: str) -> np.ndarray:
    """The ``(3, V, V)`` float32 spatial-partition adjacency of the module docstring."""
    n, edges, centres = graph_edges(visual)
    adjacency = np.eye(n)
    for a, b in edges:
        adjacency[a, b] = adjacency[b, a] = 1.0
    normalised = adjacency / adjacency.sum(axis=0, keepdims=True)   # A D^-1, column degrees
    to_centre = hop_distances(n, edges, centres, MAX_HOP)
    root0 = np.diag(np.diag(normalised))
    closer, further = np.zeros((n, n)), np.zeros((n, n))
    for a, b in edges:
        for j, i in ((a, b), (b, a)):
            if to_centre[j] < to_centre[i]:
                further[j, i] = normalised[j, i]
            else:                           # equal (inf == inf too) or farther: root + centripetal
                closer[j, i] = normalised[j, i]
    return np.stack([root0, closer, further]).astype(np.float32)


class GraphConv(nn.Module):
    """``(N, C, T, V)`` → ``(N, C_out, T, V)``: 1×1 conv to K·C_out channels, summed over partitions."""

    def __init__(self, in_channels: int, out_channels: int, partitions: int):
        super().__init__()
        self.partitions = partitions
        self.conv = nn.Conv2d(in_channels, out_channels * partitions, kernel_size=1)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        y = self.conv(x).view(n, self.partitions, -1, t, v)
        return torch.einsum("nkctv,kvw->nctw", y, adjacency)


class STGCNBlock(nn.Module):
    """One ST-GCN block (module docstring); ``residual``: False, "identity" or "conv"."""

    def __init__(self, in_channels: int, out_channels: int, num_joints: int, partitions: int = 3,
                 temporal_kernel: int = 5, dropout: float = 0.0, residual: bool = True):
        super().__init__()
        self.edge_importance = nn.Parameter(torch.ones(partitions, num_joints, num_joints))
        self.gcn = GraphConv(in_channels, out_channels, partitions)
        pad = (temporal_kernel - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), padding=(pad, 0)),
            nn.BatchNorm2d(out_channels), nn.Dropout(dropout, inplace=True))
        self.use_residual = residual
        if residual and in_channels != out_channels:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=1),
                                          nn.BatchNorm2d(out_channels))
        else:
            self.residual = None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        if not self.use_residual:
            res = 0.0
        elif self.residual is None:
            res = x
        else:
            res = self.residual(x)
        y = self.tcn(self.gcn(x, adjacency * self.edge_importance))
        return self.relu(y + res)


class STGCN(nn.Module):
    """Visual encoder: ``(N, C_in, T, V)`` keypoints → ``(N, C_last, T)`` (mean over joints).

    ``data_bn`` normalises each (joint, coordinate) pair over batch and time; its channel index is
    ``v * C_in + c`` (joint-major), as in the reference network.
    """

    def __init__(self, visual: str, channels: tuple[int, ...], in_channels: int = 2,
                 temporal_kernel: int = 5, dropout: float = 0.0):
        super().__init__()
        adjacency = torch.from_numpy(spatial_adjacency(visual))
        self.register_buffer("A", adjacency)
        partitions, num_joints = adjacency.shape[0], adjacency.shape[1]
        self.num_joints = num_joints
        self.data_bn = nn.BatchNorm1d(in_channels * num_joints)
        blocks = []
        previous = in_channels
        for i, width in enumerate(channels):
            blocks.append(STGCNBlock(previous, width, num_joints, partitions, temporal_kernel,
                                     dropout if i else 0.0, residual=i > 0))
            previous = width
        self.st_gcn_networks = nn.ModuleList(blocks)
        self.out_channels = previous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        if v != self.num_joints:
            raise ValueError(f"visual input has {v} joints, the graph has {self.num_joints}")
        x = x.permute(0, 3, 1, 2).reshape(n, v * c, t)
        x = self.data_bn(x)
        x = x.view(n, v, c, t).permute(0, 2, 3, 1).contiguous()
        for block in self.st_gcn_networks:
            x = block(x, self.A)
        return x.mean(dim=3)


class PoseEncoder(STGCN):
    """The ST-GCN as a registered condition encoder (``separation.encoders``): ``forward`` stays
    VoViT's ``(N, C, T)`` (the known-answer fixture hooks it), ``encode`` gives the condition
    sequence ``(N, T, C)``; one example's input is ``(2, 100, J)``."""

    def __init__(self, visual: str, channels: tuple[int, ...], in_channels: int = 2,
                 temporal_kernel: int = 5, dropout: float = 0.0, n_frames: int = 100):
        super().__init__(visual, channels, in_channels, temporal_kernel, dropout)
        self.input_shape = (in_channels, n_frames, self.num_joints)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self(x).transpose(1, 2)
