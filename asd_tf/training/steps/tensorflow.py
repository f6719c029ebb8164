"""TensorFlow training step: ``GradientTape`` under any ``tf.distribute`` strategy, ``tf.data`` input.

The behaviour (and the random streams) of the toolkit's original TensorFlow
trainer: the mixup and crop-offset draws come from a ``tf.random.Generator``
created inside the strategy scope (one stream per replica, saved by
``training.resume``); the per-replica loss is divided by the number of replicas
because the Keras optimizer sums gradients over replicas.
"""

from __future__ import annotations

import contextlib
from typing import Any

import keras
import tensorflow as tf

MIXED_POLICY = "mixed_float16"
LOCAL_BATCH_STATISTICS = True  # a replica sees its share of the batch: BatchNorm is synchronised


def make_rng(seed: int) -> tf.random.Generator:
    return tf.random.Generator.from_seed(seed)


def crop_offsets(rng: tf.random.Generator, waveforms) -> tf.Tensor:
    return rng.uniform(tf.shape(waveforms)[:1], 0, tf.shape(waveforms)[1], dtype=tf.int32)


def _logs(logs: dict) -> dict:
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        # Keras reduces logs across workers with reduce(MEAN, axis=0), which needs rank >= 1.
        logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
    return logs


def train_step(trainer, data) -> dict:
    waveforms, labels = data
    with tf.GradientTape() as tape:
        total, loss, embeddings, y_dominant = trainer.forward(waveforms, labels)
        # The optimizer sums gradients over replicas: scale to the global mean.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        scaled = trainer.optimizer.scale_loss(total / tf.cast(replicas, total.dtype))
    variables = trainer.trainable_variables
    gradients = tape.gradient(scaled, variables)
    # Never train on NaN: a non-finite loss zeroes the step's gradients (the
    # StopOnNonFiniteLoss callback then ends training with a clear message).
    finite = tf.math.is_finite(total)
    gradients = [None if g is None else tf.where(finite, g, tf.zeros_like(g)) for g in gradients]
    trainer.optimizer.apply_gradients(zip(gradients, variables))
    return _logs(trainer.track(embeddings, y_dominant, loss))


def test_step(trainer, data) -> dict:
    waveforms, labels = data
    return _logs(trainer.track(*trainer.evaluation_pass(waveforms, labels)))


def make_strategy(name: str) -> tf.distribute.Strategy:
    from ...distribute import make_strategy as make

    return make(name)


def fit_scope(strategy) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()  # Keras's fit enters the model's strategy itself


def input_pipelines(strategy) -> int:
    from ...data.sharding import num_input_pipelines

    return num_input_pipelines(strategy)


def training_data(strategy, clips, batch_size: int, audio, labels, seed: int, cache_dir, epochs: tuple[int, int]) -> Any:
    """The ``tf.data`` pipeline, sharded by file over the workers of a multi-worker strategy."""
    from ...data.sharding import distribute_training_dataset

    return distribute_training_dataset(
        strategy, clips, batch_size, audio, labels=labels, shuffle=True, seed=seed, cache_dir=cache_dir, epochs=epochs,
    )


def extra_callbacks(logs_dir) -> list:
    return [keras.callbacks.TensorBoard(str(logs_dir / "tensorboard"), write_graph=False, update_freq="epoch")]


def jit_compile(flag: bool) -> bool:
    return bool(flag)
