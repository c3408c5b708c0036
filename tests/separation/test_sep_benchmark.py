"""The separation benchmark: its statistics on known values, the scene-split checks, and a tiny
benchmark on constructed scenes where the query's motion is the only cue (visual > audio-only)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from core.face import load_mean_face
from core.keypoints import FACE, NUM_KEYPOINTS
from core.pose_files import InstrumentPose, save_instrument_pose
from separation import benchmark as bm
from separation.benchmark_run import (BenchmarkError, BenchmarkSettings, load_scene_splits,
                                      run_benchmark)
from separation.checkpoint import read_checkpoint
from separation.splits import song_split

from sep_synthetic import tiny_config

SR = 16384
FPS = 30.0


# --- statistics ------------------------------------------------------------------------------------

def test_bootstrap_interval_matches_the_normal_theory_on_a_large_sample():
    rng = np.random.default_rng(1)
    values = rng.normal(2.0, 3.0, 400)
    lo, hi = bm.bootstrap_ci(values, n_resamples=20_000, seed=0)
    # independent: the mean ± 1.96 s / sqrt(n) (bootstrap percentiles agree to a few per cent)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert abs((hi - lo) / (2 * half) - 1) < 0.05
    assert abs((lo + hi) / 2 - values.mean()) < 0.05 * half
    assert bm.bootstrap_ci(values, 2000, seed=3) == bm.bootstrap_ci(values, 2000, seed=3)


def test_bootstrap_interval_of_constant_values_has_zero_width_and_empty_is_nan():
    assert bm.bootstrap_ci([1.5] * 7) == (1.5, 1.5)
    assert all(np.isnan(bm.bootstrap_ci([])))
    s = bm.summary([1.0, np.nan, 3.0], n_resamples=500)
    assert s["mean"] == 2.0 and s["n"] == 2 and 1.0 <= s["ci95"][0] <= s["ci95"][1] <= 3.0


def chunk(mix, none, face):
    return {"mixture_sdr": mix, "mixture_si_sdr": mix - 1,
            "models": {"none": {"sdr": none, "si_sdr": none - 1},
                       "face": {"sdr": face, "si_sdr": face - 1}}}


def test_row_statistics_are_paired_per_chunk():
    # the audio-only row varies a lot between chunks; face is always exactly 2 dB above it: the
    # paired difference has no spread although the two means' own intervals overlap
    chunks = [chunk(0.0, v, v + 2.0) for v in (-5.0, 0.0, 5.0, 10.0)]
    face = bm.row_statistics(chunks, "face", n_resamples=1000)
    assert face["si_sdr_minus_audio_only"] == {"mean": 2.0, "ci95": [2.0, 2.0], "n": 4}
    assert face["sdr_minus_mixture"]["mean"] == pytest.approx(4.5)
    assert face["si_sdr"]["mean"] == pytest.approx(3.5)
    none = bm.row_statistics(chunks, "none", n_resamples=1000)
    assert none["si_sdr_minus_audio_only"] is None and none["sdr_minus_audio_only"] is None
    assert none["si_sdr"]["ci95"][1] - none["si_sdr"]["ci95"][0] > 4.0


def test_a_row_of_another_audio_path_is_also_paired_with_that_paths_audio_only_row():
    chunks = [chunk(0.0, v, v + 2.0) for v in (-5.0, 0.0, 5.0)]
    for c, unet in zip(chunks, (1.0, 2.0, 3.0)):
        c["models"]["none_unet"] = {"sdr": unet, "si_sdr": unet - 1}
        c["models"]["frames_unet"] = {"sdr": unet + 0.5, "si_sdr": unet - 0.5}
    frames_unet = bm.row_statistics(chunks, "frames_unet", n_resamples=500)
    assert frames_unet["si_sdr_minus_path_audio_only"] == {"mean": 0.5, "ci95": [0.5, 0.5], "n": 3}
    # against VoViT's audio-only row: (unet - 0.5) - (v - 1) per chunk
    assert frames_unet["si_sdr_minus_audio_only"]["mean"] == pytest.approx(
        np.mean([0.5 - -6.0, 1.5 - -1.0, 2.5 - 4.0]))
    assert "si_sdr_minus_path_audio_only" not in bm.row_statistics(chunks, "none_unet",
                                                                    n_resamples=500)
    assert "si_sdr_minus_path_audio_only" not in bm.row_statistics(chunks, "face", n_resamples=500)
    assert bm.ROW_BY_NAME["frames_unet"].path_audio_only == "none_unet"
    assert bm.ROW_BY_NAME["frames"].path_audio_only == "none"


def test_scene_groups_and_common_chunks():
    scenes = {"S/duet 1": {"kind": "duet", "same_timbre": True},
              "S/shadow 2": {"kind": "shadow", "same_timbre": True},
              "S/concert 3": {"kind": "concert", "same_timbre": False}}
    groups = bm.scene_groups(scenes)
    assert list(groups) == ["same_timbre", "concert", "duet", "shadow"]
    assert groups["same_timbre"]["songs"] == ["S/duet 1", "S/shadow 2"]
    assert groups["concert"] == {"same_timbre": False, "songs": ["S/concert 3"],
                                 "kinds": ["concert"]}
    assert bm.common_chunk_indices({"none": [0, 1, 2], "face": [0, 2], "body": [2, 0, 5]}) == [0, 2]


def test_verdict_needs_the_gain_and_an_interval_above_zero():
    def doc(mean, lo):
        gain = {"mean": mean, "ci95": [lo, mean + 1]}
        return {"scenes": {"same_timbre": {"models": {"none": {"si_sdr_minus_audio_only": None},
                                                      "face": {"si_sdr_minus_audio_only": gain}}}}}
    assert bm.verdict(doc(3.5, 0.5))["met"] and bm.verdict(doc(3.5, 0.5))["best_row"] == "face"
    assert not bm.verdict(doc(2.9, 0.5))["met"]
    assert not bm.verdict(doc(3.5, -0.1))["met"]


# --- constructed scenes: two singers with one voice, the query's jaw is the only cue ---------------

def alternating_stems(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Two stems ``(N,)`` of the same harmonic voice (same pitches, same levels) singing in
    alternation: segments of 0.3-0.7 s, each sung by one of the two chosen at random. The two are
    exchangeable, so the mixture cannot say which phrase is the query's."""
    n = int(seconds * SR)
    stems = np.zeros((2, n))
    t = np.arange(n) / SR
    start = 0
    while start < n:
        length = int(rng.uniform(0.3, 0.7) * SR)
        who = int(rng.integers(2))
        f0 = 220.0 * 2 ** (rng.choice([0, 2, 4, 7, 9]) / 12)
        stop = min(n, start + length)
        seg = t[start:stop]
        ramp = np.minimum(1.0, np.minimum(seg - seg[0], seg[-1] - seg) / 0.02)
        stems[who, start:stop] = 0.2 * ramp * sum(np.sin(2 * np.pi * k * f0 * seg) / k
                                                  for k in range(1, 6))
        start = stop
    stems += 0.002 * rng.standard_normal(stems.shape)
    return stems[0], stems[1]


