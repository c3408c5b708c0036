"""Issue 11 on the separation stage: crafted checkpoints and resume states never run code, an
interrupted training always resumes, bad settings are one-line errors (exit 2), bad songs fail by
name (exit 1), no NaN is ever written, and changed inputs are separated again."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from crafted_inputs import PAYLOADS, TouchPayload
from sep_synthetic import SR, synthetic_dataset, tiny_config  # noqa: F401 (fixture)
from separation.checkpoint import FORMAT, save_checkpoint
from separation.conventions import PROJECT
from separation.vovit import CHUNK_SAMPLES, VoViT


def run_main(capsys, *argv: str) -> tuple[int, str]:
    """``separation.main.main`` in this process → (exit code, stderr); argparse errors included."""
    import logging

    from separation.main import main

    saved = logging.root.handlers[:], logging.root.level
    try:
        code = main(list(argv))
    except SystemExit as exc:              # argparse refuses an option value
        code = exc.code
    finally:
        logging.root.handlers[:], logging.root.level = saved
    return code, capsys.readouterr().err


def tiny_checkpoint(path, visual="face"):
    torch.manual_seed(0)
    return save_checkpoint(path, VoViT(tiny_config(visual)).eval(), instrument="vocal")


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = [line for line in err.strip().splitlines() if "ERROR" in line]
    assert len(lines) == 1, err[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in err and "weights_only" not in err


@pytest.mark.parametrize("payload", PAYLOADS)
def test_crafted_checkpoint_is_refused_and_never_runs(synthetic_dataset, tmp_path, capsys, payload):
    marker = tmp_path / "payload_ran"
    model = VoViT(tiny_config("face"))
    crafted = tmp_path / "crafted.pt"
    torch.save({"format": FORMAT, "config": model.config.to_dict(),
                "state_dict": model.state_dict(), "extra": {"instrument": payload(marker)}}, crafted)
    code, err = run_main(capsys, "separate", "--dataset_path", str(synthetic_dataset),
                         "--checkpoint", str(crafted))
    assert code == 2 and not marker.exists()
    assert_one_line_error(err, f"{crafted} refused: it names ")
    assert not list(synthetic_dataset.glob("*/*/vocal/separated_*.wav"))


def test_crafted_resume_state_is_refused_and_never_runs(synthetic_dataset, tmp_path, capsys):
    """Cause 1: ``<out>.resume.pt`` next to ``train --out`` is loaded with weights_only=True."""
    marker = tmp_path / "payload_ran"
    out = tmp_path / "model.pt"
    torch.save({"config": {}, "step": 3, "numpy_rng": TouchPayload(marker)},
               tmp_path / "model.pt.resume.pt")
    code, err = run_main(capsys, "train", "--visual", "face", "--instrument", "vocal", "--out",
                         str(out), "--steps", "2", "--dataset_path", str(synthetic_dataset))
    assert code == 2 and not marker.exists()
    assert_one_line_error(err, f"{out}.resume.pt refused: it names io.open")
    assert not out.exists()


@pytest.mark.parametrize("kill_at", ["resume write at step 1", "checkpoint write at step 1",
                                     "resume write at step 2"])
def test_an_interrupted_training_is_never_taken_for_finished(synthetic_dataset, tmp_path,
                                                            monkeypatch, kill_at):
    """Cause 5: wherever a kill lands, "checkpoint present and no resume state" (what ``train``
    calls finished) never holds before the last step, and the re-run ends with every step."""
    from core.metadata import load_metadata
    from separation import training

    songs = load_metadata(synthetic_dataset / "dataset_metadata.json")
    by_song, _ = training.collect_songs(synthetic_dataset, songs, "vocal", "face")
    out = tmp_path / "m.pt"
    opts = training.TrainOptions(steps=3, batch_size=2, eval_every=1)
    target, nth = {"resume write at step 1": ("atomic_path", 1),
                   "checkpoint write at step 1": ("save_checkpoint", 1),
                   "resume write at step 2": ("atomic_path", 2)}[kill_at]
    real = getattr(training, target)
    calls = []

    def killed(*args, **kwargs):
        calls.append(1)
        if len(calls) == nth:
            raise KeyboardInterrupt(f"killed: {kill_at}")
        return real(*args, **kwargs)

    monkeypatch.setattr(training, target, killed)
    with pytest.raises(KeyboardInterrupt):
        training.train(tiny_config("face"), by_song, out, opts, torch.device("cpu"), "vocal",
                       val_songs=["Art/Song Two"])
    resume = training.resume_path(out)
    assert not (out.exists() and not resume.exists()), "an interrupted run looks finished"
    monkeypatch.setattr(training, target, real)
    extra = training.train(tiny_config("face"), by_song, out, opts, torch.device("cpu"), "vocal",
                           val_songs=["Art/Song Two"])
    assert [h["step"] for h in extra["history"]] == [1, 2, 3]
    assert out.exists() and not resume.exists()
    best = min(extra["history"], key=lambda h: h["loss"])
    assert extra["best_val"]["step"] == best["step"]       # the checkpoint holds the best model


@pytest.mark.parametrize("value, message", [("10", "must be > 0 and at most 4 s"),
                                            ("0", "must be > 0"), ("-1", "must be > 0"),
                                            ("nan", "must be > 0")])
def test_hop_outside_0_to_4_seconds_is_refused(synthetic_dataset, tmp_path, capsys, value, message):
    """Cause 8: ``--hop_seconds 10`` wrote NaN; 0 and negative values crashed."""
    code, err = run_main(capsys, "separate", "--dataset_path", str(synthetic_dataset),
                         "--checkpoint", str(tiny_checkpoint(tmp_path / "m.pt")),
                         "--hop_seconds", value)
    assert code == 2 and f"argument --hop_seconds: {message}" in err


def test_eval_every_and_steps_must_be_positive(synthetic_dataset, tmp_path, capsys):
    base = ["train", "--visual", "face", "--instrument", "vocal", "--out", str(tmp_path / "m.pt"),
            "--dataset_path", str(synthetic_dataset)]
    for flag in ("--eval_every", "--steps", "--batch_size"):
        code, err = run_main(capsys, *base, flag, "0")
        assert code == 2 and f"argument {flag}: 0 is not ≥ 1" in err


def test_a_four_second_hop_covers_every_sample_and_a_longer_one_is_refused():
    from separation.inference import hop_samples, separate_song

    torch.manual_seed(0)
    model = VoViT(tiny_config("none")).eval()
    mixture = np.random.default_rng(0).normal(0, 0.1, 3 * CHUNK_SAMPLES + 1000).astype(np.float32)
    assert hop_samples(4.0) == CHUNK_SAMPLES and hop_samples(2.0) == 32768
    estimate = separate_song(model, mixture, None, None, torch.device("cpu"), hop=hop_samples(4.0),
                             conventions=PROJECT)
    assert estimate.shape == mixture.shape and np.isfinite(estimate).all()
    with pytest.raises(ValueError, match="every sample is covered"):
        separate_song(model, mixture, None, None, torch.device("cpu"), hop=CHUNK_SAMPLES + 1,
                      conventions=PROJECT)
    for bad in (0.0, -1.0, 4.001, math.nan, math.inf, 1e-6):
        with pytest.raises(ValueError):
            hop_samples(bad)


def test_bad_settings_are_one_line_errors_with_exit_2(synthetic_dataset, tmp_path, capsys):
    """Cause 12: a bad --device, a GPU that is not there, unreadable metadata, a missing or
    damaged checkpoint: one line each, exit 2, no traceback."""
    ckpt = str(tiny_checkpoint(tmp_path / "m.pt"))
    args = ["separate", "--dataset_path", str(synthetic_dataset), "--checkpoint", ckpt]
    code, err = run_main(capsys, *args, "--device", "gpu")
    assert code == 2
    assert_one_line_error(err, "unknown device 'gpu'")
    if not torch.cuda.is_available():
        code, err = run_main(capsys, *args, "--device", "cuda")
        assert code == 2
        assert_one_line_error(err, "--device cuda asked for, but torch sees no CUDA GPU")
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes((tmp_path / "m.pt").read_bytes()[:500])
    code, err = run_main(capsys, "separate", "--dataset_path", str(synthetic_dataset),
                         "--checkpoint", str(damaged))
    assert code == 2
    assert_one_line_error(err, f"{damaged} is not a readable torch file")
    code, err = run_main(capsys, "evaluate", "--dataset_path", str(synthetic_dataset),
                         "--checkpoint", str(tmp_path / "missing.pt"))
    assert code == 2
    assert_one_line_error(err, "missing.pt does not exist")
    (synthetic_dataset / "dataset_metadata.json").write_text("{not json")
    code, err = run_main(capsys, *args)
    assert code == 2
    assert_one_line_error(err, "dataset_metadata.json is not valid JSON")


def test_bad_songs_fail_by_name_and_the_rest_is_separated(synthetic_dataset, tmp_path, capsys,
                                                          monkeypatch):
    """Causes 8 and 13: a malformed entry (``fps: "30"``) fails its song only; a model output
    with NaN is never written (the writer refuses it), the song fails by name."""
    from separation import commands

    metadata_path = synthetic_dataset / "dataset_metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["Art"]["No Pose"]["fps"] = "30"
    metadata_path.write_text(json.dumps(metadata))
    real = commands.separate_song

    def nan_for_the_long_song(model, mixture, *args, **kwargs):
        estimate = real(model, mixture, *args, **kwargs)
        if len(mixture) > 6 * SR:                     # Song One (9 s), not Song Two (5 s)
            estimate[100] = np.nan
        return estimate

    monkeypatch.setattr(commands, "separate_song", nan_for_the_long_song)
    code, err = run_main(capsys, "separate", "--dataset_path", str(synthetic_dataset),
                         "--checkpoint", str(tiny_checkpoint(tmp_path / "m.pt")))
    assert code == 1
    failed = sorted(line.split("FAILED  ")[1] for line in err.splitlines() if "FAILED" in line)
    assert failed[0] == ("Art/No Pose: bad entry in dataset_metadata.json: fps must be a positive "
                         "number or null, got '30'")
    song_one = synthetic_dataset / "Art" / "Song One" / "vocal" / "separated_face_small.wav"
    assert failed[1].startswith(f"Art/Song One: ValueError: refusing to write {song_one}: 1 of ")
    assert not song_one.exists()
    wave, _ = sf.read(synthetic_dataset / "Art" / "Song Two" / "vocal" / "separated_face_small.wav")
    assert np.isfinite(wave).all()


def test_separated_audio_is_redone_when_a_stem_changes(synthetic_dataset, tmp_path, capsys):
    """Cause 11 for separation: a replaced stem makes its song's separation stale."""
    args = ["separate", "--dataset_path", str(synthetic_dataset), "--checkpoint",
            str(tiny_checkpoint(tmp_path / "m.pt"))]
    assert run_main(capsys, *args)[0] == 0
    stem = synthetic_dataset / "Art" / "Song One" / "violin_close.wav"
    wave, sr = sf.read(stem)
    sf.write(stem, 0.5 * wave, sr)
    code, err = run_main(capsys, *args)
    assert code == 0 and "separate[face_small/vocal]: 1 done, 1 already up to date" in err


