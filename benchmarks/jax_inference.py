"""Jitted JAX inference of an embedding model, for the GPU check's embedding and RISE sections.

``device_check.py`` times embedding extraction and rebuilds the RISE batch step in JAX
(``asd_tf.explain.rise`` is TensorFlow-only); both need the model as a pure function of its
variable values (``Layer.stateless_call``), and XLA's FLOP count of a compiled function.
Needs ``KERAS_BACKEND=jax``.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

from trainer_step import flops_of, random_batch


def xla_flops(fn: Callable, *args) -> float | None:
    """FLOPs of one call of ``fn(*args)`` by XLA's cost analysis of the compiled function."""
    import jax

    try:
        compiled = jax.jit(fn).lower(*args).compile()
    except Exception:  # noqa: BLE001 - no count rather than a guess
        return None
    return flops_of(compiled)


def inference_fn(model) -> tuple[Callable, tuple]:
    """``(f, (trainable, non_trainable))`` with ``f(tv, ntv, x)`` the model's inference output."""

    def f(tv, ntv, x):
        out, _ = model.stateless_call(tv, ntv, x, training=False)
        return out

    return f, ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])


def time_embedding(model, batch_size: int, batches: int) -> dict:
    """Embedding extraction clips/s (jitted inference of the whole waveform -> embedding model)."""
    import jax

    f, (tv, ntv) = inference_fn(model)
    jf = jax.jit(f)
    x = jax.device_put(random_batch(batch_size, int(model.input_shape[-1]), 2)[0])
    t0 = time.perf_counter()
    jax.block_until_ready(jf(tv, ntv, x))
    warm = time.perf_counter() - t0
    times = []
    for _ in range(batches):
        t0 = time.perf_counter()
        jax.block_until_ready(jf(tv, ntv, x))
        times.append(time.perf_counter() - t0)
    flops = xla_flops(f, tv, ntv, x)
    median = statistics.median(times)
    return {"batch_size": batch_size, "batches": batches, "warmup_s": warm, "batch_s_median": median,
            "clips_per_s": batch_size / median, "xla_flops_per_clip": None if flops is None else flops / batch_size}
