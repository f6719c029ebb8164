"""Keras callbacks used by training runs."""

from __future__ import annotations

import math

import keras

from ..errors import TrainingError


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Abort training with a :class:`TrainingError` as soon as a batch loss is not finite.

    Raising (rather than setting ``stop_training``) keeps the epoch from ending,
    so no checkpoint or backup is written from the broken weights: the last good
    epoch stays on disk and a rerun resumes from it.
    """

    def __init__(self, run_dir: str) -> None:
        super().__init__()
        self.run_dir = run_dir
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingError(
                f"{self.run_dir}: non-finite loss ({float(loss)}) at epoch {self._epoch + 1}, "
                f"batch {batch + 1}; training stopped, the last completed epoch's checkpoint is kept. "
                "Try mixup (the adaptive scale can explode without it), a lower learning rate or another seed."
            )


class EpochWeights(keras.callbacks.Callback):
    """Save the weights of the trainer after every finished epoch (``last.weights.h5``), atomically."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        import os

        tmp = self.path.replace(".weights.h5", ".tmp.weights.h5")
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, self.path)


class ScaleGuardWarning(keras.callbacks.Callback):
    """After each epoch, let an adaptive-scale loss warn (once) if its scale guard acted."""

    def __init__(self, loss_layer) -> None:
        super().__init__()
        self.loss_layer = loss_layer

    def on_epoch_end(self, epoch, logs=None):
        check = getattr(self.loss_layer, "check_scale_guard", None)
        if check is not None:
            check()
