"""AdaCos loss (Wilkinghoff & Kurth, Def. 3; Zhang et al., CVPR 2019)."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from .adaptive_scale import DEFAULT_MAX_SCALE, AdaptiveScaleMixin, global_log_mean_sum_exp, global_median
from .base import TARGET_ONE_TOL, AngularLossLayer, Tensor, angles, soft_cross_entropy, sparse_cross_entropy


@keras.saving.register_keras_serializable(package="asd_tf")
class AdaCosLoss(AdaptiveScaleMixin, AngularLossLayer):
    """Cosine softmax with the dynamically adaptive scale of Eq. (7).

    Logits ``s * cos(z, c_j)`` with N fixed random unit centres; loss
    ``-sum_j l_j(x) log smax(s cos)_j`` (Eqs. 3 and 9, margin 0), ``l`` the
    (mixed-up) soft targets.

    Scale (Eq. 7): ``s_0 = sqrt(2) log(N - 1)`` (for N <= 2 this is <= 0 or
    -inf; ``sqrt(2) log 2`` is used instead, see :mod:`.adaptive_scale`). Each
    training call is one step t >= 1: with the stored ``s^(t-1)``

    * ``B_avg = (1/B) sum_x sum_{j: l_j(x) != 1} exp(s^(t-1) cos(z_x, c_j))``
      (Eq. 8; with mixup both mixed classes have ``l_j < 1`` and are summed,
      exactly as the equation reads),
    * ``theta_med`` = median over the batch of the target angle; with mixup the
      mixed angle ``sum_j l_j(x) theta_{x,j}`` (remark after Eq. 9),
    * ``s^(t) = log(B_avg) / cos(min(pi/4, theta_med))``.

    The loss of step t uses ``s^(t)`` (the definition indexes the scale of the
    loss at step t by t, and its statistics use ``s^(t-1)``; the original AdaCos
    algorithm does the same). The scale is a constant for the gradient.
    Statistics are over the global batch (:mod:`asd_tf.collectives`: replica
    reductions under ``tf.distribute``, the whole sharded array under JAX). Evaluation
    calls (``training=False``) use the stored scale and change nothing.

    Args:
        num_classes, embedding_dim, label_mix, seed, trainable_centres: see
            :class:`AngularLossLayer`.
        max_scale: upper bound of the scale (guard, see :mod:`.adaptive_scale`).
        dynamic_scale: adapt the scale at each training step (the paper). False
            keeps ``s_0`` for the whole training, as with trainable centres in
            one public toolkit's best sub-cluster AdaCos row (docs/design.md, "Later methods").

    Call arguments:
        embeddings: ``[B, D]``; y1, y2: ``[B]`` int; lam: ``[B]`` float;
        training: Python bool, update the scale when True.

    Returns per-sample loss ``[B]``.
    """

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        label_mix: str = "linear",
        seed: int = 0,
        trainable_centres: bool = False,
        max_scale: float = DEFAULT_MAX_SCALE,
        dynamic_scale: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, embedding_dim, label_mix, seed, trainable_centres, **kwargs)
        self.dynamic_scale = bool(dynamic_scale)
        k = self.num_classes * self.centres_per_class
        self.centres = self._add_centres(k, "centres", self.seed, self.trainable_centres)
        self._init_scale(k, max_scale)
        self.built = True

    # -------------------------------------------------------------- internals
    def _class_logits(self, scaled_cos: Tensor) -> Tensor:
        """Per-class logits from per-centre logits (identity for one centre per class)."""
        return scaled_cos

    def _target_angles(self, cos: Tensor, targets: Tensor) -> Tensor:
        """Mixed target angle ``sum_j l_j(x) theta_{x,j}``: ``[B]``."""
        return ops.sum(targets * angles(cos), axis=1)

    def _log_numerator(self, scaled_cos: Tensor, targets: Tensor) -> Tensor:
        """``log B_avg`` of Eq. (8): non-target classes only."""
        return global_log_mean_sum_exp(scaled_cos, mask=targets < 1.0 - TARGET_ONE_TOL)

    def proposed_scale(self, cos: Tensor, targets: Tensor) -> Tensor:
        """The unguarded next scale from this batch's statistics (Eq. 7 / Eq. 10)."""
        s_prev = ops.stop_gradient(ops.convert_to_tensor(self._scale))
        cos = ops.stop_gradient(cos)
        numerator = self._log_numerator(s_prev * cos, targets)
        theta_med = global_median(self._target_angles(cos, targets))
        return numerator / ops.cos(ops.minimum(math.pi / 4.0, theta_med))

    # --------------------------------------------------------------- contract
    def call(self, embeddings, y1, y2=None, lam=None, training=False):
        return self.loss_from_targets(embeddings, self.targets(y1, y2, lam), training=training)

    def loss_from_targets(self, embeddings, targets, training=False) -> Tensor:
        """Per-sample loss ``[B]`` for given soft targets ``[B, N]`` (rows summing to 1).

        What :meth:`call` computes after mixing the labels; also the entry point
        for targets that are not a mixup pair (FeatEx's 3N-class targets).
        """
        cos = self.cosines(embeddings)  # [B, N*M]
        targets = ops.cast(targets, "float32")  # [B, N]
        if training and self.dynamic_scale:
            s = self._assign_guarded_scale(self.proposed_scale(cos, targets))
        else:
            s = ops.convert_to_tensor(self._scale)
        s = ops.stop_gradient(s)
        return soft_cross_entropy(self._class_logits(s * cos), targets)

    def logits(self, embeddings) -> Tensor:
        """``[B, N]`` class logits at the current scale; softmax = p(class|x)."""
        return self._class_logits(ops.convert_to_tensor(self._scale) * self.cosines(embeddings))

    def class_loss(self, embeddings, y) -> Tensor:
        """``-log p(y|x)`` at the current scale (no update)."""
        return sparse_cross_entropy(self.logits(embeddings), y)

    def class_score_options(self) -> dict[str, float | None]:
        """``margin = 0``: the class loss is the cross-entropy of :meth:`logits` (sub-cluster AdaCos too)."""
        return {"scale": None, "margin": 0.0}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(max_scale=self.max_scale, dynamic_scale=self.dynamic_scale)
        return config
