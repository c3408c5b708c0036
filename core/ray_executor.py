"""The Ray executor of ``core.runner.run_per_song``: each song is one Ray task.

Imported only when ``EXECUTOR=ray`` (``--executor ray``), so the serial path never loads Ray.

What happens, in order:

1. **Connect.** ``RAY_ADDRESS`` / ``--ray-address`` given: join that cluster (``auto`` = the one
   started on this machine with ``ray start``); none: start a local Ray instance with this
   machine's cores. A connection made here is reused by later stages of the same command and closed
   when the process exits; a process already connected (a test, a notebook) keeps its own.
2. **Check every node** that can run tasks, with a small task pinned to it: it must see
   ``DATASET_PATH`` with the same ``dataset_metadata.json`` as this process (same SHA-256) and must
   import this code from the same folder (the repository and its virtualenv are expected at the same
   path on every node, e.g. on the shared filesystem that holds the dataset). A node that cannot is
   named in a ``DatasetNotVisibleError`` / ``CodeNotVisibleError``, and no song runs.
3. **Resources.** The stage's ``TaskResources`` (``TASK_CPUS``/``TASK_GPUS``/``TASK_MEMORY``
   override them): a stage default larger than the largest node is lowered to it (logged); an
   explicit override no node can satisfy is an error. Each task's ``runtime_env`` sets
   ``OMP_NUM_THREADS`` to its whole CPUs (so torch, OpenBLAS and FFTs use the cores the task
   reserved, whatever the node's own environment says; the project never calls
   ``torch.set_num_threads``, see README) and puts this repository on ``PYTHONPATH``.
4. **Run.** One task per song (``scheduling_strategy="SPREAD"``, no automatic retries: a song whose
   worker dies is reported as failed and a rerun redoes it, since finished outputs are skipped and
   unfinished ones were never renamed into place, ``core.io``). The per-song function runs through
   ``core.runner.run_song`` exactly as in the serial executor; its log records are captured in the
   worker and re-emitted here; the per-song line names the node. One progress bar over the songs
   advances as tasks finish; ``on_result`` is called as each song finishes.
"""
from __future__ import annotations

import atexit
import gc
import logging
import math
import os
import sys
import time
import types
from pathlib import Path
from typing import Any, Callable

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from . import device as core_device
from . import log as core_log
from .io import file_sha256
from .metadata import SongInfo
from .runner import SongOutcome, TaskResources, describe_error, log_outcome, run_song
from .settings import DEFAULT_METADATA_NAME, REPO_ROOT, Settings

log = logging.getLogger(__name__)

NODE_CHECK_TIMEOUT_S = 180.0      # a cold worker on a busy node can take a while to start
_state = {"started_here": False, "checked": set()}


class ExecutorSetupError(RuntimeError):
    """The Ray executor cannot run the stage (no cluster, a node that cannot see the data...)."""


class DatasetNotVisibleError(ExecutorSetupError):
    """A Ray node cannot see DATASET_PATH (or sees another dataset there)."""


class CodeNotVisibleError(ExecutorSetupError):
    """A Ray node cannot import this repository's code from the same path."""


# --- connection ------------------------------------------------------------------------------------

def connect(address: str | None) -> None:
    """Join the cluster at ``address`` or start a local instance; reuse an existing connection."""
    if ray.is_initialized():
        return
    if address:
        _use_token_if_available()
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=True)
        except Exception as exc:  # noqa: BLE001 -- Ray raises several types for "cannot connect"
            raise ExecutorSetupError(f"cannot connect to the Ray cluster at RAY_ADDRESS={address!r}: "
                                     f"{describe_error(exc)}") from exc
        log.info("connected to the Ray cluster at %s", address)
    else:
        ray.init(address="local", include_dashboard=False, log_to_driver=True)
        log.info("started a local Ray instance with %d CPUs",
                 int(ray.cluster_resources().get("CPU", 0)))
    _state["started_here"] = True
    atexit.register(shutdown)


