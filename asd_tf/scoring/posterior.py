"""Class-posterior scoring backend: score = -log p(class | x).

The "embeddings" given to this backend are the training head's logits
``[N, C]`` (computed by the caller with the loss layer's ``logits()``); the
posterior is ``softmax(logits)``.  The anomaly score of a clip is the negative
log posterior of the clip's own auxiliary class (the class is known from its
file name / attributes, as for training).

A clip whose class cannot be determined (e.g. the ``attribute`` label set on
an evaluation clip without attributes, or a class never seen in training) is
scored with the most probable of its *section's* classes, i.e.
``-log max_{c in section} p(c | x)``; the section's classes are those of its
training clips.  This is the least anomalous reading, so an unknown class never
inflates a score.

Args:
    encode: callable mapping a list of clip records to an ``int`` array of
        class ids (e.g. ``LabelSet.encode``); a negative id, or an exception
        for that clip, means "unknown".  ``None``: every class is unknown.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from asd_tf.errors import ConfigError, DatasetError
from asd_tf.scoring.kmeans import check_embeddings, section_name
from asd_tf.scoring.base import LogitsBackend


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable ``log softmax`` over the last axis. ``[N, C] -> [N, C]``."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def check_test_logits(backend: str, logits: np.ndarray, records: Sequence[Any], num_classes: int) -> np.ndarray:
    """Checked test logits ``[N, C]`` of a logits backend fitted on ``num_classes`` classes.

    Raises :class:`ConfigError` when ``C`` differs from the fitted class count.
    """
    logits = check_embeddings(logits, records, f"{backend} score")
    if logits.shape[0] and logits.shape[1] != num_classes:
        raise ConfigError(
            f"{backend} backend: {logits.shape[1]} logits per clip at test time but "
            f"{num_classes} at fit time ({section_name(records)})"
        )
    return logits


def encode_classes(encode: Callable[[list], Any] | None, records: Sequence[Any]) -> np.ndarray:
    """Class id per record ``[N]`` (int64, -1 = unknown).

    Tries ``encode(records)`` on the whole list; if it raises (some clip's
    class is unknown), encodes clip by clip and marks failures -1.
    """
    n = len(records)
    if encode is None or n == 0:
        return np.full((n,), -1, dtype=np.int64)
    try:
        ids = np.asarray(encode(list(records)), dtype=np.int64).reshape(-1)
        if ids.shape[0] != n:
            raise ConfigError(f"class encoder returned {ids.shape[0]} ids for {n} clips")
        return ids
    except ConfigError:
        raise
    except Exception:  # some clip has no class; fall back to one clip at a time
        out = np.full((n,), -1, dtype=np.int64)
        for i, rec in enumerate(records):
            try:
                out[i] = int(np.asarray(encode([rec])).reshape(-1)[0])
            except Exception:
                out[i] = -1
        return out


class ClassPosteriorBackend(LogitsBackend):
    """``-log p(own class | x)`` from per-clip logits (see module docstring)."""

    name = "class_posterior"

    def __init__(self, encode: Callable[[list], Any] | None = None) -> None:
        self.encode = encode
        self.section_classes: np.ndarray | None = None  # class ids seen in this section's training clips
        self._train_scores: np.ndarray | None = None
        self.num_classes: int | None = None

    def _scores(self, logits: np.ndarray, ids: np.ndarray) -> np.ndarray:
        logp = log_softmax(logits)  # [N, C]
        n, c = logp.shape
        known = (ids >= 0) & (ids < c)
        out = np.empty((n,), dtype=np.float64)
        rows = np.flatnonzero(known)
        out[rows] = -logp[rows, ids[rows]]
        unknown = np.flatnonzero(~known)
        if unknown.size:
            cols = self.section_classes if self.section_classes is not None and self.section_classes.size else np.arange(c)
            out[unknown] = -logp[np.ix_(unknown, cols)].max(axis=1)
        return out

    def fit(self, train_logits: np.ndarray, train_records: Sequence[Any]) -> "ClassPosteriorBackend":
        """Record the section's classes and the training clips' scores; ``train_logits`` is ``[N, C]``."""
        logits = check_embeddings(train_logits, train_records, "class_posterior fit")
        if logits.shape[0] == 0:
            raise DatasetError(f"class_posterior backend: no training clips for {section_name(train_records)}")
        self.num_classes = logits.shape[1]
        ids = encode_classes(self.encode, train_records)
        valid = ids[(ids >= 0) & (ids < self.num_classes)]
        self.section_classes = np.unique(valid)
        self._train_scores = self._scores(logits, ids)
        return self

    def score(self, logits: np.ndarray, records: Sequence[Any]) -> np.ndarray:
        """Anomaly scores ``[N]`` from logits ``[N, C]``."""
        self._require_fitted("score", self.num_classes)
        logits = check_test_logits("class_posterior", logits, records, self.num_classes)
        if logits.shape[0] == 0:
            return np.zeros((0,), dtype=np.float64)
        return self._scores(logits, encode_classes(self.encode, records))

    def score_train(self) -> np.ndarray:
        """Scores ``[N_train]`` of the training clips (their own class's -log posterior)."""
        self._require_fitted("score_train", self._train_scores)
        return self._train_scores.copy()
