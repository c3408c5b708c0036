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
