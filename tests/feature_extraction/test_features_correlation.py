"""Sliding-window Pearson correlation, p-values, strong windows and chunk counts."""
import numpy as np
from scipy.special import stdtr
from scipy.stats import pearsonr

from feature_extraction.correlation import (chunk_counts, pearson_p_value, sliding_pearson,
                                            strong_windows, window_grid)

FPS = 30.0


def test_window_grid_at_30_and_24_fps():
    grid = window_grid(60, 30.0)                 # 0.5 s = 15 frames, 0.1 s = 3 frames
    assert grid.length == 15
    np.testing.assert_array_equal(grid.starts, np.arange(0, 46, 3))
    grid24 = window_grid(48, 24.0)               # 12 frames, steps of 2.4 frames rounded
    assert grid24.length == 12
    np.testing.assert_array_equal(grid24.starts[:6], [0, 2, 5, 7, 10, 12])
    assert grid24.starts[-1] + 12 <= 48
    assert window_grid(10, 30.0).starts.size == 0


def test_p_value_closed_form_matches_student_t():
    r = np.linspace(-0.999, 0.999, 401)
    for dof in range(1, 25):
        t = r * np.sqrt(dof / (1 - r * r))
        np.testing.assert_allclose(pearson_p_value(r, dof), 2 * stdtr(dof, -np.abs(t)),
                                   atol=1e-12)
    assert pearson_p_value(np.array([1.0]), 13)[0] == 0.0
    assert np.isnan(pearson_p_value(np.array([np.nan]), 13)[0])


def test_identical_signals_correlate_at_one_with_every_window_strong():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    grid = window_grid(300, FPS)
    r, p, n = sliding_pearson(x, x, grid)
    np.testing.assert_allclose(r, 1.0)
    assert strong_windows(r, p).all() and (n == 15).all()
    r_neg, p_neg, _ = sliding_pearson(x, -2 * x + 5, grid)
    np.testing.assert_allclose(r_neg, -1.0)
    assert strong_windows(r_neg, p_neg).all()


def test_independent_noise_is_almost_never_strong():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2, 30 * 600))
    grid = window_grid(len(x), FPS)
    r, p, _ = sliding_pearson(x, y, grid)
    share = strong_windows(r, p).mean()
    # under independence p < 0.05 happens in 5% of windows, and at n = 15 it implies |r| > 0.51
    assert share < 0.08


def test_nan_gaps_match_scipy_per_window_and_sparse_windows_are_nan():
    rng = np.random.default_rng(2)
    x = rng.normal(size=240)
    y = 0.6 * x + rng.normal(size=240)
    x[30:40] = np.nan                   # 10 of 15 frames missing in some windows: too few pairs
    y[100:104] = np.nan
    y[150:170:3] = np.nan
    grid = window_grid(240, FPS)
    r, p, n = sliding_pearson(np.stack([x, y]), y[None], grid)      # also exercises (M, A, W)
    assert r.shape == (2, 1, grid.starts.size)
    for j, start in enumerate(grid.starts):
        xs, ys = x[start:start + 15], y[start:start + 15]
        ok = np.isfinite(xs) & np.isfinite(ys)
        assert n[0, 0, j] == ok.sum()
        if ok.sum() < grid.min_pairs:
            assert np.isnan(r[0, 0, j]) and not strong_windows(r, p)[0, 0, j]
        else:
            expected = pearsonr(xs[ok], ys[ok])
            np.testing.assert_allclose(r[0, 0, j], expected.statistic, atol=1e-12)
            np.testing.assert_allclose(p[0, 0, j], expected.pvalue, atol=1e-12)


def test_constant_window_has_no_correlation():
    x = np.r_[np.ones(30), np.arange(30.0)]
    grid = window_grid(60, FPS)
    r, p, _ = sliding_pearson(x, np.arange(60.0), grid)
    assert np.isnan(r[0]) and np.isnan(p[0]) and np.isfinite(r[-1])


def test_chunk_counts_per_four_second_chunk():
    grid = window_grid(300, FPS)                 # starts 0, 3, ..., 285; chunk = start // 120
    strong = np.zeros((2, grid.starts.size), bool)
    strong[0, grid.starts < 120] = True          # 40 windows in chunk 0
    strong[1, grid.starts >= 240] = True         # starts 240..285: 16 windows in chunk 2
    assert chunk_counts(strong, grid, FPS) == {0: 40, 1: 0, 2: 16}


def test_published_count_uses_own_rms_and_onset_only_all_counts_every_own_pair():
    """Two motion features (speed, pca_1) × four audio features; every pair is strong in a known
    number of windows of chunk 0. Published: speed × own rms and onset strength only; all: every
    motion feature × every own-stem feature; the other stem never counts."""
    import pytest

    from feature_extraction.pipeline import count_settings, counted_pairs

    grid = window_grid(120, FPS)                     # one 4-s chunk: starts 0, 3, ..., 105
    motion = ["speed", "pca_1"]
    audio = [("vocal", "rms"), ("vocal", "onset_env"), ("vocal", "spectral_centroid"),
             ("violin", "rms")]
    strong_per_pair = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])   # < 36 windows
    strong = np.zeros((2, 4, grid.starts.size), bool)
    for m in range(2):
        for a in range(4):
            strong[m, a, :strong_per_pair[m, a]] = True
    published = counted_pairs(motion, audio, "vocal")
    np.testing.assert_array_equal(published, [[True, True, False, False],
                                              [False, False, False, False]])
    assert chunk_counts(strong[published], grid, FPS) == {0: 1 + 2}
    every = counted_pairs(motion, audio, "vocal", "all")
    assert chunk_counts(strong[every], grid, FPS) == {0: 1 + 2 + 3 + 5 + 6 + 7}
    assert counted_pairs(motion, audio, "violin").tolist() == [[False, False, False, True],
                                                               [False, False, False, False]]
    assert count_settings("published")["published"] is True
    with pytest.raises(ValueError, match="unknown strong-window count rule"):
        counted_pairs(motion, audio, "vocal", "most")
