"""Read one song's overlay inputs from disk (the only file reading of the package besides the video).

Keypoints are required: a missing or malformed keypoint file is a ``SongDataError`` naming the file.
Feature files are optional: each missing one is listed in ``SongInputs.missing`` so the caller can say
what will not be drawn.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.dataset import (AUDIO_FEATURES_NAME, CORRELATION_DIR, CORRELATIONS_NAME,
                          FACE_KEYPOINTS_NAME, KEYPOINTS_NAME, MOTION_FEATURES_NAME, POSE_INFO_NAME,
                          SCORES_NAME, SPECIFIC_MOTION_FEATURES_NAME, SongDataError)
from core.io import load_json, load_npy, null_to_nan
from core.pose_files import InstrumentPose, load_instrument_pose

MOTION_FILE = MOTION_FEATURES_NAME
AUDIO_FILE = AUDIO_FEATURES_NAME
SPECIFIC_MOTION_FILE = SPECIFIC_MOTION_FEATURES_NAME
CORRELATIONS_FILE = Path(CORRELATION_DIR) / CORRELATIONS_NAME


@dataclass
class FeatureFile:
    """A feature JSON: ``features`` name → (F,) float64 with NaN for null; the raw dict kept."""
    path: Path
    features: dict[str, np.ndarray]
    raw: dict


@dataclass
class PerformerInputs:
    instrument: str
    pose: InstrumentPose
    face: np.ndarray | None = None                        # (F, 68, 2) pixels, vocalist only
    feature_files: dict[str, FeatureFile] = field(default_factory=dict)   # file name → contents

    @property
    def position(self) -> int | None:
        return self.pose.info.get("position")


@dataclass
class SongInputs:
    performers: list[PerformerInputs]
    correlations: dict | None
    missing: list[str] = field(default_factory=list)      # feature files not found (relative paths)


def load_feature_file(path: Path) -> FeatureFile:
    """Read a feature JSON; a file without a ``features`` object is a ``SongDataError``."""
    raw = load_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("features"), dict):
        raise SongDataError(f"{path}: not a feature file (no 'features' object)")
    return FeatureFile(path, {name: null_to_nan(values) for name, values in raw["features"].items()},
                       raw)


def feature_file_names(instrument: str) -> tuple[str, ...]:
    names = (MOTION_FILE, AUDIO_FILE)
    return names + ((SPECIFIC_MOTION_FILE[instrument],) if instrument in SPECIFIC_MOTION_FILE else ())


def overlay_input_paths(song_dir: str | Path, layout: tuple[str | None, ...],
                        with_features: bool = True, with_audio: bool = False) -> list[Path]:
    """Every file a clip may be drawn from, besides the video (those that exist are its inputs
    for the re-run rule, ``core.freshness``): keypoints, and the feature files and wavs if used."""
    song_dir = Path(song_dir)
    paths = []
    for instrument in (i for i in layout if i is not None):
        folder = song_dir / instrument
        paths += [folder / KEYPOINTS_NAME, folder / SCORES_NAME, folder / POSE_INFO_NAME,
                  folder / FACE_KEYPOINTS_NAME]
        if with_features:
            paths += [folder / name for name in feature_file_names(instrument)]
    if with_features:
        paths.append(song_dir / CORRELATIONS_FILE)
    if with_audio:
        paths += sorted(song_dir.glob("*.wav"))
    return paths


def load_song_inputs(song_dir: str | Path, layout: tuple[str | None, ...],
                     with_features: bool = True) -> SongInputs:
    """Keypoints of every named instrument of ``layout`` (stage order) and, if asked, its features.

    A keypoint file whose recorded ``layout`` disagrees with the metadata is a ``SongDataError``.
    """
    song_dir = Path(song_dir)
    performers, missing = [], []
    for slot, instrument in enumerate(layout):
        if instrument is None:
            continue
        pose = load_instrument_pose(song_dir, instrument)
        recorded = pose.info.get("layout")
        if recorded is not None and list(recorded) != list(layout):
            raise SongDataError(f"{song_dir / instrument}: keypoints were made for layout {recorded}, "
                                f"metadata says {list(layout)} (re-run pose_estimation --post)")
        pose.info.setdefault("position", slot)
        pose.info.setdefault("n_performers", len(layout))
        performer = PerformerInputs(instrument, pose)
        face_path = song_dir / instrument / FACE_KEYPOINTS_NAME
        if instrument == "vocal" and face_path.exists():
            performer.face = load_npy(face_path).astype(np.float64)
        if with_features:
            for name in feature_file_names(instrument):
                path = song_dir / instrument / name
                if path.exists():
                    performer.feature_files[name] = load_feature_file(path)
                else:
                    missing.append(f"{instrument}/{name}")
        performers.append(performer)
    correlations = None
    if with_features:
        path = song_dir / CORRELATIONS_FILE
        if path.exists():
            correlations = load_json(path)
        else:
            missing.append(str(CORRELATIONS_FILE))
    return SongInputs(performers, correlations, missing)
