"""A random mixup batch for the loss-layer tests (test_losses, test_featex, test_statex)."""

from __future__ import annotations

import numpy as np


def loss_batch(batch_size: int, embedding_dim: int, num_classes: int,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(embeddings [B, D] float32, y1 [B] int32, y2 [B] int32, lam [B] float32)``, drawn in that order.

    Standard normal embeddings, uniform class ids in ``[0, num_classes)`` and mixup weights in ``[0, 1)``
    from ``numpy.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((batch_size, embedding_dim)).astype(np.float32)
    y1 = rng.integers(0, num_classes, batch_size).astype(np.int32)
    y2 = rng.integers(0, num_classes, batch_size).astype(np.int32)
    lam = rng.uniform(size=batch_size).astype(np.float32)
    return e, y1, y2, lam
