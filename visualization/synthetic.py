"""A small synthetic song with every input the overlay reads, for the tests and the benchmark.

Nothing here is a test double: it writes real files in the pipeline's formats (an H.264 ``.mov``
through ``core.video.VideoWriter``, keypoints through ``core.pose_files.save_instrument_pose``,
feature and correlation JSONs through ``core.io.save_json``, 48 kHz WAV audio), so that the renderer
runs end to end without the pose and feature stages. The keypoint positions are known exactly, which
lets tests look for the instrument's colour at known pixels.

Seated-performer template (units of ``s`` = shoulder width, y down, origin between the shoulders):
head points around (0, -0.6 s), shoulders at (±0.5 s, 0), elbows (±0.65 s, 0.45 s), wrists
(±0.35 s, 0.75 s), hands fanned below the wrists, hips/legs below (hidden by the overlay). Each
performer sways sideways, ``x += 0.05 s sin(2π 0.5 t)``, and moves its right wrist, elbow and hand
by ``0.15 s sin(2π 2 t)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.io import save_json
from core.keypoints import FACE_OFFSET, LEFT_HAND_OFFSET, NUM_KEYPOINTS, RIGHT_HAND_OFFSET
from core.pose_files import InstrumentPose, save_instrument_pose
from core.video import VideoWriter

AUDIO_SR = 48000
BODY_TEMPLATE = np.array([
    (0.0, -0.6), (0.08, -0.68), (-0.08, -0.68), (0.17, -0.64), (-0.17, -0.64),   # head
    (0.5, 0.0), (-0.5, 0.0), (0.65, 0.45), (-0.65, 0.45), (0.35, 0.75), (-0.35, 0.75),  # arms
    (0.35, 1.1), (-0.35, 1.1), (0.8, 1.3), (-0.8, 1.3), (0.4, 1.45), (-0.4, 1.45),      # hips, legs
])
FEET_TEMPLATE = np.array([(0.45, 1.5), (0.5, 1.5), (0.4, 1.5), (-0.45, 1.5), (-0.5, 1.5), (-0.4, 1.5)])


def _face_template() -> np.ndarray:
    """(68, 2) iBUG-ordered face around the nose at (0, -0.6), units of s."""
    cx, cy, r = 0.0, -0.6, 0.16
    jaw = [(cx + r * np.cos(a), cy + 1.2 * r * np.sin(a)) for a in np.linspace(np.pi, 0, 17)[::-1]]
    jaw = [(x, y + 0.02) for x, y in jaw]
    brows = [(cx - 0.13 + 0.025 * i, cy - 0.1) for i in range(5)] + \
            [(cx + 0.03 + 0.025 * i, cy - 0.1) for i in range(5)]
    bridge = [(cx, cy - 0.06 + 0.02 * i) for i in range(4)]
    nostrils = [(cx - 0.04 + 0.02 * i, cy + 0.03) for i in range(5)]
    eye = lambda ex: [(ex + 0.03 * np.cos(a), cy - 0.05 + 0.015 * np.sin(a))  # noqa: E731
                      for a in np.linspace(np.pi, -np.pi, 6, endpoint=False)]
    lips_outer = [(cx + 0.06 * np.cos(a), cy + 0.09 + 0.025 * np.sin(a))
                  for a in np.linspace(np.pi, -np.pi, 12, endpoint=False)]
    lips_inner = [(cx + 0.04 * np.cos(a), cy + 0.09 + 0.012 * np.sin(a))
                  for a in np.linspace(np.pi, -np.pi, 8, endpoint=False)]
    face = np.array(jaw + brows + bridge + nostrils + eye(-0.07) + eye(0.07) + lips_outer + lips_inner)
    assert face.shape == (68, 2)
    return face


def _hand_template(wrist: np.ndarray, side: float) -> np.ndarray:
    """(21, 2) hand: wrist, then five fingers of four points fanning downwards."""
    points = [wrist]
    for finger in range(5):
        dx = side * (-0.08 + 0.04 * finger)
        for joint in range(1, 5):
            points.append(wrist + np.array([dx * (1 + 0.3 * joint), 0.06 + 0.05 * joint]))
    return np.array(points)


def person_template() -> np.ndarray:
    """(133, 2) COCO-WholeBody seated person in units of shoulder width (module docstring)."""
    person = np.zeros((NUM_KEYPOINTS, 2))
    person[:17] = BODY_TEMPLATE
    person[17:23] = FEET_TEMPLATE
    person[FACE_OFFSET:FACE_OFFSET + 68] = _face_template()
    person[LEFT_HAND_OFFSET:LEFT_HAND_OFFSET + 21] = _hand_template(BODY_TEMPLATE[9], 1.0)
    person[RIGHT_HAND_OFFSET:RIGHT_HAND_OFFSET + 21] = _hand_template(BODY_TEMPLATE[10], -1.0)
    return person


RIGHT_SIDE_MOVING = (8, 10) + tuple(range(RIGHT_HAND_OFFSET, RIGHT_HAND_OFFSET + 21))


def performer_keypoints(n_frames: int, fps: float, centre: tuple[float, float], shoulder_width: float,
                        phase: float = 0.0) -> np.ndarray:
    """(F, 133, 2) float32 pixels of one swaying, playing performer (module docstring)."""
    t = np.arange(n_frames) / fps
    base = person_template() * shoulder_width + np.asarray(centre)
    out = np.repeat(base[None], n_frames, axis=0)
    out[:, :, 0] += 0.05 * shoulder_width * np.sin(2 * np.pi * 0.5 * t + phase)[:, None]
    out[:, list(RIGHT_SIDE_MOVING), 1] += \
        0.15 * shoulder_width * np.sin(2 * np.pi * 2.0 * t + phase)[:, None]
    return out.astype(np.float32)


@dataclass
class SyntheticSong:
    dataset: Path
    artist: str
    song: str
    fps: float
    n_frames: int
    width: int
    height: int
    layout: tuple[str, ...]
    keypoints: dict[str, np.ndarray] = field(default_factory=dict)   # instrument → (F, 133, 2), true
    # positions (the saved keypoints have NaN at ``missing_frames``)
    scores: dict[str, np.ndarray] = field(default_factory=dict)      # instrument → (F, 133)

    @property
    def folder(self) -> Path:
        return self.dataset / self.artist / self.song


def _background(width: int, height: int) -> np.ndarray:
    """A dim gradient with some texture, like a stage backdrop."""
    y, x = np.mgrid[0:height, 0:width]
    base = 40 + 30 * (y / height) + 10 * np.sin(x / 23.0) * np.cos(y / 17.0)
    frame = np.stack([base, 0.8 * base, 0.6 * base], axis=-1)
    return frame.clip(0, 255).astype(np.uint8)


def write_video(path: Path, keypoints: dict[str, np.ndarray], fps: float, width: int, height: int,
                n_frames: int) -> None:
    """An H.264 video of grey silhouettes (filled boxes) moving with each performer's torso."""
    import cv2

    background = _background(width, height)
    with VideoWriter(path, fps=fps, width=width, height=height, crf=23) as writer:
        for f in range(n_frames):
            frame = background.copy()
            for points in keypoints.values():
                upper = points[f, :11]
                x0, y0 = np.floor(upper.min(axis=0)).astype(int)
                x1, y1 = np.ceil(upper.max(axis=0)).astype(int)
                cv2.rectangle(frame, (int(x0), int(y0)), (int(x1), int(y1)), (120, 110, 100), -1)
            writer.write(frame)


