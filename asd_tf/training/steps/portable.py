"""Run pieces shared by the backends without ``tf.data`` / ``tf.distribute`` (JAX, PyTorch).

Input: :class:`asd_tf.data.loader.WaveformBatches` (soundfile + NumPy), which yields
exactly the batches of the ``tf.data`` training pipeline (the ``(seed, epoch)``
order, drop-remainder, resume at any epoch). Strategies: one device, or (JAX)
``keras.distribution.DataParallel``; a ``TF_CONFIG`` cluster / ``multiworker``
needs TensorFlow and is refused with a :class:`~asd_tf.errors.ConfigError`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import keras

from ...errors import ConfigError


def make_rng(seed: int) -> keras.random.SeedGenerator:
    """The mixup / crop-offset random stream: a ``keras.random.SeedGenerator`` (its state is a variable)."""
    return keras.random.SeedGenerator(seed)


def crop_offsets(rng, waveforms):
    """``[B]`` int32 offsets, uniform in ``[0, n)`` for waveforms ``[B, n]``."""
    shape = keras.ops.shape(waveforms)
    return keras.random.randint((shape[0],), 0, shape[1], dtype="int32", seed=rng)


class SingleDevice:
    """The default device: one replica, nothing to enter."""

    num_replicas_in_sync = 1

    def scope(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


class KerasDistribution:
    """A ``keras.distribution.Distribution`` (``DataParallel``) seen through the strategy interface of ``training.run``.

    ``num_replicas_in_sync`` is the number of devices (the global batch is trimmed to a
    multiple of it); ``scope()`` makes the distribution current while variables are
    created (replicated) and while ``fit`` runs (each global batch sharded on its first axis).
    """

    def __init__(self, distribution, num_devices: int) -> None:
        self.distribution = distribution
        self.num_replicas_in_sync = int(num_devices)

    def scope(self) -> contextlib.AbstractContextManager:
        return self.distribution.scope()


def check_strategy_name(name: str, backend: str) -> str:
    """``name`` checked against ``distribute.STRATEGIES``; ``auto`` under a ``TF_CONFIG`` cluster and ``multiworker`` refused."""
    from ...distribute import STRATEGIES, _multi_task_cluster, _tf_config

    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "multiworker" or (name == "auto" and _multi_task_cluster(_tf_config())):
        raise ConfigError(
            f"strategy {name!r}: multi-worker training (TF_CONFIG) needs TensorFlow's MultiWorkerMirroredStrategy; "
            f"on the {backend} backend train on one machine (strategy auto, default or mirrored), "
            "or run with KERAS_BACKEND=tensorflow"
        )
    return name


def fit_scope(strategy) -> contextlib.AbstractContextManager:
    return strategy.scope()


def input_pipelines(strategy) -> int:
    return 1


def training_data(strategy, clips, batch_size: int, audio, labels, seed: int, cache_dir, epochs: tuple[int, int]) -> Any:
    """``WaveformBatches`` of epochs ``epochs``; ``cache_dir`` (a ``tf.data`` cache) does not apply and is not used."""
    from ...data.loader import WaveformBatches

    return WaveformBatches(
        clips, audio, labels=labels, batch_size=batch_size, shuffle=True, seed=seed, drop_remainder=True, epochs=epochs,
    )


def extra_callbacks(logs_dir) -> list:
    return []  # keras.callbacks.TensorBoard writes through tf.summary: TensorFlow only
