"""JAX training step: Keras's stateless ``train_step(state, data)`` contract, ``WaveformBatches`` input.

``state = (trainable, non_trainable, optimizer, metrics)`` variable values, in the
order of ``trainer.trainable_variables``, ``trainer.non_trainable_variables``,
``trainer.optimizer.variables`` and ``trainer.metrics_variables`` (what Keras's
``JAXTrainer.fit`` passes and writes back after every epoch). The whole forward pass
(embedding model, loss layer and mixup) runs inside one ``keras.StatelessScope``
mapping every variable to its value, so the in-place updates of a training call (the
adaptive scale, its guard counter, the seed-generator states of the loss layer and of
the trainer's mixup ``SeedGenerator``, BatchNorm statistics) are read back from the
scope as the new non-trainable state (see ``docs`` / README "Backends").
``jax.value_and_grad`` differentiates only with respect to the trainable values.

Under ``keras.distribution.DataParallel`` the step sees the global batch as one
sharded array: the loss layer's batch statistics (AdaCos median, maxima) are global
and XLA inserts the cross-device reductions; nothing is divided by a replica count.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras

from .portable import (  # noqa: F401  (re-exported: the run interface of this backend)
    KerasDistribution, SingleDevice, check_strategy_name, crop_offsets, extra_callbacks, fit_scope, input_pipelines,
    make_rng, training_data,
)

MIXED_POLICY = "mixed_bfloat16"  # no loss scaling needed; float16 has too small a range without it
LOCAL_BATCH_STATISTICS = False  # one global (sharded) batch: BatchNorm statistics are global already


def _new_values(scope, variables, old) -> list:
    """The values ``variables`` hold at the end of ``scope`` (``old`` where the step did not assign them)."""
    out = []
    for variable, value in zip(variables, old):
        new = scope.get_current_value(variable)
        out.append(value if new is None else new)
    return out


def _tracked(trainer, trainable, non_trainable, metrics_values, track):
    """``(logs, new metric values)``: ``track()`` run with the model and metric variables mapped to these values."""
    mapping = [
        *zip(trainer.trainable_variables, trainable),
        *zip(trainer.non_trainable_variables, non_trainable),
        *zip(trainer.metrics_variables, metrics_values),
    ]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = track()
    return logs, _new_values(scope, trainer.metrics_variables, metrics_values)


def train_step(trainer, state, data):
    trainable, non_trainable, optimizer_values, metrics_values = state
    waveforms, labels = data[0], data[1]
    optimizer = trainer.optimizer

    def loss_and_updates(trainable_values, non_trainable_values):
        mapping = [
            *zip(trainer.trainable_variables, trainable_values),
            *zip(trainer.non_trainable_variables, non_trainable_values),
            *zip(optimizer.variables, optimizer_values),  # the loss scale of a LossScaleOptimizer
        ]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            total, loss, embeddings, y_dominant = trainer.forward(waveforms, labels)
            scaled = optimizer.scale_loss(total)
        new_non_trainable = _new_values(scope, trainer.non_trainable_variables, non_trainable_values)
        return scaled, (total, loss, embeddings, y_dominant, new_non_trainable)

    grad_fn = jax.value_and_grad(loss_and_updates, has_aux=True)
    (_, (total, loss, embeddings, y_dominant, non_trainable)), gradients = grad_fn(trainable, non_trainable)
    # Never train on NaN: a non-finite loss zeroes the step's gradients (as on TensorFlow;
    # the StopOnNonFiniteLoss callback then ends training with a clear message).
    finite = jnp.isfinite(total)
    gradients = [jnp.where(finite, g, jnp.zeros_like(g)) for g in gradients]
    trainable, optimizer_values = optimizer.stateless_apply(optimizer_values, gradients, trainable)

    # Metrics after the update, as on TensorFlow (the scale and any trainable centres as they are now).
    logs, metrics_values = _tracked(
        trainer, trainable, non_trainable, metrics_values, lambda: trainer.track(embeddings, y_dominant, loss)
    )
    return logs, (trainable, non_trainable, optimizer_values, metrics_values)


def test_step(trainer, state, data):
    trainable, non_trainable, metrics_values = state
    logs, metrics_values = _tracked(
        trainer, trainable, non_trainable, metrics_values,
        lambda: trainer.track(*trainer.evaluation_pass(data[0], data[1])),
    )
    return logs, (trainable, non_trainable, metrics_values)


def make_strategy(name: str):
    """``default``: one device; ``auto`` / ``mirrored``: ``DataParallel`` over all devices when there are several.

    ``multiworker`` (and ``auto`` under a ``TF_CONFIG`` cluster) raise ``ConfigError``.
    """
    name = check_strategy_name(name, "jax")
    devices = keras.distribution.list_devices()
    if name == "default" or len(devices) < 2:
        return SingleDevice()
    return KerasDistribution(keras.distribution.DataParallel(devices=devices), len(devices))


def jit_compile(flag: bool) -> bool:
    # Every JAX step is XLA-compiled: op-by-op (eager) JAX is many times slower and not a useful mode.
    return True


