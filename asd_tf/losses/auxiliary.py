"""A loss layer that trains a main head plus an auxiliary self-supervised head (FeatEx, StatEx).

:class:`AuxiliaryHeadLoss` is the shared part of :class:`~asd_tf.losses.featex.FeatExLoss`
and :class:`~asd_tf.losses.statex.StatExLoss`: the main head answers everything the
trainer and the scoring ask of a loss layer (classes, embedding size, pairs, scale,
logits, class loss, compactness, centres), so a run scores exactly as without the
auxiliary head; the per-clip keep/exchange decisions are seeded Bernoulli draws; the
nested heads are (de)serialised by name. Subclasses set :attr:`_NESTED` (the constructor
arguments that hold layers), define ``__init__``, ``call``, ``get_config`` and the
:attr:`auxiliary_head` property.
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["AuxiliaryHeadLoss"]


class AuxiliaryHeadLoss(keras.layers.Layer):
    """Base of the main-head + auxiliary-head wrappers; not used on its own."""

    #: Constructor arguments that hold a (serialised) layer.
    _NESTED: tuple[str, ...] = ("main",)

    @property
    def auxiliary_head(self) -> keras.layers.Layer:
        raise NotImplementedError

    # The main head answers everything the trainer and the scoring ask of a loss layer.
    @property
    def num_classes(self) -> int:
        return self.main.num_classes

    @property
    def embedding_dim(self) -> int:
        return self.main.embedding_dim

    @property
    def needs_pairs(self) -> bool:
        return self.main.needs_pairs

    @property
    def scale(self):
        return self.main.scale

    def check_scale_guard(self) -> bool:
        """Warn (once per head) if a head's adaptive scale was guarded; see :mod:`.adaptive_scale`."""
        acted = []
        for head in (self.main, self.auxiliary_head):
            check = getattr(head, "check_scale_guard", None)
            if check is not None:
                acted.append(bool(check()))
        return any(acted)

    def keep_decisions(self, batch_size, prob: float | None = None):
        """``[B]`` bool: True where a clip keeps its own input (probability ``prob``, default ``self.prob``)."""
        p = self.prob if prob is None else prob
        return keras.random.uniform((batch_size,), seed=self.seed_generator) < p

    def centre_matrix(self):
        return self.main.centre_matrix()

    def logits(self, embeddings):
        return self.main.logits(embeddings)

    def class_loss(self, embeddings, y):
        return self.main.class_loss(embeddings, y)

    def compactness(self, embeddings, y):
        return self.main.compactness(embeddings, y)

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        for key in cls._NESTED:
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
