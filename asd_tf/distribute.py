"""tf.distribute helpers: strategy selection and the TensorFlow global-batch reductions.

Losses with batch statistics (AdaCos, sub-cluster AdaCos, AdaProj) must compute
them over the *global* batch so that every replica holds the same adaptive
scale. They call :mod:`asd_tf.collectives`, which on the TensorFlow backend
uses the reductions below: they work in replica context under any strategy,
including the default (single-device) one, where they are the identity.
"""

from __future__ import annotations


import tensorflow as tf


def _replica_context():
    ctx = tf.distribute.get_replica_context()
    # In cross-replica context (e.g. model building) there is no replica context;
    # statistics are then local, which is what a single device computes anyway.
    return ctx


def num_replicas() -> int:
    """Number of replicas in sync of the current strategy (1 without one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def global_sum(x: tf.Tensor) -> tf.Tensor:
    """Sum of ``x`` over all replicas (``x`` is already reduced per replica)."""
    ctx = _replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)


def global_max(x: tf.Tensor) -> tf.Tensor:
    """Maximum of ``x`` over all replicas."""
    ctx = _replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    # tf.distribute.ReduceOp has only SUM and MEAN: gather the per-replica values instead.
    return tf.reduce_max(ctx.all_gather(tf.expand_dims(x, 0), axis=0), axis=0)


def global_concat(x: tf.Tensor) -> tf.Tensor:
    """Concatenate ``x`` (shape ``[b, ...]``) over replicas along axis 0."""
    ctx = _replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_gather(x, axis=0)


def global_mean(x: tf.Tensor) -> tf.Tensor:
    """Mean over the global batch of a per-sample tensor ``x`` of shape ``[b]``."""
    total = global_sum(tf.reduce_sum(x))
    count = global_sum(tf.cast(tf.shape(x)[0], x.dtype))
    return total / count


# Strategy names and the TF_CONFIG cluster role need no TensorFlow (JAX runs read them too).
from .cluster import STRATEGIES, worker_role  # noqa: E402,F401  (re-exported)
from .cluster import multi_task_cluster as _multi_task_cluster  # noqa: E402
from .cluster import tf_config as _tf_config  # noqa: E402


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Return the tf.distribute strategy for ``name``.

    ``auto``: MultiWorkerMirroredStrategy when ``TF_CONFIG`` names a cluster with
    more than one task, MirroredStrategy when several GPUs are visible, the
    default strategy otherwise.
    """
    from .errors import ConfigError

    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "auto":
        if _multi_task_cluster(_tf_config()):
            name = "multiworker"
        if name == "auto":
            gpus = tf.config.list_logical_devices("GPU")
            name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()
