"""The real stage CLIs with ``--executor ray`` against the serial executor, on the demo data.

One local 2-CPU Ray instance (``ray start --head``) serves the module; the CLIs join it through
``--ray-address``, except the crash test, whose CLI starts its own local instance (no address: the
default). Features must be byte-identical to a serial run; the separation model's output equal
within float tolerance (different torch thread counts sum in another order).
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import SETTING_VARIABLES, copy_tree, run_cli
from core.runner import RUN_SUMMARY_DIR, load_run_summaries
from core.settings import REPO_ROOT
from ray_cluster import RayCluster, worker_pids

pytestmark = pytest.mark.slow

FEATURES = ("feature_extraction.main", "--extract", "both", "--pca", "3", "--correlate")
KILLED = "Demo Artist A/Kriti Reversed"


@pytest.fixture(scope="module")
def cluster():
    with RayCluster(node_cpus=[2]) as running:
        yield running


@pytest.fixture(scope="module")
def serial_features(posed_demo_dataset, tmp_path_factory) -> tuple[Path, str]:
    root = copy_tree(posed_demo_dataset, tmp_path_factory.mktemp("serial") / "demo_data")
    result = run_cli(*FEATURES, "--dataset_path", str(root), check=True)
    return root, result.stderr


def summary_lines(stderr: str) -> list[str]:
    """The end-of-stage summary lines, without time stamps."""
    lines = [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in stderr.splitlines()]
    return [line for line in lines if re.search(r": \d+ done, |^\S+ \S+:   (skipped|FAILED) ", line)]


def outputs(root: Path) -> dict[str, bytes]:
    """Every feature and correlation file (JSON) of the dataset, by relative path (the run
    records, which carry the time they were written, are compared by ``run_records``)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.json"))
            if not p.name.startswith(".") and p.name != "dataset_metadata.json"
            and "demo_ground_truth" not in p.name and RUN_SUMMARY_DIR not in p.parts}


def run_records(root: Path) -> dict[str, dict]:
    """``<results>/run_summaries``: each stage's per-song outcomes, without their times."""
    return {stage: {key: {k: v for k, v in entry.items() if k != "finished_utc"}
                    for key, entry in songs.items()}
            for stage, songs in load_run_summaries(root / "results").items()}


def test_features_on_ray_are_byte_identical_to_serial(serial_features, posed_demo_dataset,
                                                      cluster, tmp_path):
    serial_root, serial_log = serial_features
    root = copy_tree(posed_demo_dataset, tmp_path / "demo_data")
    ray_args = ("--executor", "ray", "--ray-address", cluster.address)
    result = run_cli(*FEATURES, "--dataset_path", str(root), *ray_args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert summary_lines(result.stderr) == summary_lines(serial_log)
    assert "feature extraction: 3 done, 0 already up to date" in result.stderr
    expected = outputs(serial_root)
    assert len(expected) > 20 and outputs(root) == expected
    assert run_records(root) == run_records(serial_root) != {}
    # one progress line per song, naming the node (IP/node id) it ran on
    done_lines = re.findall(r"(Demo Artist \w/[^:]+): done \[on ([\d.]+/[0-9a-f]{8}), ", result.stderr)
    assert len(done_lines) == 3 + 2            # extraction (3 songs) + correlation (2)
    # a second run finds everything up to date, as the serial executor does
    again = run_cli(*FEATURES, "--dataset_path", str(root), *ray_args)
    serial_again = run_cli(*FEATURES, "--dataset_path", str(serial_root))
    assert again.returncode == serial_again.returncode == 0
    assert summary_lines(again.stderr) == summary_lines(serial_again.stderr)
    assert "feature extraction: 0 done, 3 already up to date" in again.stderr


def test_separation_on_ray_equals_serial_within_float_tolerance(posed_demo_dataset, cluster,
                                                                tmp_path):
    import soundfile as sf

    checkpoint = REPO_ROOT / "separation" / "checkpoints" / "vocal_face_small.pt"
    waves = {}
    for executor in ("serial", "ray"):
        root = copy_tree(posed_demo_dataset, tmp_path / executor / "demo_data")
        extra = ("--executor", "ray", "--ray-address", cluster.address) if executor == "ray" else ()
        result = run_cli("separation.main", "separate", "--dataset_path", str(root),
                         "--checkpoint", str(checkpoint), "--device", "auto", *extra)
        assert result.returncode == 0, result.stderr[-3000:]
        waves[executor] = {str(p.relative_to(root)): sf.read(p)[0]
                           for p in sorted(root.glob("*/*/vocal/separated_face_small.wav"))}
    assert len(waves["serial"]) == 2 and waves["ray"].keys() == waves["serial"].keys()
    for name, wave in waves["serial"].items():
        other = waves["ray"][name]
        assert other.shape == wave.shape and np.abs(wave).max() > 1e-3
        np.testing.assert_allclose(other, wave, rtol=0, atol=1e-5 * np.abs(wave).max())


def raylet_pids() -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return {int(line.split(None, 1)[0]) for line in out.splitlines() if "raylet/raylet " in line}


def test_worker_killed_mid_song_then_rerun_redoes_only_that_song(serial_features,
                                                                 posed_demo_dataset, cluster,
                                                                 tmp_path):
    import os

    serial_root, _ = serial_features
    root = copy_tree(posed_demo_dataset, tmp_path / "demo_data")
    env = {k: v for k, v in os.environ.items() if k not in SETTING_VARIABLES}
    env["PYTHONPATH"] = str(REPO_ROOT)
    raylets_before = raylet_pids()
    # no --ray-address: the CLI starts (and at exit stops) its own local Ray instance
    cli = subprocess.Popen([sys.executable, "-m", *FEATURES, "--dataset_path", str(root),
                            "--executor", "ray"], cwd=tmp_path, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed = []
    deadline = time.monotonic() + 600
    while not killed and cli.poll() is None and time.monotonic() < deadline:
        for pid in worker_pids(f"feature extraction {KILLED}"):
            os.kill(pid, signal.SIGKILL)          # the Ray worker running that song, mid-song
            killed.append(pid)
        time.sleep(0.02)
    _, stderr = cli.communicate(timeout=600)
    assert killed, f"never saw the task of {KILLED} running:\n{stderr[-3000:]}"
    assert cli.returncode == 1, stderr[-3000:]
    assert re.search(rf"FAILED  {KILLED}: Ray task did not finish \(\w+", stderr), stderr[-3000:]
    assert "feature extraction: 2 done, 0 already up to date (use -f to redo), 1 skipped, 1 failed" \
        in stderr
    assert not raylet_pids() - raylets_before, "the CLI's own Ray instance outlived it"
    # every per-song file that exists is complete (atomic writes): equal to the serial output; the
    # aggregate holds the songs that were correlated
    expected = outputs(serial_root)
    written = {name: data for name, data in outputs(root).items() if name.startswith("Demo")}
    assert written and all(data == expected[name] for name, data in written.items())
    assert not any(name.startswith(KILLED) and "correlation" in name for name in written)
    # rerun: only the killed song is redone (extraction, and its correlation that never ran)
    rerun = run_cli(*FEATURES, "--dataset_path", str(root), "--executor", "ray",
                    "--ray-address", cluster.address)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    redone = re.findall(r"(Demo Artist \w/[^:]+): done \[on ", rerun.stderr)
    assert set(redone) <= {KILLED} and "correlation: 1 done, 1 already up to date" in rerun.stderr
    assert re.search(r"feature extraction: [01] done, [23] already up to date", rerun.stderr)
    assert outputs(root) == expected
