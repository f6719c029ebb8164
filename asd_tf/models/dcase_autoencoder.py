"""The dense autoencoder of the official DCASE Task 2 baseline (DCASE 2020-2025).

Architecture (public code ``nttcslab/dcase2023_task2_baseline_ae``,
``networks/dcase2023t2_ae/network.py``; docs/design.md, "Later methods"): on 640-d inputs
(5 log-mel frames x 128 mels),

    encoder: Dense 128 -> BN -> ReLU, three times Dense 128 -> BN -> ReLU,
             Dense 8 -> BN -> ReLU
    decoder: Dense 128 -> BN -> ReLU, three times Dense 128 -> BN -> ReLU,
             Dense 640 (linear output)

BatchNorm with PyTorch momentum 0.01 (the weight of the new batch statistic),
i.e. Keras ``momentum=0.99`` (the weight of the running value), and
``epsilon=1e-3``. Dense layers start as PyTorch's ``nn.Linear`` does: weights
and biases uniform in ``+-1/sqrt(fan_in)``. Only built-in Keras layers are
used, so ``model.keras`` loads with ``safe_mode=True`` without registration.
"""

from __future__ import annotations

import math

import keras

from ..errors import ConfigError


def _linear(units: int, fan_in: int, name: str, seed: int | None) -> keras.layers.Dense:
    # nn.Linear: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)) for weights, same bound for biases
    bound = 1.0 / math.sqrt(fan_in)
    s = None if seed is None else int(seed)
    return keras.layers.Dense(
        units,
        kernel_initializer=keras.initializers.RandomUniform(-bound, bound, seed=s),
        bias_initializer=keras.initializers.RandomUniform(-bound, bound, seed=None if s is None else s + 1),
        name=name,
    )


def build_dcase_autoencoder(
    input_dim: int = 640,
    hidden_units: int = 128,
    hidden_layers: int = 4,
    bottleneck: int = 8,
    bn_momentum: float = 0.99,
    bn_epsilon: float = 1e-3,
    seed: int | None = None,
) -> keras.Model:
    """The baseline autoencoder ``[batch, input_dim] -> [batch, input_dim]`` (defaults: the official one).

    Args:
        input_dim: frames x mels (640 = 5 x 128).
        hidden_units: width of the hidden layers (128).
        hidden_layers: hidden layers on each side of the bottleneck (4).
        bottleneck: width of the code (8).
        bn_momentum: Keras BatchNormalization momentum (0.99 = PyTorch 0.01).
        bn_epsilon: BatchNormalization epsilon (1e-3).
        seed: seed of the initial weights (None: Keras' global seed).
    """
    for name, value in (("input_dim", input_dim), ("hidden_units", hidden_units),
                        ("hidden_layers", hidden_layers), ("bottleneck", bottleneck)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"dcase_ae: {name} must be a positive integer, got {value!r}")
    layers: list[keras.layers.Layer] = [keras.Input(shape=(input_dim,), name="frames")]
    widths = [hidden_units] * hidden_layers + [bottleneck] + [hidden_units] * hidden_layers
    fan_in = input_dim
    for k, units in enumerate(widths):
        part = "encoder" if k <= hidden_layers else "decoder"
        layers += [
            _linear(units, fan_in, f"{part}_dense_{k}", None if seed is None else seed + 2 * k),
            keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon, name=f"{part}_bn_{k}"),
            keras.layers.ReLU(name=f"{part}_relu_{k}"),
        ]
        fan_in = units
    layers.append(_linear(input_dim, fan_in, "output", None if seed is None else seed + 2 * len(widths)))
    return keras.Sequential(layers, name="dcase_autoencoder")
