"""The scoring-backend contract: what a backend computes and what it declares about itself.

A backend scores one section (machine, section) at a time::

    backend = Backend(**options)
    backend.fit(train_inputs [N_train, D], train_records)
    backend.score(test_inputs [N_test, D], test_records) -> [N_test]
    backend.score_train() -> [N_train]     # the scores the decision threshold is fitted on

Besides these methods a backend *declares* (class attributes and class methods)
what the per-section driver (:func:`asd_tf.scoring.driver.score_member`) must
give it, so that the driver never looks at backend names:

* ``inputs``: what its ``[N, D]`` inputs are: ``"embeddings"`` (the model's
  embeddings), ``"logits"`` (the loss head's margin-free class logits
  ``loss_layer.logits(embeddings)``, ``[N, C]``) or ``"clip_statistics"``
  (log-mel mean/std of each clip, the ``logmel_knn`` baseline: no model);
* ``seeded``: True when the backend takes a ``seed`` option, which the driver
  fills with the run's seed unless the user gives one;
* ``writes_to_run_root``: True for the one backend whose plain evaluation
  lands in the run directory itself (the paper's k-means), not in
  ``evaluation/<name>/`` (:func:`asd_tf.runs.evaluation_dir`);
* :meth:`options`: the constructor options it accepts (from ``__init__``'s signature);
* :meth:`options_from_run`: options it takes from the trained run (the class
  encoder of the run's label set, what it needs from the loss layer), given a
  :class:`RunContext`.

Adding a backend: subclass :class:`ScoringBackend`, set ``name`` and the
declarations, and add it to the name table in :mod:`asd_tf.scoring.backends`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from asd_tf.errors import ConfigError, NotFittedError

#: The kinds of input a backend may declare (``ScoringBackend.inputs``).
INPUT_KINDS = ("embeddings", "logits", "clip_statistics")


@dataclass
class RunContext:
    """What a trained run offers its backends besides the inputs (one model of the run).

    Args:
        seed: the run's seed (given to seeded backends).
        load_head: returns the model's trained loss layer (loaded once, on first use).
        load_label_set: returns the run's :class:`asd_tf.data.labels.LabelSet` (on first use).
    """

    seed: int = 0
    load_head: Callable[[], Any] | None = None
    load_label_set: Callable[[], Any] | None = None
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def _get(self, key: str, loader: Callable[[], Any] | None) -> Any:
        if key not in self._cache:
            if loader is None:
                raise ConfigError(f"this scoring backend needs the run's {key.replace('_', ' ')}, "
                                  "which this run does not provide")
            self._cache[key] = loader()
        return self._cache[key]

    @property
    def head(self) -> Any:
        """The trained loss layer (``loss_layer.logits``, ``loss_layer.class_score_options``)."""
        return self._get("loss_head", self.load_head)

    @property
    def label_set(self) -> Any:
        """The run's label set (``encode`` maps clip records to class ids)."""
        return self._get("label_set", self.load_label_set)


class ScoringBackend:
    """Base class of every scoring backend (see the module docstring for the contract)."""

    #: Name under which the backend is registered (``asd-tf evaluate --backend NAME``).
    name: ClassVar[str] = ""
    #: What ``fit``/``score`` consume: one of :data:`INPUT_KINDS`.
    inputs: ClassVar[str] = "embeddings"
    #: True: the backend takes a ``seed`` option and is given the run's seed by default.
    seeded: ClassVar[bool] = False
    #: True: a plain evaluation with this backend alone writes into the run directory itself.
    writes_to_run_root: ClassVar[bool] = False

    @classmethod
    def options(cls) -> set[str]:
        """The constructor options this backend accepts (the parameters of ``__init__``)."""
        return set(inspect.signature(cls.__init__).parameters) - {"self", "args", "kwargs"}

    @classmethod
    def options_from_run(cls, context: RunContext) -> dict[str, Any]:
        """Options taken from the trained run; user options win over them. Default: the run's seed if seeded."""
        return {"seed": int(context.seed)} if cls.seeded else {}

    @classmethod
    def prepare_inputs(cls, context: RunContext, embeddings: np.ndarray) -> np.ndarray:
        """The backend's inputs ``[N, D']`` from a model's embeddings ``[N, D]``.

        ``inputs == "logits"``: the loss head's margin-free logits ``[N, C]``;
        otherwise the embeddings unchanged.
        """
        if cls.inputs == "logits":
            return np.asarray(context.head.logits(embeddings))
        return embeddings

    def _require_fitted(self, what: str, *state: Any) -> None:
        """Raise :class:`NotFittedError` ``"<name> backend: <what>() called before fit()"`` if any ``state`` is None.

        ``state``: the attributes ``fit`` sets (``None`` until it has run).
        """
        if any(part is None for part in state):
            raise NotFittedError(f"{self.name} backend: {what}() called before fit()")

    def fit(self, train_inputs: np.ndarray, train_records: Sequence[Any]) -> "ScoringBackend":
        """Fit on one section's training inputs ``[N_train, D]`` and records; returns ``self``."""
        raise NotImplementedError(f"{type(self).__name__}.fit")

    def score(self, inputs: np.ndarray, records: Sequence[Any]) -> np.ndarray:
        """Anomaly scores ``[N]`` (higher = more anomalous) of one section's clips."""
        raise NotImplementedError(f"{type(self).__name__}.score")

    def score_train(self) -> np.ndarray:
        """Scores ``[N_train]`` of the fitted training clips (leave-one-out where a clip would meet itself)."""
        raise NotImplementedError(f"{type(self).__name__}.score_train")


class LogitsBackend(ScoringBackend):
    """A backend that scores the loss head's class logits and needs each clip's class (``encode``)."""

    inputs: ClassVar[str] = "logits"

    @classmethod
    def options_from_run(cls, context: RunContext) -> dict[str, Any]:
        """``encode``: the run's ``LabelSet.encode`` (clip records -> class ids)."""
        return {**super().options_from_run(context), "encode": context.label_set.encode}
