"""The command-line run: per-song files, averages, figures, filtering, re-runs, failures."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.dataset import SongDataError
from core.face import load_mean_face
from gradient_saliency import cli, models
from gradient_saliency.models import LoadedModel
from separation.conventions import PROJECT

from conftest import REPO_ROOT, run_cli
from crafted_inputs import PAYLOADS
from saliency_toy_models import MOUTH_IDX, MouthGainModel, face_chunks

SONG = {"layout": ["violin", "vocal", "mridangam"], "moving_camera": False, "fps": 30.0,
        "duration": 12.0}


@pytest.fixture
def toy_dataset(tmp_path, monkeypatch):
    """A metadata file with four songs and doubles for the separation stage's model and chunks."""
    root = tmp_path / "data"
    metadata = {"A": {"s1": SONG, "s2": SONG},
                "B": {"bad": SONG, "novocal": {**SONG, "layout": ["violin", "mridangam"]}}}
    root.mkdir()
    (root / "dataset_metadata.json").write_text(json.dumps(metadata))
    calls: list[str] = []

    def fake_chunks(song_dir, song, instrument, visual_kind, conventions, options=None):
        assert conventions == PROJECT
        calls.append(song.key)
        assert instrument == "vocal" and visual_kind == "face"
        if song.song == "bad":
            raise SongDataError("no vocal stem (*.wav starting with 'vocal')")
        return face_chunks(3, samples=512, seed=len(song.song) + ord(song.song[-1]))

    monkeypatch.setattr(models, "load_model", lambda name, checkpoint, device: LoadedModel(
        MouthGainModel(), Path("toy.pt"), "face", "vocal", {"conventions": PROJECT}))
    monkeypatch.setattr(models, "load_song_chunks", fake_chunks)
    monkeypatch.setattr(models, "mean_face_in_model_space", lambda loaded=None: torch.as_tensor(
        load_mean_face().T, dtype=torch.float32))
    return root, calls


def _run(root, *extra):
    return cli.main("integrated_gradients", ["--model", "face", "--dataset_path", str(root),
                                             "--num_steps", "4", "--device", "cpu", *extra])


def test_run_writes_songs_average_and_figures_and_isolates_failures(toy_dataset, capsys):
    root, calls = toy_dataset
    assert _run(root) == 1                                   # B/bad failed, the others went on
    out_dir = root / "results" / "integrated_gradients_all_face"
    assert sorted(p.name for p in out_dir.glob("*.json")) == [
        ".A_s1.json.inputs.json", ".A_s2.json.inputs.json",    # the re-run rule's records
        "A_s1.json", "A_s2.json", "_average.json"]
    song = json.loads((out_dir / "A_s1.json").read_text())
    assert song["chunks"] == [0, 1, 2] and song["instrument"] == "vocal"
    assert len(song["keypoint_importance"]["face"]) == 68 and 0.0 <= song["audio_share"] <= 1.0
    assert song["convergence_delta"]["max_abs"] is not None
    average = json.loads((out_dir / "_average.json").read_text())
    assert average["songs"] == ["A/s1", "A/s2"] and average["n_chunks"] == 6
    face = np.array(average["keypoint_importance"]["face"])
    assert set(np.argsort(-face)[:20]) == set(MOUTH_IDX)
    expected = (np.array(song["keypoint_importance"]["face"])
                + np.array(json.loads((out_dir / "A_s2.json").read_text())["keypoint_importance"]["face"])) / 2
    np.testing.assert_allclose(face, expected)
    figures = sorted(p.name for p in (out_dir / "figures").glob("*.png"))
    assert figures == ["A_s1_parts.png", "A_s1_skeleton.png", "A_s2_parts.png", "A_s2_skeleton.png",
                       "_average_parts.png", "_average_skeleton.png"]
    assert f"saliency figures: {out_dir / 'figures'}" in capsys.readouterr().out
    assert "B/novocal" not in calls                         # skipped before loading anything

    calls.clear()
    assert _run(root) == 1                                   # re-run: only the failed song is redone
    assert calls == ["B/bad"]
    assert _run(root, "-a", "A") == 0
    # sanity-check run with re-initialised weights goes to its own folder and differs
    assert _run(root, "-a", "A", "-s", "s1", "--randomise-weights") == 0
    fresh = json.loads((root / "results" / "integrated_gradients_all_face_randomised" / "A_s1.json")
                       .read_text())
    assert fresh["randomised_weights"] is True
    assert not np.allclose(fresh["keypoint_importance"]["face"], song["keypoint_importance"]["face"])


