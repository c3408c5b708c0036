"""Multi-person whole-body pose with MediaPipe 0.10.21 (offline, models shipped in the wheel).

Holistic is single-person; concerts have three or more musicians. Per frame:

1. the performer finder (``pose_estimation.finder``: short- and full-range face detectors on
   tiles of three sizes in a rolling scan, MediaPipe Pose for "a body below the face", motion,
   and the performers followed through Holistic's own results between scans) says whose crop to
   pose;
2. each tracked performer's crop goes to *its own* ``Holistic`` instance (tracking mode,
   ``static_image_mode=False``: the landmarks of the previous frame seed the next, which is what
   makes it fast), kept in one of ``n_workers`` worker processes (a track always goes to the same
   worker, because Holistic's tracking state lives there; new tracks go to the least-loaded one);
3. the landmarks are mapped to COCO-WholeBody full-frame pixels (``pose_estimation.mapping``), and
   go back to the finder (it follows each performer's face through them) exactly
   ``OBSERVE_LAG`` = 4 frames later: the finder's decisions, and so the output, are the same
   whatever the number of workers or how fast they answer (byte-identical, tested).

With ``holistic_every`` = k > 1 (an option) Holistic runs on every k-th frame only and the frames
between are interpolated per performer (``interpolate_persons``).

``holistic_models`` (an option; default "full", the published models) chooses Holistic's pose and
hand models: "lite" runs MediaPipe's lite pose landmark model (``model_complexity=0``; installed
at setup time, ``pose_estimation.lite_models``) and the wheel's lite hand landmark model
(``lite_hands_graph``); "full-no-hands" and "lite-no-hands" never run the hand models
(``no_hands_graph``: no hand keypoints; the body and face come from the same models as with
"full" or "lite"). Face mesh and pose detection are the same in all. CPU per Holistic call on
the demo crops (``benchmarks/pose_options.py``, interleaved calls): full ~56 ms, of which the two
hand branches (re-crop + landmark models; they run whenever the pose wrist is visible, whether a
hand is found or not) ~26 and the pose landmark model most of the rest (MediaPipe Pose alone
~23); lite ~42, full-no-hands ~31, lite-no-hands ~24.

Frames are streamed: at most ``max_in_flight`` frames are between decoding and collection, so
memory does not grow with the video length. Holistic runs single-threaded (measured: CPU/wall ≈
1.0), so worker processes are what uses the second core. Default 3 workers, one per performer of a
usual trio: measured ~50–56 ms of CPU per performer crop (whatever the crop size) and ~10–20 ms
per frame in the main process (decoding, the finder: 6.7 ms at 720p, crops, IPC;
``benchmarks/pose_throughput.py``); with 2 workers one of them carries two performers and
caps the rate at ~1 / (2 × 50 ms) = 10 frames/s however idle the other core is, while three equal
workers let the OS spread ~165 ms of work per frame over both cores (~12 frames/s ceiling).
"""
from __future__ import annotations

import logging
import multiprocessing as mp_proc
import os
import queue
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from core.keypoints import LOWER_BODY
from core.log import quiet_native_environment, silence_native_stderr_of_this_process

from .mapping import holistic_to_wholebody, keypoint_box, landmarks_to_array, world_landmarks_to_array
from .finder import FULL_RANGE, MIN_FACE_CONFIDENCE, SHORT_RANGE, PerformerFinder

log = logging.getLogger(__name__)

MODEL_NAME = "mediapipe-0.10.21 holistic (pose_landmark_full, face_landmark, hand_landmark_full) " \
             "+ finder (face_detection_short_range, face_detection_full_range, pose_landmark_full)"
