"""Scoring backend registry, the per-section driver and ensembling.

A backend (a :class:`asd_tf.scoring.base.ScoringBackend`) scores one section
(machine, section) at a time: ``fit(train_inputs, train_records)``,
``score(inputs, records) -> [N]`` and ``score_train() -> [N_train]`` (the
training clips' scores on which the decision threshold is fitted; leave-one-out
where a clip would otherwise be compared with itself).  ``score_dataset`` splits a whole dataset by section,
fits one backend per section on that section's training clips and returns
test and training scores in the input order.

Records are used by duck typing (``machine``, ``section``, ``domain``, ``path``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from asd_tf.errors import ConfigError, DatasetError
from asd_tf.registry import Registry
from asd_tf.scoring.class_loss import ClassLossBackend
from asd_tf.scoring.density import DensityBackend
from asd_tf.scoring.kmeans import KMeansBackend
from asd_tf.scoring.knn import KNNBackend
from asd_tf.scoring.knn_smote import KNNSmoteBackend
from asd_tf.scoring.posterior import ClassPosteriorBackend
from asd_tf.scoring.base import ScoringBackend


# ScoringBackend (imported above) is the base class every backend subclasses: it declares what the
# backend consumes, how it is seeded and what it takes from the run (asd_tf.scoring.base).


#: Backend name -> class (adding a backend: one line here).
BACKENDS = Registry("scoring backend", {
    "kmeans": KMeansBackend,
    "knn": KNNBackend,
    "knn_smote": KNNSmoteBackend,
    "density": DensityBackend,
    "class_posterior": ClassPosteriorBackend,
    "class_loss": ClassLossBackend,
})


def backend_options(name: str) -> set[str]:
    """The constructor options backend ``name`` accepts (unknown name -> ConfigError)."""
    return BACKENDS.parameters(name)


def make_backend(name: str, **options: Any) -> ScoringBackend:
    """A new backend ``name`` (one of ``BACKENDS``) built with ``options``; unknown names/options -> ConfigError."""
    BACKENDS.check_options(name, options, what="option(s)")
    return BACKENDS.build(name, **options)


def group_by_section(records: Sequence[Any]) -> dict[tuple[str, str], np.ndarray]:
    """Indices of the records of each (machine, section), keys in sorted order."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault((r.machine, r.section), []).append(i)
    return {key: np.asarray(groups[key], dtype=np.int64) for key in sorted(groups)}


def score_dataset(
    backend_name: str | type[ScoringBackend],
    train_emb: np.ndarray,
    train_records: Sequence[Any],
    test_emb: np.ndarray,
    test_records: Sequence[Any],
    **options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Score every test clip with a backend fitted per section on that section's training clips.

    Args:
        backend_name: key of ``BACKENDS`` ("kmeans", "knn", "knn_smote", "density",
            "class_posterior", "class_loss"), or a :class:`ScoringBackend` subclass
            (e.g. the ``logmel_knn`` baseline's, which is not a backend of embedding runs).
        train_emb: ``[N_train, D]`` embeddings (head logits for class_posterior and class_loss)
            of ``train_records``.
        test_emb: ``[N_test, D]`` embeddings of ``test_records``.
        **options: backend constructor options (e.g. ``n_clusters=16, fit="all"``).

    Returns:
        ``(test_scores [N_test], train_scores [N_train])``, float64, in input
        order.  Training clips of sections without test clips are scored too.

    Raises:
        DatasetError: a test section has no training clips.
        ConfigError: bad backend name/options or mismatching array shapes.
    """
    def new_backend() -> ScoringBackend:
        if isinstance(backend_name, str):
            return make_backend(backend_name, **options)
        unknown = sorted(set(options) - backend_name.options())
        if unknown:
            raise ConfigError(f"scoring backend {backend_name.name!r}: unknown option(s) {unknown}; "
                              f"allowed: {sorted(backend_name.options())}")
        return backend_name(**options)

    new_backend()  # validate name and options before any work
    train_emb = np.asarray(train_emb, dtype=np.float64)
    test_emb = np.asarray(test_emb, dtype=np.float64)
    if train_emb.shape[0] != len(train_records) or test_emb.shape[0] != len(test_records):
        raise ConfigError(
            f"score_dataset: {train_emb.shape[0]} train embeddings for {len(train_records)} records, "
            f"{test_emb.shape[0]} test embeddings for {len(test_records)} records"
        )
    if train_emb.ndim != 2 or test_emb.ndim != 2 or train_emb.shape[1] != test_emb.shape[1]:
        raise ConfigError(
            f"score_dataset: embeddings must be [N, D] with the same D, got {train_emb.shape} and {test_emb.shape}"
        )
    train_groups = group_by_section(train_records)
    test_groups = group_by_section(test_records)
    missing = sorted(set(test_groups) - set(train_groups))
    if missing:
        m, s = missing[0]
        raise DatasetError(
            f"no training clips for {m}/section {s} (needed to score its {len(test_groups[missing[0]])} "
            f"test clips; first: {test_records[int(test_groups[missing[0]][0])].path})"
        )
    test_scores = np.full((len(test_records),), np.nan, dtype=np.float64)
    train_scores = np.full((len(train_records),), np.nan, dtype=np.float64)
    for key, tr_idx in train_groups.items():
        backend = new_backend()
        backend.fit(train_emb[tr_idx], [train_records[i] for i in tr_idx])
        train_scores[tr_idx] = backend.score_train()
        te_idx = test_groups.get(key)
        if te_idx is not None:
            test_scores[te_idx] = backend.score(test_emb[te_idx], [test_records[i] for i in te_idx])
    return test_scores, train_scores


def ensemble_scores(score_arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Sum of the scores of several models (the public code sums the scores of 5 models).

    All arrays must have the same shape and the same clip order.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in score_arrays]
    if not arrays:
        raise ConfigError("ensemble_scores: no score arrays given")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ConfigError(f"ensemble_scores: score arrays differ in shape: {sorted(shapes)}")
    return np.sum(np.stack(arrays, axis=0), axis=0)
