"""t-SNE projection, the Table III anomaly-to-normal distance and the Fig. 5 plot."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from asd_tf.errors import MetricError
from asd_tf.explain.figures import plot_tsne
from asd_tf.explain.tsne import aggregate, anomaly_to_normal_distance, tsne_embed


def test_anomaly_to_normal_distance_hand_case():
    pts = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0], [10.0, 10.0]])
    is_anom = np.array([False, False, True, True])
    # (1, 0) -> (0, 0): 1 ; (10, 10) -> (3, 4): sqrt(49 + 36)
    assert anomaly_to_normal_distance(pts, is_anom) == pytest.approx((1.0 + math.sqrt(85.0)) / 2)
    with pytest.raises(MetricError):
        anomaly_to_normal_distance(pts, np.zeros(4, bool))


def test_anomaly_to_normal_distance_matches_brute_force():
    rng = np.random.default_rng(0)
    pts = rng.standard_normal((200, 2))
    a = rng.random(200) < 0.3
    expected = cdist(pts[a], pts[~a]).min(axis=1).mean()
    assert anomaly_to_normal_distance(pts, a) == pytest.approx(expected, rel=1e-12)


def test_aggregate_mean_and_std():
    vals = [2.947, 2.925, 2.97, 2.93, 2.96]
    m, s = aggregate(vals)
    assert m == pytest.approx(sum(vals) / 5)
    assert s == pytest.approx(math.sqrt(sum((v - m) ** 2 for v in vals) / 5))
    assert aggregate(vals, ddof=1)[1] == pytest.approx(math.sqrt(sum((v - m) ** 2 for v in vals) / 4))
    with pytest.raises(MetricError):
        aggregate([])


def test_tsne_keeps_separated_clusters_apart_and_is_seeded():
    rng = np.random.default_rng(0)
    # Three directions on the sphere, tight clusters of 20 points each.
    dirs = np.eye(8)[:3] * 10.0
    emb = np.concatenate([d + 0.3 * rng.standard_normal((20, 8)) for d in dirs])
    lab = np.repeat(np.arange(3), 20)
    p = tsne_embed(emb, seed=0, perplexity=30)
    assert p.shape == (60, 2) and np.all(np.isfinite(p))
    d = cdist(p, p)
    np.fill_diagonal(d, np.inf)
    assert np.all(lab[d.argmin(axis=1)] == lab)  # nearest neighbour in 2-D is from the same cluster
    np.testing.assert_allclose(tsne_embed(emb, seed=0, perplexity=30), p)
    # Small n: perplexity is clipped instead of failing.
    assert tsne_embed(emb[:5], seed=0).shape == (5, 2)
    with pytest.raises(MetricError):
        tsne_embed(emb[:2], seed=0)


def _png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_plot_tsne_png_pdf_and_size(tmp_path):
    rng = np.random.default_rng(0)
    panels = [
        {
            "points": rng.standard_normal((30, 2)),
            "labels": np.array(["fan_00", "fan_01", "valve_00"])[rng.integers(0, 3, 30)],
            "is_anomaly": rng.random(30) < 0.3,
            "title": f"run {i}",
        }
        for i in range(4)
    ]
    paths = plot_tsne(panels, str(tmp_path / "tsne"), ncols=3, panel_size=(4.0, 4.0), dpi=50)
    assert _png_size(paths[0]) == (600, 400)  # 3 columns x 2 rows of 4 in at 50 dpi
    with open(paths[1], "rb") as fh:
        assert fh.read(4) == b"%PDF"
    assert paths[1].endswith("tsne.pdf")