# full: the published models (default); the others are options (model_name says what ran)
HOLISTIC_MODELS = ("full", "lite", "full-no-hands", "lite-no-hands")
LITE_POSE_NOTE = "pose_landmark_lite (npm @mediapipe/pose 0.5.1675469404)"
# The hand landmark model loaders in Holistic's expanded graph: a switch between
# hand_landmark_lite (0) and hand_landmark_full (1), fixed at 1 by the graph (no side packet).
HAND_MODEL_SWITCH = "handlandmarkcpu__handlandmarkmodelloader__switchcontainer__Switch"
HAND_MODEL_SWITCHES = 4                # left and right hand, a demultiplexer and a multiplexer each
# The hand branches run when the pose wrist's visibility exceeds this node's threshold (0.1).
HAND_VISIBILITY_GATE = "handvisibilityfromhandlandmarksfrompose__ThresholdingCalculator"
HAND_VISIBILITY_GATES = 2              # left and right hand
NEVER = 2.0                            # above any visibility (0-1): the hand branch never runs
WORKER_TIMEOUT_S = 120.0
# The crop is already centred on a detected face, so Holistic's own person detector may accept a
# weaker detection than its 0.5 default (the demo's mridangam player, half hidden behind a camera,
# is found at 0.3 and missed at 0.5).
HOLISTIC_MIN_DETECTION = 0.3
HOLISTIC_MIN_TRACKING = 0.5
BOX_MIN_SCORE = 0.3     # points below this visibility do not shape the person box
OBSERVE_LAG = 4         # frames between a Holistic result and the finder seeing it


@dataclass(frozen=True)
class MediaPipeOptions:
    n_workers: int = 3               # 0 = run Holistic in this process
    min_face_confidence: float = MIN_FACE_CONFIDENCE
    max_in_flight: int = 4           # frames submitted but not yet collected
    holistic_every: int = 1          # 1: Holistic on every frame (default); k > 1: on every k-th
                                     # frame, the frames between interpolated (interpolate_persons)
    holistic_models: str = "full"    # full (default, published) | lite | full-no-hands |
                                     # lite-no-hands (HOLISTIC_MODELS)


def model_name(options: MediaPipeOptions) -> str:
    """What produced the keypoints, as recorded in the pose file (``MODEL_NAME`` + each option
    that is on)."""
    name = MODEL_NAME
    models = options.holistic_models
    if models.startswith("lite"):
        name += f"; Holistic with {LITE_POSE_NOTE} instead of pose_landmark_full"
    if models == "lite":
        name += ", hand_landmark_lite instead of hand_landmark_full"
    if models.endswith("no-hands"):
        name += "; Holistic without its hand models (no hand keypoints)"
    if options.holistic_every > 1:
        name += (f"; Holistic on every {options.holistic_every}th frame, the others linearly "
                 f"interpolated per performer")
    return name


def check_holistic_models(models: str) -> None:
    """``ValueError`` for an unknown setting; for "lite" and "lite-no-hands",
    ``lite_models.LiteModelError`` when the lite pose model is not installed (or not the expected
    file): never a run-time download."""
    if models not in HOLISTIC_MODELS:
        raise ValueError(f"--holistic-models must be one of {', '.join(HOLISTIC_MODELS)}, "
                         f"got {models!r}")
    if models.startswith("lite"):
        from .lite_models import check_lite_pose_model

        check_lite_pose_model()


def lite_hands_graph(config) -> int:
    """Switch Holistic's two hand landmark model loaders in ``config`` (its expanded
    ``CalculatorGraphConfig``) to ``hand_landmark_lite.tflite`` (shipped in the wheel); returns
    the number of switch nodes changed. ``RuntimeError`` unless exactly ``HAND_MODEL_SWITCHES``
    were found (another mediapipe version: better to fail than to run the full model silently)."""
    from mediapipe.framework.tool import switch_container_pb2

    changed = 0
    for node in config.node:
        if HAND_MODEL_SWITCH in node.name:
            node.options.Extensions[switch_container_pb2.SwitchContainerOptions.ext].select = 0
            changed += 1
    if changed != HAND_MODEL_SWITCHES:
        raise RuntimeError(f"Holistic's graph has {changed} hand model switches, expected "
                           f"{HAND_MODEL_SWITCHES}: --holistic-models lite needs mediapipe 0.10.21")
    return changed


def no_hands_graph(config) -> int:
    """Close the gates of Holistic's two hand branches in ``config`` (its expanded
    ``CalculatorGraphConfig``): the wrist-visibility threshold becomes ``NEVER``, so the hand
    re-crop and landmark models never run and no hand landmarks come out. Returns the number of
    gates changed; ``RuntimeError`` unless exactly ``HAND_VISIBILITY_GATES``."""
    from mediapipe.calculators.util import thresholding_calculator_pb2

    changed = 0
    for node in config.node:
        if HAND_VISIBILITY_GATE in node.name:
            node.options.Extensions[thresholding_calculator_pb2.ThresholdingCalculatorOptions.ext] \
                .threshold = NEVER
            changed += 1
    if changed != HAND_VISIBILITY_GATES:
        raise RuntimeError(f"Holistic's graph has {changed} hand visibility gates, expected "
                           f"{HAND_VISIBILITY_GATES}: --holistic-models *-no-hands needs "
                           f"mediapipe 0.10.21")
    return changed


