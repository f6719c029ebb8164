"""Margin-mixup (Thienpondt et al., ICASSP 2023) and Elastic-Margin-Mixup (Zhao et al., EMM)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ..errors import ConfigError
from .arcface import ArcFaceLoss, onehot_margins
from .base import Tensor, pair_cross_entropy, pair_inputs

SIGMA_MODES = ("weighted", "fixed")


@keras.saving.register_keras_serializable(package="asd_tf")
class MarginMixupLoss(ArcFaceLoss):
    """Margins weighted by the mixup factor: ``lam m`` on y1, ``(1 - lam) m`` on y2.

    Logits ``s cos(theta_k + margin_k)`` (EMM paper Eq. 5 with sigma = 0),
    loss ``-lam log p_{y1} - (1 - lam) log p_{y2}``. If ``y1 == y2`` both margins
    add up on that class (total ``m``) and the loss is ``-log p_y``.
    Defaults s = 30, m = 1.1 (EMM paper, Tables II/IV).
    """

    needs_pairs = True

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        s: float = 30.0,
        m: float = 1.1,
        label_mix: str = "linear",
        seed: int = 0,
        trainable_centres: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, embedding_dim, s, m, label_mix, seed, trainable_centres, **kwargs)

    def pair_margins(self, lam, training: bool = True) -> tuple[Tensor, Tensor]:
        """Margins ``(m1 [B], m2 [B])`` on ``y1`` and ``y2`` for mixing factors ``lam``."""
        lam = ops.cast(lam, "float32")
        return lam * self.m, (1.0 - lam) * self.m

    def call(self, embeddings, y1, y2=None, lam=None, training=False):
        y1, y2, lam = pair_inputs(y1, y2, lam)
        cos = self.cosines(embeddings)
        m1, m2 = self.pair_margins(lam, training=bool(training))
        margins = onehot_margins(y1, m1, self.num_classes) + onehot_margins(y2, m2, self.num_classes)
        logits = self.margin_logits(cos, margins)
        return pair_cross_entropy(logits, y1, y2, lam)


@keras.saving.register_keras_serializable(package="asd_tf")
class EMMLoss(MarginMixupLoss):
    """Elastic-Margin-Mixup (Zhao et al., Eq. 5 and the loss after Table III).

    Training margins ``m1 ~ N(lam m, (lam sigma)^2)`` on y1 and
    ``m2 ~ N((1 - lam) m, ((1 - lam) sigma)^2)`` on y2 (``sigma_mode="weighted"``,
    the paper's proposal); ``sigma_mode="fixed"`` uses the unweighted std
    ``sigma`` (Table II ablation). Evaluation (``training=False``) and
    :meth:`class_loss` use the mean margins. Defaults s = 30, m = 1.1,
    sigma = 0.0125 (0.0175 is the paper's other setting).
    """

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        s: float = 30.0,
        m: float = 1.1,
        sigma: float = 0.0125,
        sigma_mode: str = "weighted",
        label_mix: str = "linear",
        seed: int = 0,
        trainable_centres: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, embedding_dim, s, m, label_mix, seed, trainable_centres, **kwargs)
        self._init_margin_noise(sigma)
        if sigma_mode not in SIGMA_MODES:
            raise ConfigError(f"EMMLoss: sigma_mode must be one of {SIGMA_MODES}, got {sigma_mode!r}")
        self.sigma_mode = sigma_mode

    def pair_margins(self, lam, training: bool = True) -> tuple[Tensor, Tensor]:
        """Sampled margins (``training=True``) or their means; both ``[B]``."""
        mean1, mean2 = super().pair_margins(lam)
        if not training:
            return mean1, mean2
        lam = ops.cast(lam, "float32")
        if self.sigma_mode == "weighted":
            std1, std2 = lam * self.sigma, (1.0 - lam) * self.sigma
        else:
            std1 = std2 = ops.full_like(lam, self.sigma, dtype="float32")
        noise = keras.random.normal((2, ops.shape(lam)[0]), seed=self.seed_generator)
        return mean1 + std1 * noise[0], mean2 + std2 * noise[1]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(sigma=self.sigma, sigma_mode=self.sigma_mode)
        return config
