"""``core.runner.run_per_song`` with ``executor="ray"`` on a real Ray runtime: one local 2-CPU
instance (``ray start --head``) for the whole module, this process connected to it as a driver.

The per-song functions here are small constructed ones, so that each outcome (done, up to date,
skipped, failed, a value handed back) is known; the real stages are in test_ray_pipeline.py.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.metadata import SongInfo
from core.runner import UP_TO_DATE, Finished, SongSkipped, TaskResources, run_per_song
from core.settings import REPO_ROOT, Settings
from ray_cluster import connected_cluster

pytestmark = pytest.mark.slow

SONGS = [SongInfo("Artist", name, ("vocal", "violin"), 30.0, 10.0)
         for name in ("done", "fresh", "pan", "broken", "valued", "Śrī song")]


@pytest.fixture(scope="module")
def cluster():
    with connected_cluster(__name__, node_cpus=[2]) as running:
        yield running


@pytest.fixture
def ray_settings(cluster, tmp_path) -> Settings:
    (tmp_path / "dataset_metadata.json").write_text("{}")
    return Settings(dataset_path=tmp_path, executor="ray", ray_address=cluster.address)


def mixed_work(song: SongInfo):
    """Every outcome the runner knows, keyed by the song name; logs where it ran."""
    logging.getLogger("stage.work").info("working on %s in pid %d", song.key, os.getpid())
    if song.song == "fresh":
        return UP_TO_DATE
    if song.song == "pan":
        raise SongSkipped("moving camera")
    if song.song == "broken":
        raise FileNotFoundError("video.mov missing")
    if song.song == "valued":
        return Finished({"rows": [1, 2, 3]})
    if song.song == "Śrī song":
        return Finished("kept", up_to_date=True)
    return None


def test_ray_summary_values_and_exit_code_equal_serial(ray_settings, caplog):
    received = []
    with caplog.at_level(logging.INFO):
        serial = run_per_song("stage", SONGS, mixed_work, progress_bar=False)
        caplog.clear()
        on_ray = run_per_song("stage", SONGS, mixed_work, progress_bar=False,
                              settings=ray_settings,
                              on_result=lambda song, value: received.append((song.key, value)))
    for name in ("done", "up_to_date", "skipped", "failed", "values"):
        assert getattr(on_ray, name) == getattr(serial, name), name
    assert serial.failed == ["Artist/broken: FileNotFoundError: video.mov missing"]
    assert on_ray.exit_code == serial.exit_code == 1
    assert list(on_ray.values) == ["Artist/valued", "Artist/Śrī song"]      # song order
    assert sorted(received) == sorted(on_ray.values.items())
    # the work's own log lines come back from the workers (other processes), and every per-song
    # line names the node it ran on
    pids = {int(r.getMessage().rsplit(" ", 1)[1]) for r in caplog.records
            if r.name == "stage.work"}
    assert len(pids) >= 1 and os.getpid() not in pids
    node_lines = [r.getMessage() for r in caplog.records if "[on " in r.getMessage()]
    assert len(node_lines) == len(SONGS)
    assert all(line.split("[on ")[1].split("/")[0].count(".") == 3 for line in node_lines)


def wait_for_marker(song: SongInfo, marker: Path):
    """The first song waits until the stage's process has seen the second one finish."""
    if song.song == "done":
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return Finished(marker.exists())
    return Finished(True)


def test_one_progress_bar_over_the_songs_advances_as_tasks_finish(ray_settings, monkeypatch,
                                                                   tmp_path):
    import core.log

    bars, ticks = [], []

    def recording_bar(iterable, desc, total=None, unit="it", leave=False):
        bars.append((desc, total, unit))
        for item in iterable:
            ticks.append(desc)
            yield item

    monkeypatch.setattr(core.log, "progress", recording_bar)
    marker = tmp_path / "second song finished"
    seen_at_marker = []

    def on_result(song, value):
        if song.song == "fresh":            # the second song, done while the first still waits
            seen_at_marker.append(len(ticks))
            marker.touch()

    summary = run_per_song("bar", SONGS[:2], lambda song: wait_for_marker(song, marker),
                           settings=ray_settings, on_result=on_result)
    # the first song (in song order) returned True: it finished only after the bar had advanced
    # past the second, i.e. the bar follows tasks as they finish, not the song order
    assert summary.values == {"Artist/done": True, "Artist/fresh": True}
    assert bars == [("bar", 2, "song")] and len(ticks) == 2
    assert seen_at_marker == [1]