def make_holistic(models: str = "full"):
    """A tracking-mode Holistic with the backend's settings and the ``models`` setting."""
    import mediapipe as mp

    settings = dict(static_image_mode=False, smooth_landmarks=True, refine_face_landmarks=False,
                    min_detection_confidence=HOLISTIC_MIN_DETECTION,
                    min_tracking_confidence=HOLISTIC_MIN_TRACKING)
    if models == "full":
        return mp.solutions.holistic.Holistic(model_complexity=1, **settings)
    check_holistic_models(models)      # the lite pose file is there: mediapipe will not download
    edit = no_hands_graph if models.endswith("no-hands") else lite_hands_graph

    class OptionHolistic(mp.solutions.holistic.Holistic):
        # SolutionBase passes the expanded graph here (Holistic always has calculator params)
        # before it builds the graph: the one place to change what the API does not expose
        def _modify_calculator_options(self, config, params):
            super()._modify_calculator_options(config, params)
            edit(config)

    return OptionHolistic(model_complexity=0 if models.startswith("lite") else 1, **settings)


def interpolate_persons(before: list[dict], after: list[dict] | None, weight: float,
                        frame_wh: tuple[int, int]) -> list[dict]:
    """Persons of a frame that Holistic skipped (``holistic_every`` > 1), ``weight`` of the way
    (0..1) from the posed frame before to the posed frame after: each performer (``track_id``)
    present in both gets ``(1 - weight) * before + weight * after`` for keypoints, scores and
    world points (computed in float64, stored float32; a point missing in either is missing) and
    its box recomputed as in ``estimate_poses``. A performer missing from either side, or no frame after
    (the end of the video), is missing here too: nothing is extrapolated."""
    if not after:
        return []
    later = {p["track_id"]: p for p in after}
    persons = []
    for person in before:
        other = later.get(person["track_id"])
        if other is None:
            continue
        keypoints = ((1 - weight) * person["keypoints"].astype(np.float64)
                     + weight * other["keypoints"].astype(np.float64)).astype(np.float32)
        extra = {}
        if "world_points" in person and "world_points" in other:
            extra["world_points"] = ((1 - weight) * person["world_points"].astype(np.float64)
                                     + weight * other["world_points"].astype(np.float64)
                                     ).astype(np.float32)
        scores = ((1 - weight) * person["scores"].astype(np.float64)
                  + weight * other["scores"].astype(np.float64)).astype(np.float32)
        scores[~np.isfinite(keypoints).all(axis=1)] = 0.0
        box = keypoint_box(_upper_body(keypoints), scores, BOX_MIN_SCORE, frame_wh)
        if box is not None:
            persons.append({"keypoints": keypoints, "scores": scores, "box": box,
                            "track_id": person["track_id"], **extra})
    return persons


def mediapipe_detectors(min_face_confidence: float):
    """The finder's detectors (``finder.FaceDetector``, ``finder.BodyDetector``) and a closer:
    MediaPipe FaceDetection short- and full-range, and Pose (static images, the shipped full
    model) for the body-below rule."""
    import mediapipe as mp

    faces = {model: mp.solutions.face_detection.FaceDetection(
        model_selection=model, min_detection_confidence=min_face_confidence)
        for model in (SHORT_RANGE, FULL_RANGE)}
    pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                  min_detection_confidence=0.5)

    def detect(model: int, crop: np.ndarray) -> list:
        result = faces[model].process(np.ascontiguousarray(crop))
        found = []
        for det in result.detections or ():
            rb = det.location_data.relative_bounding_box
            found.append(((rb.xmin, rb.ymin, rb.xmin + rb.width, rb.ymin + rb.height), det.score[0]))
        return found

    def body(crop: np.ndarray):
        result = pose.process(np.ascontiguousarray(crop))
        if result.pose_landmarks is None:
            return None
        return np.array([(lm.x, lm.y, lm.visibility) for lm in result.pose_landmarks.landmark])

    def close() -> None:
        for detector in faces.values():
            detector.close()
        pose.close()

    return detect, body, close


