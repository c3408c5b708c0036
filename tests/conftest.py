"""Shared fixtures: small demo datasets generated once per test session.

``demo_dataset``       a short demo dataset (every song cut to DEMO_TEST_SECONDS) from the real
                       generator, no pose yet.
``posed_demo_dataset`` a copy of it after the real pose stage (MediaPipe) and post-processing, run
                       through the CLI exactly as a user would.
Tests must not modify these trees; copy what they change (``copy_tree``).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from core.settings import ENV_NAMES, REPO_ROOT

# Every variable the settings read: tests must not see the developer's shell or .env values.
SETTING_VARIABLES = {name for names in ENV_NAMES.values() for name in names}
DEMO_TEST_SECONDS = 4.0

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, check: bool = False,
            timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``python -m <module> args...`` with this interpreter, capturing output.

    Settings come only from ``env`` and the arguments: the shell's setting variables are dropped
    and the command runs outside the repository (default: the temp folder) so that no ``.env`` is
    found; the repository is put on PYTHONPATH instead.
    """
    full_env = {k: v for k, v in os.environ.items() if k not in SETTING_VARIABLES}
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    full_env.update(env or {})
    cwd = Path(tempfile.gettempdir()) if cwd is None else cwd
    result = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=full_env, text=True,
                            capture_output=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}")
    return result


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch):
    """In-process code sees no setting from the shell or from a developer's ``.env``."""
    import core.settings

    for name in SETTING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(core.settings, "find_dotenv", lambda *a, **k: "")


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory) -> Path:
    from demo_generator.concerts import generate_demo

    out = tmp_path_factory.mktemp("demo") / "demo_data"
    generate_demo(out, seconds=DEMO_TEST_SECONDS)
    return out


@pytest.fixture(scope="session")
def posed_demo_dataset(demo_dataset, tmp_path_factory) -> Path:
    out = copy_tree(demo_dataset, tmp_path_factory.mktemp("posed") / "demo_data")
    # skipped songs (null fps, moving camera) are not failures: the CLI must exit 0 on the demo
    run_cli("pose_estimation.main", "--pose", "--post", "--dataset_path", str(out), check=True)
    return out


def load_script(path: Path):
    """Import a script that is not a package module (e.g. ``benchmarks/<name>.py``) from its path,
    so tests can call the functions that render its figures into the README."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
