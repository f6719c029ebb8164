"""k-means scoring backend (the reference system's scoring, paper Sec. IV-B).

Per section (one backend object is fitted per (machine, section)):

1. L2-normalise all embeddings.
2. Fit k-means (k = 16) on the section's *source* training embeddings.
3. Use the section's *target* training embeddings directly as extra centres
   (the paper: "Since there are only 10 normal samples available for the
   target domain, the minimum over the direct cosine distances to the
   corresponding embeddings is used").
4. Normalise the centres; anomaly score = minimum cosine distance
   ``1 - cos(x, c)`` over all centres (higher = more anomalous).

Option ``fit="all"`` reproduces the authors' public code, which fits k-means on
the training embeddings of *both* domains of the section (docs/design.md, "The reference system",
``kmeans_fit=all``); that code also keeps the target training embeddings as
extra centres, so ``target_centres=True`` is kept there too (switch it off with
``target_centres=False``).

Edge cases (documented choices):

- fewer training clips than ``k``: k-means uses ``k = number of clips`` (every
  clip is then its own centre);
- DCASE 2020 (only one domain, every clip is "source"): k-means on the
  section's clips, no extra centres;
- a section with target clips but no source clips: only the target centres.

Training scores (used to fit the decision threshold) are the scores of the
training clips against the same centres, except that a centre made from the
clip alone is left out (leave-one-out): a target training clip is not compared
with itself, and a source clip that sits alone in a k-means cluster is not
compared with that cluster's centre.  Otherwise those clips would all score 0
and the threshold would be too low.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from asd_tf.errors import ConfigError, DatasetError

from asd_tf.scoring.base import ScoringBackend  # (its own line: the base of every backend)

_EPS = 1e-12


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm (zero rows stay zero). ``[N, D] -> [N, D]``, float64."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, _EPS)


def cosine_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Cosine distance ``1 - cos`` between every row of ``x`` and every centre. ``[N, D], [K, D] -> [N, K]``."""
    return 1.0 - l2_normalize(x) @ l2_normalize(centres).T


def section_name(records: Sequence[Any]) -> str:
    """``machine/section`` of the first record (for error messages)."""
    if not records:
        return "<empty section>"
    return f"{records[0].machine}/section {records[0].section}"


def check_embeddings(emb: np.ndarray, records: Sequence[Any], what: str) -> np.ndarray:
    """Validate a ``[N, D]`` embedding array against its ``N`` records; return it as float64."""
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 2:
        raise ConfigError(f"{what}: embeddings must be 2-D [clips, dim], got shape {emb.shape}")
    if emb.shape[0] != len(records):
        raise ConfigError(
            f"{what}: {emb.shape[0]} embeddings but {len(records)} clip records ({section_name(records)})"
        )
    if not np.all(np.isfinite(emb)):
        bad = int(np.argmax(~np.all(np.isfinite(emb), axis=1)))
        raise ConfigError(f"{what}: non-finite embedding for {records[bad].path}")
    return emb


def section_training_embeddings(emb: np.ndarray, records: Sequence[Any], backend: str) -> np.ndarray:
    """A section's training embeddings checked (:func:`check_embeddings`) and L2-normalised, ``[N, D]``.

    Every embedding backend's ``fit`` starts here; no training clips is a DatasetError naming the section.
    """
    emb = l2_normalize(check_embeddings(emb, records, f"{backend} fit"))
    if emb.shape[0] == 0:
        raise DatasetError(f"{backend} backend: no training clips for {section_name(records)}")
    return emb


