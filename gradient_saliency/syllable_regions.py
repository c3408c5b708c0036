"""Saliency of a ``text`` model over the sung syllables (issue 16).

The attributed inputs are the mixture wave ``(B, N)`` and the chunk's posteriorgram ``(B, 256,
533)`` (one row per STFT frame over ``core.syllables.INVENTORY``, ``separation.text_input``); the
objective and the methods are the stage's (``regions`` module docstring).

Baselines for the posteriorgram (``TEXT_BASELINES``, ``--text-baseline``):

* ``silence`` (default): every frame one-hot on the silence class ``<sil>``: "nothing is sung", the
  input of a chunk without an alignment entry. With an alignment (one-hot rows) the input differs
  from it only on sung frames, so Integrated Gradients gives the silent frames exactly 0: the
  attribution says what knowing *which syllable is sung where* did;
* ``uniform``: every frame ``1/533`` on every class ("no idea what is sung"); silent frames then
  carry attribution too (knowing that nothing is sung there).

Reduction per chunk: the attribution summed over the 533 classes per frame (signed, and ``|A|``
summed over classes) → ``(256,)``, then over each aligned syllable's frames
(``separation.text_input.per_syllable``, frame centres ``4 c + k / 64`` s, the frame rule ``start
<= t < end``) and over the frames of no syllable (``<sil>``). Per syllable: ``attribution`` (signed
sum: with Integrated Gradients the syllables', silence's and the audio's add up to ``f(x) −
f(x')``), ``abs_attribution`` and ``share`` = ``abs_attribution`` / the chunk's ``Σ|A_text|``.
The syllables are the performer's alignment file when the model reads alignments; for a model
reading posteriorgram files they are the runs of frames with one most-probable sung class
(``runs_as_alignment``).

Song: ``syllable_importance`` = each syllable *label*'s share of the song's ``Σ|A_text|`` (over all
its occurrences; ``<sil>`` included), ``audio_share`` as for keypoints (``Σ|A_audio| / (Σ|A_audio|
+ Σ|A_text|)``, mean over chunks), the convergence record (``regions``). Figure
(``<artist>_<song>_syllables.png``): the chunk with the most text attribution: the mixture's
spectrogram over the chunk and, under it on the same time axis, a bar per syllable over its
interval with its signed attribution, labelled, and the per-frame attribution as a line (own axis).
"""
from __future__ import annotations

import numpy as np
import torch

from core.syllables import CLASS_INDEX, INVENTORY, SILENCE, SyllableAlignment
from separation.text_input import chunk_frame_times, load_song_text, per_syllable
from separation.vovit import HOP_LENGTH, SAMPLE_RATE

from .regions import (attribute_batch, average_convergence, batch_tensors, completeness,
                      condition_share, convergence, mean_or_none)

TEXT_BASELINES = ("silence", "uniform")
DESCRIPTION = ("text: attribution summed over the 533 syllable classes per STFT frame, then per sung "
               "syllable of the alignment (start <= frame centre < end) and over the silent frames; "
               "share = |attribution| / the chunk's sum |A_text|; audio share = sum|A_audio| / "
               "(sum|A_audio| + sum|A_text|)")


def text_baseline(posteriorgram: torch.Tensor, kind: str = "silence") -> torch.Tensor:
    """``(B, T, 533)`` baseline for the posteriorgram (module docstring)."""
    if kind == "silence":
        baseline = torch.zeros_like(posteriorgram)
        baseline[..., CLASS_INDEX[SILENCE]] = 1.0
        return baseline
    if kind == "uniform":
        return torch.full_like(posteriorgram, 1.0 / posteriorgram.shape[-1])
    raise ValueError(f"unknown text baseline {kind!r}: expected one of {TEXT_BASELINES}")


