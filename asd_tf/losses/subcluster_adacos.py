"""Sub-cluster AdaCos loss (Wilkinghoff & Kurth, Def. 4; Wilkinghoff, IJCNN 2021)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ..errors import ConfigError
from .adacos import AdaCosLoss
from .adaptive_scale import DEFAULT_MAX_SCALE, global_log_mean_sum_exp
from .base import Tensor, angles


@keras.saving.register_keras_serializable(package="asd_tf")
class SubclusterAdaCosLoss(AdaCosLoss):
    """AdaCos with M fixed random sub-cluster centres per class (Eqs. 10-14).

    Class probability (Eq. 14): ``p(j|x) = sum_{c in C_j} smax(s cos(z, c))``
    over all N*M centres, so :meth:`logits` returns, per class, the logsumexp of
    its sub-clusters' logits ``s cos`` (its softmax is exactly that sum). Loss
    (Eq. 13): ``-sum_j l_j(x) log p(j|x)`` with (mixed) soft targets ``l``.

    Scale (Eq. 10): ``s_0 = sqrt(2) log(N M - 1)``; per training step, with
    ``s^(t-1)``:

    * ``f_max = max_x max_c s^(t-1) cos(z_x, c)`` (Eq. 12),
    * ``B_avg = (1/B) sum_x sum_{all N*M centres} exp(s^(t-1) cos - f_max)``
      (Eq. 11, all sub-clusters of all classes, unlike Eq. 8),
    * ``s^(t) = (f_max + log B_avg) / cos(min(pi/4, theta_med))``,

    computed as one stable log-mean-sum-exp over the global batch. The
    target angle of a class with M sub-clusters is the angle to its nearest
    sub-cluster (the assignment tau of Eq. 20); with mixup the median is over
    ``sum_j l_j(x) theta_{x,j}``. (The public code sums the angles over all
    sub-clusters, which pins the pi/4 clamp; not reproduced.) The loss of step t
    uses ``s^(t)``, as in :class:`AdaCosLoss`. Without mixup the scale grows
    exponentially (paper remark): it is guarded by ``max_scale``.

    Options for the variant with trainable centres (one public toolkit's best
    CNN row, docs/design.md, "Later methods"): ``trainable_centres=True`` (centres trained and
    re-normalised at every use) with ``dynamic_scale=False`` (the scale stays at
    ``s_0``). The defaults (fixed centres, adaptive scale) are the paper's.

    Args:
        num_subclusters: M (reference system: 16).
        others: see :class:`AdaCosLoss`.
    """

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        num_subclusters: int = 16,
        label_mix: str = "linear",
        seed: int = 0,
        trainable_centres: bool = False,
        max_scale: float = DEFAULT_MAX_SCALE,
        dynamic_scale: bool = True,
        **kwargs: Any,
    ) -> None:
        if int(num_subclusters) < 1:
            raise ConfigError(f"SubclusterAdaCosLoss: num_subclusters must be >= 1, got {num_subclusters}")
        self.num_subclusters = int(num_subclusters)
        self.centres_per_class = self.num_subclusters
        super().__init__(
            num_classes, embedding_dim, label_mix, seed, trainable_centres, max_scale, dynamic_scale, **kwargs
        )

    def _class_logits(self, scaled_cos: Tensor) -> Tensor:
        per_class = ops.reshape(scaled_cos, (-1, self.num_classes, self.num_subclusters))  # [B, N, M]
        return ops.logsumexp(per_class, axis=2)  # [B, N]

    def _target_angles(self, cos: Tensor, targets: Tensor) -> Tensor:
        nearest = ops.max(ops.reshape(cos, (-1, self.num_classes, self.num_subclusters)), axis=2)
        return ops.sum(targets * angles(nearest), axis=1)

    def _log_numerator(self, scaled_cos: Tensor, targets: Tensor) -> Tensor:
        """``f_max + log B_avg`` of Eqs. (10)-(12) = log of the batch mean of sum exp(s cos)."""
        return global_log_mean_sum_exp(scaled_cos)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(num_subclusters=self.num_subclusters)
        return config
