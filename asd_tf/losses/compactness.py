"""Intra-class compactness loss (Wilkinghoff & Kurth, Def. 1; Ruff et al., Deep SVDD)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from .base import AngularLossLayer, Tensor


@keras.saving.register_keras_serializable(package="asd_tf")
class CompactnessLoss(AngularLossLayer):
    """Squared distance of the normalised embedding to its class centre.

    Per sample ``sum_j l_j(x) ||z - c_j||^2`` (Eq. 1 per class; with mixup the
    label-weighted distances to both classes' centres). Centres: N fixed random
    unit vectors. With one class (label set ``none``) this is the one-class
    compactness loss.

    ``logits`` returns ``-||z - c_j||^2 = 2 cos(z, c_j) - 2``: there is no
    probabilistic model behind this loss, this is the closest class score
    (argmax = nearest centre). ``class_loss`` = ``||z - c_y||^2``, the paper's
    anomaly score for this loss. No scale (``scale`` is None).

    Args: see :class:`AngularLossLayer`.
    """

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        label_mix: str = "linear",
        seed: int = 0,
        trainable_centres: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, embedding_dim, label_mix, seed, trainable_centres, **kwargs)
        self.centres = self._add_centres(self.num_classes, "centres", self.seed, self.trainable_centres)
        self.built = True

    def distances(self, embeddings) -> Tensor:
        """``||z - c_j||^2`` for every class: ``[B, N]`` (Lemma 5: ``2 - 2 cos``)."""
        return 2.0 - 2.0 * self.cosines(embeddings)

    def call(self, embeddings, y1, y2=None, lam=None, training=False):
        return ops.sum(self.targets(y1, y2, lam) * self.distances(embeddings), axis=1)

    def logits(self, embeddings) -> Tensor:
        return -self.distances(embeddings)

    def class_loss(self, embeddings, y) -> Tensor:
        return self.call(embeddings, y)
