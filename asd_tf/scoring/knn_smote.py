"""kNN + SMOTE scoring backend (docs/design.md, "Later methods", ``knn_smote``).

Per section: the target training embeddings are oversampled with SMOTE
(imbalanced-learn, ``sampling_strategy=0.2`` x the source count,
``k_neighbors=2``, seeded; see :mod:`asd_tf.scoring.smote` for the fallbacks
on sections with few target clips), the synthetic points are re-normalised to
unit length and added to the target references, and a clip's score is the
per-domain kNN score of :mod:`asd_tf.scoring.knn`: the smaller of the mean
cosine distance (``1 - cos``) to the ``k`` nearest source references and to
the ``k`` nearest target references (real or synthetic).

Training scores (decision threshold) are leave-one-out: a source clip is
scored without itself (it takes no part in SMOTE, which interpolates between
target clips only); a target clip is scored against references rebuilt
without it, SMOTE rerun on the other target clips with the same seed, so that
no synthetic point made from the clip is compared with it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from asd_tf.errors import ConfigError
from asd_tf.scoring.kmeans import (
    check_embeddings, cosine_distances, section_name, section_training_embeddings,
)
from asd_tf.scoring.knn import domain_knn, is_target
from asd_tf.scoring.smote import check_smote_options, smote_target
from asd_tf.scoring.base import ScoringBackend


class KNNSmoteBackend(ScoringBackend):
    """Per-domain kNN on the training clips plus SMOTE-made target references.

    Args:
        k: neighbours per domain (default 1: the nearest source and nearest target reference).
        sampling_strategy: target count after SMOTE as a fraction of the source count (0.2).
        k_neighbors: SMOTE's interpolation neighbours (2).
        seed: SMOTE's ``random_state`` (``asd-tf evaluate`` passes the run's seed).

    Example:
        >>> b = KNNSmoteBackend(seed=0).fit(train_emb, train_records)   # one section
        >>> scores = b.score(test_emb, test_records)
    """

    name = "knn_smote"
    seeded = True

    def __init__(self, k: int = 1, sampling_strategy: float = 0.2, k_neighbors: int = 2, seed: int = 0) -> None:
        if int(k) < 1:
            raise ConfigError(f"knn_smote backend: k must be >= 1, got {k}")
        self.k = int(k)
        self.sampling_strategy, self.k_neighbors = check_smote_options(sampling_strategy, k_neighbors,
                                                                       "knn_smote backend")
        self.seed = int(seed)
        self._emb: np.ndarray | None = None  # [N, D] unit-norm training clips
        self._is_target: np.ndarray | None = None  # [N]
        self.synthetic: np.ndarray | None = None  # [S, D] unit-norm SMOTE points
        self._where = ""

    def _synth(self, emb: np.ndarray, target: np.ndarray, warn: bool) -> np.ndarray:
        return smote_target(emb, target, self.sampling_strategy, self.k_neighbors, self.seed, self._where, warn)

    def fit(self, train_embeddings: np.ndarray, train_records: Sequence[Any]) -> "KNNSmoteBackend":
        """Store the section's unit-norm training embeddings ``[N, D]`` and make the SMOTE points."""
        self._emb = section_training_embeddings(train_embeddings, train_records, "knn_smote")
        self._where = section_name(train_records)
        self._is_target = is_target(train_records)
        self.synthetic = self._synth(self._emb, self._is_target, warn=True)
        return self

    def references(self) -> tuple[np.ndarray, np.ndarray]:
        """``(references [M, D], is_target [M])``: training clips, then the synthetic target points."""
        self._require_fitted("references", self._emb)
        refs = np.concatenate([self._emb, self.synthetic], axis=0)
        flags = np.concatenate([self._is_target, np.ones(self.synthetic.shape[0], dtype=bool)])
        return refs, flags

    def score(self, embeddings: np.ndarray, records: Sequence[Any]) -> np.ndarray:
        """Anomaly scores ``[N]``."""
        self._require_fitted("score", self._emb)
        refs, flags = self.references()
        emb = check_embeddings(embeddings, records, "knn_smote score")
        if emb.shape[0] == 0:
            return np.zeros((0,), dtype=np.float64)
        return domain_knn(cosine_distances(emb, refs), flags, self.k)

    def score_train(self) -> np.ndarray:
        """Leave-one-out scores ``[N_train]`` (target clips: SMOTE rerun without the clip)."""
        self._require_fitted("score_train", self._emb)
        refs, flags = self.references()
        n = self._emb.shape[0]
        if n == 1:
            return np.zeros((1,), dtype=np.float64)  # no other clip: in-sample distance
        dist = cosine_distances(self._emb, refs)  # [N, M]
        dist[np.arange(n), np.arange(n)] = np.inf  # the clip itself (references start with the clips)
        out = domain_knn(dist, flags, self.k)
        for i in np.flatnonzero(self._is_target):
            keep = np.arange(n) != i
            synth = self._synth(self._emb[keep], self._is_target[keep], warn=False)
            loo_refs = np.concatenate([self._emb[keep], synth], axis=0)
            loo_flags = np.concatenate([self._is_target[keep], np.ones(synth.shape[0], dtype=bool)])
            out[i] = domain_knn(cosine_distances(self._emb[i:i + 1], loo_refs), loo_flags, self.k)[0]
        return out
