"""Angles between embeddings and their class centre (EMM paper, Fig. 2).

EMM plots "the angles theta between each feature embedding and its class
center", ``theta = arccos(w_k^T z)`` for L2-normalised ``z`` and ``w_k``, as
histograms with base-10 logarithmic counts, normal against anomalous test
samples. With sub-cluster losses (several centres per class) the angle to a
class is the angle to its nearest sub-centre, i.e. the largest cosine.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from asd_tf.errors import ConfigError, LabelError

__all__ = ["angles_to_centres", "plot_angle_histogram"]


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


def plot_angle_histogram(
    angles_normal: Any,
    angles_anomaly: Any,
    out_path_stem: str,
    bins: int | Sequence[float] = 60,
    *,
    title: str = "",
    figsize: tuple[float, float] = (5.0, 3.5),
    dpi: int = 100,
) -> list[str]:
    """Histogram of angles (degrees) for normal and anomalous samples, log-scaled counts (EMM Fig. 2).

    ``bins``: a number of equal bins over the joint range of both sets, or explicit
    edges. Writes ``<stem>.png`` (exactly ``figsize * dpi`` pixels) and ``<stem>.pdf``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from asd_tf.explain import save_figure

    a_n = np.asarray(angles_normal, np.float64).ravel()
    a_a = np.asarray(angles_anomaly, np.float64).ravel()
    both = np.concatenate([a_n, a_a])
    if both.size == 0:
        raise ConfigError("plot_angle_histogram: no angles given")
    if np.isscalar(bins):
        lo, hi = float(np.floor(both.min())), float(np.ceil(both.max()))
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
    else:
        edges = np.asarray(bins, np.float64)
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    for vals, name, colour in ((a_n, "normal", "tab:blue"), (a_a, "anomaly", "tab:red")):
        if vals.size:
            ax.hist(vals, bins=edges, alpha=0.55, color=colour, label=f"{name} (n={vals.size})")
    ax.set_yscale("log")
    ax.set_xlabel("angle to class centre [deg]")
    ax.set_ylabel("count")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_path_stem)
