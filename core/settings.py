"""Settings: ``.env`` (python-dotenv) < process environment < command-line flags.

Every setting has one environment variable; a few also accept the names used by the published
scripts (``CONFIG_FILE``/``CHECKPOINT_FILE``). ``Settings.require`` turns a missing value into an
error that names the variable and the line of ``.env.example`` to copy.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from dotenv import dotenv_values, find_dotenv

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DEFAULT_METADATA_NAME = "dataset_metadata.json"
REFERENCE_METADATA = REPO_ROOT / "dataset_analysis" / "dataset_metadata.json"
POSE_BACKENDS = ("mediapipe", "mmpose", "rtmlib")
EXECUTORS = ("serial", "ray")


class SettingsError(RuntimeError):
    """A required setting is missing or invalid."""


# field name -> environment variable names, first one preferred
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "dataset_path": ("DATASET_PATH",),
    "instruments": ("INSTRUMENTS",),
    "pose_backend": ("POSE_BACKEND",),
    "mmpose_config": ("MMPOSE_CONFIG", "CONFIG_FILE"),
    "mmpose_checkpoint": ("MMPOSE_CHECKPOINT", "CHECKPOINT_FILE"),
    "detector_config": ("DETECTOR_CONFIG", "DET_CONFIG_FILE"),
    "detector_checkpoint": ("DETECTOR_CHECKPOINT", "DET_CHECKPOINT_FILE"),
    "rtmlib_det_onnx": ("RTMLIB_DET_ONNX",),
    "rtmlib_pose_onnx": ("RTMLIB_POSE_ONNX",),
    "device": ("DEVICE",),
    "results_path": ("RESULTS_PATH",),
    "executor": ("EXECUTOR",),
    "ray_address": ("RAY_ADDRESS",),
    "task_cpus": ("TASK_CPUS",),
    "task_gpus": ("TASK_GPUS",),
    "task_memory": ("TASK_MEMORY",),
}


@dataclass(frozen=True)
class Settings:
    dataset_path: Path | None = None
    instruments: tuple[str, ...] | None = None   # expected layout instruments; None = trust metadata
    pose_backend: str = "mediapipe"
    mmpose_config: str | None = None
    mmpose_checkpoint: str | None = None
    detector_config: str | None = None
    detector_checkpoint: str | None = None
    rtmlib_det_onnx: str | None = None
    rtmlib_pose_onnx: str | None = None
    device: str = "auto"
    results_path: Path | None = None
    executor: str = "serial"                     # serial | ray (core.runner)
    ray_address: str | None = None               # None = start a local Ray instance
    task_cpus: float | None = None               # Ray task resources; None = the stage's own
    task_gpus: float | None = None
    task_memory: int | None = None               # bytes
    sources: dict = field(default_factory=dict, compare=False, repr=False)  # field -> where from

    def require(self, name: str):
        """Return setting ``name`` or raise a ``SettingsError`` that says how to set it."""
        value = getattr(self, name)
        if value in (None, "", ()):
            raise SettingsError(missing_setting_message(name))
        return value

    @property
    def metadata_path(self) -> Path:
        return Path(self.require("dataset_path")) / DEFAULT_METADATA_NAME

    @property
    def results_dir(self) -> Path:
        """Where dataset-level results go: RESULTS_PATH, else ``<DATASET_PATH>/results``."""
        if self.results_path is not None:
            return Path(self.results_path)
        return Path(self.require("dataset_path")) / "results"


def missing_setting_message(name: str) -> str:
    env_names = ENV_NAMES[name]
    hint = ""
    if ENV_EXAMPLE.exists():
        for number, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), start=1):
            if line.lstrip("# ").startswith(env_names[0] + "="):
                hint = f" (see {ENV_EXAMPLE.name} line {number}: {line.strip()!r})"
                break
    also = f" (or {', '.join(env_names[1:])})" if len(env_names) > 1 else ""
    return (f"setting {env_names[0]}{also} is not set: put it in .env{hint}, export it, "
            f"or pass the matching command-line flag")


def _parse(name: str, raw: str):
    raw = raw.strip()
    if raw == "":
        return None
    if name in ("dataset_path", "results_path"):
        return Path(raw).expanduser()
    if name == "instruments":
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if name == "pose_backend" and raw not in POSE_BACKENDS:
        raise SettingsError(f"POSE_BACKEND={raw!r} is not one of {', '.join(POSE_BACKENDS)}")
    if name == "executor" and raw not in EXECUTORS:
        raise SettingsError(f"EXECUTOR={raw!r} is not one of {', '.join(EXECUTORS)}")
    if name in ("task_cpus", "task_gpus"):
        return _non_negative_number(ENV_NAMES[name][0], raw)
    if name == "task_memory":
        return parse_bytes(raw)
    return raw


def _non_negative_number(variable: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{variable}={raw!r} is not a number") from None
    if not value >= 0:
        raise SettingsError(f"{variable}={raw!r} must be ≥ 0")
    return value


_BYTE_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(raw: str) -> int:
    """``"4G"``, ``"512M"``, ``"1.5G"``, ``"1000000"`` → bytes (binary units: 1G = 2**30)."""
    text = str(raw).strip().upper().removesuffix("IB").removesuffix("B")
    unit = text[-1:] if text[-1:] in _BYTE_UNITS and text[-1:] != "" else ""
    number = text[:-1] if unit else text
    try:
        value = float(number) * _BYTE_UNITS[unit]
    except ValueError:
        raise SettingsError(f"TASK_MEMORY={raw!r} is not a size like 4G, 512M or 1000000") from None
    if value <= 0:
        raise SettingsError(f"TASK_MEMORY={raw!r} must be > 0")
    return int(value)


def load_settings(env_file: str | os.PathLike | None = None, environ: dict | None = None,
                  **overrides) -> Settings:
    """Build settings from the ``.env`` file, then the environment, then ``overrides``.

    ``env_file`` defaults to the nearest ``.env`` found from the working directory upwards.
    Overrides whose value is None are ignored, so argparse defaults of None never hide a setting.
    """
    environ = os.environ if environ is None else environ
    if env_file is None:
        env_file = find_dotenv(usecwd=True) or None
    file_values = dotenv_values(env_file) if env_file and Path(env_file).exists() else {}
    values: dict = {}
    sources: dict = {}
    for f in fields(Settings):
        if f.name == "sources":
            continue
        for source_name, mapping in (("env file", file_values), ("environment", environ)):
            for env_name in ENV_NAMES[f.name]:
                if mapping.get(env_name) not in (None, ""):
                    values[f.name] = _parse(f.name, mapping[env_name])
                    sources[f.name] = f"{source_name} {env_name}"
                    break
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in ENV_NAMES:
            raise TypeError(f"unknown setting {name!r}")
        values[name] = _parse(name, value) if isinstance(value, str) else value
        sources[name] = "command line"
    return replace(Settings(), **values, sources=sources)


def add_common_args(parser: argparse.ArgumentParser, songs: bool = True,
                    executor: bool | None = None) -> argparse.ArgumentParser:
    """Flags every stage shares: dataset path, song filters, --force, --device, --verbose, and for
    per-song stages (``executor``, default: ``songs``) the executor flags (``add_executor_args``)."""
    parser.add_argument("--dataset_path", "--dataset-path", dest="dataset_path", default=None,
                        help="dataset root (default: DATASET_PATH from .env or the environment)")
    if songs:
        parser.add_argument("-a", "--artist", default=None, help="process only this artist")
        parser.add_argument("-s", "--song", default=None, help="process only this song")
        parser.add_argument("-f", "--force", action="store_true",
                            help="recompute up-to-date outputs (default: skip work already made "
                                 "from the inputs and settings as they are now)")
    parser.add_argument("--device", default=None,
                        help="auto | cpu | cuda | cuda:N (default: DEVICE setting, else auto)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    if songs if executor is None else executor:
        add_executor_args(parser)
    return parser


def add_executor_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--executor serial|ray``, ``--ray-address`` and the per-task resource overrides."""
    group = parser.add_argument_group(
        "executor", "how the songs are run: one after another here (serial), or as Ray tasks on a "
                    "local Ray instance or a cluster; results are the same (README, 'Running on a "
                    "cluster')")
    group.add_argument("--executor", choices=EXECUTORS, default=None,
                       help="serial (default: EXECUTOR setting, else serial) or ray")
    group.add_argument("--ray-address", "--ray_address", dest="ray_address", default=None,
                       help="Ray cluster to use, e.g. HEAD_IP:6379 (default: RAY_ADDRESS setting; "
                            "none = start a local Ray instance with this machine's cores)")
    group.add_argument("--task-cpus", "--task_cpus", dest="task_cpus", default=None,
                       help="CPUs each song's Ray task asks for (default: TASK_CPUS, else the "
                            "stage's own figure, e.g. one per MediaPipe worker for pose)")
    group.add_argument("--task-gpus", "--task_gpus", dest="task_gpus", default=None,
                       help="GPUs each song's Ray task asks for, may be fractional (default: "
                            "TASK_GPUS, else 1 for torch stages when --device asks for CUDA)")
    group.add_argument("--task-memory", "--task_memory", dest="task_memory", default=None,
                       help="memory each song's Ray task reserves, e.g. 6G (default: TASK_MEMORY, "
                            "else the stage's estimate from the song's duration)")
    return parser


def add_body_detection_arg(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--include-incorrect-body-detection`` for the stages that analyse motion or pose (the rule:
    ``core.metadata.body_detection_skip``)."""
    from .metadata import INCLUDE_BAD_BODY_FLAG

    parser.add_argument(INCLUDE_BAD_BODY_FLAG, INCLUDE_BAD_BODY_FLAG.replace("-", "_").replace(
                            "__", "--", 1), dest="include_incorrect_body_detection",
                        action="store_true",
                        help="also use songs whose metadata says correct_body_detection: false "
                             "(pose estimation failed there; the published work left them out of "
                             "motion analysis, and so does this stage by default)")
    return parser


def settings_from_args(args: argparse.Namespace, **extra) -> Settings:
    """Settings with the common CLI flags (and ``extra`` overrides) applied on top."""
    executor_flags = {name: getattr(args, name, None)
                      for name in ("executor", "ray_address", "task_cpus", "task_gpus",
                                   "task_memory")}
    return load_settings(dataset_path=getattr(args, "dataset_path", None),
                         device=getattr(args, "device", None), **executor_flags, **extra)
