"""Angles between embeddings and their class centre (EMM paper, Fig. 2).

EMM plots "the angles theta between each feature embedding and its class
center", ``theta = arccos(w_k^T z)`` for L2-normalised ``z`` and ``w_k``, as
histograms with base-10 logarithmic counts, normal against anomalous test
samples. With sub-cluster losses (several centres per class) the angle to a
class is the angle to its nearest sub-centre, i.e. the largest cosine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asd_tf.errors import ConfigError, LabelError

__all__ = ["angles_to_centres"]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def angles_to_centres(
    embeddings: Any,
    centres: Any,
    class_ids: Any,
    centre_class: Any = None,
    chunk: int = 4096,
) -> np.ndarray:
    """Angle in degrees between each embedding and its class centre.

    Args:
        embeddings: [n, D].
        centres: [K, D] (e.g. a loss layer's centre matrix transposed).
        class_ids: [n] int class of each embedding.
        centre_class: [K] int class of each centre; ``None`` means centre ``k`` is class ``k``.
        chunk: embeddings per block (bounds the [chunk, K] cosine matrix).

    Returns:
        float64 [n] in [0, 180].
    """
    e = np.asarray(embeddings, np.float64)
    c = np.asarray(centres, np.float64)
    y = np.asarray(class_ids).astype(np.int64)
    if e.ndim != 2 or c.ndim != 2 or e.shape[1] != c.shape[1]:
        raise ConfigError(f"embeddings {e.shape} and centres {c.shape} must be [n, D] and [K, D]")
    if y.shape != (e.shape[0],):
        raise LabelError(f"class_ids shape {y.shape} does not match {e.shape[0]} embeddings")
    cc = np.arange(c.shape[0]) if centre_class is None else np.asarray(centre_class).astype(np.int64)
    if cc.shape != (c.shape[0],):
        raise LabelError(f"centre_class shape {cc.shape} does not match {c.shape[0]} centres")
    missing = np.setdiff1d(np.unique(y), cc)
    if missing.size:
        raise LabelError(f"classes {missing.tolist()[:10]} have no centre")
    e, c = _unit(e), _unit(c)
    best = np.empty(e.shape[0], np.float64)
    for s in range(0, e.shape[0], chunk):
        cos = e[s : s + chunk] @ c.T  # [b, K]
        own = cc[None, :] == y[s : s + chunk, None]  # [b, K] centres of the sample's class
        best[s : s + chunk] = np.where(own, cos, -np.inf).max(axis=1)
    return np.degrees(np.arccos(np.clip(best, -1.0, 1.0)))
