"""Compactness + categorical cross-entropy (Wilkinghoff & Kurth, Table rows "Def. 1 + CCE";
Perera & Patel, "Learning deep features for one-class classification", TIP 2019)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from .base import Tensor, gather_rows, soft_cross_entropy, sparse_cross_entropy
from .compactness import CompactnessLoss


@keras.saving.register_keras_serializable(package="asd_tf")
class CompactnessCCELoss(CompactnessLoss):
    """Compactness loss plus a descriptiveness (CCE) loss, equally weighted.

    Per sample ``sum_j l_j ||z - c_j||^2 + cce_weight * CE(W e, l)`` where
    ``c_j`` are fixed random unit centres (Def. 1) and ``W`` is a trainable
    linear softmax classifier on the raw embedding ``e``. The classifier is a
    ``Dense(N, use_bias=False)``: Perera & Patel use an ordinary softmax
    classifier; the bias is dropped for consistency with the bias-free
    reference system (biases are what lets a compactness-trained net collapse
    to a constant, Sec. II-A). ``logits`` are the classifier's logits
    (p(class|x)); ``class_loss`` is the full loss for the clip's own class.

    Args:
        cce_weight: weight of the CCE term (paper: equal weights, 1.0).
        others: see :class:`AngularLossLayer`.
    """

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        label_mix: str = "linear",
        seed: int = 0,
        trainable_centres: bool = False,
        cce_weight: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, embedding_dim, label_mix, seed, trainable_centres, **kwargs)
        self.cce_weight = float(cce_weight)
        self.classifier = keras.layers.Dense(
            self.num_classes,
            use_bias=False,
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed),
            dtype="float32",
            name="classifier",
        )
        self.classifier.build((None, self.embedding_dim))

    def call(self, embeddings, y1, y2=None, lam=None, training=False):
        targets = self.targets(y1, y2, lam)
        compact = ops.sum(targets * self.distances(embeddings), axis=1)
        return compact + self.cce_weight * soft_cross_entropy(self.logits(embeddings), targets)

    def logits(self, embeddings) -> Tensor:
        return self.classifier(ops.cast(embeddings, "float32"))

    def class_loss(self, embeddings, y) -> Tensor:
        y = ops.cast(y, "int32")
        compact = gather_rows(self.distances(embeddings), y)
        return compact + self.cce_weight * sparse_cross_entropy(self.logits(embeddings), y)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(cce_weight=self.cce_weight)
        return config
