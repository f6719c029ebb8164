"""RISE masks and importance maps against a NumPy reference and exact expectations (paper Sec. IV-E)."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from asd_tf.errors import ConfigError  # noqa: E402
from asd_tf.explain.rise import (  # noqa: E402
    generate_mask_factors,
    generate_masks,
    make_kmeans_score_fn,
    rise_importance,
    sample_mask_grids,
)
from asd_tf.explain.figures import plot_rise  # noqa: E402

P_KEEP = 0.75  # paper: each cell masked with probability 0.25


# ---------------------------------------------------------------- NumPy reference of the RISE recipe
def np_upsample_crop(grid: np.ndarray, shift: np.ndarray, length: int) -> np.ndarray:
    """Linear up-sampling to (cells + 1) * cell_size (half-pixel centres, clamped ends) and crop at shift."""
    n, cells = grid.shape
    cs = math.ceil(length / cells)
    up = (cells + 1) * cs
    centres = (np.arange(cells) + 0.5) * up / cells - 0.5  # where each grid cell's centre lands
    out = np.empty((n, length))
    for i in range(n):
        out[i] = np.interp(np.arange(up), centres, grid[i])[shift[i] : shift[i] + length]
    return out


def np_reference_factors(n: int, length: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    cs = math.ceil(length / cells)
    grid = (rng.random((n, cells)) >= 1 - P_KEEP).astype(np.float64)
    return np_upsample_crop(grid, rng.integers(0, cs, n), length)


def exact_second_moment(length: int, cells: int) -> np.ndarray:
    """E[m(t) m(t')] of one mask factor: mean over shifts of A_s^T E[g g^T] A_s (independent Bernoulli cells)."""
    cs = math.ceil(length / cells)
    up = (cells + 1) * cs
    centres = (np.arange(cells) + 0.5) * up / cells - 0.5
    U = np.stack([np.interp(np.arange(up), centres, e) for e in np.eye(cells)])  # [cells, up]
    G = P_KEEP**2 * np.ones((cells, cells)) + P_KEEP * (1 - P_KEEP) * np.eye(cells)
    return np.mean([U[:, s : s + length].T @ G @ U[:, s : s + length] for s in range(cs)], axis=0)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


# ---------------------------------------------------------------- masks
def test_factors_equal_numpy_upsample_crop_of_the_same_grids_paper_geometry():
    T, F, n = 311, 513, 24  # paper: 311 x 513 spectrogram, grids of 20 and 34 cells
    cs_t, cs_f = math.ceil(T / 20), math.ceil(F / 34)
    g_t, g_f, s_t, s_f = (v.numpy() for v in sample_mask_grids(np.arange(n), 3, 20, 34, cs_t, cs_f))
    m_t, m_f = (v.numpy() for v in generate_mask_factors(n, T, F, seed=3))
    np.testing.assert_allclose(m_t, np_upsample_crop(g_t, s_t, T), atol=1e-6)
    np.testing.assert_allclose(m_f, np_upsample_crop(g_f, s_f, F), atol=1e-6)
    masks = generate_masks(4, T, F, seed=3).numpy()
    assert masks.shape == (4, T, F) and masks.dtype == np.float32
    np.testing.assert_allclose(masks, m_t[:4, :, None] * m_f[:4, None, :], atol=1e-6)


def test_grid_statistics_masked_fraction_shifts_and_independence():
    n, ct, cf, cs_t, cs_f = 6000, 20, 34, 16, 16
    g_t, g_f, s_t, s_f = (v.numpy() for v in sample_mask_grids(np.arange(n), 0, ct, cf, cs_t, cs_f))
    assert set(np.unique(g_t)) == {0.0, 1.0} and set(np.unique(g_f)) == {0.0, 1.0}
    sigma = math.sqrt(0.25 * 0.75 / n)
    # Every cell of both grids is masked with probability 0.25 (5 sigma per cell).
    assert np.all(np.abs((1 - g_t).mean(0) - 0.25) < 5 * sigma)
    assert np.all(np.abs((1 - g_f).mean(0) - 0.25) < 5 * sigma)
    assert abs((1 - g_t).mean() - 0.25) < 5 * sigma / math.sqrt(ct)
    # Crop offsets uniform on [0, cell_size).
    for s, cs in ((s_t, cs_t), (s_f, cs_f)):
        assert s.min() == 0 and s.max() == cs - 1
        counts = np.bincount(s, minlength=cs)
        assert np.all(np.abs(counts / n - 1 / cs) < 5 * math.sqrt((1 / cs) * (1 - 1 / cs) / n))
    # Neighbouring cells and neighbouring masks are uncorrelated; time and frequency grids independent.
    lim = 5 / math.sqrt(n)
    assert abs(corr(g_t[:, :-1], g_t[:, 1:])) < lim
    assert abs(corr(g_t[:-1], g_t[1:])) < lim
    assert abs(corr(g_t, g_f[:, :ct])) < lim


def test_mask_values_match_numpy_reference_statistics_and_exact_second_moment():
    n, T, F, ct, cf = 8000, 36, 50, 6, 8
    factors = generate_mask_factors(n, T, F, seed=11, time_cells=ct, freq_cells=cf)
    m_t, m_f = (v.numpy().astype(np.float64) for v in factors)
    assert m_t.min() >= 0.0 and m_t.max() <= 1.0 and m_f.min() >= 0.0 and m_f.max() <= 1.0
    rng = np.random.default_rng(0)
    r_t, r_f = np_reference_factors(n, T, ct, rng), np_reference_factors(n, F, cf, rng)
    for lib, ref in ((m_t, r_t), (m_f, r_f)):
        # Mean, spread and lag-1 smoothness of the values agree with the reference generator.
        assert abs(lib.mean() - P_KEEP) < 0.01 and abs(ref.mean() - P_KEEP) < 0.01
        assert abs(lib.std() - ref.std()) < 0.01
        assert abs(corr(lib[:, :-1], lib[:, 1:]) - corr(ref[:, :-1], ref[:, 1:])) < 0.02
    # Full second moment E[m(t) m(t')] equals the exact one of the recipe.
    np.testing.assert_allclose(m_t.T @ m_t / n, exact_second_moment(T, ct), atol=0.02)
    np.testing.assert_allclose(m_f.T @ m_f / n, exact_second_moment(F, cf), atol=0.02)
    masks = generate_masks(2000, T, F, seed=11, time_cells=ct, freq_cells=cf).numpy()
    assert abs(masks.mean() - P_KEEP**2) < 0.01  # E[M] = p_keep^2 for the outer product


def test_masks_are_a_seeded_sequence():
    a = generate_masks(12, 20, 30, seed=5, time_cells=4, freq_cells=5).numpy()
    np.testing.assert_array_equal(a, generate_masks(12, 20, 30, seed=5, time_cells=4, freq_cells=5).numpy())
    tail = generate_masks(7, 20, 30, seed=5, time_cells=4, freq_cells=5, start=5).numpy()
    np.testing.assert_array_equal(a[5:], tail)  # mask i depends only on (seed, i)
    b = generate_masks(12, 20, 30, seed=6, time_cells=4, freq_cells=5).numpy()
    assert np.mean(np.abs(a - b)) > 0.05


# ---------------------------------------------------------------- importance
T_S, F_S, CT, CF = 30, 40, 6, 8
BOX = (slice(8, 14), slice(10, 20))


def box_mean_score(batch):
    return tf.reduce_mean(batch[:, 8:14, 10:20], axis=[1, 2])


def test_box_score_map_is_high_in_box_and_hand_value_far_away():
    x = np.ones((T_S, F_S), np.float32)
    imp = rise_importance(x, box_mean_score, 20000, 1000, seed=0, progress=False, time_cells=CT, freq_cells=CF)
    assert imp.shape == (T_S, F_S) and imp.dtype == np.float32
    far = imp[24:, 32:]  # shares no grid cell with the box in time or in frequency
    # Far away score and mask are independent: E[s M_p] / E[M] = E[s] = E[M] = 0.75^2.
    assert abs(far.mean() - P_KEEP**2) < 0.01
    assert imp[BOX].mean() > far.mean() + 0.1
    t, f = np.unravel_index(np.argmax(imp), imp.shape)
    assert 8 <= t < 14 and 10 <= f < 20
    # Exact expectation: (R_t @ w @ R_f) / E[M] for the linear score with weights 1/|box| on the box.
    w = np.zeros((T_S, F_S))
    w[BOX] = 1.0 / w[BOX].size
    expected = exact_second_moment(T_S, CT) @ w @ exact_second_moment(F_S, CF) / P_KEEP**2
    assert corr(imp, expected) > 0.99


def test_linear_score_recovers_weight_structure():
    t, f = np.arange(T_S)[:, None], np.arange(F_S)[None, :]
    # Stable frequencies plus temporal events: the structure separable masks can resolve (paper's argument).
    w = (np.sin(2 * np.pi * 1.5 * t / T_S) + np.cos(2 * np.pi * 2 * f / F_S)).astype(np.float32)
    w_t = tf.constant(w)
    imp = rise_importance(
        np.ones((T_S, F_S), np.float32),
        lambda b: tf.reduce_sum(b * w_t, axis=[1, 2]),
        20000,
        1000,
        seed=1,
        progress=False,
        time_cells=CT,
        freq_cells=CF,
    )
    assert corr(imp, w) > 0.9
    expected = exact_second_moment(T_S, CT) @ w @ exact_second_moment(F_S, CF) / P_KEEP**2
    assert corr(imp, expected) > 0.99
    assert np.abs(imp - expected).max() < 0.1 * np.ptp(expected)


def test_streaming_same_map_for_any_batch_size_and_seeded():
    x = np.random.default_rng(0).random((T_S, F_S)).astype(np.float32)

    def run(bs, seed=0):
        return rise_importance(x, box_mean_score, 50, bs, seed=seed, progress=False, time_cells=CT, freq_cells=CF)

    ref = run(7)
    np.testing.assert_allclose(run(16), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run(64), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(run(7), ref)
    assert np.abs(run(7, seed=1) - ref).max() > 1e-3
    # Direct sum over the same 50 masks (NumPy) equals the streamed map.
    masks = generate_masks(50, T_S, F_S, seed=0, time_cells=CT, freq_cells=CF).numpy().astype(np.float64)
    scores = (x[None] * masks)[:, 8:14, 10:20].mean(axis=(1, 2))
    np.testing.assert_allclose(ref, np.tensordot(scores, masks, 1) / (50 * P_KEEP**2), rtol=1e-5)


def test_empirical_normalization_and_jit_agree_with_default():
    x = np.ones((T_S, F_S), np.float32)
    kw = dict(time_cells=CT, freq_cells=CF, progress=False, seed=2)
    a = rise_importance(x, box_mean_score, 3000, 500, **kw)
    b = rise_importance(x, box_mean_score, 3000, 500, normalization="empirical", **kw)
    masks = generate_masks(3000, T_S, F_S, seed=2, time_cells=CT, freq_cells=CF).numpy()
    # Same map up to the ratio of the empirical and expected mask mean.
    np.testing.assert_allclose(b, a * P_KEEP**2 / masks.mean(dtype=np.float64), rtol=1e-4)
    c = rise_importance(x, box_mean_score, 3000, 500, jit_compile=True, **kw)
    np.testing.assert_allclose(c, a, rtol=1e-4)
    with pytest.raises(ConfigError):
        rise_importance(x, box_mean_score, 10, 5, normalization="nope", **kw)
    with pytest.raises(ConfigError):
        rise_importance(np.ones((2, 3, 4), np.float32), box_mean_score, 10, 5, **kw)


def test_kmeans_score_fn_matches_numpy_cosine_distance():
    rng = np.random.default_rng(0)
    T, F, D, K = 6, 5, 4, 3
    proj = rng.standard_normal((T * F, D)).astype(np.float32)
    centres = rng.standard_normal((K, D))
    x = rng.random((7, T, F)).astype(np.float32)

    def embed(v):
        return tf.matmul(tf.reshape(v, [-1, T * F]), proj)

    e = x.reshape(7, -1) @ proj
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    c = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    expected = 1.0 - (e @ c.T).max(axis=1)
    np.testing.assert_allclose(make_kmeans_score_fn(embed, centres)(tf.constant(x)).numpy(), expected, atol=1e-5)
    keyed = make_kmeans_score_fn(lambda d: embed(d["spectrogram"]), centres * 3.0, input_key="spectrogram")
    np.testing.assert_allclose(keyed(tf.constant(x)).numpy(), expected, atol=1e-5)


def _rise_throughput():
    """``benchmarks/rise_throughput.py`` (the benchmark folder is not a package), loaded by path."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "rise_throughput.py"
    spec = importlib.util.spec_from_file_location("rise_throughput", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_throughput_helpers_count_masks_and_inputs():
    bench = _rise_throughput()
    calls = []

    def score(b):
        calls.append(1)  # Python side effect: runs once per trace only
        return tf.reduce_mean(b, axis=[1, 2])

    r = bench.measure_rise_throughput(score, 24, 40, batch_size=16, n_batches=3)
    i = bench.measure_inference_throughput(score, 24, 40, batch_size=16, n_batches=3)
    assert np.isfinite(r) and r > 0 and np.isfinite(i) and i > 0
    assert len(calls) == 2  # one trace each: the timed loop reuses the compiled step


def _png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_plot_rise_writes_png_and_pdf_of_expected_size(tmp_path):
    rng = np.random.default_rng(0)
    spec = rng.random((31, 17)) + 1e-3
    maps = [rng.random((31, 17)), rng.random((31, 17))]
    paths = plot_rise(spec, maps, ["sub-cluster AdaCos", "IC compactness"], 16000, 512, str(tmp_path / "rise"),
                      boxes=[(0.1, 0.4, 1000, 3000)], panel_size=(4.0, 3.2), dpi=100)
    assert [p.rsplit(".", 1)[1] for p in paths] == ["png", "pdf"]
    assert _png_size(paths[0]) == (1200, 320)  # 3 panels * 4 in * 100 dpi, 3.2 in * 100 dpi
    with open(paths[1], "rb") as fh:
        pdf = fh.read()
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
    with pytest.raises(ConfigError):
        plot_rise(spec, maps, ["only one title"], 16000, 512, str(tmp_path / "bad"))


def test_silence_warning_only_for_digital_silence(tmp_path):
    """A clip below half a 16-bit step warns (naming the file); one 16-bit step of signal does not."""
    from asd_tf.explain.rise_explainer import silence_warning

    path = tmp_path / "section_00_source_test_normal_0000_a.wav"
    message = silence_warning(np.zeros(16000, np.float32), path)
    assert message is not None and str(path) in message and "silent clip" in message
    assert silence_warning(np.full(8, 1e-5, np.float32), path) is not None  # 0.33 of a 16-bit step
    one_step = np.zeros(16000, np.float32)
    one_step[123] = -1.0 / 32768.0  # the quietest sample a 16-bit WAV can hold
    assert silence_warning(one_step, path) is None
    assert silence_warning(np.zeros(0, np.float32), path) is not None
