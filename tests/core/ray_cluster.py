"""A real Ray cluster on this machine for tests: ``ray start --head --block`` plus optional extra
nodes (``ray start --address ... --block``), each a child process of the test in its own session.

An extra node may be started in its own mount namespace with a folder hidden under an empty tmpfs
(``hide=``): to that node the folder is empty, as a dataset on a filesystem the node has not mounted
would be. Every node uses Ray's token authentication. Teardown stops each ``ray start`` process with SIGTERM (it stops its own raylet, GCS and
workers) and checks that no process of those sessions is left.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 240.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_hide_folders() -> bool:
    """Whether this process may make mount namespaces (root with CAP_SYS_ADMIN)."""
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


def session_processes(leader_pids: list[int]) -> list[int]:
    """Pids still alive in the sessions that ``leader_pids`` started."""
    out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True).stdout
    sessions = set(leader_pids)
    return [int(pid) for pid, sid in (line.split() for line in out.splitlines())
            if int(sid) in sessions]


class RayCluster:
    """``with RayCluster(node_cpus=[2]) as cluster: cluster.address``.

    ``node_gpus``: GPUs each node declares (``ray start --num-gpus``; default none). Ray treats a
    declared GPU as a resource to place tasks by and hands its id to the task
    (``ray.get_gpu_ids()``, ``CUDA_VISIBLE_DEVICES``), whether or not the hardware is there: how
    placement is tested on a machine without one."""

    def __init__(self, node_cpus: list[int], hide: Path | None = None,
                 node_gpus: list[int] | None = None):
        self.node_cpus = node_cpus
        self.node_gpus = node_gpus or [0] * len(node_cpus)
        self.hide = hide                      # hidden from every node but the head
        self.port = free_port()
        self.temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")   # short: unix socket paths
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self, args: list[str], hide: Path | None) -> None:
        log = Path(self.temp_dir) / f"node{len(self.processes)}.log"
        command = [RAY, "start", "--block", *args]
        if hide is not None:
            inner = " ".join(f"'{a}'" for a in command)
            command = ["unshare", "-m", "sh", "-c",
                       f"mount -t tmpfs none '{hide}' && exec {inner}"]
        # a node environment that asks for 2 threads: tasks must still get their own count. Token
        # authentication (Ray 2.60's default for a local instance) on every node, as the README
        # asks of a real cluster: a joining node does not switch it on by itself.
        env = {**os.environ, "OMP_NUM_THREADS": "2", "RAY_AUTH_MODE": "token"}
        with open(log, "wb") as out:
            self.processes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                                   start_new_session=True, env=env))
        self.logs.append(log)

    def __enter__(self) -> "RayCluster":
        import ray

        # the token file Ray itself writes for a local instance (~/.ray/auth_token), if missing
        subprocess.run([RAY, "get-auth-token", "--generate"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        try:
            self._start(["--head", f"--port={self.port}", f"--num-cpus={self.node_cpus[0]}",
                         f"--num-gpus={self.node_gpus[0]}", f"--temp-dir={self.temp_dir}",
                         "--include-dashboard=false"], None)
            self._wait_for_nodes(1)
            for cpus, gpus in zip(self.node_cpus[1:], self.node_gpus[1:]):
                self._start([f"--address={self.address}", f"--num-cpus={cpus}",
                             f"--num-gpus={gpus}"], self.hide)
            self._wait_for_nodes(len(self.node_cpus))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        assert not ray.is_initialized()
        return self

    def _wait_for_nodes(self, n: int) -> None:
        """Until the first ``n`` ``ray start`` processes say their node is up."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            for process, log in zip(self.processes, self.logs):
                if process.poll() is not None:
                    raise RuntimeError(f"ray start exited {process.returncode}:\n"
                                       f"{log.read_text(errors='replace')[-3000:]}")
            if all("Ray runtime started" in log.read_text(errors="replace")
                   for log in self.logs[:n]):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Ray cluster did not reach {n} node(s) in {START_TIMEOUT_S:.0f} s")

    def __exit__(self, *exc) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        leaders = [p.pid for p in self.processes]
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)   # our own session, nothing else
                process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while session_processes(leaders) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = session_processes(leaders)
        for pid in left:                          # ours (same session): stop them, then fail
            os.kill(pid, signal.SIGKILL)
        assert not left, f"Ray processes left after teardown: {left}"
        shutil.rmtree(self.temp_dir, ignore_errors=True)      # the nodes' session logs


def connect(address: str) -> None:
    """Connect this (test) process to the cluster, as the executor would."""
    import ray

    from core.ray_executor import _use_token_if_available

    _use_token_if_available()
    ray.init(address=address, log_to_driver=True)


def worker_pids(task_name: str) -> list[int]:
    """Pids of Ray workers running a task called ``task_name`` (their title is ``ray::<name>``)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split(None, 1)[0]) for line in out.splitlines()
            if line.split(None, 1)[1:] and line.split(None, 1)[1].startswith(f"ray::{task_name}")]
