"""RISE throughput: masks per second of the RISE batch step against plain batched inference (``make bench``).

:func:`measure_rise_throughput` times :class:`asd_tf.explain.rise.RiseStep`
(mask generation + scoring + accumulation, the step :func:`rise_importance`
runs), :func:`measure_inference_throughput` the same scorer on unmasked
inputs; ``benchmarks/bench.py`` reports both and their ratio (goal >= 0.8).
Each is traced once before the timed batches.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from asd_tf.explain.rise import PAPER_FREQ_CELLS, PAPER_P_MASKED, PAPER_TIME_CELLS, RiseStep

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf


def _timed(call: Callable[[], Any], sync: Callable[[], Any], n_batches: int) -> float:
    call()  # trace / compile
    sync()
    t0 = time.perf_counter()
    for _ in range(n_batches):
        call()
    sync()
    return time.perf_counter() - t0


def measure_rise_throughput(
    score_fn: Callable[["tf.Tensor"], "tf.Tensor"],
    T: int,
    F: int,
    batch_size: int,
    n_batches: int,
    *,
    seed: int = 0,
    jit_compile: bool = False,
    time_cells: int = PAPER_TIME_CELLS,
    freq_cells: int = PAPER_FREQ_CELLS,
) -> float:
    """Masks per second of the RISE batch step (mask generation + scoring + accumulation)."""
    rng = np.random.default_rng(seed)
    x = np.abs(rng.standard_normal((T, F))).astype(np.float32)
    runner = RiseStep(
        x, score_fn, (n_batches + 1) * batch_size, batch_size, seed, time_cells, freq_cells, PAPER_P_MASKED, jit_compile
    )
    counter = iter(range(0, 10**12, batch_size))
    elapsed = _timed(lambda: runner.run(next(counter)), lambda: runner.weighted_sum.numpy(), n_batches)
    return n_batches * batch_size / elapsed


def measure_inference_throughput(
    score_fn: Callable[["tf.Tensor"], "tf.Tensor"],
    T: int,
    F: int,
    batch_size: int,
    n_batches: int,
    *,
    seed: int = 0,
    jit_compile: bool = False,
) -> float:
    """Inputs per second of plain batched ``score_fn`` on unmasked [batch_size, T, F] inputs."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x = tf.constant(np.abs(rng.standard_normal((batch_size, T, F))).astype(np.float32))
    total = tf.Variable(tf.zeros([], tf.float32), trainable=False)

    @tf.function(jit_compile=bool(jit_compile))
    def step() -> tf.Tensor:
        s = tf.reshape(tf.cast(score_fn(x), tf.float32), [batch_size])
        total.assign_add(tf.reduce_sum(s))  # keeps the result alive and gives a sync point
        return s

    elapsed = _timed(step, lambda: total.numpy(), n_batches)
    return n_batches * batch_size / elapsed
