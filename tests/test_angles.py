"""Angles between embeddings and class centres (EMM Fig. 2) against np.arccos."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from asd_tf.errors import LabelError
from asd_tf.explain.angles import angles_to_centres
from asd_tf.explain.figures import plot_angle_histogram


def test_hand_angles():
    emb = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -2.0]])
    centres = np.array([[0.0, 1.0], [3.0, 0.0]])
    got = angles_to_centres(emb, centres, [0, 1, 0])
    np.testing.assert_allclose(got, [90.0, 45.0, 180.0], atol=1e-9)


def test_subclusters_take_nearest_own_centre_like_arccos_loop():
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((50, 6))
    centres = rng.standard_normal((8, 6))
    centre_class = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    y = rng.integers(0, 3, 50)
    expected = []
    for e, c in zip(emb, y):
        own = centres[centre_class == c]
        cos = own @ e / (np.linalg.norm(own, axis=1) * np.linalg.norm(e))
        expected.append(np.degrees(np.arccos(cos)).min())
    got = angles_to_centres(emb, centres, y, centre_class=centre_class, chunk=7)
    np.testing.assert_allclose(got, expected, atol=1e-9)
    with pytest.raises(LabelError):
        angles_to_centres(emb, centres, np.full(50, 3), centre_class=centre_class)


def test_histogram_writes_png_pdf_of_expected_size(tmp_path):
    rng = np.random.default_rng(0)
    paths = plot_angle_histogram(rng.uniform(5, 40, 500), rng.uniform(20, 80, 50), str(tmp_path / "angles"),
                                 bins=30, figsize=(5.0, 3.5), dpi=80)
    with open(paths[0], "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (400, 280)
    with open(paths[1], "rb") as fh:
        assert fh.read(4) == b"%PDF"
    # Explicit edges work too.
    paths = plot_angle_histogram([10.0, 20.0], [], str(tmp_path / "edges"), bins=np.arange(0, 91, 5))
    with open(paths[0], "rb") as fh:
        assert struct.unpack(">II", fh.read(24)[16:24]) == (500, 350)  # default 5 x 3.5 in at 100 dpi
