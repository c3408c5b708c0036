"""Turn a song's inputs into per-performer drawing plans (all per-frame arrays, before the frame loop).

Bars shown per performer (when the feature exists): whole-body motion ``speed``; the violinist's bowing
``wrist_speed`` or the vocalist's ``mouth_area``; the performer's own stem ``rms`` and ``onset_env``.
Each is normalised per song (``signals.normalise_per_song``).
"""
from __future__ import annotations


import numpy as np

from core.pose_files import default_threshold
from .draw import Bar, PerformerPlan
from .inputs import AUDIO_FILE, MOTION_FILE, SPECIFIC_MOTION_FILE, PerformerInputs, SongInputs
from .signals import (WHOLE_BODY, fit_length, keypoint_highlight, normalise_per_song,
                      part_highlights, pca_brightness)
from .skeleton import display_skeleton
from .style import instrument_colour

# (file, feature, label) in display order; instrument-specific files only exist for their instrument
BAR_FEATURES = (
    (MOTION_FILE, "speed", "motion speed"),
    (SPECIFIC_MOTION_FILE["violin"], "wrist_speed", "bow wrist speed"),
    (SPECIFIC_MOTION_FILE["vocal"], "mouth_area", "mouth area"),
    (AUDIO_FILE, "rms", "audio rms"),
    (AUDIO_FILE, "onset_env", "audio onset"),
)


def feature_series(performer: PerformerInputs) -> list[tuple[str, str, np.ndarray, bool]]:
    """``[(label, feature, (F,) raw values, is_audio)]`` of the bar features this performer has."""
    out = []
    for file_name, feature, label in BAR_FEATURES:
        contents = performer.feature_files.get(file_name)
        if contents is not None and feature in contents.features:
            out.append((label, feature, contents.features[feature], file_name == AUDIO_FILE))
    return out


def performer_plan(performer: PerformerInputs, correlations: dict | None, n_frames: int, fps: float,
                   threshold: float | None, frames: tuple[int, int] | None = None) -> PerformerPlan:
    """Plan for one performer of a song of ``n_frames`` frames; ``threshold`` None = backend default;
    ``frames``: the ``(first, stop)`` frames that will be drawn (skeletons are prepared for those only;
    per-song normalisation always uses the whole song)."""
    pose = performer.pose
    info = pose.info
    skeleton = display_skeleton(
        pose.keypoints, pose.scores,
        default_threshold(info) if threshold is None else threshold,
        performer.instrument, info.get("position"), info.get("n_performers"), fps, face=performer.face,
        frames=frames)
    plan = PerformerPlan(performer.instrument, instrument_colour(performer.instrument), skeleton)
    motion = performer.feature_files.get(MOTION_FILE)
    if motion is not None:
        plan.brightness = pca_brightness(motion.raw.get("pca"))
    if correlations is not None:
        masks = part_highlights(correlations, performer.instrument, n_frames)
        plan.highlight = keypoint_highlight(masks, n_frames)
        plan.whole_body = masks.get(WHOLE_BODY, np.zeros(n_frames, dtype=bool))
    plan.bars = [Bar(label, normalise_per_song(fit_length(values, n_frames)))
                 for label, _, values, _ in feature_series(performer)]
    return plan


def song_plans(inputs: SongInputs, n_frames: int, fps: float, threshold: float | None,
               frames: tuple[int, int] | None = None) -> list[PerformerPlan]:
    """Plans for every performer, in stage order (left to right)."""
    performers = sorted(inputs.performers, key=lambda p: (p.position is None, p.position or 0))
    return [performer_plan(p, inputs.correlations, n_frames, fps, threshold, frames)
            for p in performers]
