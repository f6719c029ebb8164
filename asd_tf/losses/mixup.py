"""Mixup within the batch (Zhang et al., ICLR 2018), as TF ops for a ``tf.function`` train step.

Pairs are formed by a random permutation of the batch; each pair gets its own
``lam``: ``U(0, 1)`` (reference system, Wilkinghoff & Kurth Sec. IV-B) or
``Beta(alpha, alpha)`` (``alpha = 0.5`` for Noisy-ArcMix / EMM, 0.2 in Neri &
Carli). With probability ``1 - prob`` the batch is left unmixed (``lam = 1``,
``y2 = y1``). The loss layers take ``(y1, y2, lam)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from ..errors import ConfigError


@dataclass(frozen=True)
class MixupConfig:
    """Mixup settings.

    Args:
        prob: probability that a batch is mixed (1.0: always).
        alpha: ``None`` draws ``lam ~ U(0, 1)``; a float draws ``lam ~ Beta(alpha, alpha)``.
    """

    prob: float = 1.0
    alpha: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.prob <= 1.0:
            raise ConfigError(f"MixupConfig: prob must be in [0, 1], got {self.prob}")
        if self.alpha is not None and not self.alpha > 0:
            raise ConfigError(f"MixupConfig: alpha must be > 0 or None, got {self.alpha}")


def sample_lambda(batch_size, config: MixupConfig, rng: tf.random.Generator) -> tf.Tensor:
    """``[B]`` mixing factors: ``U(0, 1)`` or ``Beta(alpha, alpha) = G1 / (G1 + G2)``."""
    if config.alpha is None:
        return rng.uniform([batch_size], 0.0, 1.0, dtype=tf.float32)
    seeds = rng.make_seeds(2)
    alpha = tf.constant(config.alpha, tf.float32)
    g1 = tf.random.stateless_gamma([batch_size], seed=seeds[:, 0], alpha=alpha)
    g2 = tf.random.stateless_gamma([batch_size], seed=seeds[:, 1], alpha=alpha)
    total = g1 + g2
    # both gammas can underflow to 0 for small alpha; 0/0 -> use 0.5
    return tf.where(total > 0, g1 / tf.where(total > 0, total, 1.0), 0.5)


def mixup_batch(
    x: tf.Tensor,
    y: tf.Tensor,
    config: MixupConfig,
    rng: tf.random.Generator | int,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Mix a batch with a random permutation of itself.

    Args:
        x: inputs ``[B, ...]`` (any rank; ``lam`` broadcasts over the trailing axes).
        y: integer labels ``[B]``.
        config: :class:`MixupConfig`.
        rng: a ``tf.random.Generator`` (create it once, outside the
            ``tf.function``); an int seeds a new generator (eager convenience).

    Returns:
        ``(x_mix, y1, y2, lam)``: ``x_mix = lam*x + (1-lam)*x[perm]``,
        ``y1 = y``, ``y2 = y[perm]``, ``lam`` float32 ``[B]``. When the batch is not
        mixed (probability ``1 - prob``): ``x_mix = x``, ``y2 = y1``, ``lam = 1``.
    """
    if isinstance(rng, int):
        rng = tf.random.Generator.from_seed(rng)
    x = tf.convert_to_tensor(x)
    y1 = tf.cast(y, tf.int32)
    batch = tf.shape(x)[0]
    perm = tf.argsort(rng.uniform([batch], dtype=tf.float32))
    lam = sample_lambda(batch, config, rng)
    apply = rng.uniform([], dtype=tf.float32) < config.prob
    lam = tf.where(apply, lam, tf.ones_like(lam))
    perm = tf.where(apply, perm, tf.range(batch))
    y2 = tf.gather(y1, perm)
    lam_x = tf.reshape(tf.cast(lam, x.dtype), tf.concat([[batch], tf.ones([tf.rank(x) - 1], tf.int32)], 0))
    x_mix = lam_x * x + (1 - lam_x) * tf.gather(x, perm)
    return x_mix, y1, y2, lam