def frame_sums(attributions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(B, T, S)`` attributions → signed and ``|A|`` sums over the classes, each ``(B, T)``."""
    a = np.asarray(attributions, dtype=np.float64)
    return a.sum(axis=-1), np.abs(a).sum(axis=-1)


def runs_as_alignment(posteriorgram: np.ndarray, times: np.ndarray) -> SyllableAlignment:
    """Syllables of a posteriorgram chunk ``(T, 533)`` at frame centres ``times`` ``(T,)`` s: each
    run of consecutive frames whose most probable class is one sung class becomes an interval from
    half a hop before its first frame centre to half a hop after its last."""
    best = np.asarray(posteriorgram).argmax(axis=-1)
    half = 0.5 * HOP_LENGTH / SAMPLE_RATE
    starts, ends, names, classes = [], [], [], []
    k = 0
    while k < len(best):
        stop = k
        while stop + 1 < len(best) and best[stop + 1] == best[k]:
            stop += 1
        if best[k] != CLASS_INDEX[SILENCE]:
            starts.append(times[k] - half)
            ends.append(times[stop] + half)
            names.append(INVENTORY[best[k]])
            classes.append(int(best[k]))
        k = stop + 1
    return SyllableAlignment(np.array(starts, float), np.array(ends, float), tuple(names),
                             np.array(classes, np.int64), "posteriorgram runs")


def chunk_syllables(signed: np.ndarray, absolute: np.ndarray, times: np.ndarray,
                    alignment: SyllableAlignment) -> list[dict]:
    """Per-frame ``signed`` and ``absolute`` attribution ``(T,)`` at ``times`` → one dict per
    syllable with frames in the chunk (time order), then ``<sil>`` (if any silent frame):
    ``{"syllable", "start_s", "end_s" (None for <sil>), "attribution", "abs_attribution", "share",
    "frames"}``."""
    signed_rows = per_syllable(signed, times, alignment)
    abs_rows = per_syllable(absolute, times, alignment)
    total = float(np.sum(absolute))
    out = []
    for s, a in zip(signed_rows, abs_rows, strict=True):
        out.append({"syllable": s["syllable"], "start_s": s.get("start_s"), "end_s": s.get("end_s"),
                    "attribution": s["value"], "abs_attribution": a["value"],
                    "share": a["value"] / total if total > 0 else None, "frames": s["frames"]})
    return out


def text_song_saliency(model: torch.nn.Module, chunks: list, config, device, context) -> dict:
    """Attribute every chunk of one song of a ``text`` model (module docstring). Returns the song
    result (``per_chunk``: ``chunk``, ``loss``, ``audio_share``, ``text_abs_sum``,
    ``text_attribution`` (signed sum over the posteriorgram), ``syllables``
    (``chunk_syllables``), the completeness record; ``syllable_importance``,
    ``audio_share``, ``convergence_delta``, ``syllable_source``; the run records the baseline in
    its settings, ``condition_baseline``) and
    ``figure_data`` (the chunk with the largest ``text_abs_sum``: its index, mixture wave,
    syllables and per-frame signed attribution)."""
    if not chunks:
        raise ValueError("no chunks to attribute")
    device = torch.device(device)
    model = model.to(device).eval()
    source = dict(context.options or {}).get("source", "alignment")
    alignment = (load_song_text(context.song_dir, context.instrument, source).alignment
                 if source == "alignment" else None)
    per_chunk, label_abs, best = [], {}, None
    for start in range(0, len(chunks), config.chunk_batch):
        batch = chunks[start:start + config.chunk_batch]
        mixture, target, text = batch_tensors(batch, device)
        result, n_steps, relative = attribute_batch(
            model, mixture, text, target, text_baseline(text, context.baseline), config, batch)
        signed, absolute = frame_sums(result.visual.numpy())
        shares = condition_share(result.audio, absolute.sum(axis=1))
        for i, chunk in enumerate(batch):
            times = chunk_frame_times(int(chunk.index))
            syllables_of = alignment if alignment is not None else runs_as_alignment(
                np.asarray(chunk.visual), times)
            rows = chunk_syllables(signed[i], absolute[i], times, syllables_of)
            for row in rows:
                label_abs[row["syllable"]] = label_abs.get(row["syllable"], 0.0) \
                    + row["abs_attribution"]
            total = float(absolute[i].sum())
            per_chunk.append({"chunk": int(chunk.index), "loss": float(result.loss[i]),
                              "audio_share": float(shares[i]), "text_abs_sum": total,
                              "text_attribution": float(signed[i].sum()),
                              "syllables": rows, **completeness(result, i, relative, n_steps)})
            if best is None or total > best["text_abs_sum"]:
                best = {"chunk": int(chunk.index), "text_abs_sum": total, "syllables": rows,
                        "mixture": np.asarray(chunk.mixture, dtype=np.float32),
                        "frame_attribution": signed[i], "times": times}
    song_total = sum(label_abs.values())
    importance = {k: (v / song_total if song_total > 0 else None)
                  for k, v in sorted(label_abs.items(), key=lambda kv: -kv[1])}
    return {"chunks": [e["chunk"] for e in per_chunk], "per_chunk": per_chunk,
            "syllable_source": "alignment" if alignment is not None else "posteriorgram runs",
            "syllable_importance": importance,
            "audio_share": mean_or_none(e["audio_share"] for e in per_chunk),
            "convergence_delta": convergence(per_chunk), "figure_data": best}


def average_text_songs(results: list[dict]) -> dict:
    """Mean over songs of each syllable label's share (0 in a song that does not sing it) and of
    the audio share; the relative deltas pooled over the songs' chunks."""
    labels = sorted({k for r in results for k in r["syllable_importance"]})
    importance = {k: float(np.mean([r["syllable_importance"].get(k) or 0.0 for r in results]))
                  for k in labels}
    return {"n_songs": len(results), "n_chunks": sum(len(r["chunks"]) for r in results),
            "syllable_importance": dict(sorted(importance.items(), key=lambda kv: -kv[1])),
            "audio_share": mean_or_none(r.get("audio_share") for r in results),
            "convergence_delta": average_convergence(results),
            "songs": [f"{r['artist']}/{r['song']}" for r in results]}


def save_syllable_figure(result: dict, data: dict, figure_dir, stem: str, title: str = "") -> list:
    """``<stem>_syllables.png``: the mixture spectrogram of ``data``'s chunk and, under it, its
    syllables as bars of signed attribution over their intervals (module docstring)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.io import save_figure

    t0 = 4.0 * data["chunk"]
    t1 = t0 + len(data["mixture"]) / SAMPLE_RATE
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    top.specgram(np.asarray(data["mixture"], float) + 1e-9, NFFT=512, Fs=SAMPLE_RATE,
                 noverlap=512 - HOP_LENGTH, xextent=(t0, t1), cmap="magma")
    top.set_ylabel("mixture, Hz")
    top.set_title(f"{title} · chunk {data['chunk']}" if title else f"chunk {data['chunk']}")
    for row in data["syllables"]:
        if row["start_s"] is None:
            continue
        left, right = max(row["start_s"], t0), min(row["end_s"], t1)
        value = row["attribution"]
        bottom.bar(left, value, width=right - left, align="edge",
                   color="tab:red" if value >= 0 else "tab:blue", alpha=0.7, edgecolor="k")
        bottom.text(0.5 * (left + right), value, row["syllable"], ha="center",
                    va="bottom" if value >= 0 else "top", fontsize=8)
    frames = bottom.twinx()                 # per frame: a syllable's bar is the sum of its frames
    frames.step(data["times"], data["frame_attribution"], where="mid", color="0.3", lw=0.8)
    frames.set_ylabel("per frame", color="0.3")
    bottom.axhline(0.0, color="k", lw=0.5)
    silence = [r for r in data["syllables"] if r["start_s"] is None]
    note = f"; <sil> {silence[0]['attribution']:.3g}" if silence else ""
    bottom.set_ylabel("per syllable (bars)")
    bottom.set_xlabel(f"time, s (signed attribution per syllable{note})")
    bottom.set_xlim(t0, t1)
    fig.tight_layout()
    return [save_figure(figure_dir / f"{stem}_syllables.png", fig)]


def save_syllable_average_figure(average: dict, figure_dir, title: str = "") -> list:
    """``_average_syllables.png``: the labels' mean shares (the 25 largest), as bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.io import save_figure

    items = list(average["syllable_importance"].items())[:25]
    fig, axis = plt.subplots(figsize=(8, 0.3 * len(items) + 1.5))
    axis.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="tab:red")
    axis.set_xlabel("share of the text attribution (mean over songs)")
    axis.set_title(title)
    fig.tight_layout()
    return [save_figure(figure_dir / "_average_syllables.png", fig)]

