"""FeatEx: self-supervised feature exchange between the two branch embeddings (Wilkinghoff, ICASSP 2024).

A training option wrapped around any loss layer (docs/design.md, "Later methods"): the main head
sees the unexchanged embedding as before; a second head with 3C classes learns
whether, and between which clips, the branch embeddings were exchanged. Scoring
uses the main head only (its ``logits``, ``class_loss``, ``compactness``, ``scale``).
Written with ``keras.ops``.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ..errors import ConfigError
from .auxiliary import SOFT_TARGET_HEADS, AuxiliaryHeadLoss, build_auxiliary_head

#: Loss names that can be the FeatEx head: they take soft targets directly (``loss_from_targets``).
FEATEX_HEADS: tuple[str, ...] = SOFT_TARGET_HEADS


def exchange_branches(embeddings, split: int, keep):
    """Exchange the second branch with the reversed-batch partner where ``keep`` is False.

    ``embeddings [B, D]`` = ``[first branch (:split) | second branch (split:)]``
    (reference model: spectrum, spectrogram). Row ``i`` keeps its first branch
    and, unless ``keep[i]``, takes the second branch of row ``B - 1 - i``.
    """
    partner = ops.flip(embeddings, axis=0)
    keep = ops.reshape(ops.cast(keep, "bool"), (-1, 1))
    second = ops.where(keep, embeddings[:, split:], partner[:, split:])
    return ops.concatenate([embeddings[:, :split], second], axis=1)


def featex_targets(targets, keep):
    """FeatEx soft targets ``[B, 3C]`` from the (mixed) targets ``t [B, C]``.

    Kept: ``[t_i, 0, 0]``; exchanged: ``[0, t_i / 2, t_partner / 2]`` with the
    partner ``B - 1 - i`` (its second branch was taken).
    """
    targets = ops.cast(targets, "float32")
    zeros = ops.zeros_like(targets)
    kept = ops.concatenate([targets, zeros, zeros], axis=1)
    exchanged = ops.concatenate([zeros, 0.5 * targets, 0.5 * ops.flip(targets, axis=0)], axis=1)
    return ops.where(ops.reshape(ops.cast(keep, "bool"), (-1, 1)), kept, exchanged)


@keras.saving.register_keras_serializable(package="asd_tf")
class FeatExLoss(AuxiliaryHeadLoss):
    """Main loss + ``weight`` x FeatEx loss (docs/design.md, "Later methods"; Wilkinghoff, ICASSP 2024).

    Training call: the main head's loss on the unexchanged embedding (with its
    own mixup handling) plus ``weight`` times the FeatEx head's loss: with
    probability ``1 - prob`` per clip the second branch embedding is taken from
    the reversed-batch partner (:func:`exchange_branches`), and the targets grow
    to 3C classes (:func:`featex_targets`, from the main head's mixed targets).
    Evaluation calls, ``logits``, ``class_loss``, ``compactness`` and ``scale``
    are the main head's, so scoring is unchanged.

    Args:
        main: the main loss layer (any loss of :mod:`asd_tf.losses`).
        featex_head: a loss layer with ``3 * main.num_classes`` classes and
            ``loss_from_targets`` (:data:`FEATEX_HEADS`; trainable centres in the method).
        split: width of the first branch embedding (reference model: the spectrum branch).
        prob: probability that a clip keeps its own embedding (0.5).
        weight: weight of the FeatEx loss (1.0).
        seed: seed of the keep/exchange decisions.
    """

    _NESTED = ("main", "featex_head")

    def __init__(
        self,
        main: keras.layers.Layer,
        featex_head: keras.layers.Layer,
        split: int,
        prob: float = 0.5,
        weight: float = 1.0,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not hasattr(featex_head, "loss_from_targets"):
            raise ConfigError(
                f"FeatEx: the head {type(featex_head).__name__} does not take soft targets; use one of {FEATEX_HEADS}"
            )
        if int(featex_head.num_classes) != 3 * int(main.num_classes):
            raise ConfigError(
                f"FeatEx: the head needs 3 x {main.num_classes} classes, got {featex_head.num_classes}"
            )
        if not 0 < int(split) < int(main.embedding_dim):
            raise ConfigError(
                f"FeatEx: split must lie strictly inside the {main.embedding_dim}-d embedding, got {split}"
            )
        if not 0.0 <= float(prob) <= 1.0 or float(weight) < 0.0:
            raise ConfigError(f"FeatEx: need 0 <= prob <= 1 and weight >= 0, got prob={prob}, weight={weight}")
        self.main = main
        self.featex_head = featex_head
        self.split = int(split)
        self.prob = float(prob)
        self.weight = float(weight)
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.built = True

    @property
    def auxiliary_head(self) -> keras.layers.Layer:
        return self.featex_head

    def call(self, embeddings, y1, y2=None, lam=None, training=False):
        main_loss = self.main(embeddings, y1, y2, lam, training=training)
        if not training or self.weight == 0.0:
            return main_loss
        keep = self.keep_decisions(ops.shape(embeddings)[0])
        exchanged = exchange_branches(ops.cast(embeddings, "float32"), self.split, keep)
        targets = featex_targets(self.main.targets(y1, y2, lam), keep)
        return main_loss + self.weight * self.featex_head.loss_from_targets(exchanged, targets, training=training)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            split=self.split,
            prob=self.prob,
            weight=self.weight,
            seed=self.seed,
        )
        return config


def build_featex(main: keras.layers.Layer, loss_name: str, params: dict[str, Any], split: int | None = None,
                 head: str | None = None, prob: float = 0.5, weight: float = 1.0,
                 trainable_centres: bool = True) -> FeatExLoss:
    """Wrap ``main`` (built as ``loss_name`` with ``params``) in :class:`FeatExLoss`.

    The FeatEx head is loss ``head`` (default: ``loss_name`` when it is one of
    :data:`FEATEX_HEADS`, else ``subcluster_adacos``) with 3C classes, the
    main head's parameters that it accepts, trainable centres (docs/design.md, "Later methods")
    and centres seeded with ``seed + 1``.
    """
    if split is None:
        raise ConfigError(
            "FeatEx needs featex_split, the width of the first branch embedding (the trainer takes it from "
            "the model: reference backbone with branches=both)"
        )
    featex_head = build_auxiliary_head(main, loss_name, params, head, blocks=3, trainable_centres=trainable_centres,
                                       option="featex_head", name="featex_head")
    return FeatExLoss(main, featex_head, split=split, prob=prob, weight=weight, seed=int(params.get("seed", 0)),
                      name="featex")


def featex_split(model: keras.Model) -> int:
    """Width of the first branch embedding of ``model``, where FeatEx cuts the embedding.

    Needs two addressable branch embeddings (:func:`asd_tf.models.reference.branch_slices`:
    the reference backbone with ``branches=both``); ConfigError otherwise.
    """
    from ..models.reference import branch_slices

    slices = branch_slices(model)
    if len(slices) != 2 or slices.get("spectrum", (None, None))[0] != 0:
        raise ConfigError(
            f"FeatEx exchanges one of two branch embeddings, but model {model.name!r} has {sorted(slices)}; "
            "use the reference backbone with branches=both"
        )
    if slices["spectrogram"][1] != int(model.output.shape[-1]):
        raise ConfigError(f"FeatEx: the embedding of {model.name!r} is not [spectrum | spectrogram]")
    return slices["spectrum"][1]
