"""Mixup within the batch (Zhang et al., ICLR 2018), in ``keras.ops`` for a compiled train step on any backend.

Pairs are formed by a random permutation of the batch; each pair gets its own
``lam``: ``U(0, 1)`` (reference system, Wilkinghoff & Kurth Sec. IV-B) or
``Beta(alpha, alpha)`` (``alpha = 0.5`` for Noisy-ArcMix / EMM, 0.2 in Neri &
Carli). With probability ``1 - prob`` the batch is left unmixed (``lam = 1``,
``y2 = y1``). The loss layers take ``(y1, y2, lam)``.

Random draws use ``keras.random`` with a seed source: a
``keras.random.SeedGenerator`` (stateful on every backend; under ``jax.jit`` its
state flows through ``stateless_call`` like any non-trainable variable), an int
(a new generator, eager convenience), or any stateful generator with a
``make_seeds`` method, such as the ``tf.random.Generator`` of the TensorFlow
trainer (it gives every ``tf.distribute`` replica its own stream, and
``training.resume`` saves its state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

from ..errors import ConfigError
from .base import Tensor


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


class _GeneratorSeeds(keras.random.SeedGenerator):
    """Seeds for ``keras.random`` drawn from a stateful generator with ``make_seeds`` (``tf.random.Generator``).

    The state stays in that generator (no variable of its own), so
    ``keras.random``'s ``seed=`` argument accepts it like a ``SeedGenerator``.
    """

    def __init__(self, generator: Any) -> None:  # no SeedGenerator state: the generator holds it
        self.generator = generator
        self.name = "generator_seeds"

    def next(self, ordered: bool = True) -> Tensor:
        return self.generator.make_seeds(1)[:, 0]


def seed_source(rng: Any) -> keras.random.SeedGenerator:
    """The ``keras.random`` seed of ``rng``: a ``SeedGenerator``, an int, or a generator with ``make_seeds``."""
    if isinstance(rng, keras.random.SeedGenerator):
        return rng
    if isinstance(rng, int) and not isinstance(rng, bool):
        return keras.random.SeedGenerator(rng)
    if hasattr(rng, "make_seeds"):
        return _GeneratorSeeds(rng)
    raise ConfigError(
        "mixup: rng must be a keras.random.SeedGenerator, an int seed or a tf.random.Generator, "
        f"got {type(rng).__name__}"
    )


def sample_lambda(batch_size, config: MixupConfig, rng: Any) -> Tensor:
    """``[B]`` mixing factors: ``U(0, 1)`` or ``Beta(alpha, alpha) = G1 / (G1 + G2)``."""
    seed = seed_source(rng)
    if config.alpha is None:
        return keras.random.uniform((batch_size,), 0.0, 1.0, dtype="float32", seed=seed)
    g1 = keras.random.gamma((batch_size,), alpha=config.alpha, dtype="float32", seed=seed)
    g2 = keras.random.gamma((batch_size,), alpha=config.alpha, dtype="float32", seed=seed)
    total = g1 + g2
    # both gammas can underflow to 0 for small alpha; 0/0 -> use 0.5
    return ops.where(total > 0, g1 / ops.where(total > 0, total, 1.0), 0.5)


def mixup_batch(
    x: Tensor,
    y: Tensor,
    config: MixupConfig,
    rng: Any,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Mix a batch with a random permutation of itself.

    Args:
        x: inputs ``[B, ...]`` (any rank; ``lam`` broadcasts over the trailing axes).
        y: integer labels ``[B]``.
        config: :class:`MixupConfig`.
        rng: a ``keras.random.SeedGenerator`` or ``tf.random.Generator`` (create it
            once, outside the compiled step); an int seeds a new generator (eager
            convenience).

    Returns:
        ``(x_mix, y1, y2, lam)``: ``x_mix = lam*x + (1-lam)*x[perm]``,
        ``y1 = y``, ``y2 = y[perm]``, ``lam`` float32 ``[B]``. When the batch is not
        mixed (probability ``1 - prob``): ``x_mix = x``, ``y2 = y1``, ``lam = 1``.
    """
    seed = seed_source(rng)
    x = ops.convert_to_tensor(x)
    y1 = ops.cast(y, "int32")
    batch = ops.shape(x)[0]
    perm = ops.cast(ops.argsort(keras.random.uniform((batch,), dtype="float32", seed=seed)), "int32")
    lam = sample_lambda(batch, config, seed)
    apply = keras.random.uniform((), dtype="float32", seed=seed) < config.prob
    lam = ops.where(apply, lam, ops.ones_like(lam))
    perm = ops.where(apply, perm, ops.cast(ops.arange(batch), "int32"))
    y2 = ops.take(y1, perm, axis=0)
    lam_x = ops.reshape(ops.cast(lam, x.dtype), (-1,) + (1,) * (len(x.shape) - 1))
    x_mix = lam_x * x + (1 - lam_x) * ops.take(x, perm, axis=0)
    return x_mix, y1, y2, lam
