"""The per-backend parts of training, one small module per Keras backend.

:class:`asd_tf.training.trainer.ASDTrainer` computes its training forward pass
(input crop, mixup, class weights, embeddings, loss, regularisation, metrics) in
``keras.ops`` on every backend; what differs between backends is collected here,
the way Keras itself has one trainer per backend. :func:`backend_steps` picks the
module of ``keras.backend.backend()`` through :data:`STEP_MODULES` (the only place
that names backends). Every module provides:

Step (called by the trainer):

- ``make_rng(seed)``: the mixup / crop-offset random stream;
- ``crop_offsets(rng, waveforms)``: ``[B]`` int32 offsets in ``[0, n)`` for
  :func:`~asd_tf.training.trainer.tile_crop`;
- ``train_step(trainer, *args)`` / ``test_step(trainer, *args)``: the gradient
  plumbing around ``trainer.forward`` / ``trainer.evaluation_pass``, with Keras's
  calling convention of that backend, the non-finite guard (a non-finite loss
  zeroes the step's gradients) and ``optimizer.scale_loss``.

Run (called by :mod:`asd_tf.training.run`):

- ``MIXED_POLICY``: the Keras dtype policy of ``mixed_precision: true``;
- ``LOCAL_BATCH_STATISTICS``: whether each replica sees only its share of the batch
  (then BatchNorm is synchronised across replicas);
- ``make_strategy(name)``: an object with ``num_replicas_in_sync`` and ``scope()``;
- ``fit_scope(strategy)``: the context ``fit`` runs in;
- ``input_pipelines(strategy)``: the number of input pipelines (workers);
- ``training_data(strategy, clips, batch_size, audio, labels, seed, cache_dir, epochs)``:
  the training batches of epochs ``epochs = (first, end)``;
- ``extra_callbacks(logs_dir)``: backend-specific callbacks (TensorBoard on TensorFlow);
- ``jit_compile(flag)``: ``compile``'s ``jit_compile`` for the ``jit`` setting.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ...errors import ConfigError

STEP_MODULES: dict[str, str] = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def backend_steps(backend: str | None = None) -> ModuleType:
    """The step module of ``backend`` (default: the running Keras backend)."""
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if backend not in STEP_MODULES:
        raise ConfigError(
            f"training is not available on the Keras backend {backend!r}; use one of {', '.join(STEP_MODULES)}"
        )
    return importlib.import_module(f".{STEP_MODULES[backend]}", __name__)
