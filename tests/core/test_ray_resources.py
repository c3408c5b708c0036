"""What each stage asks a Ray cluster for, and that every per-song stage takes the executor flags.

``core.ray_executor.task_options`` is a pure function of the stage's declared ``TaskResources``,
the settings and the cluster's nodes (``ray.nodes()`` records), so the GPU cases are checked here
on constructed node records: this machine has no GPU for a real Ray runtime to place tasks on.
"""
from __future__ import annotations

import importlib
from dataclasses import replace

import pytest

from core.metadata import SongInfo
from core.settings import Settings, settings_from_args

GIB = 2 ** 30
SONG = SongInfo("Artist", "Song", ("vocal", "violin"), 30.0, 3600.0)     # a one-hour song


def node(cpus: float, gpus: float = 0.0, memory_gib: float = 16.0) -> dict:
    """A ``ray.nodes()`` record, as far as ``task_options`` reads it."""
    resources = {"CPU": cpus, "memory": memory_gib * GIB}
    if gpus:
        resources["GPU"] = gpus
    return {"NodeID": "0" * 56, "Alive": True, "Resources": resources}


def options(stage_resources, settings=Settings(), nodes=(node(16, 1, 64), node(2))) -> dict:
    from core.ray_executor import task_options

    (option,) = task_options("stage", [SONG], stage_resources, settings, list(nodes))
    return option


# (module, build_parser arguments, a valid command line of that stage)
STAGE_CLIS = [
    ("pose_estimation.main", (), ["--pose", "--post"]),
    ("feature_extraction.main", (), ["--extract", "both", "--correlate"]),
    ("visualization.main", (), ["--add_audio"]),
    ("separation.main", (), ["separate", "--checkpoint", "model.pt"]),
    ("separation.main", (), ["evaluate", "--checkpoint", "model.pt"]),
    ("gradient_saliency.cli", ("integrated_gradients",), ["--model", "face_body"]),
    ("attention_analysis.attention_analysis", (), ["--model", "vocal"]),
]


@pytest.mark.parametrize("module, parser_args, argv", STAGE_CLIS,
                         ids=[f"{m}:{a[0]}" for m, _, a in STAGE_CLIS])
def test_every_per_song_stage_takes_the_executor_flags(module, parser_args, argv):
    parser = importlib.import_module(module).build_parser(*parser_args)
    default = settings_from_args(parser.parse_args(argv))
    assert (default.executor, default.ray_address) == ("serial", None)
    chosen = settings_from_args(parser.parse_args(
        [*argv, "--executor", "ray", "--ray-address", "10.0.0.1:6379", "--task-cpus", "2"]))
    assert (chosen.executor, chosen.ray_address, chosen.task_cpus) == ("ray", "10.0.0.1:6379", 2.0)


def test_pose_asks_one_cpu_per_mediapipe_worker_and_a_gpu_for_model_backends():
    from pose_estimation.stage import pose_task

    mediapipe = options(pose_task("mediapipe", 3))
    assert (mediapipe["num_cpus"], mediapipe["num_gpus"]) == (3, 0.0)
    assert mediapipe["runtime_env"]["env_vars"]["OMP_NUM_THREADS"] == "3"
    assert options(pose_task("mediapipe", 0))["num_cpus"] == 1       # 0 workers: in-process
    # a 2-core cluster: lowered to what its largest node has
    assert options(pose_task("mediapipe", 3), nodes=[node(2), node(2)])["num_cpus"] == 2
    for device, gpus in (("cuda", 1), ("cuda:0", 1), ("auto", 1), ("cpu", 0)):
        mmpose = options(pose_task("mmpose", 3), replace(Settings(), device=device))
        assert (mmpose["num_cpus"], mmpose["num_gpus"]) == (1, gpus), device
    # auto on a cluster without GPUs runs on CPUs, and asks for no GPU
    assert options(pose_task("rtmlib", 3), nodes=[node(4)])["num_gpus"] == 0


@pytest.mark.parametrize("module, name", [("separation.commands", "SEPARATION_TASK"),
                                          ("gradient_saliency.pipeline", "SALIENCY_TASK"),
                                          ("attention_analysis.pipeline", "ATTENTION_TASK")])
def test_torch_stages_ask_for_a_gpu_only_when_the_device_wants_one(module, name):
    from core.ray_executor import ExecutorSetupError

    declared = getattr(importlib.import_module(module), name)
    assert options(declared, replace(Settings(), device="cuda"))["num_gpus"] == 1
    assert options(declared, replace(Settings(), device="cpu"))["num_gpus"] == 0
    assert options(declared, replace(Settings(), device="auto"))["num_gpus"] == 1
    assert options(declared, replace(Settings(), device="auto"), nodes=[node(2)])["num_gpus"] == 0
    assert options(declared, replace(Settings(), device="cuda", task_gpus=0.5))["num_gpus"] == 0.5
    with pytest.raises(ExecutorSetupError, match="no Ray node has a GPU"):
        options(declared, replace(Settings(), device="cuda"), nodes=[node(2)])


def test_features_reserve_memory_by_song_length_and_the_stages_one_cpu():
    from feature_extraction.main import CORRELATION_TASK, extraction_task
    from pose_estimation.stage import POST_TASK
    from visualization.render import RENDER_TASK

    # 0.5 GiB + 2.5 GiB per hour of song: 3 GiB for the one-hour song
    assert options(extraction_task(1))["memory"] == 3 * GIB
    assert options(extraction_task(2))["num_cpus"] == 2
    assert options(extraction_task(1), replace(Settings(), task_memory=GIB))["memory"] == GIB
    # more than the largest node has: lowered to that node's memory
    assert options(extraction_task(1), nodes=[node(2, memory_gib=2)])["memory"] == 2 * GIB
    for declared in (CORRELATION_TASK, POST_TASK, RENDER_TASK):
        option = options(declared)
        assert (option["num_cpus"], option["num_gpus"], "memory" in option) == (1, 0.0, False)
        assert option["runtime_env"]["env_vars"]["OMP_NUM_THREADS"] == "1"
