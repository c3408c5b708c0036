"""The real CLI: separate + evaluate on synthetic songs (tiny checkpoint) and on the posed demo
dataset with the shipped checkpoints."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import run_cli
from separation.checkpoint import save_checkpoint
from separation.vovit import VoViT

from sep_synthetic import synthetic_dataset, tiny_config  # noqa: F401 (fixture)

CHECKPOINTS = Path(__file__).resolve().parents[2] / "separation" / "checkpoints"
SHIPPED = ("vocal_none_small", "vocal_face_small", "vocal_face_body_xattn_small")


def run_main_in_process(capsys, *argv: str) -> tuple[int, str, str]:
    """The real CLI entry point (argparse -> command) in this process: no interpreter start-up and
    torch import per call. Root logging handlers are restored afterwards."""
    import logging

    from separation.main import main

    saved = logging.root.handlers[:], logging.root.level
    try:
        code = main(list(argv))
    finally:
        logging.root.handlers[:], logging.root.level = saved
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_separate_and_evaluate_cli_on_synthetic_songs(synthetic_dataset, tmp_path, capsys):
    torch.manual_seed(0)
    model_path = save_checkpoint(tmp_path / "tiny_face.pt", VoViT(tiny_config("face")).eval(),
                                 instrument="vocal", train_songs=["Art/Song One"])
    baseline_path = save_checkpoint(tmp_path / "tiny_none.pt", VoViT(tiny_config("none")).eval(),
                                    instrument="vocal")
    root = synthetic_dataset
    code, _, err = run_main_in_process(capsys, "separate", "--dataset_path", str(root),
                                       "--checkpoint", str(model_path))
    assert code == 0, err[-3000:]
    assert "Art/No Pose: skipped: no keypoints for vocal" in err
    wave, sr = sf.read(root / "Art" / "Song One" / "vocal" / "separated_face_small.wav")
    assert sr == 16384 and len(wave) == 9 * 16384 and np.isfinite(wave).all()
    assert not (root / "Art" / "No Pose" / "vocal" / "separated_face_small.wav").exists()
    # Re-running skips finished work.
    code, _, err = run_main_in_process(capsys, "separate", "--dataset_path", str(root),
                                       "--checkpoint", str(model_path))
    assert code == 0 and "2 already up to date" in err

    code, out, err = run_main_in_process(capsys, "evaluate", "--dataset_path", str(root),
                                         "--checkpoint", str(model_path),
                                         "--baseline", str(baseline_path))
    assert code == 0, err[-3000:]
    assert "SDR (BSS-eval v3, torchmetrics)" in out and "Art/Song Two" in out
    record = json.loads((root / "Art" / "Song One" / "vocal" /
                         "separation_eval_face_small.json").read_text())
    assert record["held_out"] is False and record["n_chunks"] == 2
    assert [c["index"] for c in record["chunks"]] == [0, 1]
    # Input SDR against an independent computation on the stems.
    from separation.metrics import chunk_metrics
    vocal, _ = sf.read(root / "Art" / "Song One" / "vocal_close.wav")
    violin, _ = sf.read(root / "Art" / "Song One" / "violin_close.wav")
    expected = chunk_metrics((vocal + violin)[None, :65535], vocal[None, :65535])["sdr"][0]
    assert record["chunks"][0]["mixture_sdr"] == pytest.approx(expected, abs=1e-3)
    assert record["chunks"][0]["baseline_sdr"] is not None
    overall = json.loads((root / "results" / "separation" / "eval_vocal_face_small.json").read_text())
    assert overall["overall"]["all"]["n_songs"] == 2
    assert overall["overall"]["held_out"]["n_songs"] == 1

    # A baseline that is not audio-only is refused with both sides named: one line, exit 2.
    code, _, err = run_main_in_process(capsys, "evaluate", "--dataset_path", str(root),
                                       "--checkpoint", str(model_path), "--baseline",
                                       str(model_path))
    assert code == 2 and "Traceback" not in err
    assert f"checkpoint {model_path} is visual=face preset=small, but visual=none was asked" in err


@pytest.mark.slow
def test_shipped_checkpoints_separate_and_evaluate_the_posed_demo(posed_demo_dataset, tmp_path):
    missing = [name for name in SHIPPED if not (CHECKPOINTS / f"{name}.pt").exists()]
    if missing:
        pytest.skip(f"shipped checkpoints not trained yet: {', '.join(missing)}")
    root = shutil.copytree(posed_demo_dataset, tmp_path / "demo")
    if not list(root.glob("*/*/vocal/keypoints.npy")):
        pytest.skip("the pose stage produced no vocal keypoints on the demo dataset")
    ckpt = CHECKPOINTS / "vocal_face_body_xattn_small.pt"
    baseline = CHECKPOINTS / "vocal_none_small.pt"
    sep = run_cli("separation.main", "separate", "--dataset_path", str(root), "--checkpoint",
                  str(ckpt))
    assert sep.returncode == 0, sep.stderr[-3000:]
    # The moving-camera song has no keypoints: a named skip, not a failure.
    assert "Tillana Pan: skipped: no keypoints for vocal" in sep.stderr
    outputs = list(root.glob("*/*/vocal/separated_face_body_xattn_small.wav"))
    assert outputs
    for path in outputs:
        wave, sr = sf.read(path)
        assert sr == 16384 and np.isfinite(wave).all() and np.abs(wave).max() > 0
    args = ["separation.main", "evaluate", "--dataset_path", str(root), "--checkpoint", str(ckpt)]
    if baseline.exists():
        args += ["--baseline", str(baseline)]
    ev = run_cli(*args)
    assert ev.returncode == 0, ev.stderr[-3000:]
    assert "SDR (BSS-eval v3, torchmetrics)" in ev.stdout
    report = json.loads((root / "results" / "separation" /
                         "eval_vocal_face_body_xattn_small.json").read_text())
    assert report["metrics"]["sdr"] == "SDR (BSS-eval v3, torchmetrics)"
    for song in report["songs"]:
        for chunk in song["chunks"]:
            assert chunk["mixture_sdr"] is None or np.isfinite(chunk["mixture_sdr"])
