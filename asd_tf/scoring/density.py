"""Local-density-normalised nearest-neighbour scoring backend (docs/design.md, "Later methods", ``density``).

Wilkinghoff et al., "Keeping the Balance: Anomaly Score Calculation for Domain
Generalization", ICASSP 2025, and "Local Density-Based Anomaly Score
Normalization for Domain Generalization", TASLP 2025.  Per section:

- reference set ``R``: all training clips of the section, both domains
  (``source="kmeans"`` replaces the source clips by ``n_clusters`` k-means
  centres, as the authors' ``source_K_means`` option; ``smote=True`` adds the
  SMOTE-made target points of :mod:`asd_tf.scoring.smote`);
- distance ``d(x, r) = (1 - cos(x, r)) / 2`` on L2-normalised embeddings;
- local density of ``r_j`` from its sorted distances ``delta_j(1) <= delta_j(2) <= ...``
  to the other references:

  * ``density="knn"``: ``rho_j = (1/K) sum_{n<=K} delta_j(n)`` (mean over the K nearest);
  * ``density="weighted"``: ``rho_j = sum_n w^(n-1) delta_j(n) / sum_n w^(n-1)``
    over *all* other references (global weighted rank pooling, ``w = 0.9``);

- score ``min_j d(x, r_j) / rho_j`` (``variant="ratio"``) or
  ``min_j (d(x, r_j) - rho_j)`` (``variant="difference"``).

Default ``K = 1``: the default of the authors' code (docs/design.md, "Later methods"; one
toolkit uses 4, the authors' examples 16; the paper's recommended K was not
read).  With K = 1 a reference's density is the distance to its nearest other
reference, so the few, spread-out target clips get large ``rho`` and their
distances count less: the balance between the domains the paper is after.

Guard against ``rho = 0``: references within ``tol`` (distance) of each other
are duplicates and are not counted as each other's neighbours, so every
``rho`` is a mean of distances ``> tol``.  A reference with no other distinct
reference (a section of one clip, or all clips identical) has no density; it
is then neutral (``rho = 1`` for ratio, ``0`` for difference), i.e. the plain
distance.

Training scores (decision threshold) are leave-one-out, the way a test clip
sees the references: training clip ``i`` is scored without the reference it
makes alone (its own embedding, or a k-means centre of a cluster it is alone
in), and every other reference's density is recomputed without that reference
too (exactly, from the sorted distance table).  With ``smote=True`` a target
clip is scored against references rebuilt without it (SMOTE rerun on the other
target clips).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from asd_tf.errors import ConfigError
from asd_tf.scoring.kmeans import (
    KMeansBackend, check_embeddings, l2_normalize, section_name, section_training_embeddings,
)
from asd_tf.scoring.knn import is_target
from asd_tf.scoring.smote import check_smote_options, smote_target
from asd_tf.scoring.base import ScoringBackend

VARIANTS = ("ratio", "difference")
DENSITIES = ("knn", "weighted")
SOURCES = ("clips", "kmeans")


def half_cosine_distances(x: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """``d = (1 - cos) / 2`` in ``[0, 1]`` between rows of ``x`` ``[N, D]`` and ``refs`` ``[M, D]`` -> ``[N, M]``."""
    return 0.5 * (1.0 - l2_normalize(x) @ l2_normalize(refs).T)


class _NeighbourTable:
    """Each reference's sorted distances to the other, distinct references, and its density.

    Args:
        dist: ``[M, M]`` distances between references.
        density: ``"knn"`` or ``"weighted"``; k: K of the knn density; w: weight of the weighted one.
        tol: distances ``<= tol`` are duplicates, not neighbours.
    """

    def __init__(self, dist: np.ndarray, density: str, k: int, w: float, tol: float) -> None:
        m = dist.shape[0]
        a = np.array(dist, dtype=np.float64)
        a[a <= tol] = np.inf  # duplicates (and the reference itself) are no neighbours
        np.fill_diagonal(a, np.inf)
        self.adj = a  # [M, M]
        order = np.argsort(a, axis=1, kind="stable")
        self.sorted = np.take_along_axis(a, order, axis=1)  # [M, M], inf tail
        self.rank = np.empty_like(order)
        np.put_along_axis(self.rank, order, np.arange(m)[None, :].repeat(m, axis=0), axis=1)
        self.n_valid = np.isfinite(self.sorted).sum(axis=1)  # [M]
        self.density, self.k, self.w = density, int(k), float(w)
        finite_sorted = np.where(np.isfinite(self.sorted), self.sorted, 0.0)
        if density == "knn":
            self.csum = np.concatenate([np.zeros((m, 1)), np.cumsum(finite_sorted, axis=1)], axis=1)  # [M, M+1]
        else:
            self.weights = self.w ** np.arange(m)  # [M]
            # prefix[j, n] = sum_{i < n} w^i delta_j(i+1)
            self.prefix = np.concatenate([np.zeros((m, 1)), np.cumsum(finite_sorted * self.weights, axis=1)], axis=1)
            self.wsum = np.concatenate([[0.0], np.cumsum(self.weights)])  # wsum[L] = sum_{i < L} w^i
        self.rho = self._rho_full()  # [M], nan where undefined

    def _rho_full(self) -> np.ndarray:
        rows = np.arange(self.sorted.shape[0])
        n = self.n_valid
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.density == "knn":
                kk = np.minimum(self.k, n)
                return np.where(kk > 0, self.csum[rows, kk] / kk, np.nan)
            return np.where(n > 0, self.prefix[rows, n] / self.wsum[n], np.nan)

    def rho_without(self, removed: np.ndarray) -> np.ndarray:
        """Densities ``[M, R]`` of every reference when reference ``removed[r]`` is left out (nan: undefined)."""
        removed = np.asarray(removed, dtype=np.int64)
        m = self.sorted.shape[0]
        rows = np.arange(m)[:, None]  # [M, 1]
        is_neighbour = np.isfinite(self.adj[:, removed])  # [M, R]: removed was among j's neighbours
        rank = self.rank[:, removed]  # [M, R], position of the removed reference in j's sorted list
        n = self.n_valid[:, None]
        base = np.repeat(self.rho[:, None], removed.size, axis=1)
        gone = np.take_along_axis(self.sorted, np.minimum(rank, m - 1), axis=1)  # [M, R] delta removed
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.density == "knn":
                kk = np.minimum(self.k, n)
                new_kk = np.minimum(self.k, n - 1)
                # the next neighbour moves into the K nearest when there is one
                nxt = np.where(new_kk == kk, self.sorted[rows, np.minimum(kk, m - 1)], 0.0)
                new_sum = self.csum[rows, kk] - gone + nxt
                new = np.where(new_kk > 0, new_sum / new_kk, np.nan)
                changed = is_neighbour & (rank < kk)
            else:
                # later neighbours move one rank up: their weights grow by 1/w
                before = self.prefix[rows, rank]
                after = self.prefix[rows, n] - self.prefix[rows, np.minimum(rank + 1, m)]
                den = self.wsum[np.maximum(n - 1, 0)]
                new = np.where(n - 1 > 0, (before + after / self.w) / den, np.nan)
                changed = is_neighbour
        return np.where(changed, new, base)


class DensityBackend(ScoringBackend):
    """Nearest reference after local-density normalisation (ratio / difference), per section.

    Args:
        variant: ``"ratio"`` (``min_j d/rho_j``, default) or ``"difference"`` (``min_j d - rho_j``).
        density: ``"knn"`` (mean of the K nearest, default) or ``"weighted"`` (weights ``w^(n-1)``).
        k: K of the knn density (default 1, the authors' code).
        w: weight of the weighted density (default 0.9, docs/design.md, "Later methods").
        source: ``"clips"`` (default: every source training clip is a reference) or
            ``"kmeans"`` (``n_clusters`` k-means centres of the source clips instead).
        n_clusters, n_init: k-means settings for ``source="kmeans"`` (16, 10).
        smote: add SMOTE-made target references (default False).
        sampling_strategy, k_neighbors: SMOTE settings (0.2, 2).
        seed: k-means and SMOTE ``random_state`` (``asd-tf evaluate`` passes the run's seed).
        tol: distances ``<= tol`` mark duplicate references (1e-9).

    Example:
        >>> b = DensityBackend(variant="ratio", k=1).fit(train_emb, train_records)
        >>> scores = b.score(test_emb, test_records)
    """

    name = "density"
    seeded = True

    def __init__(
        self,
        variant: str = "ratio",
        density: str = "knn",
        k: int = 1,
        w: float = 0.9,
        source: str = "clips",
        n_clusters: int = 16,
        smote: bool = False,
        sampling_strategy: float = 0.2,
        k_neighbors: int = 2,
        seed: int = 0,
        n_init: int = 10,
        tol: float = 1e-9,
    ) -> None:
        for opt, value, allowed in (("variant", variant, VARIANTS), ("density", density, DENSITIES),
                                    ("source", source, SOURCES)):
            if value not in allowed:
                raise ConfigError(f"density backend: {opt} must be one of {list(allowed)}, got {value!r}")
        if int(k) < 1:
            raise ConfigError(f"density backend: k must be >= 1, got {k}")
        if not 0.0 < float(w) <= 1.0:
            raise ConfigError(f"density backend: w must be in (0, 1], got {w}")
        if int(n_clusters) < 1:
            raise ConfigError(f"density backend: n_clusters must be >= 1, got {n_clusters}")
        if not isinstance(smote, (bool, np.bool_)):
            raise ConfigError(f"density backend: smote must be true or false, got {smote!r}")
        if not float(tol) >= 0.0:
            raise ConfigError(f"density backend: tol must be >= 0, got {tol}")
        self.variant, self.density, self.k, self.w = variant, density, int(k), float(w)
        self.source, self.n_clusters, self.n_init = source, int(n_clusters), int(n_init)
        self.smote = bool(smote)
        self.sampling_strategy, self.k_neighbors = check_smote_options(sampling_strategy, k_neighbors,
                                                                       "density backend")
        self.seed, self.tol = int(seed), float(tol)
        self.references: np.ndarray | None = None  # [M, D] unit-norm
        self.rho: np.ndarray | None = None  # [M], neutral value where undefined
        self._table: _NeighbourTable | None = None
        self._src_refs: np.ndarray | None = None
        self._owner: np.ndarray | None = None  # [N_train]: index of the reference the clip makes alone, or -1
        self._emb: np.ndarray | None = None
        self._is_target: np.ndarray | None = None
        self._where = ""

    # -- references ---------------------------------------------------------------------------
    def _source_part(self, emb: np.ndarray, records: Sequence[Any], target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source references ``[S, D]`` and, per training clip, the source reference it makes alone (or -1)."""
        src = np.flatnonzero(~target)
        owner = np.full(emb.shape[0], -1, dtype=np.int64)
        if src.size == 0:
            return np.zeros((0, emb.shape[1])), owner
        if self.source == "clips":
            owner[src] = np.arange(src.size)
            return emb[src], owner
        km = KMeansBackend(n_clusters=self.n_clusters, fit="source", target_centres=False,
                           seed=self.seed, n_init=self.n_init).fit(emb[src], [records[i] for i in src])
        lonely = km._train_owner  # [S_clips, K]: the centre is this clip alone
        has = lonely.any(axis=1)
        owner[src[has]] = np.argmax(lonely[has], axis=1)
        return km.centres, owner

    def _build(self, emb: np.ndarray, target: np.ndarray, warn: bool) -> tuple[np.ndarray, np.ndarray]:
        """References ``[M, D]`` (source part, target clips, SMOTE points) and the target clips' rows in it."""
        tgt = np.flatnonzero(target)
        parts = [self._src_refs, emb[tgt]]
        if self.smote:
            parts.append(smote_target(emb, target, self.sampling_strategy, self.k_neighbors, self.seed,
                                      self._where, warn))
        rows = self._src_refs.shape[0] + np.arange(tgt.size)
        return np.concatenate(parts, axis=0), rows

    def _densities(self, refs: np.ndarray) -> _NeighbourTable:
        return _NeighbourTable(half_cosine_distances(refs, refs), self.density, self.k, self.w, self.tol)

    def _neutral(self, rho: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(rho), 1.0 if self.variant == "ratio" else 0.0, rho)

    def _normalise(self, d: np.ndarray, rho: np.ndarray) -> np.ndarray:
        """``d / rho`` or ``d - rho`` (``[N, M]`` with ``rho`` broadcast)."""
        return d / rho if self.variant == "ratio" else d - rho

    def fit(self, train_embeddings: np.ndarray, train_records: Sequence[Any]) -> "DensityBackend":
        """Build the section's references from its training embeddings ``[N, D]`` and their densities."""
        self._emb = section_training_embeddings(train_embeddings, train_records, "density")
        self._where = section_name(train_records)
        self._is_target = is_target(train_records)
        self._src_refs, owner = self._source_part(self._emb, train_records, self._is_target)
        self.references, tgt_rows = self._build(self._emb, self._is_target, warn=True)
        owner[np.flatnonzero(self._is_target)] = tgt_rows
        self._owner = owner
        self._table = self._densities(self.references)
        self.rho = self._neutral(self._table.rho)
        return self

    # -- scores -------------------------------------------------------------------------------
    def score(self, embeddings: np.ndarray, records: Sequence[Any]) -> np.ndarray:
        """Anomaly scores ``[N]``: ``min_j d(x, r_j) / rho_j`` (ratio) or ``min_j d(x, r_j) - rho_j``."""
        self._require_fitted("score", self.references)
        emb = check_embeddings(embeddings, records, "density score")
        if emb.shape[0] == 0:
            return np.zeros((0,), dtype=np.float64)
        d = half_cosine_distances(emb, self.references)  # [N, M]
        return self._normalise(d, self.rho[None, :]).min(axis=1)

    def score_train(self) -> np.ndarray:
        """Leave-one-out scores ``[N_train]`` of the training clips (see the module docstring)."""
        self._require_fitted("score_train", self.references)
        n, m = self._emb.shape[0], self.references.shape[0]
        d = half_cosine_distances(self._emb, self.references)  # [N, M]
        out = self._normalise(d, self.rho[None, :]).min(axis=1)  # clips that own no reference
        owned = np.flatnonzero(self._owner >= 0)
        if self.smote:
            owned = owned[~self._is_target[owned]]  # target clips: full rebuild below
        if owned.size and m > 1:
            refs_out = self._owner[owned]
            rho = self._neutral(self._table.rho_without(refs_out)).T  # [R, M]
            scores = self._normalise(d[owned], rho)
            scores[np.arange(owned.size), refs_out] = np.inf  # not compared with itself
            out[owned] = scores.min(axis=1)
        if self.smote and m > 1:
            for i in np.flatnonzero(self._is_target):
                keep = np.arange(n) != i
                refs, _ = self._build(self._emb[keep], self._is_target[keep], warn=False)
                if refs.shape[0] == 0:
                    continue
                rho = self._neutral(self._densities(refs).rho)
                out[i] = self._normalise(half_cosine_distances(self._emb[i:i + 1], refs), rho[None, :]).min()
        # a clip that is the section's only reference has nothing else to compare with: in-sample score
        lonely = ~np.isfinite(out)
        if lonely.any():
            out[lonely] = self._normalise(d[lonely], self.rho[None, :]).min(axis=1)
        return out
