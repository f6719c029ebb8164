"""The per-model scoring driver: one backend, every section, driven only by what the backend declares.

:func:`score_member` is what ``asd-tf evaluate`` runs for each trained model of
a run: it asks the backend class (:class:`asd_tf.scoring.base.ScoringBackend`)
which options it takes from the run (the seed, the class encoder, what it needs
from the loss layer) and which inputs it consumes (embeddings or the head's
logits), then fits and scores it per section with
:func:`asd_tf.scoring.backends.score_dataset`.  It never branches on a backend's
name: a new backend class registered in :data:`asd_tf.scoring.backends.BACKENDS`
is driven without an edit here.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from asd_tf.scoring.base import RunContext, ScoringBackend


def backend_class(name: str) -> type[ScoringBackend]:
    """The class registered as backend ``name`` (unknown name -> ConfigError listing the known ones)."""
    from asd_tf.scoring.backends import BACKENDS, backend_options

    backend_options(name)  # ConfigError naming the known backends when ``name`` is unknown
    return BACKENDS[name]


def member_options(name: str, context: RunContext, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Backend ``name``'s options for one model: what it takes from the run, overridden by ``options``."""
    return {**backend_class(name).options_from_run(context), **dict(options or {})}


def score_member(
    name: str,
    context: RunContext,
    train_embeddings: np.ndarray,
    train_records: Sequence[Any],
    test_embeddings: np.ndarray,
    test_records: Sequence[Any],
    options: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(test [N_test], train [N_train])`` of one model's clips with backend ``name``, per section.

    Args:
        name: a key of :data:`asd_tf.scoring.backends.BACKENDS`.
        context: the run's seed and loaders of its loss head and label set
            (used only when the backend declares it needs them).
        train_embeddings, test_embeddings: the model's embeddings ``[N, D]`` of the records.
        options: user options (``asd-tf evaluate --option``); they win over the run's.
    """
    from asd_tf.scoring.backends import score_dataset

    cls = backend_class(name)
    opts = member_options(name, context, options)
    train_inputs = cls.prepare_inputs(context, train_embeddings)
    test_inputs = cls.prepare_inputs(context, test_embeddings)
    return score_dataset(name, train_inputs, train_records, test_inputs, test_records, **opts)
