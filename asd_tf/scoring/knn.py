"""k-nearest-neighbour scoring backend, per domain (docs/design.md, "Later methods", ``knn``).

Per section: the anomaly score of a clip is the *mean* cosine distance
(``1 - cos``) to its ``k`` nearest training embeddings, taken separately among
the section's source and target training clips; the score is the smaller of
the two (``per_domain=True``, the default; docs/design.md, "Later methods": "score =
min(distance to nearest source training clip, distance to nearest target
training clip)").  ``per_domain=False`` pools both domains (the mean over the
``k`` nearest clips of either domain).  With the default ``k = 1`` both give
the same scores, bit for bit (the minimum over the union equals the smaller
of the two minima), i.e. the k-means backend with every training clip as a
centre.  For ``k > 1`` they differ: per domain, a target-domain clip is not
pushed away by the few target neighbours being averaged with far source clips.

The mean of the k nearest (rather than the k-th distance) is chosen because it
is less sensitive to a single near-duplicate clip; for k = 1 both agree.
Domains: a record whose ``domain`` is ``"target"`` is target, anything else
(``"source"``, DCASE 2020's single domain) is source.

Training scores (for the decision threshold) are leave-one-out: a training
clip is scored against the other training clips of its section.  When ``k``
exceeds the number of available neighbours (of a domain), all of them are used;
a domain with no available neighbour is skipped.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from asd_tf.errors import ConfigError
from asd_tf.scoring.kmeans import (
    check_embeddings, cosine_distances, section_training_embeddings,
)
from asd_tf.scoring.base import ScoringBackend


def is_target(records: Sequence[Any]) -> np.ndarray:
    """``[N]`` bool: the record's domain is ``"target"`` (everything else counts as source)."""
    return np.array([r.domain == "target" for r in records], dtype=bool)


def mean_k_smallest(dist: np.ndarray, k: int) -> np.ndarray:
    """Mean of the ``k`` smallest finite values of each row of ``dist`` ``[N, M] -> [N]``.

    ``inf`` entries mark excluded neighbours; a row with fewer than ``k`` finite
    values averages all of them, a row with none gives ``inf``.
    """
    n = dist.shape[0]
    if dist.shape[1] == 0:
        return np.full((n,), np.inf)
    k = min(int(k), dist.shape[1])
    part = np.partition(dist, k - 1, axis=1)[:, :k]  # [N, k], the k smallest (unordered)
    finite = np.isfinite(part)
    count = finite.sum(axis=1)
    total = np.where(finite, part, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.inf)


def domain_knn(dist: np.ndarray, ref_is_target: np.ndarray, k: int, per_domain: bool = True) -> np.ndarray:
    """kNN scores ``[N]`` from distances ``[N, M]`` to ``M`` references of known domain ``[M]``.

    ``per_domain``: the smaller of the mean-of-k-nearest among source references
    and among target references; otherwise the mean of the k nearest of all.
    """
    if not per_domain:
        return mean_k_smallest(dist, k)
    parts = [mean_k_smallest(dist[:, mask], k) for mask in (~ref_is_target, ref_is_target) if mask.any()]
    if not parts:
        return np.full((dist.shape[0],), np.inf)
    return np.minimum.reduce(parts)


class KNNBackend(ScoringBackend):
    """Mean cosine distance to the ``k`` nearest training embeddings, per domain (docs/design.md, "Later methods").

    Args:
        k: number of neighbours (default 1).
        per_domain: take the k nearest among the source and among the target
            clips separately and keep the smaller score (default True); False
            pools both domains.  Identical for k = 1.
    """

    name = "knn"

    def __init__(self, k: int = 1, per_domain: bool = True) -> None:
        if int(k) < 1:
            raise ConfigError(f"knn backend: k must be >= 1, got {k}")
        if not isinstance(per_domain, (bool, np.bool_)):
            raise ConfigError(f"knn backend: per_domain must be true or false, got {per_domain!r}")
        self.k = int(k)
        self.per_domain = bool(per_domain)
        self._train: np.ndarray | None = None  # [N, D] unit-norm
        self._is_target: np.ndarray | None = None  # [N] bool

    def fit(self, train_embeddings: np.ndarray, train_records: Sequence[Any]) -> "KNNBackend":
        """Store the section's L2-normalised training embeddings ``[N, D]`` and their domains."""
        self._train = section_training_embeddings(train_embeddings, train_records, "knn")
        self._is_target = is_target(train_records)
        return self

    def score(self, embeddings: np.ndarray, records: Sequence[Any]) -> np.ndarray:
        """Anomaly scores ``[N]``."""
        self._require_fitted("score", self._train)
        emb = check_embeddings(embeddings, records, "knn score")
        if emb.shape[0] == 0:
            return np.zeros((0,), dtype=np.float64)
        return domain_knn(cosine_distances(emb, self._train), self._is_target, self.k, self.per_domain)

    def score_train(self) -> np.ndarray:
        """Leave-one-out scores ``[N_train]`` of the training clips."""
        self._require_fitted("score_train", self._train)
        n = self._train.shape[0]
        if n == 1:
            return np.zeros((1,), dtype=np.float64)  # no other clip: in-sample distance
        dist = cosine_distances(self._train, self._train)
        np.fill_diagonal(dist, np.inf)  # leave the clip itself out
        return domain_knn(dist, self._is_target, self.k, self.per_domain)
