"""PyTorch training step: ``backward()`` on the forward pass, ``WaveformBatches`` input, one device.

Keras's ``TorchTrainer`` calls ``train_step(data)`` eagerly; the trainer's forward
pass records the autograd graph, ``backward()`` fills ``variable.value.grad`` and
the optimizer applies the (guarded) gradients under ``torch.no_grad()``. Several
devices (``torch.distributed``) are not covered: the loss layers' global-batch
statistics would need its collectives (``asd_tf.collectives``).
"""

from __future__ import annotations

import torch

from .portable import (  # noqa: F401  (re-exported: the run interface of this backend)
    SingleDevice, check_strategy_name, crop_offsets, extra_callbacks, fit_scope, input_pipelines, make_rng,
    training_data,
)

MIXED_POLICY = "mixed_bfloat16"
LOCAL_BATCH_STATISTICS = False


def train_step(trainer, data) -> dict:
    waveforms, labels = data[0], data[1]
    trainer.zero_grad()  # gradients left over from the previous step
    total, loss, embeddings, y_dominant = trainer.forward(waveforms, labels)
    trainer.optimizer.scale_loss(total).backward()
    variables = trainer.trainable_variables
    # Never train on NaN: a non-finite loss zeroes the step's gradients (as on TensorFlow).
    finite = torch.isfinite(total.detach())
    gradients = [
        None if v.value.grad is None else torch.where(finite, v.value.grad, torch.zeros_like(v.value.grad))
        for v in variables
    ]
    with torch.no_grad():
        trainer.optimizer.apply(gradients, variables)
        return trainer.track(embeddings.detach(), y_dominant, loss.detach())


def test_step(trainer, data) -> dict:
    with torch.no_grad():
        return trainer.track(*trainer.evaluation_pass(data[0], data[1]))


def make_strategy(name: str) -> SingleDevice:
    """One device; ``mirrored`` with several devices and ``multiworker`` raise ``ConfigError``."""
    from ...errors import ConfigError

    name = check_strategy_name(name, "torch")
    if name == "mirrored":
        raise ConfigError("strategy 'mirrored': several devices are not supported on the torch backend; "
                          "use strategy default, or KERAS_BACKEND=jax / tensorflow")
    return SingleDevice()


def jit_compile(flag: bool) -> bool:
    return False  # jit_compile=True would mean torch.compile, not XLA
