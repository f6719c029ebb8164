"""Localisation metrics of importance maps on hand-made maps and boxes."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

from asd_tf.errors import MetricError
from asd_tf.explain.localization import (
    box_mask,
    box_rank,
    inside_outside_means,
    inside_outside_ratio,
    localize,
    summarize_localization,
)

Box = namedtuple("Box", "kind t_start_s t_end_s f_low_hz f_high_hz")


def test_box_mask_selects_frame_and_bin_centres_inside_the_box():
    # frames at 0.0, 0.1, ..., 0.9 s; bins at 0, 100, ..., 700 Hz
    m = box_mask((10, 8), (0.2, 0.45, 150.0, 420.0), seconds_per_frame=0.1, hz_per_bin=100.0)
    expected = np.zeros((10, 8), bool)
    expected[2:5, 2:5] = True  # frames 0.2/0.3/0.4 s, bins 200/300/400 Hz
    np.testing.assert_array_equal(m, expected)
    # Attribute objects (the synthetic AnomalyBox) work the same; a time offset shifts the frames.
    m2 = box_mask((10, 8), Box("click", 0.25, 0.55, 150.0, 420.0), 0.1, 100.0, time_offset_s=0.05)
    expected2 = np.zeros((10, 8), bool)
    expected2[2:6, 2:5] = True  # centres 0.25, 0.35, 0.45, 0.55 s
    np.testing.assert_array_equal(m2, expected2)


def test_box_thinner_than_a_frame_takes_the_nearest_and_outside_box_fails():
    m = box_mask((10, 8), (0.31, 0.32, 250.0, 260.0), 0.1, 100.0)
    assert m.sum() == 1 and m[3, 3]  # 0.315 s -> frame 3 (0.3 s); 255 Hz -> bin 3 (300 Hz)
    with pytest.raises(MetricError):
        box_mask((10, 8), (5.0, 6.0, 100.0, 200.0), 0.1, 100.0)


def test_inside_outside_on_hand_made_map():
    imp = np.ones((6, 5))
    mask = np.zeros((6, 5), bool)
    mask[1:3, 1:4] = True
    imp[mask] = 3.0
    imp[5, 4] = 1.0 + 23.0  # outside total = 23 * 1 + 24 = 47 over 24 cells
    inside, outside = inside_outside_means(imp, mask)
    assert inside == pytest.approx(3.0)
    assert outside == pytest.approx(47.0 / 24.0)
    assert inside_outside_ratio(imp, mask) == pytest.approx(3.0 / (47.0 / 24.0))
    with pytest.raises(MetricError):
        inside_outside_means(imp, np.zeros((6, 5), bool))
    with pytest.raises(MetricError):
        inside_outside_ratio(np.where(mask, 1.0, 0.0), mask)


def brute_force_rank(imp: np.ndarray, r0: int, c0: int, h: int, w: int) -> float:
    box = imp[r0 : r0 + h, c0 : c0 + w].mean()
    means = [imp[r : r + h, c : c + w].mean() for r in range(imp.shape[0] - h + 1) for c in range(imp.shape[1] - w + 1)]
    greater = sum(m > box + 1e-12 for m in means)
    equal = sum(abs(m - box) <= 1e-12 for m in means)
    return 1 + greater + 0.5 * (equal - 1), len(means)


def test_box_rank_hand_cases_and_brute_force():
    imp = np.zeros((5, 5))
    imp[1:3, 1:3] = 1.0
    mask = np.zeros((5, 5), bool)
    mask[1:3, 1:3] = True
    r = box_rank(imp, mask)
    assert (r.rank, r.n_windows) == (1.0, 16) and r.percentile == pytest.approx(100 / 16)
    # Constant map: all 16 windows tie -> mid rank 8.5, i.e. chance level.
    r = box_rank(np.full((5, 5), 2.0), mask)
    assert r.rank == 8.5 and r.percentile == pytest.approx(100 * 8.5 / 16)
    # Full-height box (broadband click) slides only in time.
    mask_col = np.zeros((5, 5), bool)
    mask_col[:, 2] = True
    r = box_rank(np.tile(np.array([0.0, 3.0, 1.0, 2.0, 4.0]), (5, 1)), mask_col)
    assert (r.rank, r.n_windows) == (4.0, 5)  # column means 0,3,1,2,4: the box (1) beats only 0
    rng = np.random.default_rng(0)
    for _ in range(5):
        imp = rng.random((9, 7))
        h, w = rng.integers(1, 4, 2)
        r0, c0 = rng.integers(0, 9 - h + 1), rng.integers(0, 7 - w + 1)
        m = np.zeros((9, 7), bool)
        m[r0 : r0 + h, c0 : c0 + w] = True
        rank, n = brute_force_rank(imp, r0, c0, h, w)
        got = box_rank(imp, m)
        assert got.rank == rank and got.n_windows == n
    with pytest.raises(MetricError):
        bad = np.zeros((5, 5), bool)
        bad[1, 1] = bad[3, 3] = True
        box_rank(np.zeros((5, 5)), bad)


def test_localize_and_summary():
    imp = np.ones((10, 8))
    imp[2:5, 2:5] = 4.0
    res = localize(imp, [(0.2, 0.45, 150.0, 420.0)], 0.1, 100.0)
    assert res["inside_mean"] == 4.0 and res["outside_mean"] == 1.0 and res["ratio"] == 4.0
    assert res["inside_greater"] == 1.0 and res["rank"] == 1.0 and res["n_windows"] == 8 * 6
    # Two boxes: union for inside/outside (9 + 2 cells), rank averaged over the boxes.
    res2 = localize(imp, [(0.2, 0.45, 150.0, 420.0), Box("tone", 0.8, 0.9, 0.0, 0.0)], 0.1, 100.0)
    assert res2["inside_mean"] == pytest.approx((9 * 4 + 2 * 1) / 11)
    assert res2["outside_mean"] == pytest.approx(1.0)
    assert res2["n_boxes"] == 2.0
    bad = localize(-imp, [(0.2, 0.45, 150.0, 420.0)], 0.1, 100.0)
    s = summarize_localization([res, res, bad])
    assert s["n_clips"] == 3 and s["frac_inside_greater"] == pytest.approx(2 / 3)
    assert s["mean_percentile"] == pytest.approx((2 * res["percentile"] + bad["percentile"]) / 3)
    assert s["mean_ratio"] == pytest.approx((4 + 4 + 4) / 3)  # -4 / -1 = 4 as well
    with pytest.raises(MetricError):
        summarize_localization([])
