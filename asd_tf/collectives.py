"""Global-batch reductions for the loss layers, on every Keras backend.

Losses with batch statistics (the adaptive scale of AdaCos, sub-cluster AdaCos
and AdaProj: a median, a maximum and a log-mean-sum-exp over the batch) must
compute them over the *global* batch, so that every replica holds the same
scale. What "global" takes depends on how the backend splits a batch:

* TensorFlow (``tf.distribute``, MirroredStrategy / MultiWorkerMirroredStrategy):
  each replica sees its own slice, and the statistics need cross-replica
  all-reduce / all-gather in the replica context (:mod:`asd_tf.distribute`).
  Under the default strategy these are the identity.
* JAX (``keras.distribution.DataParallel`` or any ``jax.sharding``), and
  single-process PyTorch: the loss sees one array holding the whole global
  batch (sharded or not); XLA inserts whatever communication a reduction over
  a sharded axis needs. The reductions are the identity.
  (Multi-process PyTorch DDP would need ``torch.distributed`` collectives;
  it is not supported here.)

The implementation is chosen once, from ``keras.backend.backend()``, through
:data:`_IMPLEMENTATIONS`; the losses call only the functions below.

Functions (``x`` a backend tensor):

* :func:`global_sum`: sum of ``x`` over replicas (``x`` already reduced per replica);
* :func:`global_max`: maximum of ``x`` over replicas (elementwise);
* :func:`global_concat`: ``[b, ...]`` slices concatenated along axis 0 to ``[B, ...]``;
* :func:`global_mean`: mean over the global batch of a per-sample ``[b]`` tensor;
* :func:`num_replicas`: how many replicas compute the loss on separate slices
  (1 when one array holds the global batch).
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any, Callable

import keras
from keras import ops


def _local_global_mean(x: Any) -> Any:
    return ops.mean(x)


def _identity(x: Any) -> Any:
    return x


#: The arrays hold the global batch already: every reduction is the identity.
GLOBAL_ARRAYS = SimpleNamespace(
    global_sum=_identity,
    global_max=_identity,
    global_concat=_identity,
    global_mean=_local_global_mean,
    num_replicas=lambda: 1,
)


def _tensorflow_replica_context() -> SimpleNamespace:
    # Imported only on the TensorFlow backend: asd_tf.distribute imports TensorFlow.
    distribute = importlib.import_module("asd_tf.distribute")
    return SimpleNamespace(**{name: getattr(distribute, name) for name in _FUNCTIONS})


_FUNCTIONS = ("global_sum", "global_max", "global_concat", "global_mean", "num_replicas")

#: Keras backend name -> a loader of the reductions for that backend.
_IMPLEMENTATIONS: dict[str, Callable[[], SimpleNamespace]] = {
    "tensorflow": _tensorflow_replica_context,
    "jax": lambda: GLOBAL_ARRAYS,
    "torch": lambda: GLOBAL_ARRAYS,
    "numpy": lambda: GLOBAL_ARRAYS,
    "openvino": lambda: GLOBAL_ARRAYS,
}

_selected: SimpleNamespace | None = None


def implementation() -> SimpleNamespace:
    """The reductions of the current Keras backend (loaded on first use, then cached)."""
    global _selected
    if _selected is None:
        backend = keras.backend.backend()
        if backend not in _IMPLEMENTATIONS:
            raise NotImplementedError(
                f"asd_tf.collectives: no global-batch reductions for Keras backend {backend!r}; "
                f"known: {', '.join(_IMPLEMENTATIONS)}"
            )
        _selected = _IMPLEMENTATIONS[backend]()
    return _selected


def global_sum(x: Any) -> Any:
    """Sum of ``x`` over all replicas (``x`` is already reduced per replica)."""
    return implementation().global_sum(x)


def global_max(x: Any) -> Any:
    """Elementwise maximum of ``x`` over all replicas."""
    return implementation().global_max(x)


def global_concat(x: Any) -> Any:
    """``x`` (shape ``[b, ...]``) concatenated over replicas along axis 0."""
    return implementation().global_concat(x)


def global_mean(x: Any) -> Any:
    """Mean over the global batch of a per-sample tensor ``x`` of shape ``[b]``."""
    return implementation().global_mean(x)


def num_replicas() -> int:
    """Replicas that compute the loss on separate slices of the batch (1: one array holds it all)."""
    return int(implementation().num_replicas())
