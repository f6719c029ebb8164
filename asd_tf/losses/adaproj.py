"""AdaProj loss (Wilkinghoff, DCASE workshop 2024): angular margins to class subspaces.

Written with ``keras.ops`` only, so that the layer math runs unchanged on any
Keras backend. The adaptive-scale statistics over the global batch come from
:mod:`.adaptive_scale`, shared with AdaCos and sub-cluster AdaCos (global
through :mod:`asd_tf.collectives` on every backend).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from ..errors import ConfigError
from .adaptive_scale import DEFAULT_MAX_SCALE, AdaptiveScaleMixin, global_log_mean_sum_exp, global_median
from .base import _ACOS_EPS, TARGET_ONE_TOL, AngularLossLayer

# Squared-norm floor of the normalisation: the value tf.math.l2_normalize uses in
# the other losses. Taking the max before the square root keeps the gradient
# finite for an all-zero vector (keras.ops.normalize would give rsqrt(0) = inf).
_NORM_EPS = 1e-12


def unit_rows(x):
    """``x / ||x||`` along the last axis (``keras.ops``), with a floor on the squared norm."""
    sq = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x / ops.sqrt(ops.maximum(sq, _NORM_EPS))


def glorot_subspace_vectors(num_classes: int, subspace_dim: int, dim: int, seed: int) -> np.ndarray:
    """``[C*m, D]`` Glorot-uniform vectors, class-major (rows ``c*m .. c*m+m-1`` span class c).

    Glorot uniform (limit ``sqrt(6 / (fan_in + fan_out))`` of the ``[C*m, D]``
    matrix), as the author's code initialises them; they are not orthogonalised.
    Only the directions matter: the layer normalises every vector at each pass.
    Seeded NumPy generator (salted, like the centres of the other losses), so a
    layer rebuilt from its config starts from the same vectors.
    """
    rng = np.random.default_rng((0xADA9, seed))
    rows = num_classes * subspace_dim
    limit = math.sqrt(6.0 / (rows + dim))
    return rng.uniform(-limit, limit, size=(rows, dim)).astype(np.float32)


@keras.saving.register_keras_serializable(package="asd_tf")
class AdaProjLoss(AdaptiveScaleMixin, AngularLossLayer):
    """Adaptively scaled angular loss to class subspaces (AdaProj, docs/design.md, "Later methods").

    Each class c owns m vectors ``w_{c,1..m}`` (fixed by default, Glorot init,
    normalised at every pass, not orthogonalised). For the normalised embedding
    ``z`` the class cosine is the cosine to its projection onto the class subspace::

        p_c = sum_k (z . w_ck) w_ck,      cos_c = cos(z, p_c) = z . p_c / ||p_c||  (>= 0)

    Logits ``s * cos_c`` (one per class); loss ``-sum_c l_c(x) log softmax(s cos)_c``
    with (mixed-up) soft targets ``l``.

    Scale, as in AdaCos (Wilkinghoff & Kurth Eqs. 7-8, see :class:`AdaCosLoss`):
    ``s_0 = sqrt(2) log(C m - 1)`` (the author's code); per training step, with
    the stored ``s^(t-1)``:

    * ``B_avg = (1/B) sum_x sum_{c: l_c(x) != 1} exp(s^(t-1) cos_c(x))`` (non-target classes),
    * ``theta_med`` = median over the batch of the mixed target angle
      ``sum_c l_c(x) arccos(cos_c(x))``,
    * ``s^(t) = log(B_avg) / cos(min(pi/4, theta_med))``,

    over the global batch (:mod:`asd_tf.collectives`; every replica holds the same
    scale), guarded like the other adaptive scales (:mod:`.adaptive_scale`).
    (The author's code also adds ``exp(0)`` for each entry with target exactly 1
    to B_avg; docs/design.md, "Later methods" and AdaCos Eq. 8 sum non-target classes only, as here.) The
    loss of step t uses ``s^(t)``; the scale is a constant for the gradient.
    Evaluation calls (``training=False``) use the stored scale and change nothing.
    Scoring does not use the projections (k-means on the embeddings as before).

    Args:
        num_classes: C, number of auxiliary classes.
        embedding_dim: D, embedding size.
        subspace_dim: m, vectors per class (32 in the author's later code, 16 in the first).
        label_mix: ``"linear"`` (mixup) or ``"max"`` (the reference code's labels).
        seed: seed of the initial vectors.
        trainable_centres: train the subspace vectors (the method keeps them fixed).
        dynamic_scale: adapt the scale each training step (False: keep ``s_0``).
        max_scale: upper bound of the scale (guard).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        embeddings: ``[B, D]``; y1, y2: ``[B]`` int; lam: ``[B]`` float
        (``y2 = None``: no mixup); training: Python bool.

    Returns the per-sample loss ``[B]``.
    """

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        subspace_dim: int = 32,
        label_mix: str = "linear",
        seed: int = 0,
        trainable_centres: bool = False,
        dynamic_scale: bool = True,
        max_scale: float = DEFAULT_MAX_SCALE,
        **kwargs: Any,
    ) -> None:
        if isinstance(subspace_dim, bool) or int(subspace_dim) < 1:
            raise ConfigError(f"AdaProjLoss: subspace_dim must be an integer >= 1, got {subspace_dim!r}")
        self.subspace_dim = int(subspace_dim)
        self.centres_per_class = self.subspace_dim
        super().__init__(num_classes, embedding_dim, label_mix, seed, trainable_centres, **kwargs)
        self.dynamic_scale = bool(dynamic_scale)
        if 4 * self.subspace_dim > self.embedding_dim:
            # A random unit vector has cosine about sqrt(m / D) to a random m-dim subspace: once
            # that nears 1 every class looks alike and the AdaCos scale keeps growing.
            typical = math.sqrt(min(1.0, self.subspace_dim / self.embedding_dim))
            warnings.warn(
                f"AdaProjLoss: subspace_dim={self.subspace_dim} is large for {self.embedding_dim}-d embeddings "
                f"(a random embedding has cosine about {typical:.2f} "
                "to every class subspace), so classes separate poorly and the adaptive scale grows; "
                "the method uses m = 32 with D = 256 (0.35). Lower subspace_dim or widen the embedding.",
                UserWarning,
                stacklevel=2,
            )
        values = glorot_subspace_vectors(self.num_classes, self.subspace_dim, self.embedding_dim, self.seed)

        def init(shape, dtype=None):  # a callable initialiser: no config needed
            return ops.convert_to_tensor(values, dtype=dtype or "float32")

        # Named "centres" like the other heads' weights: the class-major [C*m, D] vectors.
        self.centres = self.add_weight(
            shape=values.shape, initializer=init, dtype="float32", trainable=self.trainable_centres, name="centres"
        )
        self._init_scale(self.num_classes * self.subspace_dim, max_scale)
        self.built = True

    # ---------------------------------------------------------------- geometry
    def subspace_vectors(self):
        """The unit vectors ``[C, m, D]`` (normalised at every pass)."""
        w = unit_rows(ops.convert_to_tensor(self.centres))
        return ops.reshape(w, (self.num_classes, self.subspace_dim, self.embedding_dim))

    def centre_matrix(self):
        """The normalised vectors ``[C*m, D]``, class-major (the layer's "centres")."""
        return unit_rows(ops.convert_to_tensor(self.centres))

    def cosines(self, embeddings):
        """Class cosines ``cos(z, p_c)``: ``[B, D] -> [B, C]``, each in [0, 1]."""
        z = unit_rows(ops.cast(embeddings, "float32"))
        w = self.subspace_vectors()
        coeffs = ops.einsum("bd,cmd->bcm", z, w)  # z . w_ck
        projection = unit_rows(ops.einsum("bcm,cmd->bcd", coeffs, w))  # normalise(sum_k (z . w_ck) w_ck)
        return ops.einsum("bd,bcd->bc", z, projection)

    def targets(self, y1, y2=None, lam=None):
        """Soft targets ``[B, C]``: one-hot, ``lam t1 + (1-lam) t2`` or the elementwise max."""
        t1 = ops.one_hot(ops.cast(y1, "int32"), self.num_classes, dtype="float32")
        if y2 is None:
            return t1
        if lam is None:
            raise ConfigError("AdaProjLoss: y2 given without lam")
        t2 = ops.one_hot(ops.cast(y2, "int32"), self.num_classes, dtype="float32")
        lam = ops.reshape(ops.cast(lam, "float32"), (-1, 1))
        if self.label_mix == "linear":
            return lam * t1 + (1.0 - lam) * t2
        return ops.maximum(lam * t1, (1.0 - lam) * t2)

    @staticmethod
    def _angles(cos):
        return ops.arccos(ops.clip(cos, -1.0 + _ACOS_EPS, 1.0 - _ACOS_EPS))

    # ------------------------------------------------------------------- scale
    def proposed_scale(self, cos, targets):
        """The unguarded next scale from this batch's (global) statistics, as in AdaCos Eq. (7)."""
        s_prev = ops.stop_gradient(ops.convert_to_tensor(self._scale))
        cos = ops.stop_gradient(cos)
        log_b_avg = global_log_mean_sum_exp(s_prev * cos, mask=targets < 1.0 - TARGET_ONE_TOL)
        theta_med = global_median(ops.sum(targets * self._angles(cos), axis=1))
        return log_b_avg / ops.cos(ops.minimum(math.pi / 4.0, theta_med))

    # ---------------------------------------------------------------- contract
    def call(self, embeddings, y1, y2=None, lam=None, training=False):
        return self.loss_from_targets(embeddings, self.targets(y1, y2, lam), training=training)

    def loss_from_targets(self, embeddings, targets, training=False):
        """Per-sample loss ``[B]`` for given soft targets ``[B, C]`` (rows summing to 1), e.g. FeatEx's."""
        cos = self.cosines(embeddings)
        targets = ops.cast(targets, "float32")
        if training and self.dynamic_scale:
            s = self._assign_guarded_scale(self.proposed_scale(cos, targets))
        else:
            s = ops.convert_to_tensor(self._scale)
        s = ops.stop_gradient(s)
        return -ops.sum(targets * ops.log_softmax(s * cos, axis=-1), axis=-1)

    def logits(self, embeddings):
        """``[B, C]`` class logits ``s cos_c`` at the current scale; softmax = p(class|x)."""
        return ops.convert_to_tensor(self._scale) * self.cosines(embeddings)

    def class_loss(self, embeddings, y):
        """``-log p(y|x)`` at the current scale (no update)."""
        log_p = ops.log_softmax(self.logits(embeddings), axis=-1)
        y = ops.reshape(ops.cast(y, "int32"), (-1, 1))
        return -ops.take_along_axis(log_p, y, axis=1)[:, 0]

    def class_score_options(self) -> dict[str, float | None]:
        """``margin = 0``: the loss is the cross-entropy of :meth:`logits` (``s cos_c``, the projection cosine).

        No margin, so the class's several subspace vectors do not matter: one logit per class.
        """
        return {"scale": None, "margin": 0.0}

    def compactness(self, embeddings, y):
        """Intra-/inter-class compactness per sample with the class subspaces as "centres".

        ``||z - p_c/||p_c||||^2 = 2 - 2 cos_c``: ``intra`` for the own class,
        ``inter`` the mean over the other classes (0 when C = 1).
        """
        dist = 2.0 - 2.0 * self.cosines(embeddings)  # [B, C]
        own = ops.one_hot(ops.cast(y, "int32"), self.num_classes, dtype="float32")
        intra = ops.sum(own * dist, axis=1)
        if self.num_classes == 1:
            return intra, ops.zeros_like(intra)
        inter = ops.sum((1.0 - own) * dist, axis=1) / float(self.num_classes - 1)
        return intra, inter

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(subspace_dim=self.subspace_dim, dynamic_scale=self.dynamic_scale, max_scale=self.max_scale)
        return config
