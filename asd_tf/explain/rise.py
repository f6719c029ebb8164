"""RISE importance maps for spectrogram inputs (Wilkinghoff & Kurth, TASLP 2024, Sec. IV-E).

Randomized Input Sampling for Explanation (RISE, Petsiuk et al., BMVC 2018)
scores many randomly masked copies of one input and averages the masks,
weighted by the score::

    S[t, f] = sum_i score(x * M_i) * M_i[t, f] / (N * E[M])

The ASD paper restricts the masks to a product of a time mask and a frequency
mask (search space 2^(T+F) instead of 2^(T*F)): "individual time and frequency
masks are randomly generated with a probability of 0.25 for a time step or
frequency bin to be masked and both masks are combined by element-wise
multiplication", each drawn on a small grid (20 time cells, 34 frequency
cells), "up-sampled and randomly cropped to match the dimension of the
spectrogram" as in RISE, and N = 640,000 masks per map.

Here a mask factor is built like RISE does it: a binary grid of ``cells``
entries (kept with probability ``1 - p_masked``), linearly up-sampled
(half-pixel centres, edges clamped, i.e. ``tf.image.resize`` bilinear) to
``(cells + 1) * cell_size`` with ``cell_size = ceil(length / cells)``, then
cropped to ``length`` at a random offset in ``[0, cell_size)``. The mask is the
outer product ``M[t, f] = m_time[t] * m_freq[f]``.

Random numbers come from a counter-based integer hash of ``(seed, mask index,
entry)``, so mask ``i`` is the same whatever the batch size or device, and a
whole batch is generated on the device without a host round trip.

Importance normalisation: the paper divides by "the expected value of a random
binary mask, which depends on the chosen sampling distribution". Linear
up-sampling keeps each factor's mean at ``p_keep = 1 - p_masked`` and the two
factors are independent, so ``E[M] = p_keep ** 2`` (0.5625 for the paper);
``normalization="expected"`` (default) uses that, ``"empirical"`` the mean of
the masks actually drawn.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from asd_tf.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = [
    "PAPER_N_MASKS",
    "PAPER_TIME_CELLS",
    "PAPER_FREQ_CELLS",
    "PAPER_P_MASKED",
    "interpolation_matrix",
    "sample_mask_grids",
    "generate_mask_factors",
    "generate_masks",
    "RiseStep",
    "rise_importance",
    "make_kmeans_score_fn",
]

PAPER_N_MASKS = 640_000  # masks per importance map (paper Sec. IV-E)
PAPER_TIME_CELLS = 20  # "time masks of size 20"
PAPER_FREQ_CELLS = 34  # "frequency masks of size 34"
PAPER_P_MASKED = 0.25  # "probability of 0.25 for a time step or frequency bin to be masked"

_M32 = 0xFFFFFFFF


# ----------------------------------------------------------------------------------------------
# Counter-based random numbers (int64 arithmetic only, so CPU, GPU and XLA all support it)
# ----------------------------------------------------------------------------------------------
def _mulmod32(x: "tf.Tensor", c: int) -> "tf.Tensor":
    """``(x * c) mod 2**32`` for int64 ``x`` in [0, 2**32) without int64 overflow."""
    import tensorflow as tf

    c_lo, c_hi = c & 0xFFFF, c >> 16
    # x * c = x * c_lo + (x * c_hi) << 16; only the low 16 bits of x * c_hi survive the shift.
    lo = x * tf.constant(c_lo, tf.int64)  # < 2**48
    hi = tf.bitwise.bitwise_and(x * tf.constant(c_hi, tf.int64), 0xFFFF)  # < 2**16
    return tf.bitwise.bitwise_and(lo + tf.bitwise.left_shift(hi, 16), _M32)


def _hash32(x: "tf.Tensor") -> "tf.Tensor":
    """32-bit integer avalanche hash ("lowbias32" constants) on int64 tensors in [0, 2**32)."""
    import tensorflow as tf

    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = _mulmod32(x, 0x7FEB352D)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
    x = _mulmod32(x, 0x846CA68B)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def _uniform(seed: int, indices: "tf.Tensor", n_streams: int) -> "tf.Tensor":
    """Uniform floats in [0, 1) of shape [len(indices), n_streams], a pure function of (seed, index, stream)."""
    import tensorflow as tf

    seed32 = (int(seed) ^ (int(seed) >> 32)) & _M32
    seed_key = tf.constant((seed32 * 0x9E3779B9 + 0x632BE5AB) & _M32, tf.int64)
    idx = tf.bitwise.bitwise_and(tf.cast(indices, tf.int64), _M32)
    # Two hash rounds per mask so nearby (seed, index) pairs give unrelated keys.
    key = _hash32(tf.bitwise.bitwise_and(idx + seed_key, _M32))
    key = _hash32(_hash32(tf.bitwise.bitwise_xor(key, seed_key)))  # [b]
    stream = _hash32(tf.range(n_streams, dtype=tf.int64) * 0x85EBCA6B % (1 << 32) + 0x1B873593)  # [S]
    bits = _hash32(tf.bitwise.bitwise_xor(key[:, None], stream[None, :]))  # [b, S]
    # 24 high bits -> exact float32 in [0, 1).
    return tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) * (1.0 / (1 << 24))


# ----------------------------------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------------------------------
def _check_grid(length: int, cells: int, name: str) -> int:
    if cells < 1 or length < 1:
        raise ConfigError(f"RISE {name}: length ({length}) and cells ({cells}) must be >= 1")
    return int(math.ceil(length / cells))


def interpolation_matrix(cells: int, up_size: int) -> np.ndarray:
    """Linear up-sampling of ``cells`` values to ``up_size`` as a [cells, up_size] matrix.

    Half-pixel centres with clamped edges (the convention of ``tf.image.resize``
    bilinear), so ``grid @ W`` is the up-sampled grid; each column sums to 1.
    """
    w = np.zeros((cells, up_size), np.float64)
    pos = (np.arange(up_size) + 0.5) * (cells / up_size) - 0.5
    pos = np.clip(pos, 0.0, cells - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, cells - 1)
    frac = pos - lo
    cols = np.arange(up_size)
    np.add.at(w, (lo, cols), 1.0 - frac)
    np.add.at(w, (hi, cols), frac)
    return w.astype(np.float32)


def sample_mask_grids(
    indices: Any,
    seed: int,
    time_cells: int,
    freq_cells: int,
    time_cell_size: int,
    freq_cell_size: int,
    p_masked: float = PAPER_P_MASKED,
) -> tuple["tf.Tensor", "tf.Tensor", "tf.Tensor", "tf.Tensor"]:
    """Low-resolution binary grids and crop offsets of the masks with the given indices.

    Returns ``(grid_time [b, time_cells], grid_freq [b, freq_cells], shift_time [b],
    shift_freq [b])``; grid entries are 1.0 (kept, probability ``1 - p_masked``)
    or 0.0 (masked), shifts are int32 in ``[0, cell_size)``.
    """
    import tensorflow as tf

    u = _uniform(seed, tf.convert_to_tensor(indices), time_cells + freq_cells + 2)  # [b, S]
    grid_t = tf.cast(u[:, :time_cells] >= p_masked, tf.float32)
    grid_f = tf.cast(u[:, time_cells : time_cells + freq_cells] >= p_masked, tf.float32)
    shift_t = tf.minimum(tf.cast(tf.floor(u[:, -2] * time_cell_size), tf.int32), time_cell_size - 1)
    shift_f = tf.minimum(tf.cast(tf.floor(u[:, -1] * freq_cell_size), tf.int32), freq_cell_size - 1)
    return grid_t, grid_f, shift_t, shift_f


def _upsample_crop(grid: "tf.Tensor", shift: "tf.Tensor", interp: np.ndarray, length: int) -> "tf.Tensor":
    """[b, cells] grid -> up-sample with ``interp`` -> crop ``length`` from ``shift`` -> [b, length]."""
    import tensorflow as tf

    up = tf.matmul(grid, tf.constant(interp))  # [b, up_size]
    pos = shift[:, None] + tf.range(length, dtype=tf.int32)[None, :]  # [b, length]
    return tf.gather(up, pos, batch_dims=1)


def _factors_for_indices(
    indices: "tf.Tensor", seed: int, T: int, F: int, time_cells: int, freq_cells: int, p_masked: float
) -> tuple["tf.Tensor", "tf.Tensor"]:
    cs_t = _check_grid(T, time_cells, "time")
    cs_f = _check_grid(F, freq_cells, "frequency")
    grid_t, grid_f, shift_t, shift_f = sample_mask_grids(indices, seed, time_cells, freq_cells, cs_t, cs_f, p_masked)
    m_t = _upsample_crop(grid_t, shift_t, interpolation_matrix(time_cells, (time_cells + 1) * cs_t), T)
    m_f = _upsample_crop(grid_f, shift_f, interpolation_matrix(freq_cells, (freq_cells + 1) * cs_f), F)
    return m_t, m_f


def generate_mask_factors(
    n: int,
    T: int,
    F: int,
    seed: int,
    time_cells: int = PAPER_TIME_CELLS,
    freq_cells: int = PAPER_FREQ_CELLS,
    p_masked: float = PAPER_P_MASKED,
    start: int = 0,
) -> tuple["tf.Tensor", "tf.Tensor"]:
    """Time and frequency factors of masks ``start .. start + n - 1``: ``([n, T], [n, F])``, values in [0, 1]."""
    import tensorflow as tf

    _check_p(p_masked)
    idx = tf.range(start, start + n, dtype=tf.int64)
    return _factors_for_indices(idx, seed, T, F, time_cells, freq_cells, p_masked)


def generate_masks(
    n: int,
    T: int,
    F: int,
    seed: int,
    time_cells: int = PAPER_TIME_CELLS,
    freq_cells: int = PAPER_FREQ_CELLS,
    p_masked: float = PAPER_P_MASKED,
    start: int = 0,
) -> "tf.Tensor":
    """RISE masks of the paper: ``M[i, t, f] = m_time[i, t] * m_freq[i, f]``, a float32 tensor [n, T, F].

    Args:
        n: number of masks.
        T, F: spectrogram frames and frequency bins (the paper: 311 x 513).
        seed: mask ``i`` depends only on ``(seed, start + i)``.
        time_cells, freq_cells: low-resolution grid sizes (paper: 20 and 34).
        p_masked: probability that a grid cell is masked (set to 0); paper 0.25.
        start: index of the first mask (masks are an infinite seeded sequence).
    """
    m_t, m_f = generate_mask_factors(n, T, F, seed, time_cells, freq_cells, p_masked, start)
    return m_t[:, :, None] * m_f[:, None, :]


def _check_p(p_masked: float) -> None:
    if not 0.0 <= p_masked < 1.0:
        raise ConfigError(f"RISE p_masked must be in [0, 1), got {p_masked}")


# ----------------------------------------------------------------------------------------------
# Importance maps
# ----------------------------------------------------------------------------------------------
class RiseStep:
    """One compiled RISE batch: masks -> scores -> weighted mask sum, accumulated on the device.

    :func:`rise_importance` runs it over all masks; ``benchmarks/rise_throughput.py`` times it.
    """

    def __init__(
        self,
        spectrogram: Any,
        score_fn: Callable[["tf.Tensor"], "tf.Tensor"],
        n_masks: int,
        batch_size: int,
        seed: int,
        time_cells: int,
        freq_cells: int,
        p_masked: float,
        jit_compile: bool,
    ) -> None:
        import tensorflow as tf

        x = tf.convert_to_tensor(spectrogram, tf.float32)
        if x.shape.rank != 2:
            raise ConfigError(f"RISE expects one spectrogram [T, F], got shape {tuple(x.shape)}")
        if n_masks < 1 or batch_size < 1:
            raise ConfigError(f"RISE n_masks ({n_masks}) and batch_size ({batch_size}) must be >= 1")
        _check_p(p_masked)
        T, F = int(x.shape[0]), int(x.shape[1])
        _check_grid(T, time_cells, "time")
        _check_grid(F, freq_cells, "frequency")
        self.T, self.F, self.n_masks, self.batch_size = T, F, int(n_masks), int(batch_size)
        # float64 accumulators: hundreds of thousands of additions of O(1) values.
        self.weighted_sum = tf.Variable(tf.zeros([T, F], tf.float64), trainable=False)
        self.mask_mass = tf.Variable(tf.zeros([], tf.float64), trainable=False)

        def step(start: tf.Tensor) -> tf.Tensor:
            idx = start + tf.range(batch_size, dtype=tf.int64)  # [b]
            m_t, m_f = _factors_for_indices(idx, seed, T, F, time_cells, freq_cells, p_masked)  # [b,T], [b,F]
            masked = x[None, :, :] * (m_t[:, :, None] * m_f[:, None, :])  # [b, T, F]
            scores = tf.reshape(tf.cast(score_fn(masked), tf.float32), [batch_size])  # [b]
            # The last batch is padded to a full one (one trace); padded masks get weight 0.
            valid = tf.cast(idx < n_masks, tf.float32)  # [b]
            w = scores * valid
            # sum_i w_i m_t[i] (x) m_f[i] without materialising a second [b, T, F] tensor.
            contrib = tf.einsum("bt,bf->tf", m_t * w[:, None], m_f)  # [T, F]
            self.weighted_sum.assign_add(tf.cast(contrib, tf.float64))
            mass = tf.reduce_sum(valid * tf.reduce_mean(m_t, 1) * tf.reduce_mean(m_f, 1))
            self.mask_mass.assign_add(tf.cast(mass, tf.float64))
            return scores

        self.step = tf.function(step, jit_compile=bool(jit_compile))

    def run(self, start: int) -> "tf.Tensor":
        import tensorflow as tf

        return self.step(tf.constant(start, tf.int64))


def rise_importance(
    spectrogram: Any,
    score_fn: Callable[["tf.Tensor"], "tf.Tensor"],
    n_masks: int = PAPER_N_MASKS,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = True,
    *,
    time_cells: int = PAPER_TIME_CELLS,
    freq_cells: int = PAPER_FREQ_CELLS,
    p_masked: float = PAPER_P_MASKED,
    normalization: str = "expected",
    jit_compile: bool = False,
) -> np.ndarray:
    """RISE importance map of one magnitude spectrogram (paper Sec. IV-E).

    Args:
        spectrogram: magnitude spectrogram [T, F] (NumPy or tensor), the embedder's input.
        score_fn: TF-callable ``[b, T, F] masked spectrograms -> [b] anomaly scores``
            (e.g. :func:`make_kmeans_score_fn`); it is traced once inside a ``tf.function``.
        n_masks: number of masks N (paper: 640,000).
        batch_size: masks per device batch; memory is O(batch_size * T * F), independent of N.
        seed: mask sequence seed; the same seed gives the same map for any ``batch_size``.
        progress: show a tqdm bar (masks).
        time_cells, freq_cells, p_masked: mask distribution (paper: 20, 34, 0.25).
        normalization: ``"expected"`` divides by ``N * (1 - p_masked)**2`` (the paper's E[M]);
            ``"empirical"`` by the total mean mass of the drawn masks.
        jit_compile: compile the batch step with XLA.

    Returns:
        float32 array [T, F]; high values = regions whose presence makes the clip look anomalous.
    """
    from tqdm.auto import tqdm

    if normalization not in ("expected", "empirical"):
        raise ConfigError(f"RISE normalization must be 'expected' or 'empirical', got {normalization!r}")
    runner = RiseStep(spectrogram, score_fn, n_masks, batch_size, seed, time_cells, freq_cells, p_masked, jit_compile)
    with tqdm(total=n_masks, unit="mask", disable=not progress, desc="RISE") as bar:
        for start in range(0, n_masks, batch_size):
            runner.run(start)
            bar.update(min(batch_size, n_masks - start))
    total = runner.weighted_sum.numpy()
    if normalization == "expected":
        denom = n_masks * (1.0 - p_masked) ** 2
    else:
        denom = float(runner.mask_mass.numpy())
    return (total / denom).astype(np.float32)


def make_kmeans_score_fn(
    embed_fn: Callable[[Any], "tf.Tensor"], centres: Any, input_key: str | None = None
) -> Callable[["tf.Tensor"], "tf.Tensor"]:
    """Anomaly score of the reference system: cosine distance to the nearest k-means centre.

    ``score(x) = 1 - max_k cos(e(x), c_k)`` with ``e = embed_fn(x)`` [b, D] and
    ``centres`` [K, D] (the run's k-means centres of the clip's section); both are
    L2-normalised, so the score lies in [0, 2].

    Args:
        embed_fn: ``[b, T, F] -> [b, D]`` (e.g. the run's ``embedder`` sub-model).
        centres: [K, D] array.
        input_key: if set, ``embed_fn`` is called with ``{input_key: x}`` (the embedder's
            dict input, e.g. ``"spectrogram"``).
    """
    import tensorflow as tf

    c = np.asarray(centres, np.float64)
    if c.ndim != 2 or c.shape[0] < 1:
        raise ConfigError(f"k-means centres must be a [K, D] array with K >= 1, got shape {c.shape}")
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    c_t = tf.constant(c.astype(np.float32))  # [K, D]

    def score_fn(x: tf.Tensor) -> tf.Tensor:
        e = embed_fn({input_key: x} if input_key else x)
        e = tf.math.l2_normalize(tf.cast(e, tf.float32), axis=-1)  # [b, D]
        return 1.0 - tf.reduce_max(tf.matmul(e, c_t, transpose_b=True), axis=-1)  # [b]

    return score_fn
