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


def _log_value(logs: dict | None, key: str) -> float:
    value = (logs or {}).get(key)
    return float("nan") if value is None else float(value)


def format_epoch_line(epoch: int, epochs: int, logs: dict | None, seconds: float) -> str:
    """The one line logged per epoch: ``epoch 3/20: loss 1.2345, scale 12.345, intra 0.123, inter 0.456, 4.2 s``."""
    return (
        f"epoch {epoch + 1}/{epochs}: loss {_log_value(logs, 'loss'):.4f}, scale {_log_value(logs, 'scale'):.3f}, "
        f"intra {_log_value(logs, 'intra_compactness'):.3f}, inter {_log_value(logs, 'inter_compactness'):.3f}, "
        f"{seconds:.1f} s"
    )


class EpochLog(keras.callbacks.Callback):
    """One line per epoch on stdout (``asd-tf train --quiet``), in place of Keras's progress output."""

    def __init__(self, stream=None) -> None:
        super().__init__()
        self.stream = stream
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        import time

        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        import sys
        import time

        line = format_epoch_line(epoch, int(self.params.get("epochs") or 0), logs, time.perf_counter() - self._started)
        print(line, file=self.stream or sys.stdout, flush=True)


class TrainingProgress(keras.callbacks.Callback):
    """One progress bar for the whole training (every step of every epoch): epoch, loss, elapsed time and ETA.

    Replaces Keras's bar per epoch. A resumed run starts the bar at its first remaining epoch,
    so the ETA counts only the steps still to run.
    """

    def __init__(self, description: str = "training") -> None:
        super().__init__()
        self.description = description
        self._bar = None
        self._epochs = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._epochs = int(self.params.get("epochs") or 0)
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        from tqdm.auto import tqdm

        steps = self.params.get("steps")
        self._epoch = epoch
        if self._bar is None:
            total = steps * self._epochs if steps else None
            self._bar = tqdm(total=total, initial=epoch * steps if steps else 0, desc=self.description,
                             unit="step", dynamic_ncols=True, smoothing=0.0)  # ETA from the mean rate
        self._bar.set_postfix_str(f"epoch {epoch + 1}/{self._epochs}", refresh=False)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is None:
            return
        self._bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.set_postfix_str(f"epoch {epoch + 1}/{self._epochs}, loss {_log_value(logs, 'loss'):.4f}")

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def console_callbacks(verbose) -> list:
    """Console output of :meth:`ASDTrainer.fit` for a Keras ``verbose`` value.

    ``0``: nothing; ``2``: :class:`EpochLog` (one line per epoch); ``1`` or ``"auto"``:
    :class:`TrainingProgress` (one bar for the whole training).
    """
    if verbose == 0:
        return []
    if verbose == 2:
        return [EpochLog()]
    return [TrainingProgress()]
