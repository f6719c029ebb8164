"""SMOTE oversampling of a section's target-domain training embeddings (docs/design.md, "Later methods").

The target domain has about 10 training clips per section against about 990
source clips.  imbalanced-learn's ``SMOTE(sampling_strategy=0.2,
k_neighbors=2, random_state=seed)``, applied to the section's L2-normalised
training embeddings labelled by domain (0 = source, 1 = target), adds
synthetic target points on the segments between a target clip and one of its
``k_neighbors`` nearest target clips until the target domain holds
``int(0.2 x n_source)`` points (10 -> 198 for 990 source clips).  The
synthetic points are re-normalised to unit length (they lie inside the
sphere) and serve as extra target references.

Documented fallbacks (no error, one ``UserWarning`` where a setting is changed):

- no source or no target training clip (DCASE 2020, a target-only section):
  nothing to balance, no synthetic point;
- the target domain already holds ``int(sampling_strategy x n_source)`` clips
  or more: no synthetic point (imbalanced-learn would refuse the ratio);
- fewer target clips than ``k_neighbors + 1``: SMOTE runs with
  ``k_neighbors = n_target - 1`` (every other target clip is a neighbour),
  with a warning;
- a single target clip: SMOTE cannot interpolate; no synthetic point, with a
  warning (copies of the clip would not change any nearest-neighbour distance).
"""

from __future__ import annotations

import warnings

import numpy as np

from asd_tf.errors import ConfigError
from asd_tf.scoring.kmeans import l2_normalize


def check_smote_options(sampling_strategy: float, k_neighbors: int, what: str) -> tuple[float, int]:
    """Validated ``(sampling_strategy, k_neighbors)``; bad values -> ConfigError naming ``what``."""
    try:
        ratio, k = float(sampling_strategy), int(k_neighbors)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: sampling_strategy must be a number and k_neighbors an integer ({exc})") from exc
    if not 0.0 < ratio <= 1.0:
        raise ConfigError(f"{what}: sampling_strategy must be in (0, 1], got {sampling_strategy}")
    if k < 1:
        raise ConfigError(f"{what}: k_neighbors must be >= 1, got {k_neighbors}")
    return ratio, k


def smote_target(
    embeddings: np.ndarray,
    target_mask: np.ndarray,
    sampling_strategy: float = 0.2,
    k_neighbors: int = 2,
    seed: int = 0,
    where: str = "",
    warn: bool = True,
) -> np.ndarray:
    """Synthetic unit-norm target embeddings ``[S, D]`` (``S`` may be 0) for one section.

    Args:
        embeddings: ``[N, D]`` training embeddings of the section (source and target).
        target_mask: ``[N]`` bool, True for target-domain clips.
        sampling_strategy: target count after oversampling as a fraction of the source count.
        k_neighbors: SMOTE's number of nearest target neighbours to interpolate towards.
        seed: SMOTE's ``random_state``.
        where: section name for the warnings.
        warn: emit the fallback warnings (off for leave-one-out refits).
    """
    from imblearn.over_sampling import SMOTE

    emb = l2_normalize(embeddings)
    target_mask = np.asarray(target_mask, dtype=bool)
    n_target = int(target_mask.sum())
    n_source = int(target_mask.size - n_target)
    empty = np.zeros((0, emb.shape[1]), dtype=np.float64)
    # imbalanced-learn's count for a float ratio: int(n_majority * ratio - n_minority) new samples
    if n_target == 0 or n_source == 0 or int(n_source * sampling_strategy - n_target) <= 0:
        return empty
    if n_target < 2:
        if warn:
            warnings.warn(f"SMOTE {where}: only 1 target training clip, nothing to interpolate; "
                          "no synthetic target points", stacklevel=3)
        return empty
    k = int(k_neighbors)
    if n_target < k + 1:
        if warn:
            warnings.warn(f"SMOTE {where}: {n_target} target training clips < k_neighbors + 1 = {k + 1}; "
                          f"using k_neighbors = {n_target - 1}", stacklevel=3)
        k = n_target - 1
    smote = SMOTE(sampling_strategy=sampling_strategy, k_neighbors=k, random_state=int(seed))
    x_res, _ = smote.fit_resample(emb, target_mask.astype(np.int64))
    # imbalanced-learn returns the original samples first, then the synthetic ones
    return l2_normalize(x_res[emb.shape[0]:])
