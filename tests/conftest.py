"""Shared fixtures: small demo datasets generated once per test session.

``demo_dataset``       a short demo dataset (every song cut to DEMO_TEST_SECONDS) from the real
                       generator, no pose yet.
``posed_demo_dataset`` a copy of it after the real pose stage (MediaPipe) and post-processing, run
                       through the CLI exactly as a user would.
Tests must not modify these trees; copy what they change (``copy_tree``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_TEST_SECONDS = 4.0

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


def run_cli(*args: str, cwd: Path = REPO_ROOT, env: dict | None = None, check: bool = False,
            timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``python -m <module> args...`` with this interpreter, capturing output."""
    full_env = {k: v for k, v in os.environ.items() if k != "DATASET_PATH"}  # no stray .env/shell value
    full_env.update(env or {})
    result = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=full_env, text=True,
                            capture_output=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}")
    return result


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory) -> Path:
    from dataset_analysis.demo import generate_demo

    out = tmp_path_factory.mktemp("demo") / "demo_data"
    generate_demo(out, seconds=DEMO_TEST_SECONDS)
    return out


@pytest.fixture(scope="session")
def posed_demo_dataset(demo_dataset, tmp_path_factory) -> Path:
    out = copy_tree(demo_dataset, tmp_path_factory.mktemp("posed") / "demo_data")
    # skipped songs (null fps, moving camera) are not failures: the CLI must exit 0 on the demo
    run_cli("pose_estimation.main", "--pose", "--post", "--dataset_path", str(out), check=True)
    return out