def test_evaluation_is_redone_when_the_checkpoint_a_stem_or_the_baseline_changes(
        synthetic_dataset, tmp_path, capsys):
    """Cause 11 for evaluation: a retrained checkpoint (same path), a replaced stem or another
    baseline make the stored SDRs stale; unchanged ones are kept."""
    checkpoint = tiny_checkpoint(tmp_path / "m.pt")
    torch.manual_seed(1)
    baseline = save_checkpoint(tmp_path / "none.pt", VoViT(tiny_config("none")).eval(),
                               instrument="vocal")
    args = ["evaluate", "--dataset_path", str(synthetic_dataset), "--checkpoint", str(checkpoint)]
    stage = "evaluate[face_small/vocal]"
    assert run_main(capsys, *args)[0] == 0
    code, err = run_main(capsys, *args)
    assert code == 0 and f"{stage}: 0 done, 2 already up to date" in err
    torch.manual_seed(2)                                      # retrained under the same name
    save_checkpoint(checkpoint, VoViT(tiny_config("face")).eval(), instrument="vocal")
    code, err = run_main(capsys, *args)
    assert code == 0 and f"{stage}: 2 done, 0 already up to date" in err
    stem = synthetic_dataset / "Art" / "Song Two" / "vocal_close.wav"
    wave, sr = sf.read(stem)
    sf.write(stem, 0.5 * wave, sr)
    code, err = run_main(capsys, *args)
    assert code == 0 and f"{stage}: 1 done, 1 already up to date" in err
    code, err = run_main(capsys, *args, "--baseline", str(baseline))
    assert code == 0 and f"{stage}: 2 done, 0 already up to date" in err
    record = json.loads((synthetic_dataset / "Art" / "Song Two" / "vocal" /
                         "separation_eval_face_small.json").read_text())
    assert record["baseline"] == str(baseline) and record["chunks"][0]["baseline_sdr"] is not None
