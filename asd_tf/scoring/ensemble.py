"""Score ensembles across scoring backends and across runs.

Two ways to combine member systems (a member = one run scored by one backend),
chosen by name:

- ``"sum"``: the plain sum of the members' scores, as the reference system's
  public code sums the scores of its 5 models (:func:`asd_tf.scoring.ensemble_scores`);
- ``"zscore"``: each member's scores are first standardised per section with
  the mean and standard deviation of *that member's* scores on the section's
  training clips (its leave-one-out training scores), then summed, so members
  on different scales (a cosine distance in [0, 2], a density ratio around 1,
  a negative log posterior) weigh alike.

Training scores are combined the same way, so the decision threshold of the
ensemble is fitted on the ensemble's own training scores.  A section whose
member training scores have (almost) no spread (std <= 1e-12, e.g. one
training clip) is only centred (std taken as 1).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from asd_tf.errors import ConfigError, DatasetError
from asd_tf.scoring.backends import ensemble_scores, group_by_section

COMBINE_METHODS = ("sum", "zscore")
_MIN_STD = 1e-12


def standardise_by_section(
    test_scores: np.ndarray,
    train_scores: np.ndarray,
    test_records: Sequence[Any],
    train_records: Sequence[Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Per-section z-scores ``(test [N_test], train [N_train])`` with each section's training mean/std.

    ``z = (s - mean(train scores of the section)) / std(train scores of the section)``
    (population std; a std <= 1e-12 is taken as 1).

    Raises:
        ConfigError: shapes do not match the records, a test section has no
            training clips, or a section's training scores are not finite.
    """
    test_scores = np.asarray(test_scores, dtype=np.float64)
    train_scores = np.asarray(train_scores, dtype=np.float64)
    if test_scores.shape != (len(test_records),) or train_scores.shape != (len(train_records),):
        raise ConfigError(f"standardise_by_section: {test_scores.shape} test scores for {len(test_records)} clips, "
                          f"{train_scores.shape} training scores for {len(train_records)} clips")
    train_groups = group_by_section(train_records)
    test_groups = group_by_section(test_records)
    missing = sorted(set(test_groups) - set(train_groups))
    if missing:
        m, s = missing[0]
        raise DatasetError(f"standardise_by_section: no training scores for {m}/section {s} "
                          f"(first test clip: {test_records[int(test_groups[missing[0]][0])].path})")
    z_test = np.full_like(test_scores, np.nan)
    z_train = np.full_like(train_scores, np.nan)
    for key, tr_idx in train_groups.items():
        ref = train_scores[tr_idx]
        if not np.all(np.isfinite(ref)):
            bad = tr_idx[int(np.argmax(~np.isfinite(ref)))]
            raise ConfigError(f"standardise_by_section: non-finite training score for {train_records[bad].path}")
        mean, std = float(ref.mean()), float(ref.std())
        std = std if std > _MIN_STD else 1.0
        z_train[tr_idx] = (ref - mean) / std
        te_idx = test_groups.get(key)
        if te_idx is not None:
            z_test[te_idx] = (test_scores[te_idx] - mean) / std
    return z_test, z_train


def combine_scores(
    members: Sequence[tuple[np.ndarray, np.ndarray]],
    test_records: Sequence[Any],
    train_records: Sequence[Any],
    method: str = "sum",
) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble ``(test [N_test], train [N_train])`` of members given as ``(test, train)`` score pairs.

    Args:
        members: one ``(test_scores, train_scores)`` pair per member, in the
            order of ``test_records`` / ``train_records``.
        method: ``"sum"`` (plain sum, the reference code) or ``"zscore"``
            (per-section standardisation on each member's training scores, then sum).
    """
    if method not in COMBINE_METHODS:
        raise ConfigError(f"unknown score combination {method!r}; choose one of {list(COMBINE_METHODS)}")
    if not members:
        raise ConfigError("combine_scores: no member scores given")
    if method == "zscore":
        members = [standardise_by_section(te, tr, test_records, train_records) for te, tr in members]
    return ensemble_scores([te for te, _ in members]), ensemble_scores([tr for _, tr in members])
