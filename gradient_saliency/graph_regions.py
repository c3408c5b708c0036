"""Saliency of a ``scene_graph`` model over the performers (nodes) and their edges (issue 16).

The attributed inputs are the mixture wave ``(B, N_samples)`` and the chunk's node features ``(B,
N, T, D)`` (``separation.scene_graph``: node 0 the queried performer, the others in stage order;
``D = 4 + 9 + 110``); the objective and the methods are the stage's (``regions`` module docstring).

Nodes (Integrated Gradients on the node features)
    Baseline (``GRAPH_BASELINES``): ``zeros``, the encoder's own "nobody there" (an empty slot,
    an unseen performer). The graph's edges are held at the chunk's own edges along the whole
    integration path (``held_edges``): the encoder's k-nearest-neighbour rule thresholds the
    presence feature (``> 0.5``), so on the straight path from zeros the edges would switch on half
    way, a step the gradients cannot see, and completeness would fail. What is attributed is thus
    ``f(mixture, nodes | the chunk's edges)``; completeness holds for it (``relative_delta``) and
    the edges get their own numbers below. Per node and chunk: the signed and ``|A|`` sums over
    frames and features, ``share`` = the node's ``|A|`` / all nodes' ``|A|``, and per feature group
    (``FEATURE_GROUPS``: presence ``[0]``, position ``[1:3]``, scale ``[3]``, instrument
    ``[4:13]``, body ``[13:]``) the signed and ``|A|`` sums.
Edges (the chunk's input, one forward and one backward pass)
    ``attention``: the last GAT layer's weight of the edge (receiver ``i`` ← sender ``j``), mean
    over heads and over the frames where the edge exists (``SceneGraphEncoder.last_attention``);
    ``gradient_x_attention``: ``Σ ∂loss/∂w_ij · w_ij`` over layers, heads and frames, computed as
    the gradient of the loss at a gate of ones multiplied into every layer's weights
    (``GraphAttention.edge_gate``): what scaling the edge's message would change, to first order.
    An edge whose message cannot reach the query's output (in the last layer: every edge into a
    node other than the query) has exactly 0. ``share`` = its ``|gradient_x_attention|`` / the
    chunk's total. Self-loops are edges too.

Song: ``performers`` (slot names: the query, then ``scene_graph_input.other_performers``),
``node_importance`` (each slot's share of the song's node ``|A|``), ``group_importance`` (per slot,
each group's share of that node's ``|A|``), ``positions`` (per slot the mean stage x, y of its
present frames, null if never present), ``edges`` (per receiver/sender pair: frame-weighted mean
attention, summed ``gradient_x_attention`` and its share), ``audio_share`` (``Σ|A_audio| /
(Σ|A_audio| + Σ|A_nodes|)``, mean over chunks), the convergence record. Figure
(``<artist>_<song>_graph.png``): the stage as a graph: nodes at their mean position sized and
coloured by their share, edges (not self-loops) drawn from sender to receiver with width and
opacity by attention and labelled with it and their share of gradient × attention, the query
ringed.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from separation.scene_graph import INSTRUMENTS, N_FIXED

from .objective import SeparationObjective
from .regions import (attribute_batch, average_convergence, batch_tensors, completeness,
                      condition_share, convergence, mean_or_none)

GRAPH_BASELINES = ("zeros",)
FEATURE_GROUPS = {"presence": slice(0, 1), "position": slice(1, 3), "scale": slice(3, N_FIXED),
                  "instrument": slice(N_FIXED, N_FIXED + len(INSTRUMENTS)),
                  "body": slice(N_FIXED + len(INSTRUMENTS), None)}
DESCRIPTION = ("scene_graph: Integrated Gradients (or the run's method) on the node features with "
               "the chunk's edges held fixed, summed per node and per feature group (presence, "
               "position, scale, instrument, body); share = the node's |attribution| / all nodes'; "
               "edges: last-layer attention (mean over heads and the frames with the edge) and "
               "gradient x attention summed over layers, heads and frames; audio share = "
               "sum|A_audio| / (sum|A_audio| + sum|A_nodes|)")


@contextmanager
def held_edges(encoder: torch.nn.Module, edges: torch.Tensor):
    """Within the block, ``encoder.edges`` returns ``edges`` ``(B, T, N, N)`` for any batch of
    ``k·B`` node inputs (repeated ``k`` times: Captum evaluates the integration steps as ``k``
    copies of the batch, step after step), whatever the node features are."""
    b = edges.shape[0]

    def fixed(nodes: torch.Tensor) -> torch.Tensor:
        if nodes.shape[0] % b:
            raise RuntimeError(f"held edges for {b} chunks cannot serve a batch of {nodes.shape[0]}")
        return edges.to(nodes.device).repeat(nodes.shape[0] // b, 1, 1, 1)

    encoder.edges = fixed
    try:
        yield
    finally:
        del encoder.edges


def edge_gradients(model: torch.nn.Module, mixture: torch.Tensor, nodes: torch.Tensor,
                   target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(attention, gradient_x_attention)`` of the chunks' input, each ``(B, heads, T, N, N)`` on
    the CPU: the last layer's edge weights, and the loss gradient at a gate of ones on every
    layer's weights, summed over the layers (module docstring)."""
    encoder = model.condition_encoder
    b, n, t, _ = nodes.shape
    gates = [torch.ones(b, layer.heads, t, n, n, device=nodes.device, requires_grad=True)
             for layer in encoder.graph]
    try:
        for layer, gate in zip(encoder.graph, gates):
            layer.edge_gate = gate
        with torch.enable_grad():
            loss = SeparationObjective(model.eval())(mixture, nodes.detach(), target)
            grads = torch.autograd.grad(loss.sum(), gates)       # chunk b's loss sees only its gates
        attention = encoder.last_attention
    finally:
        for layer in encoder.graph:
            layer.edge_gate = None
    return attention.detach().cpu(), torch.stack(grads).sum(dim=0).detach().cpu()


