"""GPU placement on a real Ray runtime: a two-node cluster on this machine whose second node
declares one GPU (``ray start --num-gpus 1``). This machine has no GPU, but Ray places tasks by
declared resources and hands the task the GPU's id exactly as on a GPU node, so what the project
decides (which tasks ask for a GPU, where Ray puts them, what ``--device auto`` means inside) is
checked for real; only the CUDA call at the end has no hardware to find."""
from __future__ import annotations

import os
import sys
from dataclasses import replace

import pytest

from core.metadata import SongInfo
from core.runner import Finished, TaskResources, run_per_song
from core.settings import Settings
from ray_cluster import RayCluster, connect

pytestmark = pytest.mark.slow

SONGS = [SongInfo("Artist", f"song {i}", ("vocal",), 30.0, 10.0) for i in range(3)]
TORCH_STAGE = TaskResources(cpus=1, gpus=1)          # as the torch stages declare it


@pytest.fixture(scope="module")
def cluster():
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with RayCluster(node_cpus=[1, 1], node_gpus=[0, 1]) as running:
        connect(running.address)
        yield running
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture
def settings(cluster, tmp_path) -> Settings:
    (tmp_path / "dataset_metadata.json").write_text("{}")
    return Settings(dataset_path=tmp_path, executor="ray", ray_address=cluster.address)


def gpu_node_id() -> str:
    import ray

    [node] = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU", 0) > 0]
    return node


def where_and_which_device(song: SongInfo):
    """The node the task ran on, the GPUs Ray gave it, and what ``--device auto`` resolved to."""
    import ray

    from core import device

    try:
        auto = str(device.resolve_device("auto"))
    except device.DeviceError as exc:            # auto chose the assigned GPU; no CUDA here
        auto = f"DeviceError: {exc}"
    return Finished((ray.get_runtime_context().get_node_id(),
                     [str(g) for g in ray.get_gpu_ids()], os.environ.get("CUDA_VISIBLE_DEVICES"),
                     auto))


@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_torch_tasks_run_on_the_gpu_node_with_the_gpu_ray_assigned(settings, device):
    """``--device cuda`` (and ``auto`` on a cluster that has a GPU) makes each song's task ask for
    one GPU: Ray runs every song on the node with the GPU (never on the CPU-only head), one at a
    time (the node has one), shows the task only that GPU, and ``--device auto`` inside the task
    means that GPU rather than the CPU."""
    summary = run_per_song("torch-like", SONGS, where_and_which_device, progress_bar=False,
                           settings=replace(settings, device=device), resources=TORCH_STAGE)
    assert summary.exit_code == 0 and len(summary.values) == len(SONGS)
    target = gpu_node_id()
    for node, gpus, visible, auto in summary.values.values():
        assert node == target
        assert gpus == ["0"] and visible == "0"
        assert auto.startswith("DeviceError: --device cuda asked for, but torch sees no CUDA GPU")


def test_cpu_device_asks_for_no_gpu_and_may_run_anywhere(settings):
    summary = run_per_song("torch-like", SONGS, where_and_which_device, progress_bar=False,
                           settings=replace(settings, device="cpu"), resources=TORCH_STAGE)
    assert summary.exit_code == 0
    for _, gpus, visible, auto in summary.values.values():
        assert gpus == [] and auto == "cpu"
        assert visible in (None, "")                 # Ray hides every GPU from a task without one