def modules_of_a_spawned_child(song: SongInfo, report: Path):
    """Start a process as pose's MediaPipe pool does (multiprocessing, "spawn") and return
    whether that child had Ray imported."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    child = context.Process(target=exec, args=(
        f"import sys; open({str(report)!r}, 'w').write(str('ray' in sys.modules))",))
    child.start()
    child.join(120)
    return Finished(report.read_text())


def test_processes_spawned_by_a_song_do_not_import_ray(ray_settings, tmp_path):
    # multiprocessing's spawn imports the parent's __main__ in the child: in a Ray worker that is
    # Ray's default_worker.py, which imports Ray (a CPU second for each MediaPipe worker)
    summary = run_per_song("spawn", SONGS[:1],
                           lambda song: modules_of_a_spawned_child(song, tmp_path / "report"),
                           progress_bar=False, settings=ray_settings)
    assert summary.values == {"Artist/done": "False"}


def report_threads(song: SongInfo):
    import numpy as np  # noqa: F401 -- loads OpenBLAS, which reads OMP_NUM_THREADS at load time
    import torch
    from threadpoolctl import threadpool_info

    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return Finished((os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads(), blas))


def test_task_threads_follow_the_cpus_the_task_reserved(ray_settings):
    # the node was started with OMP_NUM_THREADS=2 (ray_cluster.py): a 1-CPU task must still run
    # torch and BLAS on one thread
    summary = run_per_song("threads", SONGS[:1], report_threads, progress_bar=False,
                           settings=ray_settings, resources=TaskResources(cpus=1))
    omp, torch_threads, blas = summary.values["Artist/done"]
    assert (omp, torch_threads) == ("1", 1)
    assert blas and set(blas) == {1}


def test_resources_lowered_to_the_largest_node_or_refused(ray_settings, caplog):
    with caplog.at_level(logging.INFO):
        summary = run_per_song("pose-like", SONGS[:1], lambda song: None, progress_bar=False,
                               settings=ray_settings, resources=TaskResources(cpus=3))
    assert summary.done == ["Artist/done"]
    assert "each task asks for 2" in caplog.text
    refused = run_per_song("stage", SONGS[:1], lambda song: None, progress_bar=False,
                           settings=replace(ray_settings, task_cpus=3.0))
    assert refused.exit_code == 2 and refused.done == []
    assert "TASK_CPUS=3: no Ray node has 3 CPUs (the largest has 2)" in refused.not_run
    no_gpu = run_per_song("torch-like", SONGS[:1], lambda song: None, progress_bar=False,
                          settings=replace(ray_settings, device="cuda"),
                          resources=TaskResources(cpus=1, gpus=1))
    assert no_gpu.exit_code == 2 and "no Ray node has a GPU" in no_gpu.not_run
    # --device auto on a cluster without GPUs asks for none, and runs
    auto = run_per_song("torch-like", SONGS[:1], lambda song: None, progress_bar=False,
                        settings=ray_settings, resources=TaskResources(cpus=1, gpus=1))
    assert auto.done == ["Artist/done"]


def test_memory_hint_grows_with_song_length(cluster, ray_settings):
    from core.ray_executor import task_nodes, task_options

    long_song = replace(SONGS[0], duration=2 * 3600.0)
    resources = TaskResources(cpus=1, memory_base_gib=0.5, memory_gib_per_hour=2.5)
    options = task_options("features", [SONGS[0], long_song], resources, ray_settings, task_nodes())
    assert options[0]["memory"] == int((0.5 + 2.5 * 10 / 3600) * 2**30)
    assert options[1]["memory"] == int(5.5 * 2**30)
    assert options[1]["runtime_env"]["env_vars"]["OMP_NUM_THREADS"] == "1"
    fixed = task_options("features", [long_song], resources,
                         replace(ray_settings, task_memory=2**30), task_nodes())
    assert fixed[0]["memory"] == 2**30
    too_much = run_per_song("features", [long_song], lambda song: None, progress_bar=False,
                            settings=replace(ray_settings, task_memory=2**50))
    assert too_much.exit_code == 2 and "TASK_MEMORY=1048576.0 GiB: no Ray node" in too_much.not_run


def test_a_dataset_path_that_no_node_sees_is_a_named_error(ray_settings, tmp_path):
    summary = run_per_song("stage", SONGS[:1], lambda song: None, progress_bar=False,
                           settings=replace(ray_settings, dataset_path=tmp_path / "absent"))
    assert summary.exit_code == 2 and summary.done == []
    assert summary.not_run.startswith("DatasetNotVisibleError: ")
    assert f"cannot see DATASET_PATH={tmp_path / 'absent'}" in summary.not_run


def gpu_device_of_task(song: SongInfo):
    from core.device import DeviceError, resolve_device

    try:
        cuda = str(resolve_device("cuda:1"))
    except DeviceError as exc:
        cuda = str(exc)
    return Finished((str(resolve_device("auto")), cuda))


def test_device_inside_a_task_is_what_ray_assigned(ray_settings):
    summary = run_per_song("torch-like", SONGS[:1], gpu_device_of_task, progress_bar=False,
                           settings=ray_settings, resources=TaskResources(cpus=1, gpus=1))
    auto, cuda = summary.values["Artist/done"]
    assert auto == "cpu"
    assert "this Ray task was given no GPU" in cuda


def test_serial_path_never_imports_ray(tmp_path):
    script = ("import sys\n"
              "from core.runner import run_per_song\n"
              "from core.metadata import SongInfo\n"
              "from core.settings import load_settings\n"
              "import pose_estimation.main, feature_extraction.main, visualization.main\n"
              "import separation.commands, gradient_saliency.pipeline, attention_analysis.pipeline\n"
              "s = run_per_song('x', [SongInfo('A', 'b', None, None, None)], lambda song: None,\n"
              "                 settings=load_settings(environ={}), progress_bar=False)\n"
              "assert s.done == ['A/b'], s\n"
              "print('ray' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, text=True,
                            capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"