def _use_token_if_available() -> None:
    """Ray 2.60 clusters use token authentication when a token exists (``ray start`` finds
    ``~/.ray/auth_token``), but a client joining them does not switch it on by itself; Ray's own
    helper does, when ``RAY_AUTH_MODE`` is unset and a token is there."""
    try:
        from ray._private.authentication.authentication_token_setup import \
            maybe_enable_token_auth_if_token_available
    except ImportError:        # another Ray version: its own defaults apply
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def shutdown() -> None:
    """Disconnect (and stop the local instance) if this module connected; else leave Ray alone."""
    if _state["started_here"] and ray.is_initialized():
        ray.shutdown()
    _state["started_here"] = False
    _state["checked"].clear()


def task_nodes() -> list[dict]:
    """Alive nodes that can run a song (CPUs or GPUs to offer)."""
    return [n for n in ray.nodes() if n.get("Alive") and
            (n["Resources"].get("CPU", 0) > 0 or n["Resources"].get("GPU", 0) > 0)]


def node_label(node_id: str, address: str) -> str:
    """``IP/first 8 hex digits of the node id``: unique even for two nodes on one machine."""
    return f"{address}/{node_id[:8]}"


def runtime_env(cpus: float) -> dict:
    threads = str(max(1, math.floor(cpus)))
    python_path = os.pathsep.join([str(REPO_ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return {"env_vars": {"OMP_NUM_THREADS": threads, "PYTHONPATH": python_path}}


# --- node check ------------------------------------------------------------------------------------

def file_digest(path: Path) -> str | None:
    if not path.is_file():
        return None
    return file_sha256(path)


def _inspect_node(dataset_path: str, cwd: str) -> dict:
    """Runs on one node: what it sees of the dataset and of the code."""
    import core

    node_id = ray.get_runtime_context().get_node_id()
    root = Path(dataset_path)
    return {"node": node_label(node_id, ray.util.get_node_ip_address()),
            "dataset_dir": root.is_dir(), "cwd": Path(cwd).is_dir(),
            "metadata_digest": file_digest(root / DEFAULT_METADATA_NAME),
            "code_root": str(Path(core.__file__).resolve().parent.parent)}


def check_nodes(nodes: list[dict], dataset_path: Path) -> None:
    """Raise ``DatasetNotVisibleError``/``CodeNotVisibleError`` naming every node that fails."""
    dataset_path = Path(dataset_path).resolve()
    digest = file_digest(dataset_path / DEFAULT_METADATA_NAME)
    key = (ray.get_runtime_context().gcs_address, str(dataset_path), digest,
           tuple(sorted(n["NodeID"] for n in nodes)))
    if key in _state["checked"]:
        return
    inspect = ray.remote(num_cpus=0, max_retries=0)(_inspect_node)
    refs = {inspect.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
                            runtime_env=runtime_env(1), name="check dataset and code")
            .remote(str(dataset_path), os.getcwd()): n for n in nodes}
    ready, not_ready = ray.wait(list(refs), num_returns=len(refs), timeout=NODE_CHECK_TIMEOUT_S)
    blind, no_code = [], []
    for ref in not_ready:
        node = refs[ref]
        no_code.append(f"{node_label(node['NodeID'], node['NodeManagerAddress'])} did not answer "
                       f"within {NODE_CHECK_TIMEOUT_S:.0f} s")
        ray.cancel(ref, force=True)
    for ref in ready:
        node = refs[ref]
        label = node_label(node["NodeID"], node["NodeManagerAddress"])
        try:
            seen = ray.get(ref)
        except Exception as exc:  # noqa: BLE001 -- e.g. ModuleNotFoundError: core, on that node
            no_code.append(f"{label} cannot run this repository's code from {REPO_ROOT} "
                           f"({describe_error(exc).splitlines()[0]})")
            continue
        if not seen["dataset_dir"]:
            blind.append(f"{label} cannot see DATASET_PATH={dataset_path}")
        elif seen["metadata_digest"] != digest:
            what = "no" if seen["metadata_digest"] is None else "a different"
            blind.append(f"{label} sees {what} {DEFAULT_METADATA_NAME} in DATASET_PATH={dataset_path}")
        elif seen["code_root"] != str(REPO_ROOT):
            no_code.append(f"{label} imports this code from {seen['code_root']}, not {REPO_ROOT}")
        elif not seen["cwd"]:
            no_code.append(f"{label} has no folder {os.getcwd()} (the working folder, where "
                           f"relative paths start)")
    if blind:
        raise DatasetNotVisibleError(
            "; ".join(blind) + ": every Ray node must see the dataset at the same path (a shared "
            "filesystem), or leave such nodes out of the cluster")
    if no_code:
        raise CodeNotVisibleError(
            "; ".join(no_code) + ": every Ray node must have this repository and its virtualenv at "
            "the same path (README, 'Running on a cluster')")
    _state["checked"].add(key)


# --- resources -------------------------------------------------------------------------------------

def task_options(stage: str, songs: list[SongInfo], resources: TaskResources, settings: Settings,
                 nodes: list[dict]) -> list[dict]:
    """Ray options for each song's task; raise ``ExecutorSetupError`` if no node could run one."""
    largest = {name: max(n["Resources"].get(name, 0) for n in nodes)
               for name in ("CPU", "GPU", "memory")}
    cpus = settings.task_cpus if settings.task_cpus is not None else resources.cpus
    if cpus > largest["CPU"]:
        if settings.task_cpus is not None:
            raise ExecutorSetupError(f"TASK_CPUS={cpus:g}: no Ray node has {cpus:g} CPUs "
                                     f"(the largest has {largest['CPU']:g})")
        log.info("%s: a task would use %g CPUs; the largest Ray node has %g, so each task asks "
                 "for %g", stage, cpus, largest["CPU"], largest["CPU"])
        cpus = largest["CPU"]
    if settings.task_gpus is not None:
        gpus = settings.task_gpus
    else:
        gpus = resources.gpus if resources.gpus and core_device.wants_gpu(
            settings.device, largest["GPU"] > 0) else 0.0
    if gpus > largest["GPU"]:
        raise ExecutorSetupError(
            f"{stage}: each task asks for {gpus:g} GPU(s) (--device {settings.device}), but "
            f"{'no Ray node has a GPU' if not largest['GPU'] else 'the largest node has ' + format(largest['GPU'], 'g')}"
            f"; use --device cpu or a cluster with GPUs")
    options = []
    for song in songs:
        memory = settings.task_memory if settings.task_memory is not None \
            else resources.memory_bytes(song)
        if memory > largest["memory"]:
            if settings.task_memory is not None:
                raise ExecutorSetupError(f"TASK_MEMORY={memory / 2**30:.1f} GiB: no Ray node has "
                                         f"that much (the largest has "
                                         f"{largest['memory'] / 2**30:.1f} GiB)")
            memory = int(largest["memory"])
        option = {"num_cpus": cpus, "num_gpus": gpus, "runtime_env": runtime_env(cpus),
                  "name": f"{stage} {song.key}", "scheduling_strategy": "SPREAD",
                  "max_retries": 0}
        if memory > 0:
            option["memory"] = memory
        options.append(option)
    return options


# --- the task --------------------------------------------------------------------------------------

class _CaptureHandler(logging.Handler):
    """Keeps the task's log records (made picklable) to re-emit them in the stage's process."""

    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        copy = logging.makeLogRecord(record.__dict__)
        copy.msg, copy.args = record.getMessage(), None
        if record.exc_info:
            copy.exc_text = logging.Formatter().formatException(record.exc_info)
        copy.exc_info = None
        self.records.append(copy)


def song_task(work: Callable[[SongInfo], Any], song: SongInfo, log_level: int,
              cwd: str) -> SongOutcome:
    """One song in a Ray worker, classified by ``core.runner.run_song`` as in the serial path.
    ``cwd``: the stage's working folder, so that relative paths (``DATASET_PATH=demo_data``) mean
    the same here."""
    context = ray.get_runtime_context()
    os.chdir(cwd)
    core_log.set_progress_bars(False)
    core_device.task_gpu_ids = list(ray.get_gpu_ids())
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    capture = _CaptureHandler()
    root.handlers[:] = [capture]
    root.setLevel(log_level)
    start = time.perf_counter()
    # What the worker holds before the song (Ray, the stage's modules, numpy, scipy...: several
    # hundred thousand objects) is set aside for the cycle collector while the song runs, so the
    # collection after it scans only what the song made: a full collection over everything costs
    # ~0.1 s of CPU per task, as much as a whole song of feature extraction (benchmarks/
    # ray_executor_throughput.py). Unfrozen afterwards: later collections see everything again.
    gc.freeze()
    # A Ray worker's __main__ is Ray's default_worker.py, and multiprocessing's "spawn" start
    # method imports the parent's __main__ again in every child: each of pose's MediaPipe worker
    # processes (three per song) would import Ray, about a CPU second apiece. During the song
    # __main__ is an empty module, as in ``python -c``: the children import only what their
    # target needs.
    ray_main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        outcome = run_song(work, song)
    finally:
        sys.modules["__main__"] = ray_main
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        # finalise what the song left (e.g. multiprocessing queues of pose workers) while the
        # worker is healthy, not when Ray stops it as idle
        gc.collect()
        gc.unfreeze()
    outcome.node = node_label(context.get_node_id(), ray.util.get_node_ip_address())
    outcome.seconds = time.perf_counter() - start
    outcome.records = capture.records
    return outcome


def lost_task_outcome(song: SongInfo, exc: BaseException) -> SongOutcome:
    """A task that did not return (its worker or node died, or Ray could not start it)."""
    first_line = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return SongOutcome(song.key, "failed",
                       f"Ray task did not finish ({type(exc).__name__}: {first_line[:300]}); "
                       f"rerun the stage to redo this song", details=str(exc))


def _finished(refs: list) -> Any:
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield from ready


def run_songs_on_ray(stage: str, songs: list[SongInfo], work: Callable[[SongInfo], Any],
                     settings: Settings, resources: TaskResources, logger: logging.Logger,
                     progress_bar: bool, on_result: Callable[[SongInfo, Any], None] | None
                     ) -> list[SongOutcome] | str:
    """The songs' outcomes in song order, or why none could run (a named setup error)."""
    try:
        connect(settings.ray_address)
        nodes = task_nodes()
        if not nodes:
            raise ExecutorSetupError("the Ray cluster has no alive node with CPUs or GPUs")
        if settings.dataset_path is not None:
            check_nodes(nodes, Path(settings.dataset_path))
        options = task_options(stage, songs, resources, settings, nodes)
        try:
            work_ref = ray.put(work)
        except Exception as exc:  # noqa: BLE001 -- pickling errors have many types
            raise ExecutorSetupError(f"{stage}: the per-song work cannot be sent to Ray "
                                     f"({describe_error(exc)})") from exc
    except ExecutorSetupError as exc:
        return describe_error(exc)
    if not songs:
        return []
    remote = ray.remote(song_task)
    log_level = logging.getLogger().getEffectiveLevel()
    cwd = os.getcwd()
    refs = {remote.options(**option).remote(work_ref, song, log_level, cwd): index
            for index, (song, option) in enumerate(zip(songs, options))}
    logger.info("%s: %d song(s) as Ray tasks on %d node(s), %g CPU(s)%s each", stage, len(songs),
                len(nodes), options[0]["num_cpus"],
                f" and {options[0]['num_gpus']:g} GPU(s)" if options[0]["num_gpus"] else "")
    outcomes: list[SongOutcome | None] = [None] * len(songs)
    finished = _finished(list(refs))
    if progress_bar:
        finished = core_log.progress(finished, desc=stage, total=len(songs), unit="song")
    try:
        for ref in finished:
            index = refs.pop(ref)
            song = songs[index]
            try:
                outcome = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 -- worker/node died, task not started...
                outcome = lost_task_outcome(song, exc)
            for record in outcome.records:
                logging.getLogger(record.name).handle(record)
            outcome.records = []
            log_outcome(outcome, logger)
            if outcome.has_value and on_result is not None:
                on_result(song, outcome.value)
            outcomes[index] = outcome
    except BaseException:
        for ref in refs:              # interrupted here (Ctrl-C): do not leave tasks running
            ray.cancel(ref, force=True)
        raise
    return outcomes
