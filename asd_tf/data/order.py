"""The order in which training sees its clips: one permutation per ``(seed, epoch)``.

Both training inputs, the ``tf.data`` pipeline (:func:`asd_tf.data.pipeline.make_dataset`
without a cache) and the TensorFlow-free loader (:class:`asd_tf.data.loader.WaveformBatches`),
take epoch ``e``'s clips in this order. It depends on the seed and the epoch alone, so a
run resumed at epoch ``e`` sees the order an uninterrupted run saw
(:mod:`asd_tf.training.resume`), and the two inputs give the same batches.
"""

from __future__ import annotations

import numpy as np


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """Clip indices ``[n]`` of epoch ``epoch``: ``default_rng([seed, epoch]).permutation(n)``."""
    return np.random.default_rng([seed, epoch]).permutation(n)