def correlation_block(layout: tuple[str, ...], n_frames: int, fps: float,
                      strong_windows: dict[tuple[str, str | None], list[int]]) -> dict:
    """A ``correlations.json`` dict: 0.5-s windows every 0.1 s; ``strong_windows`` maps
    ``(performer, body_part)`` to the indices of its strong own-audio windows (all else weak)."""
    window_frames = int(round(0.5 * fps))
    step = max(1, int(round(0.1 * fps)))
    starts = list(range(0, max(1, n_frames - window_frames + 1), step))
    pairs = []
    for performer in layout:
        for part in (None, "head", "left_arm", "right_arm", "face", "left_hand", "right_hand"):
            strong = [False] * len(starts)
            for w in strong_windows.get((performer, part), []):
                if w < len(strong):         # a short song has fewer windows
                    strong[w] = True
            pairs.append({"performer": performer, "motion_file": "motion_features.json",
                          "motion_feature": f"{part}_speed" if part else "speed", "body_part": part,
                          "audio_instrument": performer, "audio_feature": "rms", "control": False,
                          "r": [0.9 if s else 0.1 for s in strong],
                          "p": [0.01 if s else 0.5 for s in strong], "strong": strong})
            # a control pair that is strong everywhere must never light anything up
            pairs.append({**pairs[-1], "audio_instrument": "other", "control": True,
                          "strong": [True] * len(starts)})
    return {"fps": fps, "window_s": 0.5, "step_s": 0.1, "window_start_frames": starts,
            "window_frames": window_frames, "pairs": pairs}


def _feature_file(artist: str, song: str, instrument: str, fps: float, n_frames: int,
                  features: dict[str, np.ndarray], units: dict[str, str], **extra) -> dict:
    return {"artist": artist, "song": song, "instrument": instrument, "fps": fps,
            "n_frames": n_frames, "units": units, "settings": {"synthetic": True},
            "features": {k: np.asarray(v, dtype=np.float64) for k, v in features.items()}, **extra}


