"""On the demo dataset (real generator + real pose stage): each performer's motion correlates more
with their own stem than with the other instruments' stems.

The generator (demo_generator) drives every performer's motion from ``driver =
motion_driver(onset_envelope(own stem))`` with exactly our ``onset_env`` definition, so the test
counts, per performer, the strong windows (p < 0.05, |r| > 0.5) of all their motion features paired
with the ``onset_env`` of their own stem, and of each other stem. Counts, not a mean of per-pair
shares: a motion feature's NaN pattern is the same whatever audio it is paired with, so counts
compare like with like, and a feature defined in only a few windows (e.g. a bowing arm whose
keypoints are mostly below the score threshold) does not weigh as much as one defined everywhere —
the same counting as ``aggregated_strong_windows.json``, which by default (published) counts ``rms``
and ``onset_env`` of the own stem. (RMS and spectral centroid are not what
moves the performers, and the close-mic stems contain bleed from the others, so over only 4 s they
add noise, not evidence.)"""
import shutil

import numpy as np
import pytest

from conftest import run_cli
from core.io import load_json
from core.metadata import load_metadata


def strong_counts(doc: dict, audio_feature: str = "onset_env") -> dict[str, dict[str, int]]:
    """performer -> {audio instrument: strong windows over all the performer's motion features
    paired with that instrument's ``audio_feature``}."""
    counts: dict[str, dict[str, int]] = {}
    for pair in doc["pairs"]:
        if pair["audio_feature"] == audio_feature:
            per = counts.setdefault(pair["performer"], {})
            per[pair["audio_instrument"]] = per.get(pair["audio_instrument"], 0) + sum(pair["strong"])
    return counts


def test_strong_counts_sum_strong_windows_per_audio_instrument():
    doc = {"pairs": [
        {"performer": "vocal", "audio_instrument": "vocal", "audio_feature": "onset_env",
         "strong": [True, False, True]},
        {"performer": "vocal", "audio_instrument": "vocal", "audio_feature": "onset_env",
         "strong": [True, True, True]},
        {"performer": "vocal", "audio_instrument": "violin", "audio_feature": "onset_env",
         "strong": [False, False, True]},
        {"performer": "vocal", "audio_instrument": "vocal", "audio_feature": "rms",
         "strong": [True, True, True]}]}
    assert strong_counts(doc) == {"vocal": {"vocal": 5, "violin": 1}}


@pytest.mark.slow
def test_each_performer_correlates_most_with_their_own_stem(posed_demo_dataset, tmp_path):
    root = shutil.copytree(posed_demo_dataset, tmp_path / "demo_data")
    result = run_cli("feature_extraction.main", "--extract", "both", "--correlate",
                     "--dataset_path", str(root))
    songs = [s for s in load_metadata(root / "dataset_metadata.json")
             if s.fps is not None and not s.moving_camera]
    assert songs
    # the fps-null song is skipped with a reason, the moving-camera song has no correlation
    assert "null fps" in result.stderr
    aggregated = load_json(root / "results" / "correlation" / "aggregated_strong_windows.json")
    checked = 0
    for song in songs:
        doc = load_json(song.folder(root) / "correlation" / "correlations.json")
        for performer, per_stem in strong_counts(doc).items():
            own = per_stem[performer]
            for other, count in per_stem.items():
                if other != performer:
                    assert own > count, (song.key, performer, per_stem)
            checked += 1
        # the aggregated file counts, as published, the strong windows of the performer's motion
        # features with their own stem's rms and onset strength (not spectral centroid)
        own_published = {p: sum(sum(pair["strong"]) for pair in doc["pairs"]
                                if pair["performer"] == p and not pair["control"]
                                and pair["audio_feature"] in ("rms", "onset_env"))
                         for p in song.instruments}
        chunks = aggregated[song.artist][song.song]
        assert {p: sum(c[p] for c in chunks.values()) for p in song.instruments} == own_published
        # the published definitions the numbers rest on travel with them (README divergences)
        motion = load_json(song.folder(root) / "vocal" / "motion_features.json")["settings"]
        assert motion["motion_preprocessing"]["variant"] == "published"
        assert motion["pose_post_processing"]["wall_art_rule"] == "published"
        assert doc["settings"]["strong_window_features"] == "published"
        assert np.all([c["total"] == sum(c[p] for p in song.instruments) for c in chunks.values()])
    assert checked >= 3
    assert result.returncode == 0, result.stderr[-3000:]