class HolisticPool:
    """Holistic instances keyed by track id, living in this process."""

    def __init__(self, models: str = "full"):
        self._models = models
        self._instances: dict[int, object] = {}

    def process(self, track_id: int, crop: np.ndarray, crop_xywh, face_score: float):
        """Run the track's Holistic on ``crop`` → ``(keypoints (133, 2), scores (133,),
        world points (33, 3) metres)`` or None (``mapping``)."""
        holistic = self._instances.get(track_id)
        if holistic is None:
            holistic = make_holistic(self._models)
            self._instances[track_id] = holistic
        result = holistic.process(np.ascontiguousarray(crop))
        pose = landmarks_to_array(result.pose_landmarks, with_visibility=True)
        face = landmarks_to_array(result.face_landmarks)
        if pose is None and face is None:
            return None
        keypoints, scores = holistic_to_wholebody(
            pose, face, landmarks_to_array(result.left_hand_landmarks),
            landmarks_to_array(result.right_hand_landmarks), crop_xywh, face_score)
        return keypoints, scores, world_landmarks_to_array(result.pose_world_landmarks)

    def drop(self, track_id: int) -> None:
        holistic = self._instances.pop(track_id, None)
        if holistic is not None:
            holistic.close()

    def close(self) -> None:
        for track_id in list(self._instances):
            self.drop(track_id)


PARENT_CHECK_S = 1.0    # how often an idle worker checks that its parent is still alive


