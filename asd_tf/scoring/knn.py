"""k-nearest-neighbour scoring backend.

Per section: the anomaly score of a clip is the *mean* cosine distance
(``1 - cos``) to its ``k`` nearest training embeddings of the section (both
domains).  With the default ``k = 1`` this is the distance to the nearest
training clip, i.e. the k-means backend with every training clip as a centre.
The mean of the k nearest (rather than the k-th distance) is chosen because it
is less sensitive to a single near-duplicate clip; for k = 1 both agree.

Training scores (for the decision threshold) are leave-one-out: a training
clip is scored against the other training clips of its section.  When ``k``
exceeds the number of available neighbours, all of them are used.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from asd_tf.errors import ConfigError, DatasetError
from asd_tf.scoring.kmeans import check_embeddings, cosine_distances, l2_normalize, section_name


def _mean_k_smallest(dist: np.ndarray, k: int) -> np.ndarray:
    """Mean of the ``k`` smallest finite values of each row of ``dist`` ``[N, M] -> [N]``."""
    k = min(k, dist.shape[1])
    part = np.partition(dist, k - 1, axis=1)[:, :k]  # [N, k], the k smallest (unordered)
    return part.mean(axis=1)


class KNNBackend:
    """Mean cosine distance to the ``k`` nearest training embeddings of the section.

    Args:
        k: number of neighbours (default 1).
    """

    name = "knn"

    def __init__(self, k: int = 1) -> None:
        if int(k) < 1:
            raise ConfigError(f"knn backend: k must be >= 1, got {k}")
        self.k = int(k)
        self._train: np.ndarray | None = None  # [N, D] unit-norm

    def fit(self, train_embeddings: np.ndarray, train_records: Sequence[Any]) -> "KNNBackend":
        """Store the section's L2-normalised training embeddings ``[N, D]``."""
        emb = check_embeddings(train_embeddings, train_records, "knn fit")
        if emb.shape[0] == 0:
            raise DatasetError(f"knn backend: no training clips for {section_name(train_records)}")
        self._train = l2_normalize(emb)
        return self

    def score(self, embeddings: np.ndarray, records: Sequence[Any]) -> np.ndarray:
        """Anomaly scores ``[N]``."""
        if self._train is None:
            raise ConfigError("knn backend: score() called before fit()")
        emb = check_embeddings(embeddings, records, "knn score")
        if emb.shape[0] == 0:
            return np.zeros((0,), dtype=np.float64)
        return _mean_k_smallest(cosine_distances(emb, self._train), self.k)

    def score_train(self) -> np.ndarray:
        """Leave-one-out scores ``[N_train]`` of the training clips."""
        if self._train is None:
            raise ConfigError("knn backend: score_train() called before fit()")
        n = self._train.shape[0]
        if n == 1:
            return np.zeros((1,), dtype=np.float64)  # no other clip: in-sample distance
        dist = cosine_distances(self._train, self._train)
        np.fill_diagonal(dist, np.inf)  # leave the clip itself out
        return _mean_k_smallest(dist, min(self.k, n - 1))
