"""The separation benchmark (issue 13): does pose help where the audio alone cannot decide?

Rows (``ROWS``): ``none`` (audio-only), ``face``, ``body``, ``face_body`` and ``face_body_xattn``
(face + body with the cross-modal FiLM + cross-attention block), ``frames`` (RGB crops of the
performer, ``separation.frames``; it needs the scenes' videos, so it is not among the default
``DEFAULT_ROWS`` and the scenes are rendered when it is asked for), ``text`` (the query's sung
syllables, ``separation.text_encoder``, FiLM) and ``scene_graph`` (the query among the other
performers, ``separation.scene_graph``; both opt-in too: their cue scenes are the ``syllables``
and ``occluded`` kinds of ``demo_generator.scenes``, asked for with ``--kinds``), ``points3d``
(the query's metric 3D points, ``separation.points3d``; opt-in; the scenes write synthetic ones,
``demo_generator.scenes.write_scene_world_points``), ``frames_unet`` (the frames encoder with Sound
of Pixels' U-Net audio path, ``separation.unet``: the published system's two halves; opt-in like
``frames``) and ``none_unet`` (the U-Net audio path alone: ``frames_unet`` − ``none_unet`` is what
the frames add to that path), all of one
preset, trained by the one training loop (``separation.training.train``) on the same scenes with
the same steps, batch, learning rate and seed; each row keeps the step with the best VALIDATION
loss (validation scenes only); the TEST scenes are used once, for the numbers below.

Scene groups (``scene_groups``): ``same_timbre`` (every test scene whose kind is same-timbre:
``duet``, ``shadow``; the query's motion is the only cue), one group per scene kind, and
``demo_songs`` (the demo concerts, mixed timbres, pose from a pose backend, when given).
Every row is evaluated on the same chunks (``common_chunk_indices``: the 4-s grid chunks usable by
every row's visual input), so the differences are paired.

Statistics per row and group, over test chunks (dB; ``summary``):
``sdr``, ``si_sdr``; ``sdr_minus_mixture``, ``si_sdr_minus_mixture`` (improvement over the
unprocessed mixture); ``sdr_minus_audio_only``, ``si_sdr_minus_audio_only`` (paired differences
row − ``none`` on the same chunk; null for ``none`` itself); for a row of another audio path
(``frames_unet``) also ``sdr_minus_path_audio_only``, ``si_sdr_minus_path_audio_only`` (row − that
path's audio-only row, ``none_unet``, when it was run: what the condition adds to its own path). ``mean`` is the chunk mean, ``ci95``
the 95 % percentile bootstrap interval of that mean (``BOOTSTRAP_RESAMPLES`` resamples of the
chunks with replacement, seeded: ``bootstrap_ci``). Chunks with a NaN value (a silent reference,
``separation.metrics``) are left out of that statistic and counted in ``n``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
AUDIO_ONLY = "none"
DEMO_GROUP = "demo_songs"
SAME_TIMBRE_GROUP = "same_timbre"
BENCHMARK_FORMAT = "separation.benchmark/1"


@dataclass(frozen=True)
class BenchmarkRow:
    name: str             # row name in the JSON: a name of ROWS
    visual: str           # the model's visual input
    cross_modal: bool = False
    audio_net: str = "vovit"      # the audio path (separation.vovit.AUDIO_NETS)

    @property
    def path_audio_only(self) -> str:
        """The audio-only row of this row's audio path: ``none`` for VoViT's, ``none_<net>``
        otherwise (what a row's condition adds to its own path: ``*_minus_path_audio_only``)."""
        return AUDIO_ONLY if self.audio_net == "vovit" else f"{AUDIO_ONLY}_{self.audio_net}"


ROWS = (BenchmarkRow("none", "none"), BenchmarkRow("face", "face"), BenchmarkRow("body", "body"),
        BenchmarkRow("face_body", "face_body"),
        BenchmarkRow("face_body_xattn", "face_body", cross_modal=True),
        BenchmarkRow("frames", "frames"), BenchmarkRow("text", "text"),
        BenchmarkRow("scene_graph", "scene_graph"), BenchmarkRow("points3d", "points3d"),
        BenchmarkRow("none_unet", "none", audio_net="unet"),
        BenchmarkRow("frames_unet", "frames", audio_net="unet"))
ROW_BY_NAME = {row.name: row for row in ROWS}
DEFAULT_ROWS = ("none", "face", "body", "face_body", "face_body_xattn")   # the shipped rows


def rows_need_video(rows) -> bool:
    """Does any of the named rows read the scenes' videos (its kind's ``needs_video``)?"""
    from .conditions import CONDITIONS

    kinds = {ROW_BY_NAME[r].visual for r in rows}
    return any(CONDITIONS[k].needs_video for k in kinds if k in CONDITIONS)


def checkpoint_stem(instrument: str, model_name: str) -> str:
    """File stem of a row's checkpoint: ``<instrument>_<VoViTConfig.name>``, e.g.
    ``vocal_face_body_xattn_small`` (the names ``make demo``, saliency and attention look for)."""
    return f"{instrument}_{model_name}"


# --- statistics ------------------------------------------------------------------------------------

def bootstrap_ci(values, n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (1-D, finite): resample the values
    with replacement ``n_resamples`` times, take the ``(1 ± level) / 2`` quantiles of the means.
    One value gives a zero-width interval; none gives ``(nan, nan)``."""
    values = np.asarray(values, np.float64)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(n_resamples, len(values)))
    means = values[picks].mean(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(lo), float(hi)


def summary(values, n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """``{"mean", "ci95": [lo, hi], "n"}`` over the finite ``values`` (module docstring)."""
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    mean = float(finite.mean()) if len(finite) else float("nan")
    lo, hi = bootstrap_ci(finite, n_resamples, seed)
    return {"mean": mean, "ci95": [lo, hi], "n": int(len(finite))}


def common_chunk_indices(indices_by_row: dict[str, list[int]]) -> list[int]:
    """Grid chunk numbers usable by every row (sorted)."""
    sets = [set(v) for v in indices_by_row.values()]
    return sorted(set.intersection(*sets)) if sets else []


def row_statistics(chunks: list[dict], row: str, n_resamples: int = BOOTSTRAP_RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> dict:
    """Statistics of one row over ``chunks`` (each ``{"mixture_sdr", "mixture_si_sdr",
    "models": {row: {"sdr", "si_sdr"}}}``): the module docstring's keys."""
    def column(name, of):
        return np.array([c["models"][of][name] if of != "mixture" else c[f"mixture_{name}"]
                         for c in chunks], np.float64)

    out = {}
    for metric in ("sdr", "si_sdr"):
        own = column(metric, row)
        out[metric] = summary(own, n_resamples, seed)
        out[f"{metric}_minus_mixture"] = summary(own - column(metric, "mixture"), n_resamples, seed)
        out[f"{metric}_minus_audio_only"] = (
            None if row == AUDIO_ONLY or not all(AUDIO_ONLY in c["models"] for c in chunks)
            else summary(own - column(metric, AUDIO_ONLY), n_resamples, seed))
        reference = ROW_BY_NAME[row].path_audio_only if row in ROW_BY_NAME else AUDIO_ONLY
        if reference != AUDIO_ONLY and row != reference and all(reference in c["models"]
                                                                 for c in chunks):
            out[f"{metric}_minus_path_audio_only"] = summary(
                own - column(metric, reference), n_resamples, seed)
    out["n_chunks"] = len(chunks)
    return out


def scene_groups(scenes: dict[str, dict]) -> dict[str, dict]:
    """Test scenes ``{key: {"kind", "same_timbre", ...}}`` → groups ``{name: {"same_timbre",
    "kinds", "songs"}}``: ``same_timbre`` (all same-timbre scenes, when any), then one per kind."""
    groups = {}
    same = sorted(k for k, s in scenes.items() if s["same_timbre"])
    if same:
        groups[SAME_TIMBRE_GROUP] = {"same_timbre": True, "songs": same, "kinds": sorted(
            {scenes[k]["kind"] for k in same})}
    for kind in sorted({s["kind"] for s in scenes.values()}):
        songs = sorted(k for k, s in scenes.items() if s["kind"] == kind)
        groups[kind] = {"same_timbre": bool(scenes[songs[0]]["same_timbre"]), "songs": songs,
                        "kinds": [kind]}
    return groups


def learning_curve(history: list[dict]) -> list[dict]:
    """The validation history of a checkpoint, trimmed to what the benchmark reports per step."""
    keys = ("step", "loss", "sdr", "si_sdr", "train_loss", "elapsed_s")
    return [{k: h.get(k) for k in keys} for h in history]


def group_results(chunks: list[dict], rows: list[str], row_meta: dict[str, dict],
                  same_timbre: bool, n_resamples: int = BOOTSTRAP_RESAMPLES,
                  seed: int = BOOTSTRAP_SEED) -> dict:
    """``{"models": {row: statistics + steps, best_step, same_timbre}, "n_chunks"}`` of one group."""
    models = {}
    for row in rows:
        stats = row_statistics(chunks, row, n_resamples, seed)
        meta = row_meta.get(row, {})
        models[row] = {**stats, "steps": meta.get("steps"), "best_step": meta.get("best_step"),
                       "same_timbre": same_timbre}
    return {"same_timbre": same_timbre, "n_chunks": len(chunks), "models": models}


def verdict(document: dict, group: str = SAME_TIMBRE_GROUP, goal_db: float = 3.0) -> dict:
    """The issue's goal on ``group``: the best visual row by mean SI-SDR gain over audio-only, its
    gain and interval, and whether ``gain ≥ goal_db`` with the interval excluding 0."""
    models = document.get("scenes", {}).get(group, {}).get("models", {})
    gains = {row: m["si_sdr_minus_audio_only"] for row, m in models.items()
             if m.get("si_sdr_minus_audio_only")}
    if not gains:
        return {"group": group, "goal_db": goal_db, "best_row": None, "met": False}
    best = max(gains, key=lambda row: gains[row]["mean"])
    gain = gains[best]
    return {"group": group, "goal_db": goal_db, "best_row": best, "gain": gain,
            "met": bool(gain["mean"] >= goal_db and gain["ci95"][0] > 0)}