def _exit_with_parent(parent_pid: int) -> None:
    """Make this worker die with its parent, whatever kills the parent (SIGKILL included): on
    Linux the kernel sends it SIGKILL when the parent exits (``PR_SET_PDEATHSIG``); everywhere,
    ``_worker_main`` also polls the parent id. A parent already gone before this ran: exit now."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)   # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):                 # no prctl: the poll below still works
            pass
    if os.getppid() != parent_pid:
        os._exit(0)


def _worker_main(requests, results, parent_pid: int, quiet: bool = True,
                 models: str = "full") -> None:
    """Worker process: ``("pose", frame_index, track_id, crop, crop_xywh, face_score)`` →
    ``(frame_index, track_id, output or None)``; ``("drop", track_id)``; ``None`` stops.
    Exits by itself when ``parent_pid`` is no longer its parent (the parent died). ``quiet``: the
    native libraries' log lines are silenced before MediaPipe is imported (errors reach the
    parent through ``results``). ``models``: ``MediaPipeOptions.holistic_models``."""
    _exit_with_parent(parent_pid)
    if quiet:
        quiet_native_environment()
        silence_native_stderr_of_this_process()
    pool = HolisticPool(models)
    try:
        while True:
            try:
                message = requests.get(timeout=PARENT_CHECK_S)
            except queue.Empty:
                if os.getppid() != parent_pid:
                    os._exit(0)       # orphaned: nobody will read a result or send "stop"
                continue
            if message is None:
                break
            if message[0] == "drop":
                pool.drop(message[1])
                continue
            _, frame_index, track_id, crop, crop_xywh, face_score = message
            try:
                output = pool.process(track_id, crop, crop_xywh, face_score)
            except Exception as exc:  # noqa: BLE001 -- reported to the parent, which names it
                results.put((frame_index, track_id, ("error", repr(exc))))
                continue
            results.put((frame_index, track_id, output))
    finally:
        pool.close()


class _InlineWorkers:
    """Same interface as the process workers, but everything in this process (``n_workers=0``)."""

    def __init__(self, models: str = "full"):
        self.pool = HolisticPool(models)
        self.pending: deque = deque()

    def submit(self, worker: int, frame_index, track_id, crop, crop_xywh, face_score) -> None:
        self.pending.append((frame_index, track_id,
                             self.pool.process(track_id, crop, crop_xywh, face_score)))

    def collect(self, worker: int):
        return self.pending.popleft()

    def drop(self, worker: int, track_id: int) -> None:
        self.pool.drop(track_id)

    def close(self) -> None:
        self.pool.close()


class _ProcessWorkers:
    def __init__(self, n_workers: int, models: str = "full"):
        context = mp_proc.get_context("spawn")   # no fork after MediaPipe has started threads
        self.requests = [context.Queue() for _ in range(n_workers)]
        self.results = [context.Queue() for _ in range(n_workers)]
        # the workers are as quiet as this process: native log lines only with -v (debug logging)
        quiet = not logging.getLogger().isEnabledFor(logging.DEBUG)
        self.processes = [context.Process(target=_worker_main, args=(rq, rs, os.getpid(), quiet, models),
                                          daemon=True, name=f"holistic-worker-{i}")
                          for i, (rq, rs) in enumerate(zip(self.requests, self.results))]
        for process in self.processes:
            process.start()

    def submit(self, worker: int, frame_index, track_id, crop, crop_xywh, face_score) -> None:
        self.requests[worker].put(("pose", frame_index, track_id, crop, crop_xywh, face_score))

    def collect(self, worker: int):
        waited = 0.0
        while True:
            try:
                return self.results[worker].get(timeout=5.0)
            except queue.Empty:
                waited += 5.0
                if not self.processes[worker].is_alive():
                    raise RuntimeError(f"Holistic worker {worker} died "
                                       f"(exit code {self.processes[worker].exitcode})") from None
                if waited >= WORKER_TIMEOUT_S:
                    raise RuntimeError(f"Holistic worker {worker} gave no result in "
                                       f"{WORKER_TIMEOUT_S:.0f} s") from None

    def drop(self, worker: int, track_id: int) -> None:
        self.requests[worker].put(("drop", track_id))

    def close(self) -> None:
        for rq in self.requests:
            rq.put(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        for q in self.requests + self.results:
            q.close()
            q.cancel_join_thread()


def estimate_poses(frames: Iterable[tuple[int, np.ndarray]], options: MediaPipeOptions = MediaPipeOptions(),
                   stats: dict | None = None) -> Iterator[tuple[int, list[dict]]]:
    """Stream ``(frame_index, persons)`` for ``(frame_index, (H, W, 3) uint8 RGB)`` frames, in order.

    Each person: ``{"keypoints": (133, 2) float32 pixels, "scores": (133,) float32 0–1,
    "box": (4,) float32 xyxy, "track_id": int, "world_points": (33, 3) float32 metres}``
    (``core.world_points``; all NaN when Holistic found no pose, only a face). The box is the
    tight box, clipped to the frame, around the upper-body, face and hand points with score
    ≥ ``BOX_MIN_SCORE`` (hips, legs and feet left out: seated performers' legs are hidden and
    their guessed positions would move the box).
    ``stats`` (optional, for benchmarks) receives ``finder_cpu_s`` (CPU time of this process in
    the finder: scan, rules, following), ``detector_calls`` and ``holistic_calls``.
    """
    if stats is not None:
        stats.update(finder_cpu_s=0.0, detector_calls=0, holistic_calls=0)
    check_holistic_models(options.holistic_models)
    detect, body, close_detectors = mediapipe_detectors(options.min_face_confidence)
    workers = _ProcessWorkers(options.n_workers, options.holistic_models) \
        if options.n_workers > 0 else _InlineWorkers(options.holistic_models)
    finder: PerformerFinder | None = None
    owner: dict[int, int] = {}                       # track id -> worker index
    in_flight: deque = deque()      # (frame_index, [(worker, track_id), ...] or None = skipped)
    collected: dict[int, tuple[int, list[dict]]] = {}    # posed frames collected ahead of order
    last_posed: list = [None]                            # (frame_index, persons) of the last one
    keep = max(options.max_in_flight, options.holistic_every)
    observations: deque = deque()   # Holistic results waiting to be shown to the finder
    frame_wh = (0, 0)

    def collect_through(limit: int) -> None:
        """Collect (ahead of their turn to be yielded) the posed frames up to ``limit``."""
        for index, tasks in in_flight:
            if index > limit:
                break
            if tasks is not None and index not in collected:
                collected[index] = _collect(workers, observations, index, tasks, frame_wh, stats)

    def release(keep: int):
        """Yield frames from the head of ``in_flight`` while more than ``keep`` are waiting."""
        while len(in_flight) > keep:
            frame_index, tasks = in_flight[0]
            if tasks is not None:
                in_flight.popleft()
                out = collected.pop(frame_index, None) or \
                    _collect(workers, observations, frame_index, tasks, frame_wh, stats)
                last_posed[0] = out
                yield out
                continue
            following = next((entry for entry in in_flight if entry[1] is not None), None)
            if following is not None and following[0] not in collected:
                collected[following[0]] = _collect(workers, observations, *following, frame_wh,
                                                   stats)
            in_flight.popleft()
            before = last_posed[0]
            after = collected[following[0]] if following is not None else None
            if before is None or after is None:
                yield frame_index, []
            else:
                weight = (frame_index - before[0]) / (after[0] - before[0])
                yield frame_index, interpolate_persons(before[1], after[1], weight, frame_wh)

    try:
        for frame_index, frame in frames:
            height, width = frame.shape[:2]
            frame_wh = (width, height)
            if finder is None:
                finder = PerformerFinder((width, height), detect, body)
            started = time.process_time()
            # the finder sees Holistic's results of frames <= frame_index - OBSERVE_LAG, never
            # sooner or later, so what it decides does not depend on how fast workers answer,
            # on max_in_flight or on the number of workers (byte-identical output)
            collect_through(frame_index - OBSERVE_LAG)
            while observations and observations[0][0] <= frame_index - OBSERVE_LAG:
                finder.observe(*observations.popleft()[1:])
            dropped = finder.step(frame_index, frame)
            if stats is not None:
                stats["finder_cpu_s"] += time.process_time() - started
                stats["detector_calls"] = finder.detector_calls
            for track_id in dropped:
                if track_id in owner:
                    workers.drop(owner.pop(track_id), track_id)
            if frame_index % options.holistic_every:
                in_flight.append((frame_index, None))          # interpolated when released
                yield from release(keep)
                continue
            tasks = []
            for track in finder.tracks:
                if track.track_id not in owner:
                    load = np.bincount(list(owner.values()), minlength=max(options.n_workers, 1))
                    owner[track.track_id] = int(np.argmin(load))
                x0, y0, x1, y1 = (int(v) for v in track.region)
                if x1 - x0 < 16 or y1 - y0 < 16:
                    continue
                worker = owner[track.track_id]
                workers.submit(worker, frame_index, track.track_id, frame[y0:y1, x0:x1].copy(),
                               (x0, y0, x1 - x0, y1 - y0), track.face_score)
                tasks.append((worker, track.track_id))
            if stats is not None:
                stats["holistic_calls"] += len(tasks)
            in_flight.append((frame_index, tasks))
            yield from release(keep)
        yield from release(0)
    finally:
        workers.close()
        close_detectors()


def _collect(workers, observations: deque, frame_index: int, tasks: list[tuple[int, int]],
             frame_wh: tuple[int, int], stats: dict | None = None) -> tuple[int, list[dict]]:
    """The persons of ``frame_index`` from the workers; each result is also queued for the finder
    as ``(frame_index, track_id, keypoints, scores, box)`` (``PerformerFinder.observe``: Holistic's
    face position follows the performer), applied ``OBSERVE_LAG`` frames later."""
    persons = []
    for worker, track_id in tasks:
        got_frame, got_track, output = workers.collect(worker)
        if (got_frame, got_track) != (frame_index, track_id):
            raise RuntimeError(f"worker {worker} answered frame {got_frame} track {got_track}, "
                               f"expected frame {frame_index} track {track_id}")
        if output is not None and isinstance(output[0], str):   # ("error", message) from the worker
            raise RuntimeError(f"Holistic failed on frame {frame_index}: {output[1]}")
        started = time.process_time()
        keypoints, scores, world = output if output is not None else (None, None, None)
        box = None if output is None else \
            keypoint_box(_upper_body(keypoints), scores, BOX_MIN_SCORE, frame_wh)
        observations.append((frame_index, track_id, keypoints, scores, box))
        if stats is not None:
            stats["finder_cpu_s"] += time.process_time() - started
        if box is None:
            continue
        persons.append({"keypoints": keypoints, "scores": scores, "box": box, "track_id": track_id,
                        "world_points": world})
    return frame_index, persons


def _upper_body(keypoints: np.ndarray) -> np.ndarray:
    """The (133, 2) points with hips, legs and feet (``core.keypoints.LOWER_BODY``) set to NaN."""
    upper = keypoints.copy()
    upper[list(LOWER_BODY)] = np.nan
    return upper