def build_synthetic_song(dataset: str | Path, artist: str = "Synth Artist", song: str = "Synth Song",
                         seconds: float = 2.0, fps: float = 30.0, width: int = 640, height: int = 360,
                         layout: tuple[str, ...] = ("vocal", "violin", "mridangam"),
                         features: bool = True, correlations: bool = True,
                         audio: str | None = "mixture", strong_windows=None,
                         missing_frames: tuple[int, ...] = ()) -> SyntheticSong:
    """Write a synthetic song under ``dataset/artist/song`` and the dataset's metadata.

    ``audio``: "mixture" (``mixture.wav`` + stems), "stems" (stems only) or None. ``missing_frames``:
    frames where no performer was detected (NaN keypoints, zero scores). ``strong_windows``: see
    ``correlation_block`` (default: the vocalist's right arm in windows 2–4).
    """
    import soundfile as sf

    dataset = Path(dataset)
    n_frames = int(round(seconds * fps))
    info = SyntheticSong(dataset, artist, song, fps, n_frames, width, height, tuple(layout))
    folder = info.folder
    folder.mkdir(parents=True, exist_ok=True)
    n = len(layout)
    shoulder = 0.32 * width / n
    for position, instrument in enumerate(layout):
        centre = ((position + 0.5) * width / n, 0.42 * height)
        truth = performer_keypoints(n_frames, fps, centre, shoulder, phase=position)
        keypoints = truth.copy()
        scores = np.full(keypoints.shape[:2], 0.9, dtype=np.float32)
        keypoints[list(missing_frames)] = np.nan
        scores[list(missing_frames)] = 0.0
        info.keypoints[instrument], info.scores[instrument] = truth, scores
        save_instrument_pose(folder / instrument, InstrumentPose(keypoints, scores, {
            "backend": "mediapipe", "model": "synthetic", "score_scale": "probability", "fps": fps,
            "frame_size": [width, height], "position": position, "n_performers": n,
            "layout": list(layout)}))
    write_video(folder / "video.mov", info.keypoints, fps, width, height, n_frames)

    t = np.arange(n_frames) / fps
    if features:
        for position, instrument in enumerate(layout):
            speed = 1.0 + np.sin(2 * np.pi * 0.5 * t + position)
            motion = {"speed": speed, "acceleration": np.abs(np.gradient(speed))}
            for part in ("head", "left_arm", "right_arm", "face", "left_hand", "right_hand"):
                motion[f"{part}_speed"] = speed
            pca = {"keypoint_indices": [0, 5, 6, 8, 10], "loadings": [[0.1, 0.2, 0.2, 0.5, 1.0],
                                                                      [1.0, 0.0, 0.0, 0.0, 0.0]],
                   "explained_variance_ratio": [0.7, 0.2]}
            save_json(folder / instrument / "motion_features.json", _feature_file(
                artist, song, instrument, fps, n_frames, motion,
                {k: "normalised units/s" for k in motion}, pca=pca))
            rms = 0.1 + 0.05 * np.cos(2 * np.pi * 1.0 * t + position)
            rms[:3] = np.nan      # audio features may start with nulls
            save_json(folder / instrument / "audio_features.json", _feature_file(
                artist, song, instrument, fps, n_frames,
                {"rms": rms, "onset_env": np.abs(np.sin(2 * np.pi * 3 * t)),
                 "spectral_centroid": np.full(n_frames, 1500.0)},
                {"rms": "amplitude", "onset_env": "onset strength", "spectral_centroid": "Hz"}))
        if "violin" in layout:
            save_json(folder / "violin" / "violin_motion_features.json", _feature_file(
                artist, song, "violin", fps, n_frames,
                {"wrist_speed": np.abs(np.cos(2 * np.pi * 2 * t)), "elbow_angle": 90 + 10 * np.sin(t),
                 "arm_extension": np.ones(n_frames)}, {"wrist_speed": "px/s", "elbow_angle": "deg",
                                                       "arm_extension": "px"}))
        if "vocal" in layout:
            save_json(folder / "vocal" / "vocal_motion_features.json", _feature_file(
                artist, song, "vocal", fps, n_frames,
                {"mouth_area": 1 + np.sin(2 * np.pi * 1.5 * t), "jaw_to_nose": np.ones(n_frames)},
                {"mouth_area": "px^2", "jaw_to_nose": "px"}))
    if correlations:
        strong = strong_windows if strong_windows is not None else {
            (layout[0], "right_arm"): [2, 3, 4]}
        save_json(folder / "correlation" / "correlations.json",
                  correlation_block(tuple(layout), n_frames, fps, strong))

    if audio is not None:
        audio_t = np.arange(int(round(seconds * AUDIO_SR))) / AUDIO_SR
        stems = {}
        for k, instrument in enumerate(layout):
            stems[instrument] = (0.2 * np.sin(2 * np.pi * (220 * (k + 1)) * audio_t)).astype(np.float32)
            sf.write(folder / f"{instrument}_1.wav", stems[instrument], AUDIO_SR)
        if audio == "mixture":
            sf.write(folder / "mixture.wav", sum(stems.values()), AUDIO_SR)

    metadata_path = dataset / "dataset_metadata.json"
    from core.io import load_json
    metadata = load_json(metadata_path) if metadata_path.exists() else {}
    metadata.setdefault(artist, {})[song] = {"layout": list(layout), "moving_camera": False, "fps": fps,
                                            "duration": seconds, "correct_body_detection": True,
                                            "face_false_positive_frames": []}
    save_json(metadata_path, metadata)
    return info
