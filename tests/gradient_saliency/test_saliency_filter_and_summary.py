"""Correlation filtering of chunks, and the reductions to per-keypoint numbers."""
from __future__ import annotations

import numpy as np
import pytest

from core.keypoints import BODY_55
from gradient_saliency import correlation_filter as cf
from gradient_saliency.summary import (BODY55_PARTS, FACE_REGIONS, audio_share, average_songs,
                                       keypoint_importance, missing_keypoint_share,
                                       part_importance, part_sums, top_keypoints)


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


def test_missing_keypoints_are_no_data_never_zero():
    """Joint 0 is missing in every frame, joint 1 in frame 2 only (whose attribution is large and
    must not count), joint 2 always present and 0: only joint 2 is a real zero."""
    visual = np.zeros((1, 2, 3, 3))
    visual[0, 0, :, 0] = 5.0                 # attribution on a missing point (e.g. face vs mean face)
    visual[0, 0, :, 1] = [1.0, 3.0, 100.0]   # frame 2 missing: mean over frames 0, 1 = 4 / 4 = 1
    mask = np.array([[[False, True, True], [False, True, True], [False, False, True]]])
    importance = keypoint_importance(visual, mask)
    assert np.isnan(importance[0, 0])
    np.testing.assert_allclose(importance[0, 1:], [1.0, 0.0])
    # without a mask every frame counts (the published reduction on complete inputs)
    np.testing.assert_allclose(keypoint_importance(visual), [[2.5, 104 / 6, 0.0]])
    audio = np.array([[2.0, -2.0]])          # 4 against 4 present: the missing 115 never counts
    np.testing.assert_allclose(audio_share(audio, visual, mask), [0.5])
    np.testing.assert_allclose(missing_keypoint_share(visual, mask), [115 / 119])
    assert top_keypoints(importance[0], 3) == [1, 2]          # no-data joint never ranked


def test_part_importance_pools_present_frames_and_is_nan_without_data():
    sums, counts = np.zeros(68), np.zeros(68)
    sums[48], counts[48] = 6.0, 3                 # mouth: 6 / (2 · 3)
    sums[49], counts[49] = 2.0, 1                 # pooled: (6 + 2) / (2 · 4) = 1.0
    sums[0:17] = 1.0                              # jaw attribution, but never present
    parts = part_sums("face", sums, counts)
    assert parts["mouth"] == pytest.approx(1.0)
    assert np.isnan(parts["jaw"]) and np.isnan(parts["nose"])
    means = part_importance("face", np.where(counts > 0, sums / np.maximum(2 * counts, 1), np.nan))
    assert means["mouth"] == pytest.approx((1.0 + 1.0) / 2) and np.isnan(means["eyes"])


def _song(name, face_value, share, n_chunks, hand=None, hand_coverage=0.0):
    """A per-song result as JSON holds it: a right hand (body 34-54) with no data is null."""
    body = [1.0] * 34 + [hand] * 21
    coverage = [1.0] * 34 + [hand_coverage] * 21
    return {"artist": "A", "song": name, "chunks": list(range(n_chunks)), "n_frames": 100 * n_chunks,
            "keypoint_importance": {"face": np.full(68, face_value).tolist(), "body": body},
            "keypoint_coverage": {"face": [1.0] * 68, "body": coverage},
            "part_importance": {"face": {"mouth": face_value},
                                "body": {"right_hand": hand, "head": 1.0}},
            "audio_share": share, "layout": {"face": np.ones((68, 2)) * face_value},
            "convergence_delta": {"max_abs": face_value / 10,
                                  "relative_per_chunk": [face_value / 100] * n_chunks}}


def test_average_songs_weighs_songs_equally_and_only_songs_with_data():
    average = average_songs([_song("x", 1.0, 0.2, 1), _song("y", 3.0, None, 5, hand=4.0,
                                                                         hand_coverage=0.5)])
    np.testing.assert_allclose(average["keypoint_importance"]["face"], 2.0)
    assert average["audio_share"] == pytest.approx(0.2)        # the null share is left out
    assert average["n_chunks"] == 6 and average["n_songs"] == 2 and average["n_frames"] == 600
    assert average["convergence_delta"]["max_abs"] == pytest.approx(0.3)
    # relative deltas of all 6 chunks: one 0.01, five 0.03
    assert average["convergence_delta"]["relative_median"] == pytest.approx(0.03)
    assert average["convergence_delta"]["relative_max"] == pytest.approx(0.03)
    assert average["part_importance"]["face"]["mouth"] == pytest.approx(2.0)
    # the hand has data in song y only: its mean is y's value, not (0 + 4) / 2
    np.testing.assert_allclose(average["keypoint_importance"]["body"][34:], 4.0)
    assert average["part_importance"]["body"]["right_hand"] == pytest.approx(4.0)
    np.testing.assert_array_equal(average["songs_with_data"]["body"][34:], 1)
    # coverage is frame-weighted: 0.5 of y's 500 frames out of 600
    np.testing.assert_allclose(average["keypoint_coverage"]["body"][34:], 250 / 600)
    assert average["coverage"]["body"] == pytest.approx((34 + 21 * 250 / 600) / 55)
    assert average["coverage"]["face"] == pytest.approx(1.0)
    nobody = average_songs([_song("x", 1.0, 0.2, 1)])
    assert np.isnan(nobody["keypoint_importance"]["body"][34:]).all()
    assert np.isnan(nobody["part_importance"]["body"]["right_hand"])


def test_no_data_is_null_in_json_and_drawn_as_no_data(tmp_path):
    import matplotlib.pyplot as plt

    from core.io import load_json, save_json
    from gradient_saliency.figures import draw_part_bars

    average = average_songs([_song("x", 1.0, 0.2, 1)])
    save_json(tmp_path / "a.json", average)
    written = load_json(tmp_path / "a.json")
    assert written["keypoint_importance"]["body"][34:] == [None] * 21
    assert written["part_importance"]["body"]["right_hand"] is None
    fig, ax = plt.subplots()
    draw_part_bars(ax, {"head": 1.0, "right_hand": None}, {"head": 1.0, "right_hand": 0.0}, "body")
    texts = [t.get_text() for t in ax.texts]
    assert "no data" in texts and "100%" in texts
    heights = {round(p.get_x() + p.get_width() / 2): (p.get_height(), p.get_hatch())
               for p in ax.patches}
    assert heights[0] == (1.0, None)                  # real bar
    assert heights[1][1] == "//"                      # hatched "no data" bar, not a zero bar
    plt.close(fig)
