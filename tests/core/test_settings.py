from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings


def test_precedence_file_then_environment_then_flags(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DATASET_PATH=/from/file\nPOSE_BACKEND=mmpose\nDEVICE=cpu\n")
    settings = load_settings(env_file, environ={"DATASET_PATH": "/from/env"}, device="cuda:1")
    assert settings.dataset_path == Path("/from/env")
    assert settings.pose_backend == "mmpose"
    assert settings.device == "cuda:1"
    assert settings.sources["device"] == "command line"


def test_published_names_are_accepted(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("CONFIG_FILE=cfg.py\nCHECKPOINT_FILE=w.pth\nINSTRUMENTS=vocal, violin\n")
    settings = load_settings(env_file, environ={})
    assert settings.mmpose_config == "cfg.py" and settings.mmpose_checkpoint == "w.pth"
    assert settings.instruments == ("vocal", "violin")


def test_missing_required_setting_names_variable_and_example_line(tmp_path):
    settings = load_settings(tmp_path / "absent.env", environ={})
    with pytest.raises(SettingsError) as err:
        settings.require("mmpose_checkpoint")
    message = str(err.value)
    assert "MMPOSE_CHECKPOINT" in message and "CHECKPOINT_FILE" in message
    assert ".env.example line" in message


def test_unknown_backend_is_rejected(tmp_path):
    with pytest.raises(SettingsError, match="POSE_BACKEND"):
        load_settings(tmp_path / "absent.env", environ={"POSE_BACKEND": "openpose"})


def test_executor_settings_parse_and_bad_values_are_named(tmp_path):
    absent = tmp_path / "absent.env"
    assert load_settings(absent, environ={}).executor == "serial"
    settings = load_settings(absent, environ={"EXECUTOR": "ray", "RAY_ADDRESS": "10.0.0.1:6379",
                                              "TASK_CPUS": "2", "TASK_GPUS": "0.5",
                                              "TASK_MEMORY": "1.5G"})
    assert (settings.executor, settings.ray_address, settings.task_cpus, settings.task_gpus,
            settings.task_memory) == ("ray", "10.0.0.1:6379", 2.0, 0.5, int(1.5 * 2**30))
    for environ, message in (({"EXECUTOR": "dask"}, "EXECUTOR='dask' is not one of serial, ray"),
                             ({"TASK_CPUS": "-1"}, "TASK_CPUS='-1' must be ≥ 0"),
                             ({"TASK_GPUS": "one"}, "TASK_GPUS='one' is not a number"),
                             ({"TASK_MEMORY": "lots"}, "TASK_MEMORY='lots' is not a size")):
        with pytest.raises(SettingsError, match=message):
            load_settings(absent, environ=environ)


def test_executor_flags_override_the_environment(monkeypatch):
    import argparse

    from core.settings import add_common_args, settings_from_args

    monkeypatch.setenv("EXECUTOR", "serial")
    args = add_common_args(argparse.ArgumentParser()).parse_args(
        ["--executor", "ray", "--ray-address", "head:6379", "--task-cpus", "3",
         "--task-memory", "512M"])
    settings = settings_from_args(args)
    assert (settings.executor, settings.ray_address, settings.task_cpus, settings.task_memory) == \
        ("ray", "head:6379", 3.0, 512 * 2**20)
    assert settings.sources["executor"] == "command line"
    no_executor = add_common_args(argparse.ArgumentParser(), executor=False)
    assert "executor" not in vars(no_executor.parse_args([]))


def test_device_in_a_ray_task_is_the_assigned_gpu_or_a_named_error(monkeypatch):
    import torch

    import core.device
    from core.device import DeviceError, resolve_device, wants_gpu

    monkeypatch.setattr(core.device, "task_gpu_ids", [])          # a task Ray gave no GPU
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="this Ray task was given no GPU"):
        resolve_device("cuda:1")
    assert wants_gpu("cuda:1", cluster_has_gpu=False) and not wants_gpu("cpu", True)
    assert wants_gpu("auto", True) and not wants_gpu("auto", False)
