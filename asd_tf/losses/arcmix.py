"""ArcMix and Noisy-ArcMix (Choi & Choi, ICASSP 2024; FGASpecNet paper Sec. 2.3.1)."""

from __future__ import annotations

import keras
from keras import ops

from .arcface import ArcFaceLoss, onehot_margins
from .base import pair_cross_entropy, pair_inputs, sparse_cross_entropy


@keras.saving.register_keras_serializable(package="asd_tf")
class ArcMixLoss(ArcFaceLoss):
    """``lam * ArcFace(x_mix, y1) + (1 - lam) * ArcFace(x_mix, y2)``.

    Each ArcFace term has the margin ``m`` on its own class (two logit
    vectors per sample). ``lam`` comes from the mixup module (Beta(0.5, 0.5)
    in the paper). Without mixup (``y2`` None) this is ArcFace. Consumes the
    pair (``needs_pairs``); ``label_mix`` is unused. Defaults s = 30, m = 0.7.
    """

    needs_pairs = True

    def call(self, embeddings, y1, y2=None, lam=None, training=False):
        y1, y2, lam = pair_inputs(y1, y2, lam)
        cos = self.cosines(embeddings)  # [B, N]
        m = self.constant_margins(ops.shape(y1)[0])
        loss1 = sparse_cross_entropy(self.margin_logits(cos, onehot_margins(y1, m, self.num_classes)), y1)
        loss2 = sparse_cross_entropy(self.margin_logits(cos, onehot_margins(y2, m, self.num_classes)), y2)
        return lam * loss1 + (1.0 - lam) * loss2


@keras.saving.register_keras_serializable(package="asd_tf")
class NoisyArcMixLoss(ArcFaceLoss):
    """Noisy-ArcMix: margin on the first sample's class only, both CEs on the same logits.

    ``logits = s cos(theta + m * onehot(y1))``;
    loss ``lam * CE(logits, y1) + (1 - lam) * CE(logits, y2)`` (FGASpecNet,
    L_NAMix with L_AF(x_ij, y_j) evaluated on the margin-on-y_i logits: "when
    lam is small, the angular margin is primarily applied to the noise
    category"). ``lam ~ Beta(0.5, 0.5)`` is drawn by the mixup module.
    Defaults s = 30, m = 0.7.
    """

    needs_pairs = True

    def call(self, embeddings, y1, y2=None, lam=None, training=False):
        y1, y2, lam = pair_inputs(y1, y2, lam)
        cos = self.cosines(embeddings)
        m = self.constant_margins(ops.shape(y1)[0])
        logits = self.margin_logits(cos, onehot_margins(y1, m, self.num_classes))
        return pair_cross_entropy(logits, y1, y2, lam)
