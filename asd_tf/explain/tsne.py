"""t-SNE views of the embedding space and the Table III distance (paper Sec. IV-F, Fig. 5, Table III).

The paper projects the test embeddings with t-SNE and reports "the average
Euclidean distance between the t-SNE projections of each anomalous sample and
the closest normal sample", mean and standard deviation over five trials.
Embeddings are L2-normalised first by default: on the unit sphere Euclidean and
cosine distances order neighbours identically (the paper's Lemma 5), so t-SNE
sees the geometry the cosine scoring uses.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from asd_tf.errors import MetricError

__all__ = ["tsne_embed", "anomaly_to_normal_distance", "aggregate"]


def tsne_embed(embeddings: Any, seed: int, perplexity: float = 30.0, normalize: bool = True) -> np.ndarray:
    """2-D t-SNE projection of [n, D] embeddings (``sklearn.manifold.TSNE``, PCA init).

    ``perplexity`` is clipped to ``(n - 1) / 3`` (at least 1) so small sets work:
    t-SNE needs perplexity < n and about 3 * perplexity neighbours.
    Returns float64 [n, 2]; the same ``seed`` gives the same projection, on any machine load:
    the fit runs on one OpenMP thread, because scikit-learn's Barnes-Hut gradient sums a
    normalisation over threads, and with more than two threads the order of that sum (so its
    last bits, which t-SNE amplifies into another layout) depends on thread timing.
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.asarray(embeddings, np.float64)
    if x.ndim != 2 or x.shape[0] < 3:
        raise MetricError(f"t-SNE needs an [n, D] array with n >= 3, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise MetricError("t-SNE input embeddings contain NaN or inf")
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    perp = float(min(perplexity, max(1.0, (x.shape[0] - 1) / 3.0)))
    tsne = TSNE(n_components=2, perplexity=perp, init="pca", random_state=int(seed))
    with threadpool_limits(limits=1, user_api="openmp"):
        return tsne.fit_transform(x).astype(np.float64)


def anomaly_to_normal_distance(points_2d: Any, is_anomaly: Any) -> float:
    """Table III: mean over anomalous points of the Euclidean distance to the nearest normal point."""
    from scipy.spatial import cKDTree

    p = np.asarray(points_2d, np.float64)
    a = np.asarray(is_anomaly, bool)
    if p.ndim != 2 or a.shape != (p.shape[0],):
        raise MetricError(f"points {p.shape} and is_anomaly {a.shape} must be [n, d] and [n]")
    if not a.any() or a.all():
        raise MetricError("anomaly_to_normal_distance needs both anomalous and normal points")
    dist, _ = cKDTree(p[~a]).query(p[a], k=1)
    return float(np.mean(dist))


def aggregate(values: Sequence[float], ddof: int = 0) -> tuple[float, float]:
    """(mean, standard deviation) over trials, as in Table III; ``ddof=0`` (population std) by default."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        raise MetricError("aggregate needs at least one value")
    std = float(v.std(ddof=ddof)) if v.size > ddof else float("nan")
    return float(v.mean()), std