def singing_face(envelope: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(F, 133, 2)`` keypoints: the mean face (×1.5 at (400, 200)) whose jaw and lower lip drop
    20 px while the performer sings (``envelope`` ``(F,)`` in 0..1), with 0.5-px jitter; body NaN."""
    kp = np.full((len(envelope), NUM_KEYPOINTS, 2), np.nan, np.float32)
    face = (load_mean_face() - load_mean_face().mean(0)) * 1.5 + np.array([400.0, 200.0])
    frames = np.repeat(face[None], len(envelope), axis=0)
    lower = list(range(3, 14)) + list(range(55, 60)) + list(range(64, 68))   # jaw, lower lip
    frames[:, lower, 1] += 20.0 * envelope[:, None]
    kp[:, list(FACE)] = frames + rng.normal(0, 0.5, frames.shape)
    return kp


def write_scene(root: Path, key: str, seconds: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder = root / key
    folder.mkdir(parents=True)
    vocal, singer = alternating_stems(rng, seconds)
    sf.write(folder / "vocal_close.wav", vocal.astype(np.float32), SR)
    sf.write(folder / "singer_close.wav", singer.astype(np.float32), SR)
    n_frames = int(seconds * FPS)
    frame_samples = (np.arange(n_frames) / FPS * SR).astype(int)
    loud = np.array([np.sqrt(np.mean(vocal[max(0, s - 256):s + 256] ** 2)) for s in frame_samples])
    kp = singing_face(np.clip(loud / 0.1, 0.0, 1.0), rng)
    scores = np.where(np.isnan(kp[..., 0]), 0.0, 0.9).astype(np.float32)
    save_instrument_pose(folder / "vocal", InstrumentPose(kp, scores, {
        "backend": "generator_ground_truth", "score_scale": "probability", "fps": FPS,
        "frame_size": [1280, 720], "position": 0, "n_performers": 2,
        "layout": ["vocal", "singer"]}))


def write_constructed_scenes(root: Path, counts: dict[str, int], seconds: float = 8.0) -> Path:
    metadata, scenes, splits = {}, {}, {}
    for split, base in (("train", 100), ("validation", 200), ("test", 300)):
        artist = f"Scenes {split}"
        splits[split] = []
        for i in range(counts[split]):
            key = f"{artist}/duet {base + i}"
            write_scene(root, key, seconds, base + i)
            metadata.setdefault(artist, {})[f"duet {base + i}"] = {
                "layout": ["vocal", "singer"], "fps": FPS, "duration": seconds,
                "moving_camera": False, "correct_body_detection": True,
                "face_false_positive_frames": []}
            scenes[key] = {"kind": "duet", "split": split, "seed": base + i, "same_timbre": True}
            splits[split].append(key)
    (root / "dataset_metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    (root / "scene_splits.json").write_text(json.dumps(
        {"generator_version": "test", "splits": splits, "scenes": scenes,
         "counts": counts, "seconds": seconds, "kinds": ["duet"]}), encoding="utf-8")
    return root


def test_scene_splits_must_be_disjoint_and_complete(tmp_path):
    root = write_constructed_scenes(tmp_path / "s", {"train": 1, "validation": 1, "test": 1},
                                    seconds=4.5)
    assert load_scene_splits(root)["splits"]["test"] == ["Scenes test/duet 300"]
    doc = json.loads((root / "scene_splits.json").read_text())
    doc["splits"]["test"].append("Scenes train/duet 100")
    (root / "scene_splits.json").write_text(json.dumps(doc))
    with pytest.raises(BenchmarkError, match="train and test share Scenes train/duet 100"):
        load_scene_splits(root)
    with pytest.raises(BenchmarkError, match="no scene_splits.json"):
        load_scene_splits(tmp_path)


@pytest.fixture()
def deterministic_torch():
    """Deterministic kernels inside the test (restored after): the tiny benchmark must give the same
    numbers on every run. The thread count is left alone: calling ``torch.set_num_threads(n >= 2)``
    (e.g. to restore 2 afterwards) makes later batched ``linalg.solve`` calls, and with them
    torchmetrics' SDR, hang on this CPU build (DESIGN §7); with a fixed count (OMP_NUM_THREADS)
    the CPU kernels reduce in a fixed order."""
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


TINY_SIZES = {k: v for k, v in tiny_config("face").to_dict().items()
              if k not in ("visual", "preset", "cross_modal")}


@pytest.mark.slow
def test_tiny_benchmark_face_beats_audio_only_where_motion_is_the_only_cue(tmp_path,
                                                                         deterministic_torch):
    scenes = write_constructed_scenes(tmp_path / "scenes", {"train": 6, "validation": 2, "test": 6})
    settings = BenchmarkSettings(steps=120, batch_size=4, lr=3e-3, eval_every=40,
                                 rows=("none", "face"), sizes=TINY_SIZES, n_resamples=2000)
    doc = run_benchmark(scenes, tmp_path / "out", tmp_path / "ckpt", settings,
                        torch.device("cpu"), figure=False)
    group = doc["scenes"]["same_timbre"]
    assert group["n_chunks"] == 12 and doc["scenes"]["duet"]["n_chunks"] == 12
    none, face = group["models"]["none"], group["models"]["face"]
    gain = face["si_sdr_minus_audio_only"]
    # measured (deterministic): gain +23.1 dB [21.5, 24.8], audio-only -2.5 dB; audio alone
    # cannot beat ~0 dB SI-SDR on exchangeable voices, the face model gates by the jaw
    assert gain["mean"] > 10.0 and gain["ci95"][0] > 5.0, (gain, none["si_sdr"], face["si_sdr"])
    assert none["si_sdr"]["mean"] < 3.0, none["si_sdr"]
    assert face["steps"] == none["steps"] == 120
    assert doc["rows"]["face"]["steps_run"] == doc["rows"]["none"]["steps_run"] == 120
    assert [c["step"] for c in doc["rows"]["face"]["learning_curve"]] == [40, 80, 120]
    # each checkpoint records its split; the test scenes are test for evaluate
    meta = read_checkpoint(tmp_path / "ckpt" / "vocal_face_small.pt")["extra"]
    assert meta["test_songs"] == [f"Scenes test/duet {300 + i}" for i in range(6)]
    assert song_split("Scenes test/duet 300", scenes, meta) == "test"
    assert song_split("Scenes validation/duet 200", scenes, meta) == "validation"
    assert meta["run"]["generator_version"] == "test" and meta["run"]["git_commit"]
    written = json.loads((tmp_path / "out" / "separation_benchmark.json").read_text())
    assert written["scenes"]["same_timbre"]["models"]["face"]["si_sdr_minus_audio_only"]["mean"] \
        == pytest.approx(gain["mean"], abs=1e-9)
    # a second run reuses the finished rows and gives the same document
    again = run_benchmark(scenes, tmp_path / "out", tmp_path / "ckpt", settings,
                          torch.device("cpu"), figure=False)
    assert again["scenes"] == doc["scenes"]
    # a benchmark with other settings refuses the existing checkpoints instead of mixing them
    with pytest.raises(BenchmarkError, match="steps"):
        run_benchmark(scenes, tmp_path / "out", tmp_path / "ckpt",
                      BenchmarkSettings(**{**settings.__dict__, "steps": 60}),
                      torch.device("cpu"), figure=False)


@pytest.mark.parametrize("rows, message", [
    (["bogus"], "unknown benchmark row(s) bogus"),
    (["face"], "needs the audio-only row 'none'"),
])
def test_benchmark_cli_refuses_bad_rows_before_any_work(tmp_path, capsys, rows, message):
    import logging

    from separation.main import main

    saved = logging.root.handlers[:], logging.root.level
    try:
        assert main(["benchmark", "--out", str(tmp_path / "o"), "--rows", *rows]) == 2
    finally:
        logging.root.handlers[:], logging.root.level = saved
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()                  # nothing generated or trained