class KMeansBackend(ScoringBackend):
    """Minimum cosine distance to k-means centres (source) and target training clips.

    Args:
        n_clusters: k of k-means (paper: 16); reduced to the number of clips when fewer.
        fit: ``"source"`` (paper, default) fits k-means on the source training
            clips only; ``"all"`` fits on both domains (authors' public code).
        target_centres: add each target training embedding as a centre (default True).
        seed: ``random_state`` of scikit-learn's KMeans.
        n_init: number of k-means restarts (fixed so results are reproducible).

    Example:
        >>> b = KMeansBackend(n_clusters=16)
        >>> b.fit(train_emb, train_records)          # one section
        >>> test_scores = b.score(test_emb, test_records)
        >>> threshold_scores = b.score_train()
    """

    name = "kmeans"
    seeded = True
    writes_to_run_root = True  # the paper's scoring: its results are the run's own

    def __init__(
        self,
        n_clusters: int = 16,
        fit: str = "source",
        target_centres: bool = True,
        seed: int = 0,
        n_init: int = 10,
    ) -> None:
        if fit not in ("source", "all"):
            raise ConfigError(f"kmeans backend: fit must be 'source' or 'all', got {fit!r}")
        if int(n_clusters) < 1:
            raise ConfigError(f"kmeans backend: n_clusters must be >= 1, got {n_clusters}")
        self.n_clusters = int(n_clusters)
        self.fit_domains = fit
        self.target_centres = bool(target_centres)
        self.seed = int(seed)
        self.n_init = int(n_init)
        self.centres: np.ndarray | None = None  # [K, D] unit-norm
        self._train_owner: np.ndarray | None = None  # [N_train, K] bool: centre made from this clip alone
        self._train_emb: np.ndarray | None = None

    def fit(self, train_embeddings: np.ndarray, train_records: Sequence[Any]) -> "KMeansBackend":
        """Build the centres of one section from its training embeddings ``[N, D]`` and records."""
        from sklearn.cluster import KMeans

        emb = section_training_embeddings(train_embeddings, train_records, "kmeans")
        domains = np.array([r.domain for r in train_records])
        is_target = domains == "target"
        fit_mask = ~is_target if self.fit_domains == "source" else np.ones_like(is_target)
        fit_idx = np.flatnonzero(fit_mask)

        centres = []
        owner_cols = []  # per centre: index of the training clip it was made from alone, or -1
        if fit_idx.size:
            k = min(self.n_clusters, fit_idx.size)  # fewer clips than k: one centre per clip
            with warnings.catch_warnings():
                # duplicate points give fewer distinct clusters than k; that is fine here
                warnings.simplefilter("ignore")
                km = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.seed).fit(emb[fit_idx])
            centres.append(l2_normalize(km.cluster_centers_))
            sizes = np.bincount(km.labels_, minlength=k)
            for c in range(k):
                members = fit_idx[km.labels_ == c]
                owner_cols.append(int(members[0]) if sizes[c] == 1 else -1)
        if self.target_centres and is_target.any():
            tgt_idx = np.flatnonzero(is_target)
            centres.append(emb[tgt_idx])
            owner_cols.extend(int(i) for i in tgt_idx)
        if not centres:
            raise DatasetError(
                f"kmeans backend: no training clips to build centres for {section_name(train_records)} "
                f"(fit={self.fit_domains!r}, target_centres={self.target_centres})"
            )
        self.centres = np.concatenate(centres, axis=0)  # [K, D]
        owner = np.zeros((emb.shape[0], self.centres.shape[0]), dtype=bool)
        for col, clip in enumerate(owner_cols):
            if clip >= 0:
                owner[clip, col] = True
        self._train_owner = owner
        self._train_emb = emb
        return self

    def score(self, embeddings: np.ndarray, records: Sequence[Any]) -> np.ndarray:
        """Anomaly scores ``[N]``: minimum cosine distance of each clip to the centres."""
        self._require_fitted("score", self.centres)
        emb = check_embeddings(embeddings, records, "kmeans score")
        if emb.shape[0] == 0:
            return np.zeros((0,), dtype=np.float64)
        return cosine_distances(emb, self.centres).min(axis=1)

    def score_train(self) -> np.ndarray:
        """Scores ``[N_train]`` of the fitted training clips, leaving out centres made from the clip alone."""
        self._require_fitted("score_train", self.centres, self._train_emb, self._train_owner)
        dist = cosine_distances(self._train_emb, self.centres)  # [N, K]
        dist = np.where(self._train_owner, np.inf, dist)
        out = dist.min(axis=1)
        # a clip that is the only centre of its section has nothing else to compare with:
        # fall back to its in-sample distance (0) rather than inf
        lonely = ~np.isfinite(out)
        if lonely.any():
            out[lonely] = cosine_distances(self._train_emb[lonely], self.centres).min(axis=1)
        return out
