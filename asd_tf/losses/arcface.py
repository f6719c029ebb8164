"""ArcFace (Deng et al., CVPR 2019) and ElasticFace-Arc (Boutros et al., CVPR 2022)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ..errors import ConfigError
from .base import AngularLossLayer, Tensor, margin_cosine, soft_cross_entropy, sparse_cross_entropy


def onehot_margins(y: Tensor, margin: Tensor, num_classes: int) -> Tensor:
    """``[B, N]`` margin matrix with ``margin[b]`` at ``y[b]`` and 0 elsewhere."""
    onehot = ops.one_hot(ops.cast(y, "int32"), num_classes, dtype="float32")
    return onehot * ops.reshape(ops.cast(margin, "float32"), (-1, 1))


@keras.saving.register_keras_serializable(package="asd_tf")
class ArcFaceLoss(AngularLossLayer):
    """Additive angular margin loss (Eqs. 3-5 of Wilkinghoff & Kurth; EMM paper Eq. 1).

    Target logit ``s cos(theta_y + m)``, others ``s cos(theta_j)``; beyond
    ``theta + m > pi`` the monotone extension of :func:`margin_cosine`.
    With mixup (soft targets ``t``) the logit of class j interpolates between
    the plain and the margin logit, ``s((1 - t_j) cos theta_j + t_j cos(theta_j + m))``,
    as in the ArcFace+mixup method cited as [10] in the EMM paper (Choi & Choi,
    INTER-NOISE 2024), and the loss is ``-sum_j t_j log softmax_j``; with
    one-hot targets this is exactly ArcFace.

    ``logits`` = ``s cos`` (no margin: the model's posterior at test time).
    ``class_loss`` = ArcFace loss of the own class with margin ``m`` (the
    anomaly score of Neri & Carli). ``scale`` = ``s``.

    Args:
        s: scale (default 30). m: margin in radians (default 0.7).
        trainable_centres: ArcFace trains its class weights; default False
            keeps the project's fixed random unit centres.
        others: see :class:`AngularLossLayer`.
    """

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        s: float = 30.0,
        m: float = 0.7,
        label_mix: str = "linear",
        seed: int = 0,
        trainable_centres: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, embedding_dim, label_mix, seed, trainable_centres, **kwargs)
        if not s > 0:
            raise ConfigError(f"{type(self).__name__}: scale s must be > 0, got {s}")
        self.s = float(s)
        self.m = float(m)
        self.centres = self._add_centres(self.num_classes, "centres", self.seed, self.trainable_centres)
        self.built = True

    @property
    def scale(self) -> float:
        return self.s

    def class_score_options(self) -> dict[str, float | None]:
        """``{"scale": s, "margin": m}`` (ElasticFace: the mean margin); one centre per class needed."""
        if int(self.centres_per_class) != 1:
            raise ConfigError(
                f"class_loss backend: {type(self).__name__} has {self.centres_per_class} centres per class; "
                "an angular margin on the own class needs exactly one centre per class"
            )
        return {"scale": float(self.s), "margin": float(self.m)}

    def margin_logits(self, cos: Tensor, margins: Tensor) -> Tensor:
        """``s cos(theta + margins)`` elementwise (``margins`` ``[B, N]``, 0 = no margin)."""
        return self.s * margin_cosine(cos, margins)

    def logits(self, embeddings) -> Tensor:
        return self.s * self.cosines(embeddings)

    def class_loss(self, embeddings, y) -> Tensor:
        cos = self.cosines(embeddings)
        margins = onehot_margins(y, self.constant_margins(ops.shape(y)[0]), self.num_classes)
        return sparse_cross_entropy(self.margin_logits(cos, margins), y)

    def constant_margins(self, batch_size) -> Tensor:
        """The mean margin ``m`` for every sample: ``[B]``."""
        return ops.full((batch_size,), self.m, dtype="float32")

    def sample_margins(self, batch_size) -> Tensor:
        """Per-sample margins ``[B]`` (constant ``m`` for ArcFace)."""
        return self.constant_margins(batch_size)

    def _init_margin_noise(self, sigma: float) -> None:
        """Check ``sigma >= 0`` and set up the random margins of the elastic variants (ElasticFace, EMM)."""
        if sigma < 0:
            raise ConfigError(f"{type(self).__name__}: sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, embeddings, y1, y2=None, lam=None, training=False):
        cos = self.cosines(embeddings)  # [B, N]
        targets = self.targets(y1, y2, lam)  # [B, N]
        if training:
            margin = self.sample_margins(ops.shape(cos)[0])
        else:
            margin = self.constant_margins(ops.shape(cos)[0])
        margin = ops.reshape(margin, (-1, 1)) + ops.zeros_like(cos)  # [B, N]
        logits = self.s * ((1.0 - targets) * cos + targets * margin_cosine(cos, margin))
        return soft_cross_entropy(logits, targets)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(s=self.s, m=self.m)
        return config


@keras.saving.register_keras_serializable(package="asd_tf")
class ElasticFaceLoss(ArcFaceLoss):
    """ArcFace with a random margin per sample, ``m_b ~ N(m, sigma^2)`` (ElasticFace-Arc).

    Random margins only when ``training=True``; evaluation and
    :meth:`class_loss` use the mean ``m``. Soft targets as in :class:`ArcFaceLoss`.

    Args:
        sigma: margin standard deviation (EMM paper Table II: 0.0125).
        s, m: as ArcFace (defaults 30, 0.7).
    """

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        s: float = 30.0,
        m: float = 0.7,
        sigma: float = 0.0125,
        label_mix: str = "linear",
        seed: int = 0,
        trainable_centres: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, embedding_dim, s, m, label_mix, seed, trainable_centres, **kwargs)
        self._init_margin_noise(sigma)

    def sample_margins(self, batch_size) -> Tensor:
        """``[B]`` margins drawn from ``N(m, sigma^2)``."""
        return keras.random.normal((batch_size,), mean=self.m, stddev=self.sigma, seed=self.seed_generator)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(sigma=self.sigma)
        return config
