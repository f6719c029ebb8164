"""Shared machinery of the loss layers: centres, mixed targets, margins.

Every loss in :mod:`asd_tf.losses` is a :class:`AngularLossLayer` with the API
fixed in the project contract:

* ``call(embeddings [B, D], y1 [B], y2 [B] | None, lam [B] | None, training)``
  -> per-sample loss ``[B]``; with mixup the input was ``lam*x1 + (1-lam)*x2``.
* ``logits(embeddings)`` -> ``[B, N]`` class scores whose softmax is p(class|x).
* ``class_loss(embeddings, y)`` -> ``[B]`` own-class loss (no mixup, no state
  update, no random margins): the anomaly score of classification models.
* ``compactness(embeddings, y)`` -> ``(intra [B], inter [B])`` squared distances
  of the normalised embedding to its class centre(s) / the other classes'
  centres (Wilkinghoff & Kurth, Def. 1 and Figs. 2-3).
* ``scale``: adaptive scale variable, fixed float, or ``None``.
* ``training_embeddings(embedding_model, waveforms)`` -> ``(embeddings [B, D],
  extra call arguments)`` of a training batch (:class:`LossLayer`): the model's
  plain embeddings, except for a loss that acts on the model's input (StatEx).

Notation follows Wilkinghoff & Kurth (TASLP 2024): ``z`` is the L2-normalised
embedding, ``c`` a unit centre, ``cos = z . c`` and ``theta = arccos(cos)``.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from ..errors import ConfigError

#: A tensor of the current Keras backend (tf.Tensor, jax.Array, torch.Tensor).
Tensor = Any

LABEL_MIX_MODES = ("linear", "max")

# Cosines are clipped this far inside [-1, 1] before arccos so that the
# gradient of arccos (-1/sqrt(1-x^2)) stays finite.
_ACOS_EPS = 1e-7

# A class target at or above this value counts as "the" class of a sample
# (Eq. 8's l_j(x) = 1); float32 mixing of a pair of equal labels may give
# lam + (1 - lam) = 0.99999994 instead of exactly 1.
TARGET_ONE_TOL = 1e-6


def random_unit_centres(num_centres: int, dim: int, seed: int) -> np.ndarray:
    """``[num_centres, dim]`` i.i.d. Gaussian vectors projected onto the unit sphere.

    Seeded NumPy generator, so a layer rebuilt from its config has the same
    centres (they are also stored as weights).
    """
    # salted so that centres never coincide with data drawn from default_rng(seed)
    rng = np.random.default_rng((0xA5D, seed))
    centres = rng.standard_normal((num_centres, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return centres.astype(np.float32)


def l2_normalize(x: Tensor) -> Tensor:
    """Unit-norm rows (the paper normalises embeddings and centres).

    ``x * rsqrt(max(sum x^2, 1e-12))``, the formula of ``tf.math.l2_normalize``
    (same numbers on TensorFlow; the floor keeps an all-zero row finite).
    """
    sq = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(ops.maximum(sq, 1e-12))


def angles(cos: Tensor) -> Tensor:
    """``theta = arccos(cos)`` with the cosine clipped for finite gradients."""
    return ops.arccos(ops.clip(cos, -1.0 + _ACOS_EPS, 1.0 - _ACOS_EPS))


def margin_cosine(cos: Tensor, margin: Tensor) -> Tensor:
    """Additive angular margin ``cos(theta + m)`` (ArcFace, Eq. 5 of Wilkinghoff & Kurth).

    ``theta + m`` beyond ``pi`` would make ``cos(theta + m)`` increase again, so
    the target logit would *reward* larger angles. There the continuous,
    monotone extension ``cos(theta) - (1 - cos(m))`` is used: it equals
    ``cos(pi) = -1`` at ``theta = pi - m`` and keeps decreasing in ``theta``.
    Entries with ``margin == 0`` return ``cos`` unchanged (bit-exact).
    """
    theta = angles(cos)
    with_margin = ops.where(
        theta + margin <= math.pi,
        ops.cos(theta + margin),
        cos - (1.0 - ops.cos(margin)),
    )
    return ops.where(ops.equal(margin, 0.0), cos, with_margin)


def mixed_targets(
    y1: Tensor,
    y2: Tensor | None,
    lam: Tensor | None,
    num_classes: int,
    label_mix: str = "linear",
) -> Tensor:
    """Soft targets ``[B, N]`` of a mixed-up batch.

    ``linear``: ``lam*onehot(y1) + (1-lam)*onehot(y2)`` (mixup, Zhang et al.).
    ``max``: ``max(lam*onehot(y1), (1-lam)*onehot(y2))`` elementwise (the
    reference system's public code). ``y2 is None``: one-hot of ``y1``.
    """
    t1 = ops.one_hot(ops.cast(y1, "int32"), num_classes, dtype="float32")
    if y2 is None:
        return t1
    if lam is None:
        raise ConfigError("mixed targets: y2 given without lam")
    t2 = ops.one_hot(ops.cast(y2, "int32"), num_classes, dtype="float32")
    lam = ops.reshape(ops.cast(lam, "float32"), (-1, 1))
    if label_mix == "linear":
        return lam * t1 + (1.0 - lam) * t2
    return ops.maximum(lam * t1, (1.0 - lam) * t2)


def pair_inputs(y1: Tensor, y2: Tensor | None, lam: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """``(y1, y2, lam)`` as tensors; no mixup means ``y2 = y1`` and ``lam = 1``."""
    y1 = ops.cast(y1, "int32")
    if y2 is None:
        return y1, y1, ops.ones_like(y1, dtype="float32")
    if lam is None:
        raise ConfigError("mixup pair: y2 given without lam")
    return y1, ops.cast(y2, "int32"), ops.cast(lam, "float32")


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """``-sum_j t_j log softmax(logits)_j`` per sample: ``[B, N] -> [B]``."""
    return -ops.sum(targets * ops.log_softmax(logits, axis=-1), axis=-1)


def gather_rows(values: Tensor, y: Tensor) -> Tensor:
    """``values[b, y[b]]`` per row: ``[B, N], [B] -> [B]``."""
    return ops.take_along_axis(values, ops.reshape(ops.cast(y, "int32"), (-1, 1)), axis=1)[:, 0]


def sparse_cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """``-log softmax(logits)_y`` per sample: ``[B, N], [B] -> [B]``."""
    return -gather_rows(ops.log_softmax(logits, axis=-1), y)


def pair_cross_entropy(logits: Tensor, y1: Tensor, y2: Tensor, lam: Tensor) -> Tensor:
    """``lam CE(logits, y1) + (1 - lam) CE(logits, y2)`` per sample: the mixup loss on one logit matrix."""
    return lam * sparse_cross_entropy(logits, y1) + (1.0 - lam) * sparse_cross_entropy(logits, y2)


class LossLayer(keras.layers.Layer):
    """Base of every loss layer (the heads below and the FeatEx/StatEx wrappers): the hooks the trainer asks."""

    def training_embeddings(self, embedding_model: keras.Model, waveforms: Tensor) -> tuple[Tensor, dict[str, Any]]:
        """``(embeddings [B, D], extra call arguments)`` of a training batch ``waveforms [B, n]``.

        The trainer embeds every training batch through this hook and calls the layer with
        the extra arguments. Default: ``embedding_model(waveforms, training=True)`` and no
        extra arguments; a loss that changes the model's input between its sub-models
        (StatEx: :meth:`asd_tf.losses.statex.StatExLoss.training_embeddings`) overrides it.
        """
        return embedding_model(waveforms, training=True), {}


class AngularLossLayer(LossLayer):
    """Base class: a loss head with unit centres ``[N*M, D]`` (M per class).

    Args:
        num_classes: N, number of auxiliary classes.
        embedding_dim: D, embedding size.
        label_mix: ``"linear"`` or ``"max"`` (soft-target losses only).
        seed: seed of the random centres.
        trainable_centres: train the centres (the reference system keeps them
            fixed, Sec. IV-B; ArcFace-style papers train them).
        **kwargs: base ``keras.layers.Layer`` arguments; ``dtype`` defaults to
            ``"float32"`` (the head stays float32 under a mixed-precision policy).
    """

    #: True for losses that consume (y1, y2, lam) themselves instead of mixed labels.
    needs_pairs: bool = False
    #: Centres per class (M); subclasses override.
    centres_per_class: int = 1

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        label_mix: str = "linear",
        seed: int = 0,
        trainable_centres: bool = False,
        **kwargs: Any,
    ) -> None:
        # Loss heads compute in float32 under any global policy: under mixed_float16 the
        # layer would otherwise read its float32 centres as float16 inside call().
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if int(num_classes) < 1:
            raise ConfigError(f"{type(self).__name__}: num_classes must be >= 1, got {num_classes}")
        if int(embedding_dim) < 1:
            raise ConfigError(f"{type(self).__name__}: embedding_dim must be >= 1, got {embedding_dim}")
        if label_mix not in LABEL_MIX_MODES:
            raise ConfigError(
                f"{type(self).__name__}: label_mix must be one of {LABEL_MIX_MODES}, got {label_mix!r}"
            )
        self.num_classes = int(num_classes)
        self.embedding_dim = int(embedding_dim)
        self.label_mix = label_mix
        self.seed = int(seed)
        self.trainable_centres = bool(trainable_centres)

    # ----------------------------------------------------------------- helpers
    def _add_centres(self, num_centres: int, name: str, seed: int, trainable: bool):
        """Create a ``[num_centres, D]`` weight holding seeded random unit centres."""
        values = random_unit_centres(num_centres, self.embedding_dim, seed)

        def init(shape, dtype=None):  # a callable initialiser: no config needed
            return ops.convert_to_tensor(values, dtype=dtype or "float32")

        return self.add_weight(
            shape=(num_centres, self.embedding_dim),
            initializer=init,
            dtype="float32",
            trainable=trainable,
            name=name,
        )

    def targets(self, y1, y2=None, lam=None) -> Tensor:
        """Soft targets ``[B, N]`` for this layer's ``label_mix``."""
        return mixed_targets(y1, y2, lam, self.num_classes, self.label_mix)

    def centre_matrix(self) -> Tensor:
        """Unit centres ``[N*M, D]``, class-major (centre j belongs to class j // M).

        Uses the weight ``self.centres``; trainable centres are re-normalised
        at every use, fixed ones are unit vectors already.
        """
        centres = ops.convert_to_tensor(self.centres)
        if self.trainable_centres:
            return l2_normalize(centres)
        return centres

    def cosines(self, embeddings) -> Tensor:
        """``cos(z, c)`` for every centre: ``[B, D] -> [B, N*M]``."""
        z = l2_normalize(ops.cast(embeddings, "float32"))
        return ops.matmul(z, ops.transpose(self.centre_matrix()))

    # --------------------------------------------------------------- contract
    def logits(self, embeddings) -> Tensor:
        raise NotImplementedError

    def class_loss(self, embeddings, y) -> Tensor:
        raise NotImplementedError

    def compactness(self, embeddings, y) -> tuple[Tensor, Tensor]:
        """Intra-/inter-class compactness per sample (Def. 1; paper Figs. 2-3).

        ``intra = min_{c in C_y} ||z - c||^2`` (the nearest own centre, i.e. the
        cluster assignment tau of Eq. 20; with one centre per class this is
        exactly Def. 1), ``inter = mean_{c in C_k, k != y} ||z - c||^2``, about 2
        for fixed random centres in high dimension. ``inter`` is 0 when N = 1
        (there is no other class). Squared distances use Lemma 5:
        ``||z - c||^2 = 2 - 2 cos(z, c)``.
        """
        m = self.centres_per_class
        dist = 2.0 - 2.0 * self.cosines(embeddings)  # [B, N*M]
        dist = ops.reshape(dist, (-1, self.num_classes, m))  # [B, N, M]
        own = ops.one_hot(ops.cast(y, "int32"), self.num_classes, dtype="float32")  # [B, N]
        intra = ops.sum(own * ops.min(dist, axis=2), axis=1)
        if self.num_classes == 1:
            return intra, ops.zeros_like(intra)
        per_class_sum = ops.sum(dist, axis=2)  # [B, N]
        inter = ops.sum((1.0 - own) * per_class_sum, axis=1) / float((self.num_classes - 1) * m)
        return intra, inter

    @property
    def scale(self):
        """Scale of the logits: ``None`` for losses without one."""
        return None

    def class_score_options(self) -> dict[str, float | None]:
        """What a class-score backend (``class_loss``) needs to recompute this loss from :meth:`logits`.

        ``{"scale": s, "margin": m}``: the own-class loss is the cross-entropy of
        the logits with the own-class logit ``s cos theta_y`` replaced by
        ``s cos(theta_y + m)`` (``margin = 0``: plain cross-entropy of the logits;
        ``scale`` is then not needed). Losses whose class loss is such a function
        of their logits override this; here (compactness, SoftTriple, ...) it is
        not, and this raises a ConfigError.
        """
        raise ConfigError(
            f"class_loss backend: the class loss of {type(self).__name__} is not an angular-margin / cross-entropy "
            "loss of its logits; use the class_posterior or kmeans backend for this run"
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            embedding_dim=self.embedding_dim,
            label_mix=self.label_mix,
            seed=self.seed,
            trainable_centres=self.trainable_centres,
        )
        return config
