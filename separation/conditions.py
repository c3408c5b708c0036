"""Data preparation per conditioning kind, registered by name (the data half of DESIGN §6b; the
model half is ``separation.encoders``).

Each kind has one ``ConditionData`` entry:

``prepare(song_dir, song_info, instrument, *, conventions, options) -> (values, mask)``
    A song's files → the encoder's input for the whole song at 25 fps, time first: ``values``
    ``(F25, ...)`` and a presence ``mask`` ``(F25, M)`` bool (``M`` = points for keypoints, 1 for
    frames). ``conventions`` are the checkpoint's input conventions (``separation.conventions``),
    ``options`` the model config's encoder options (``VoViTConfig.encoder_options``). A song the
    kind cannot use raises ``core.runner.SongSkipped`` with the reason.
``window(values, mask, start_frame, n_frames) -> (chunk input, chunk mask)``
    The 4-s chunk input (one example of the encoder's ``input_shape``) and its ``(n_frames, M)``
    mask, zero-padded (mask False) past the end.
``input_files(song_dir, instrument) -> list[Path]``
    What ``prepare`` reads besides the stems and the keypoint files of
    ``core.dataset.model_input_files`` (e.g. the video): the stages' re-run rule adds them.
``needs_video: bool``
    ``prepare`` reads the video (the benchmark then renders its scenes).
``remix_consistent: bool``
    Mix-and-separate (``separation.training``: a crop's accompaniment swapped for another crop's)
    leaves the kind's input true of the new mixture. False for ``scene_graph``: its input describes
    the other performers, whose sound the swap replaces, so a remixed example would teach the model
    to ignore them; training uses remix probability 0 for such a kind and records it
    (``effective_remix_probability``).

Every frame whose mask has fewer than 10 % of its ``M`` entries present is "missing"
(``separation.data.missing_frames``); chunks with too many missing frames are skipped, for every
kind by the same rule. Training, ``separate``, ``evaluate``, the benchmark and saliency call
``prepare_condition`` / ``condition_window`` and never branch on the kind.

Registered: ``face``, ``body``, ``face_body`` (``separation.data.load_song_visual``: normalised
keypoints ``(F25, J, 2)``, window ``(2, 100, J)``), ``frames`` (``separation.frame_crops``: RGB
crops ``(F25, 3, S, S)`` uint8, window ``(100, 3, S, S)``), ``text`` (``separation.text_input``:
the performer's sung syllables on the song-wide STFT grid, ``(F64, 1)`` class indices or
``(F64, 533)`` probabilities with a ``(F25, 1)`` mask, window ``(256, 533)``: the one kind whose
``values`` are not per video frame, so that the chunk input is at the spectrogram's frames) and
``scene_graph`` (``separation.scene_graph_input``: every performer's node features
``(F25, N, D)``, mask ``(F25, N)`` per node, window ``(N, 100, D)``) and ``points3d``
(``separation.points3d_input``: the performer's metric 3D points normalised per performer
``(F25, N, 3)``, mask ``(F25, N)`` per point, window ``(100, N, 4)``: x, y, z, present). To add a
kind, add its entry here (``separation.encoders`` lists the other steps).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .conventions import InputConventions
from .data import load_song_visual, visual_window
from .frame_crops import frames_input_files, frames_window, load_song_frames
from .points3d_input import points3d_input_files, points3d_window, prepare_points3d
from .scene_graph_input import prepare_scene_graph, scene_graph_input_files, scene_graph_window
from .text_input import prepare_text, text_input_files, text_window


@dataclass(frozen=True)
class ConditionData:
    name: str
    prepare: Callable[..., tuple[np.ndarray, np.ndarray]]
    window: Callable[[np.ndarray, np.ndarray, int, int], tuple[np.ndarray, np.ndarray]]
    input_files: Callable[[Path, str], list[Path]]
    needs_video: bool = False          # reads the song's video (the benchmark renders its scenes)
    remix_consistent: bool = True      # a swapped accompaniment leaves the input true (docstring)


def _keypoints(kind: str) -> ConditionData:
    def prepare(song_dir, song_info, instrument, *, conventions: InputConventions, options=None):
        return load_song_visual(song_dir, song_info, instrument, kind, conventions=conventions)

    return ConditionData(kind, prepare, visual_window, lambda song_dir, instrument: [])


def _prepare_frames(song_dir, song_info, instrument, *, conventions: InputConventions,
                    options=None):
    from .frames import FramesConfig

    crop_size = FramesConfig.from_options(dict(options or {})).crop_size
    return load_song_frames(song_dir, song_info, instrument, crop_size)


CONDITIONS: dict[str, ConditionData] = {
    "face": _keypoints("face"),
    "body": _keypoints("body"),
    "face_body": _keypoints("face_body"),
    "frames": ConditionData("frames", _prepare_frames, frames_window, frames_input_files,
                            needs_video=True),
    "text": ConditionData("text", prepare_text, text_window, text_input_files),
    "scene_graph": ConditionData("scene_graph", prepare_scene_graph, scene_graph_window,
                                 scene_graph_input_files, remix_consistent=False),
    "points3d": ConditionData("points3d", prepare_points3d, points3d_window, points3d_input_files),
}


def condition_data(kind: str) -> ConditionData:
    """The entry of a kind; ``ValueError`` for ``none`` (no condition) or an unknown kind."""
    if kind not in CONDITIONS:
        raise ValueError(f"no condition data for visual kind {kind!r}; known: "
                         f"{', '.join(CONDITIONS)}")
    return CONDITIONS[kind]


def effective_remix_probability(kind: str, requested: float) -> float:
    """The mix-and-separate probability training uses for a kind: ``requested``, or 0 for a kind
    whose input a swapped accompaniment would contradict (``remix_consistent`` False)."""
    if kind != "none" and not condition_data(kind).remix_consistent:
        return 0.0
    return requested


def prepare_condition(kind: str, song_dir: str | Path, song_info, instrument: str, *,
                      conventions: InputConventions, options: dict | None = None
                      ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(values (F25, ...), mask (F25, M))`` of one song for a kind; ``(None, None)`` for
    ``none`` (audio only)."""
    if kind == "none":
        return None, None
    return condition_data(kind).prepare(Path(song_dir), song_info, instrument,
                                        conventions=conventions, options=options)


def condition_window(kind: str, values: np.ndarray, mask: np.ndarray, start_frame: int,
                     n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The chunk input and mask of the window ``[start_frame, start_frame + n_frames)``."""
    return condition_data(kind).window(values, mask, start_frame, n_frames)


def condition_input_files(kind: str, song_dir: str | Path, instrument: str) -> list[Path]:
    """Files a kind's preparation reads beyond ``core.dataset.model_input_files``."""
    return [] if kind == "none" else condition_data(kind).input_files(Path(song_dir), instrument)