def test_stale_results_are_redone_and_current_ones_kept(toy_dataset):
    """Issue 11, cause 11 for saliency: a result is kept only while it was made from the song's
    files as they are now and with the same settings; existing outputs alone prove nothing."""
    root, calls = toy_dataset
    keypoints = root / "A" / "s2" / "vocal" / "keypoints.npy"
    keypoints.parent.mkdir(parents=True)
    np.save(keypoints, np.zeros((30, 133, 2), np.float32))
    assert _run(root, "-a", "A") == 0 and calls == ["A/s1", "A/s2"]
    out_dir = root / "results" / "integrated_gradients_all_face"
    record = json.loads((out_dir / ".A_s2.json.inputs.json").read_text())
    assert list(record["inputs"]) == ["../../A/s2/vocal/keypoints.npy"]
    assert record["settings"]["config"]["n_steps"] == 4
    calls.clear()
    assert _run(root, "-a", "A") == 0 and calls == []                 # nothing changed
    np.save(keypoints, np.ones((60, 133, 2), np.float32))             # post-processing redone
    assert _run(root, "-a", "A") == 0 and calls == ["A/s2"]
    calls.clear()
    assert cli.main("integrated_gradients", ["--model", "face", "--dataset_path", str(root),
                                             "--num_steps", "6", "--device", "cpu", "-a", "A"]) == 0
    assert calls == ["A/s1", "A/s2"]                                  # other steps: all redone
    assert json.loads((out_dir / "A_s1.json").read_text())["config"]["n_steps"] == 6
    calls.clear()
    assert cli.main("integrated_gradients", ["--model", "face", "--dataset_path", str(root),
                                             "--num_steps", "6", "--device", "cpu", "-a", "A",
                                             "--internal_batch_size", "2"]) == 0
    assert calls == []                             # batching the same steps differently: kept


def test_dataset_mean_face_baseline_is_recorded_and_used(toy_dataset, monkeypatch):
    """``--face-baseline dataset_mean``: one template for the run, from the selected songs, recorded
    in every output's settings; attributions differ from the mean-face baseline's."""
    root, _ = toy_dataset
    template = torch.as_tensor(load_mean_face().T * 0.9, dtype=torch.float32)
    asked = []

    def fake_mean(dataset_path, songs, instrument, conventions):
        asked.append(sorted(s.key for s in songs))
        return template, {"songs": 2, "frames": 50, "radius": 1.0}

    monkeypatch.setattr(models, "dataset_mean_face", fake_mean)
    assert _run(root, "-a", "A", "--face-baseline", "dataset_mean") == 0
    assert asked == [["A/s1", "A/s2"]]                                  # once per run
    out_dir = root / "results" / "integrated_gradients_all_face"
    song = json.loads((out_dir / "A_s1.json").read_text())
    assert song["config"]["face_baseline"] == "dataset_mean"
    np.testing.assert_allclose(song["face_baseline_template"]["template"], template.numpy().T)
    assert song["face_baseline_template"]["frames"] == 50
    assert _run(root, "-a", "A") == 0                          # published baseline: redone, differs
    published = json.loads((out_dir / "A_s1.json").read_text())
    assert published["face_baseline_template"] is None
    assert not np.allclose(published["keypoint_importance"]["face"],
                           song["keypoint_importance"]["face"])


def test_correlation_filter_run_attributes_exactly_the_selected_chunks(toy_dataset):
    root, calls = toy_dataset
    assert _run(root, "--correlation-filter-top") == 2       # no counts yet: a clear whole-run error
    rule = {"strong_window_features": "published", "audio_features": ["rms", "onset_env"]}
    counts = {"_settings": rule,
              "A": {"s1": {"0": {"vocal": 1, "total": 1}, "1": {"vocal": 7, "total": 7},
                           "2": {"vocal": 3, "total": 3}},
                    "s2": {"0": {"vocal": 9, "total": 9}, "1": {"vocal": 0, "total": 0},
                           "2": {"vocal": 2, "total": 2}}}}
    aggregate = root / "results" / "correlation" / "aggregated_strong_windows.json"
    aggregate.parent.mkdir(parents=True)
    aggregate.write_text(json.dumps(counts))
    top_half = ["-a", "A", "--correlation-filter-top", "--correlation-filter-percentage", "0.5"]
    assert _run(root, *top_half) == 0
    out_dir = root / "results" / "integrated_gradients_top_0.5_face"
    first = json.loads((out_dir / "A_s1.json").read_text())
    assert first["chunks"] == [1, 2]
    assert first["correlation_filter"]["strong_window_counts"] == rule    # how the counts were made
    assert json.loads((out_dir / "A_s2.json").read_text())["chunks"] == [0]
    # recounted strong windows select other chunks of s1: s1 is redone, s2 (same chunk) is not
    counts["A"]["s1"]["0"] = {"vocal": 8, "total": 8}
    aggregate.write_text(json.dumps(counts))
    calls.clear()
    assert _run(root, *top_half) == 0 and calls == ["A/s1"]
    assert json.loads((out_dir / "A_s1.json").read_text())["chunks"] == [0, 1]
    assert _run(root, "-a", "A", "--correlation-filter-bottom", "--correlation-filter-percentage",
                "0.2") == 0                                  # k = 1: chunk 1 of s2 (count 0)
    out_dir = root / "results" / "integrated_gradients_bottom_0.2_face"
    assert sorted(p.name for p in out_dir.glob("[!.]*.json")) == ["A_s2.json", "_average.json"]
    assert json.loads((out_dir / "A_s2.json").read_text())["chunks"] == [1]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "dataset_metadata.json").write_text(json.dumps({"A": {"s": SONG}}))
    result = run_cli("gradient_saliency.gradient_saliency", "--model", "body", "--checkpoint",
                     str(tmp_path / "nope.pt"), "--dataset_path", str(tmp_path))
    assert result.returncode == 2
    assert "nope.pt does not exist" in result.stderr


