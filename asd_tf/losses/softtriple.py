"""SoftTriple loss (Qian et al., ICCV 2019) and the FGASpecNet combination with Noisy-ArcMix."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from ..errors import ConfigError
from .arcmix import NoisyArcMixLoss
from .base import AngularLossLayer, Tensor, pair_inputs, soft_cross_entropy


@keras.saving.register_keras_serializable(package="asd_tf")
class SoftTripleLoss(AngularLossLayer):
    """SoftTriple with K trainable centres per class (FGASpecNet Sec. 2.3.2).

    With ``x`` the normalised embedding and ``w_ck`` the normalised centres:
    ``q_k = softmax_k(x.w_ck / gamma)``, ``S_c = sum_k q_k x.w_ck`` and
    ``L = -log softmax(lambda (S - delta onehot(y)))_y``. With mixup (soft
    targets ``t``) the margin is weighted by the target, ``lambda (S_c - delta t_c)``,
    and the loss is ``-sum_c t_c log softmax_c``. ``tau > 0`` adds the centre
    regulariser ``tau * sum_c sum_{k<k'} sqrt(2 + 1e-5 - 2 w_ck.w_ck') / (N K (K-1))``
    to every sample (its batch mean is the regulariser); FGASpecNet uses tau = 0.

    ``logits`` = ``lambda S`` (no margin); ``class_loss`` = loss with margin on
    the own class; ``scale`` = ``lambda``.

    Args:
        centres_per_class: K (3). gamma: 0.1. s: lambda (20). delta: 0.02. tau: 0.
        trainable_centres: True (SoftTriple learns its centres).
        others: see :class:`AngularLossLayer`.
    """

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        centres_per_class: int = 3,
        gamma: float = 0.1,
        s: float = 20.0,
        delta: float = 0.02,
        tau: float = 0.0,
        label_mix: str = "linear",
        seed: int = 0,
        trainable_centres: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, embedding_dim, label_mix, seed, trainable_centres, **kwargs)
        if int(centres_per_class) < 1 or not gamma > 0 or not s > 0 or tau < 0:
            raise ConfigError(
                "SoftTripleLoss: need centres_per_class >= 1, gamma > 0, s > 0, tau >= 0; got "
                f"K={centres_per_class}, gamma={gamma}, s={s}, tau={tau}"
            )
        self.centres_per_class = int(centres_per_class)
        self.gamma = float(gamma)
        self.s = float(s)
        self.delta = float(delta)
        self.tau = float(tau)
        self.centres = self._add_centres(
            self.num_classes * self.centres_per_class, "centres", self.seed, self.trainable_centres
        )
        self.built = True

    @property
    def scale(self) -> float:
        return self.s

    def similarities(self, embeddings) -> Tensor:
        """``S_c = sum_k q_k x.w_ck`` per class: ``[B, N]``."""
        cos = ops.reshape(self.cosines(embeddings), (-1, self.num_classes, self.centres_per_class))
        q = ops.softmax(cos / self.gamma, axis=2)  # [B, N, K]
        return ops.sum(q * cos, axis=2)

    def regulariser(self) -> Tensor:
        """Centre regulariser of SoftTriple (scalar; 0 for K = 1)."""
        k = self.centres_per_class
        if k == 1:
            return ops.convert_to_tensor(0.0, dtype="float32")
        w = ops.reshape(self.centre_matrix(), (self.num_classes, k, self.embedding_dim))
        gram = ops.einsum("nkd,nld->nkl", w, w)  # [N, K, K]
        upper = ops.convert_to_tensor(np.triu(np.ones((k, k), np.float32), 1))  # k < k'
        dist = ops.sqrt(ops.maximum(2.0 + 1e-5 - 2.0 * gram, 0.0))
        return ops.sum(dist * upper) / float(self.num_classes * k * (k - 1))

    def loss_from_targets(self, embeddings, targets) -> Tensor:
        """Per-sample SoftTriple loss for soft targets ``[B, N]``."""
        logits = self.s * (self.similarities(embeddings) - self.delta * targets)
        loss = soft_cross_entropy(logits, targets)
        if self.tau > 0:
            loss = loss + self.tau * self.regulariser()
        return loss

    def call(self, embeddings, y1, y2=None, lam=None, training=False):
        return self.loss_from_targets(embeddings, self.targets(y1, y2, lam))

    def logits(self, embeddings) -> Tensor:
        return self.s * self.similarities(embeddings)

    def class_loss(self, embeddings, y) -> Tensor:
        return self.loss_from_targets(embeddings, self.targets(y))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            centres_per_class=self.centres_per_class,
            gamma=self.gamma,
            s=self.s,
            delta=self.delta,
            tau=self.tau,
        )
        return config


@keras.saving.register_keras_serializable(package="asd_tf")
class NoisyArcMixSoftTripleLoss(AngularLossLayer):
    """FGASpecNet's total loss ``L_NAMix + softtriple_weight * L_ST`` (weight 0.15).

    Noisy-ArcMix (:class:`NoisyArcMixLoss`, s = 30, m = 0.7, fixed random
    centres) on the pair; SoftTriple (:class:`SoftTripleLoss`, trainable
    centres, seeded with ``seed + 1``) on the same mixed embedding with the
    mixed soft targets of ``label_mix`` (the paper does not say how SoftTriple
    sees mixed samples; the target-weighted form is its natural extension).
    ``logits``/``compactness``/``scale`` come from the ArcFace head;
    ``class_loss`` is the sum of both own-class losses with the same weight.
    """

    needs_pairs = True

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        s: float = 30.0,
        m: float = 0.7,
        softtriple_weight: float = 0.15,
        centres_per_class: int = 3,
        gamma: float = 0.1,
        softtriple_s: float = 20.0,
        delta: float = 0.02,
        tau: float = 0.0,
        label_mix: str = "linear",
        seed: int = 0,
        trainable_centres: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, embedding_dim, label_mix, seed, trainable_centres, **kwargs)
        self.softtriple_weight = float(softtriple_weight)
        self.arcmix = NoisyArcMixLoss(
            num_classes, embedding_dim, s=s, m=m, seed=seed, trainable_centres=trainable_centres, name="noisy_arcmix"
        )
        self.softtriple = SoftTripleLoss(
            num_classes,
            embedding_dim,
            centres_per_class=centres_per_class,
            gamma=gamma,
            s=softtriple_s,
            delta=delta,
            tau=tau,
            label_mix=label_mix,
            seed=seed + 1,
            trainable_centres=True,
            name="softtriple",
        )
        self.built = True

    @property
    def scale(self) -> float:
        return self.arcmix.s

    def centre_matrix(self) -> Tensor:
        return self.arcmix.centre_matrix()

    def call(self, embeddings, y1, y2=None, lam=None, training=False):
        y1, y2, lam = pair_inputs(y1, y2, lam)
        targets = self.targets(y1, y2, lam)
        return self.arcmix.call(embeddings, y1, y2, lam) + self.softtriple_weight * self.softtriple.loss_from_targets(
            embeddings, targets
        )

    def logits(self, embeddings) -> Tensor:
        return self.arcmix.logits(embeddings)

    def class_loss(self, embeddings, y) -> Tensor:
        return self.arcmix.class_loss(embeddings, y) + self.softtriple_weight * self.softtriple.class_loss(embeddings, y)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            s=self.arcmix.s,
            m=self.arcmix.m,
            softtriple_weight=self.softtriple_weight,
            centres_per_class=self.softtriple.centres_per_class,
            gamma=self.softtriple.gamma,
            softtriple_s=self.softtriple.s,
            delta=self.softtriple.delta,
            tau=self.softtriple.tau,
        )
        return config
