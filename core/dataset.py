"""Where things live inside a song folder: the video, the stems, per-instrument outputs."""
from __future__ import annotations

from pathlib import Path

VIDEO_SUFFIXES = (".mov",)
POSE_PICKLE_NAME = "pose_estimation_30fps.pkl"   # published name; the real fps is stored inside
KEYPOINTS_NAME = "keypoints.npy"
SCORES_NAME = "keypoint_scores.npy"
FACE_KEYPOINTS_NAME = "face_keypoints.npy"
POSE_INFO_NAME = "pose_info.json"                # backend and score scale next to the keypoints
# feature_extraction outputs, read by visualization and attention_analysis
MOTION_FEATURES_NAME = "motion_features.json"           # <song>/<instrument>/
SPECIFIC_MOTION_FEATURES_NAME = {"violin": "violin_motion_features.json",
                                 "vocal": "vocal_motion_features.json"}
AUDIO_FEATURES_NAME = "audio_features.json"             # <song>/<instrument>/
CORRELATION_DIR = "correlation"                         # <song>/correlation/
CORRELATIONS_NAME = "correlations.json"


class SongDataError(RuntimeError):
    """A song's files are missing or unusable; the message names what and where."""


def find_video(song_dir: str | Path) -> Path:
    """The song's video: the first ``.mov`` in the folder, sorted by name."""
    song_dir = Path(song_dir)
    if not song_dir.is_dir():
        raise SongDataError(f"song folder {song_dir} does not exist")
    videos = sorted(p for p in song_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    if not videos:
        raise SongDataError(f"no .mov video in {song_dir}")
    return videos[0]


def stem_prefix(instrument: str) -> str:
    """File-name prefix of an instrument's stems: mridangam stems may only contain "mri"."""
    return "mri" if instrument == "mridangam" else instrument


def find_stems(song_dir: str | Path, instrument: str) -> list[Path]:
    """The instrument's ``.wav`` stems in the song folder (sorted); several are averaged by users.

    Matching is on the file-name start, case-insensitive (``vocal_*.wav``, ``mri_left.wav``,
    ``mridangam-right.wav``); the mixture is never a stem.
    """
    song_dir = Path(song_dir)
    prefix = stem_prefix(instrument).lower()
    return sorted(p for p in song_dir.glob("*.wav")
                  if p.name.lower().startswith(prefix) and p.is_file())


def find_mixture(song_dir: str | Path) -> Path | None:
    """The provided mixture (``mixture*.wav`` or ``mix*.wav``) if there is one."""
    candidates = sorted(p for p in Path(song_dir).glob("*.wav") if p.name.lower().startswith("mix"))
    return candidates[0] if candidates else None


def model_input_files(song_dir: str | Path, instrument: str) -> list[Path]:
    """The files a separation model's input for ``instrument`` is read from: every ``.wav`` of the
    song (stems and mixture) and the performer's keypoints, scores, pose info and face keypoints.
    The re-run rule's inputs (``core.freshness``) of every stage that runs the models (separate,
    evaluate, saliency, attention); the checkpoint is added by the stage."""
    song_dir = Path(song_dir)
    return [*sorted(song_dir.glob("*.wav")),
            *(song_dir / instrument / name
              for name in (KEYPOINTS_NAME, SCORES_NAME, POSE_INFO_NAME, FACE_KEYPOINTS_NAME))]


def instrument_dir(song_dir: str | Path, instrument: str) -> Path:
    return Path(song_dir) / instrument
