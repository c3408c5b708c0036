"""MediaPipe workers never outlive the pose stage (issue 11, cause 4): whatever kills the parent,
SIGKILL included, no worker (~335 MB each) is left running 10 s later."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.settings import REPO_ROOT

# A pose-stage stand-in: real Holistic workers, each answering one real request (so they are past
# start-up and waiting in their loop), then the parent idles until it is killed.
PARENT = """
import sys, time
import numpy as np
from pose_estimation.mediapipe_backend import _ProcessWorkers
workers = _ProcessWorkers(2)
for w in range(2):
    workers.submit(w, 0, w, np.zeros((64, 64, 3), np.uint8), (0, 0, 64, 64), 0.9)
    assert workers.collect(w)[:2] == (0, w)
print(" ".join(str(p.pid) for p in workers.processes), flush=True)
time.sleep(600)
"""


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a dead child nobody has reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_the_parent_is_killed(signum):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)
    worker_pids = []
    try:
        line = parent.stdout.readline()
        assert line.strip(), parent.stderr.read()[-3000:]
        worker_pids = [int(p) for p in line.split()]
        assert len(worker_pids) == 2 and all(running(p) for p in worker_pids)
        parent.send_signal(signum)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and any(running(p) for p in worker_pids):
            time.sleep(0.2)
        survivors = [p for p in worker_pids if running(p)]
        assert survivors == [], f"workers {survivors} outlived their parent by 10 s"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in worker_pids:           # never leave a process behind, even when the test fails
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_whose_parent_is_already_gone_exits_at_once():
    """The start-up check: a worker started for a parent that no longer is its parent exits
    before loading MediaPipe (the race between the parent dying and prctl taking effect)."""
    import multiprocessing

    from pose_estimation.mediapipe_backend import _worker_main

    context = multiprocessing.get_context("spawn")
    requests, results = context.Queue(), context.Queue()
    not_my_parent = os.getppid()          # the worker's parent is this process, not its parent
    worker = context.Process(target=_worker_main, args=(requests, results, not_my_parent))
    worker.start()
    worker.join(timeout=60)
    assert worker.exitcode == 0
    requests.close()
    results.close()