def node_rows(attribution: np.ndarray, nodes: np.ndarray, names: list[str]) -> list[dict]:
    """One chunk's ``(N, T, D)`` attribution and node features → one dict per slot: ``node``,
    ``performer``, ``present_frames``, ``position`` (mean x, y of the present frames or None),
    ``attribution``, ``abs_attribution``, ``share``, ``groups`` / ``group_abs`` (per feature
    group, signed / ``|A|`` sums)."""
    a = np.asarray(attribution, dtype=np.float64)
    total = float(np.abs(a).sum())
    rows = []
    for slot in range(a.shape[0]):
        present = nodes[slot, :, 0] > 0.5
        node_abs = float(np.abs(a[slot]).sum())
        rows.append({
            "node": slot, "performer": names[slot] if slot < len(names) else None,
            "present_frames": int(present.sum()),
            "position": nodes[slot, present, 1:3].mean(axis=0).tolist() if present.any() else None,
            "attribution": float(a[slot].sum()), "abs_attribution": node_abs,
            "share": node_abs / total if total > 0 else None,
            "groups": {g: float(a[slot, :, cols].sum()) for g, cols in FEATURE_GROUPS.items()},
            "group_abs": {g: float(np.abs(a[slot, :, cols]).sum())
                          for g, cols in FEATURE_GROUPS.items()}})
    return rows


def edge_rows(edges: np.ndarray, attention: np.ndarray, gradient: np.ndarray) -> list[dict]:
    """One chunk's edges ``(T, N, N)`` bool, attention and gradient × attention ``(heads, T, N,
    N)`` → one dict per edge present in some frame: ``receiver``, ``sender``, ``frames``,
    ``attention``, ``gradient_x_attention``, ``share`` (module docstring)."""
    edges = np.asarray(edges, dtype=bool)
    gxa = np.asarray(gradient, dtype=np.float64).sum(axis=(0, 1))              # (N, N)
    mean_heads = np.asarray(attention, dtype=np.float64).mean(axis=0)            # (T, N, N)
    total = float(sum(abs(gxa[i, j]) for i, j in zip(*np.nonzero(edges.any(axis=0)))))
    rows = []
    for i, j in zip(*np.nonzero(edges.any(axis=0))):
        frames = edges[:, i, j]
        rows.append({"receiver": int(i), "sender": int(j), "frames": int(frames.sum()),
                     "attention": float(mean_heads[frames, i, j].mean()),
                     "gradient_x_attention": float(gxa[i, j]),
                     "share": abs(float(gxa[i, j])) / total if total > 0 else None})
    return rows


def slot_names(context, n_slots: int) -> list[str]:
    """The performer of each slot: the query, then the others in stage order
    (``separation.scene_graph_input.other_performers``), as the preparation fills them."""
    from separation.scene_graph_input import other_performers

    others = other_performers(context.song, context.song_dir, context.instrument)
    return [context.instrument, *others][:n_slots]