SHIPPED = REPO_ROOT / "separation" / "checkpoints" / "vocal_face_small.pt"


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED.exists(),
                    reason=f"shipped checkpoint {SHIPPED} not present (separation stage not trained yet)")
def test_cli_end_to_end_on_the_demo_data(posed_demo_dataset, tmp_path):
    """The real CLI with the shipped face checkpoint on one posed demo song (4 s = one chunk)."""
    results = tmp_path / "results"
    result = run_cli("gradient_saliency.integrated_gradients", "--model", "face", "--num_steps", "4",
                     "--dataset_path", str(posed_demo_dataset), "-a", "Demo Artist A",
                     "-s", "Varnam Śrī", "--device", "cpu", env={"RESULTS_PATH": str(results)})
    out_dir = results / "integrated_gradients_all_face"
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"saliency figures: {out_dir / 'figures'}" in result.stdout
    song = json.loads((out_dir / "Demo Artist A_Varnam Śrī.json").read_text())
    assert song["chunks"] == [0] and song["instrument"] == "vocal" and song["visual"] == "face"
    face = np.array(song["keypoint_importance"]["face"])
    assert face.shape == (68,) and np.all(np.isfinite(face)) and np.all(face >= 0) and face.max() > 0
    assert 0.0 < song["audio_share"] < 1.0
    assert set(song["part_importance"]["face"]) == {"jaw", "eyebrows", "nose", "eyes", "mouth"}
    # the reported delta is Captum's completeness error: sum of attributions - (f(x) - f(x')).
    # Its size depends on the steps (4 here: large; see song_saliency's docstring for 25 and 50).
    chunk = song["per_chunk"][0]
    gap = chunk["loss"] - chunk["baseline_loss"]
    assert abs(gap) > 0
    assert chunk["delta"] == pytest.approx(chunk["attribution_sum"] - gap, rel=1e-3, abs=1e-2)
    assert song["convergence_delta"]["max_abs"] == pytest.approx(abs(chunk["delta"]))
    average = json.loads((out_dir / "_average.json").read_text())
    assert average["n_chunks"] == 1 and average["songs"] == ["Demo Artist A/Varnam Śrī"]
    np.testing.assert_allclose(average["keypoint_importance"]["face"], face)
    for name in ("_average_skeleton.png", "_average_parts.png", "Demo Artist A_Varnam Śrī_parts.png"):
        assert (out_dir / "figures" / name).stat().st_size > 1000


def test_integration_step_options_exist_only_for_integrated_gradients():
    assert cli.build_parser("integrated_gradients").parse_args(
        ["--model", "face", "--num_steps", "7"]).num_steps == 7
    with pytest.raises(SystemExit):       # a one-pass gradient has no steps to set
        cli.build_parser("gradient_saliency").parse_args(["--model", "face", "--num_steps", "7"])


def test_run_prints_the_convergence_and_skips_failed_body_detection(toy_dataset, capsys):
    root, calls = toy_dataset
    metadata = json.loads((root / "dataset_metadata.json").read_text())
    metadata["A"]["s2"]["correct_body_detection"] = False
    (root / "dataset_metadata.json").write_text(json.dumps(metadata))
    assert _run(root, "-a", "A") == 0
    captured = capsys.readouterr()
    assert "A/s2" not in calls
    assert "skipped A/s2: correct_body_detection is false" in captured.err
    out_dir = root / "results" / "integrated_gradients_all_face"
    song = json.loads((out_dir / "A_s1.json").read_text())
    relative = song["convergence_delta"]["relative_per_chunk"]
    assert len(relative) == 3
    line = next(l for l in captured.out.splitlines() if "convergence over 3 chunk(s)" in l)
    assert f"median {np.median(relative):.4f}, max {max(relative):.4f}" in line
    assert song["coverage"] == {"face": 1.0} and song["include_incorrect_body_detection"] is False
    assert _run(root, "-a", "A", "--include-incorrect-body-detection") == 0
    assert "A/s2" in calls and (out_dir / "A_s2.json").exists()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_crafted_checkpoint_is_refused_by_name_and_never_runs(tmp_path, capsys, payload):
    """Issue 11: ``--checkpoint`` is a file a user can point at; a torch file with a code payload
    is refused in one line (exit 2) and its payload never runs."""
    marker = tmp_path / "payload_ran"
    crafted = tmp_path / "crafted.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "extra": payload(marker)}, crafted)
    (tmp_path / "dataset_metadata.json").write_text(json.dumps({"A": {"s": SONG}}))
    assert cli.main("integrated_gradients", ["--model", "face", "--checkpoint", str(crafted),
                                             "--dataset_path", str(tmp_path), "--device", "cpu"]) == 2
    assert not marker.exists()
    errors = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"{crafted} refused: it names " in errors[0]
    assert "weights_only" not in errors[0]
