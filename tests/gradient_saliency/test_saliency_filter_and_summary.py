"""Correlation filtering of chunks, and the reductions to per-keypoint numbers."""
from __future__ import annotations

import numpy as np
import pytest

from core.keypoints import BODY_55
from gradient_saliency import correlation_filter as cf
from gradient_saliency.summary import (BODY55_PARTS, FACE_REGIONS, audio_share, average_songs,
                                       keypoint_importance, part_importance, top_keypoints)


def _aggregated(counts_by_song: dict) -> dict:
    """{(artist, song): [violin count per chunk]} → the features stage's JSON shape."""
    out: dict = {}
    for (artist, song), counts in counts_by_song.items():
        out.setdefault(artist, {})[song] = {
            str(i): {"violin": c, "vocal": 100 - c, "total": 100} for i, c in enumerate(counts)}
    return out


def test_top_and_bottom_fraction_are_exact_with_deterministic_ties():
    # 20 chunks over three songs; counts chosen with ties at the cut
    aggregated = _aggregated({("A", "s1"): [5, 9, 0, 3, 9, 1, 7],
                              ("A", "s2"): [2, 9, 4, 6, 0, 8],
                              ("B", "s3"): [3, 3, 1, 0, 9, 5, 2]})
    pool = cf.chunk_counts(aggregated, [("A", "s1"), ("A", "s2"), ("B", "s3")], "violin")
    assert len(pool) == 20
    # independent ranking: every (count, artist, song, chunk) sorted by hand
    rows = sorted((c.count, c.artist, c.song, c.chunk) for c in pool)
    top = cf.select_chunks(pool, 0.25, top=True)          # k = 5
    assert sum(map(len, top.values())) == 5
    # four 9s, then the 8: ties at 9 need no breaking, all 9s and the single 8 are in
    assert top == {("A", "s1"): [1, 4], ("A", "s2"): [1, 5], ("B", "s3"): [4]}
    bottom = cf.select_chunks(pool, 0.1, top=False)       # k = 2 among the four zeros
    assert bottom == {("A", "s1"): [2], ("A", "s2"): [4]}   # ties by artist, song, chunk
    assert [r for r in rows if r[0] == 0][:2] == [(0, "A", "s1", 2), (0, "A", "s2", 4)]
    # top 3 of 20 (k = floor(0.15 * 20 + 0.5) = 3): three of the four 9s, in artist/song/chunk order
    assert cf.select_chunks(pool, 0.15, top=True) == {("A", "s1"): [1, 4], ("A", "s2"): [1]}
    # the other instrument ranks in the opposite order
    vocal_top = cf.select_chunks(cf.chunk_counts(aggregated, [("A", "s1"), ("A", "s2"), ("B", "s3")],
                                                 "vocal"), 0.1, top=True)
    assert vocal_top == bottom


def test_pool_respects_song_selection_and_missing_instrument():
    aggregated = _aggregated({("A", "s1"): [1, 2], ("A", "s2"): [3]})
    aggregated["A"]["s2"]["1"] = {"vocal": 4, "total": 4}          # no violin count
    pool = cf.chunk_counts(aggregated, [("A", "s2"), ("Z", "missing")], "violin")
    assert [(c.song, c.chunk, c.count) for c in pool] == [("s2", 0, 3.0)]
    # chunk 1 of s1 is the trailing partial chunk of a song with one whole chunk
    pool = cf.chunk_counts(aggregated, [("A", "s1")], "violin", n_chunks={("A", "s1"): 1})
    assert [(c.chunk, c.count) for c in pool] == [(0, 1.0)]


def test_whole_chunks_follow_the_separation_chunking():
    from gradient_saliency.pipeline import whole_chunks

    assert whole_chunks(14.0) == 3 and whole_chunks(12.0) == 3 and whole_chunks(11.99) == 2
    assert whole_chunks(3.9) == 0 and whole_chunks(None) is None


@pytest.mark.parametrize("fraction,size,expected", [(0.1, 20, 2), (0.1, 4, 1), (0.5, 5, 3),
                                                    (1.0, 7, 7), (0.01, 10, 1), (0.25, 0, 0)])
def test_number_selected(fraction, size, expected):
    assert cf.n_selected(fraction, size) == expected


def test_bad_fraction_and_labels(tmp_path):
    with pytest.raises(ValueError, match="fraction"):
        cf.n_selected(10, 5)
    with pytest.raises(FileNotFoundError, match="aggregated_strong_windows.json"):
        cf.load_aggregated(tmp_path)
    assert cf.filter_label(0.1, True) == "top_0.1" and cf.filter_label(0.25, False) == "bottom_0.25"
    assert cf.filter_label(None, None) == "all"


def test_keypoint_importance_and_audio_share_known_values():
    visual = np.zeros((1, 2, 3, 4))
    visual[0, 0, :, 1] = [1, -2, 3]          # joint 1: |.| sums to 6 over 6 entries -> 1.0
    visual[0, 1, 0, 3] = -6                  # joint 3: 6 / 6 = 1.0
    visual[0, :, :, 2] = 0.5                 # joint 2: 0.5
    np.testing.assert_allclose(keypoint_importance(visual), [[0.0, 1.0, 0.5, 1.0]])
    audio = np.array([[1.0, -1.0, 2.0]])     # sum |a| = 4; sum |v| = 6 + 6 + 3 = 15
    np.testing.assert_allclose(audio_share(audio, visual), [4 / 19])
    assert np.isnan(audio_share(np.zeros((1, 3)), np.zeros((1, 2, 3, 4))))[0]
    assert top_keypoints(np.array([0.0, 1.0, 0.5, 1.0]), 3) == [1, 3, 2]


def test_part_groups_cover_every_joint_once():
    face = sorted(j for joints in FACE_REGIONS.values() for j in joints)
    body = sorted(j for joints in BODY55_PARTS.values() for j in joints)
    assert face == list(range(68)) and body == list(range(len(BODY_55)))
    assert set(BODY55_PARTS) == {"head", "left_arm", "right_arm", "hips", "left_hand", "right_hand"}
    assert BODY55_PARTS["hips"] == (11, 12) and len(BODY55_PARTS["right_hand"]) == 21
    importance = np.arange(68, dtype=float)
    parts = part_importance("face", importance)
    assert parts["mouth"] == pytest.approx(np.mean(range(48, 68)))
    assert parts["jaw"] == pytest.approx(8.0)


def test_average_songs_weighs_songs_equally():
    def song(name, value, share, n_chunks):
        return {"artist": "A", "song": name, "chunks": list(range(n_chunks)),
                "keypoint_importance": {"face": np.full(68, value)}, "audio_share": share,
                "layout": {"face": np.ones((68, 2)) * value},
                "convergence_delta": {"max_abs": value / 10}}
    average = average_songs([song("x", 1.0, 0.2, 1), song("y", 3.0, None, 5)])
    np.testing.assert_allclose(average["keypoint_importance"]["face"], 2.0)
    assert average["audio_share"] == pytest.approx(0.2)        # the null share is left out
    assert average["n_chunks"] == 6 and average["n_songs"] == 2
    assert average["convergence_delta"]["max_abs"] == pytest.approx(0.3)
    assert average["part_importance"]["face"]["mouth"] == pytest.approx(2.0)