def graph_song_saliency(model: torch.nn.Module, chunks: list, config, device, context) -> dict:
    """Attribute every chunk of one song of a ``scene_graph`` model (module docstring). Returns the
    song result (``per_chunk``: ``chunk``, ``loss``, ``audio_share``, ``nodes`` (``node_rows``),
    ``edges`` (``edge_rows``), the completeness record; the song summaries) and ``figure_data``
    (what the figure draws: the song summaries)."""
    if not chunks:
        raise ValueError("no chunks to attribute")
    if context.baseline not in GRAPH_BASELINES:
        raise ValueError(f"unknown scene_graph baseline {context.baseline!r}: expected one of "
                         f"{GRAPH_BASELINES}")
    device = torch.device(device)
    model = model.to(device).eval()
    encoder = model.condition_encoder
    n_slots = int(np.asarray(chunks[0].visual).shape[0])
    names = slot_names(context, n_slots)
    per_chunk = []
    for start in range(0, len(chunks), config.chunk_batch):
        batch = chunks[start:start + config.chunk_batch]
        mixture, target, nodes = batch_tensors(batch, device)
        with torch.no_grad():
            edges = encoder.edges(nodes)                                       # (B, T, N, N)
        with held_edges(encoder, edges):
            result, n_steps, relative = attribute_batch(model, mixture, nodes, target,
                                                        torch.zeros_like(nodes), config, batch)
        attention, gradient = edge_gradients(model, mixture, nodes, target)
        node_abs = result.visual.double().abs().flatten(1).sum(dim=1).numpy()
        shares = condition_share(result.audio, node_abs)
        for i, chunk in enumerate(batch):
            per_chunk.append({
                "chunk": int(chunk.index), "loss": float(result.loss[i]),
                "audio_share": float(shares[i]),
                "nodes": node_rows(result.visual[i].numpy(), np.asarray(chunk.visual), names),
                "edges": edge_rows(edges[i].cpu().numpy(), attention[i].numpy(),
                                   gradient[i].numpy()),
                **completeness(result, i, relative, n_steps)})
    summary = song_summary(per_chunk, n_slots)
    return {"chunks": [e["chunk"] for e in per_chunk], "per_chunk": per_chunk,
            "performers": names, **summary,
            "audio_share": mean_or_none(e["audio_share"] for e in per_chunk),
            "convergence_delta": convergence(per_chunk),
            "figure_data": {"performers": names, **summary}}


def song_summary(per_chunk: list[dict], n_slots: int) -> dict:
    """The song's ``node_importance``, ``group_importance``, ``positions`` and ``edges`` from its
    chunks' rows (module docstring)."""
    node_abs = np.zeros(n_slots)
    group_abs = np.zeros((n_slots, len(FEATURE_GROUPS)))
    position_sum, position_frames = np.zeros((n_slots, 2)), np.zeros(n_slots)
    edges: dict[tuple[int, int], dict] = {}
    for entry in per_chunk:
        for row in entry["nodes"]:
            s = row["node"]
            node_abs[s] += row["abs_attribution"]
            group_abs[s] += [row["group_abs"][g] for g in FEATURE_GROUPS]
            if row["position"] is not None:
                position_sum[s] += row["present_frames"] * np.asarray(row["position"])
                position_frames[s] += row["present_frames"]
        for row in entry["edges"]:
            e = edges.setdefault((row["receiver"], row["sender"]),
                                 {"frames": 0, "attention_sum": 0.0, "gradient_x_attention": 0.0})
            e["frames"] += row["frames"]
            e["attention_sum"] += row["attention"] * row["frames"]
            e["gradient_x_attention"] += row["gradient_x_attention"]
    total = node_abs.sum()
    edge_total = sum(abs(e["gradient_x_attention"]) for e in edges.values())
    return {
        "node_importance": [float(v / total) if total > 0 else None for v in node_abs],
        "group_importance": [{g: (float(group_abs[s, k] / node_abs[s]) if node_abs[s] > 0 else None)
                              for k, g in enumerate(FEATURE_GROUPS)} for s in range(n_slots)],
        "positions": [(position_sum[s] / position_frames[s]).tolist() if position_frames[s] else None
                      for s in range(n_slots)],
        "edges": [{"receiver": i, "sender": j, "frames": e["frames"],
                   "attention": e["attention_sum"] / e["frames"] if e["frames"] else None,
                   "gradient_x_attention": e["gradient_x_attention"],
                   "share": abs(e["gradient_x_attention"]) / edge_total if edge_total > 0 else None}
                  for (i, j), e in sorted(edges.items())]}


