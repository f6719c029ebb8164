"""A loss layer that trains a main head plus an auxiliary self-supervised head (FeatEx, StatEx).

:class:`AuxiliaryHeadLoss` is the shared part of :class:`~asd_tf.losses.featex.FeatExLoss`
and :class:`~asd_tf.losses.statex.StatExLoss`: the main head answers everything the
trainer and the scoring ask of a loss layer (classes, embedding size, pairs, scale,
logits, class loss, compactness, centres), so a run scores exactly as without the
auxiliary head; the per-clip keep/exchange decisions are seeded Bernoulli draws; the
nested heads are (de)serialised by name. Subclasses set :attr:`_NESTED` (the constructor
arguments that hold layers, stored under the same attribute names), define ``__init__``,
``call``, ``get_config`` (their own scalar arguments) and the :attr:`auxiliary_head` property.
:func:`build_auxiliary_head` builds that head for either option.
"""

from __future__ import annotations

from typing import Any

import inspect

import keras

from ..errors import ConfigError
from .base import LossLayer

__all__ = ["AuxiliaryHeadLoss", "SOFT_TARGET_HEADS", "build_auxiliary_head"]

#: Loss names that can be an auxiliary head: they take soft targets directly (``loss_from_targets``).
SOFT_TARGET_HEADS: tuple[str, ...] = ("adacos", "subcluster_adacos", "adaproj")


def build_auxiliary_head(main: keras.layers.Layer, loss_name: str, params: dict[str, Any], head: str | None, *,
                         blocks: int, trainable_centres: bool, option: str, name: str) -> keras.layers.Layer:
    """The auxiliary head of a FeatEx / StatEx wrapper around ``main`` (built as ``loss_name`` with ``params``).

    Loss ``head`` (default: ``loss_name`` when it is one of :data:`SOFT_TARGET_HEADS`, else
    ``subcluster_adacos``) with ``blocks`` x C classes, the main head's parameters that it
    accepts, ``trainable_centres`` and centres seeded with ``seed + 1``. ``option`` names the
    setting in the error for a head that takes no soft targets (``featex_head``, ``statex_head``).
    """
    from .registry import loss_class

    head = head or (loss_name if loss_name in SOFT_TARGET_HEADS else "subcluster_adacos")
    if head not in SOFT_TARGET_HEADS:
        raise ConfigError(f"{option} must be one of {', '.join(SOFT_TARGET_HEADS)}, got {head!r}")
    accepted = set(inspect.signature(loss_class(head).__init__).parameters) - {"self", "kwargs"}
    skip = ("name", "num_classes", "embedding_dim")
    head_params = {k: v for k, v in params.items() if k in accepted and k not in skip}
    head_params["trainable_centres"] = bool(trainable_centres)
    head_params["seed"] = int(params.get("seed", 0)) + 1
    return loss_class(head)(
        num_classes=blocks * int(main.num_classes), embedding_dim=int(main.embedding_dim), name=name, **head_params
    )


class AuxiliaryHeadLoss(LossLayer):
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

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({key: keras.saving.serialize_keras_object(getattr(self, key)) for key in self._NESTED})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        for key in cls._NESTED:
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