def average_graph_songs(results: list[dict]) -> dict:
    """Mean over songs, by slot (slot 0 = the query, then stage order), of the node shares and
    group shares, and the mean audio share."""
    n_slots = max(len(r["node_importance"]) for r in results)

    def slot_mean(values):
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    node = [slot_mean(r["node_importance"][s] for r in results if s < len(r["node_importance"]))
            for s in range(n_slots)]
    groups = [{g: slot_mean(r["group_importance"][s][g] for r in results
                            if s < len(r["group_importance"])) for g in FEATURE_GROUPS}
              for s in range(n_slots)]
    return {"n_songs": len(results), "n_chunks": sum(len(r["chunks"]) for r in results),
            "node_importance": node, "group_importance": groups,
            "audio_share": mean_or_none(r.get("audio_share") for r in results),
            "convergence_delta": average_convergence(results),
            "songs": [f"{r['artist']}/{r['song']}" for r in results]}


ARC = 0.2              # curvature of the drawn edges (i ← j and j ← i bend apart)


def save_graph_figure(result: dict, data: dict, figure_dir, stem: str, title: str = "") -> list:
    """``<stem>_graph.png``: the stage as a graph (module docstring)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.io import save_figure

    positions, shares = data["positions"], data["node_importance"]
    fig, axis = plt.subplots(figsize=(8, 5))
    cmap = plt.get_cmap("viridis")
    scale = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(scale, ax=axis, label="node share of the node attribution")
    axis.set_xlim(0, 1)
    axis.set_ylim(1, 0)                                   # image rows: y grows downwards
    axis.set_xlabel("stage x (frame width = 1)")
    axis.set_ylabel("y (frame height = 1)")
    axis.set_title(title or "attribution per performer; edges: attention")
    fig.tight_layout()                      # the layout first: the edge labels are placed in it
    to_display, to_data = axis.transData.transform, axis.transData.inverted().transform
    sizes = [200 + 2500 * (share or 0.0) for share in shares]              # marker areas, pt²
    for edge in data["edges"]:
        i, j = edge["receiver"], edge["sender"]
        if i == j or positions[i] is None or positions[j] is None or edge["attention"] is None:
            continue
        weight = float(edge["attention"])
        axis.annotate("", xy=positions[i], xytext=positions[j],
                      arrowprops={"arrowstyle": "-|>", "lw": 0.5 + 6 * weight, "alpha":
                                  0.25 + 0.75 * weight, "color": "tab:gray",
                                  "shrinkA": np.sqrt(sizes[j]) / 2 + 2,
                                  "shrinkB": np.sqrt(sizes[i]) / 2 + 2,
                                  "connectionstyle": f"arc3,rad={ARC}"})
        # the label at the arc's apex: matplotlib's arc3 bends (in display coordinates) towards
        # ARC · (dy, -dx) of sender → receiver, and the curve reaches half way to that point
        receiver, sender = to_display(positions[i]), to_display(positions[j])
        d = receiver - sender
        apex = to_data(0.5 * (receiver + sender) + 0.5 * ARC * np.array([d[1], -d[0]]))
        share = "" if edge["share"] is None else f" · g×a {100 * edge['share']:.0f}%"
        axis.text(*apex, f"{weight:.2f}{share}", fontsize=7, color="0.25", ha="center",
                  va="center")
    for slot, position in enumerate(positions):
        if position is None:
            continue
        share, size = shares[slot] or 0.0, sizes[slot]
        axis.scatter(*position, s=size, color=cmap(share), edgecolor="k",
                     linewidth=3 if slot == 0 else 1, zorder=3)
        name = data["performers"][slot] if slot < len(data["performers"]) else f"node {slot}"
        axis.annotate(f"{name}{' (query)' if slot == 0 else ''}\n{100 * share:.0f}%", position,
                      xytext=(0, -(np.sqrt(size) / 2 + 4)), textcoords="offset points",
                      ha="center", va="top", fontsize=9, zorder=4)
    return [save_figure(figure_dir / f"{stem}_graph.png", fig)]
