"""tf.distribute helpers: strategy selection and the TensorFlow global-batch reductions.

Losses with batch statistics (AdaCos, sub-cluster AdaCos, AdaProj) must compute
them over the *global* batch so that every replica holds the same adaptive
scale. They call :mod:`asd_tf.collectives`, which on the TensorFlow backend
uses the reductions below: they work in replica context under any strategy,
including the default (single-device) one, where they are the identity.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

# TensorFlow is imported inside the functions that use it: worker_role() and the strategy
# names are also read by training runs on other Keras backends, without TensorFlow.
if TYPE_CHECKING:
    import tensorflow as tf


def _replica_context():
    import tensorflow as tf
    ctx = tf.distribute.get_replica_context()
    # In cross-replica context (e.g. model building) there is no replica context;
    # statistics are then local, which is what a single device computes anyway.
    return ctx


def num_replicas() -> int:
    """Number of replicas in sync of the current strategy (1 without one)."""
    import tensorflow as tf
    return tf.distribute.get_strategy().num_replicas_in_sync


def global_sum(x: tf.Tensor) -> tf.Tensor:
    """Sum of ``x`` over all replicas (``x`` is already reduced per replica)."""
    import tensorflow as tf
    ctx = _replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)


def global_max(x: tf.Tensor) -> tf.Tensor:
    """Maximum of ``x`` over all replicas."""
    import tensorflow as tf
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
    import tensorflow as tf
    total = global_sum(tf.reduce_sum(x))
    count = global_sum(tf.cast(tf.shape(x)[0], x.dtype))
    return total / count


STRATEGIES = ("auto", "default", "mirrored", "multiworker")


def _tf_config() -> dict:
    """The parsed ``TF_CONFIG`` environment variable ({} when unset)."""
    from .errors import ConfigError

    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"TF_CONFIG must be a JSON object, got {type(value).__name__}")
    return value


def _multi_task_cluster(config: dict) -> dict:
    """The cluster of a parsed ``TF_CONFIG`` when it names more than one task, else {}."""
    cluster = config.get("cluster", {})
    return cluster if sum(len(v) for v in cluster.values()) > 1 else {}


def worker_role() -> tuple[bool, str]:
    """``(is_chief, task_name)`` of this process in a ``TF_CONFIG`` cluster.

    The chief is the ``chief`` task, or worker 0 when the cluster names no chief
    (TensorFlow's rule). Without a cluster every process is its own chief. The
    chief writes the run directory; every other task writes its own copy under
    ``<run>/.workers/<task_name>`` so that no two processes write one file.
    """
    config = _tf_config()
    cluster = _multi_task_cluster(config)
    if not cluster:
        return True, "chief"
    task = config.get("task", {})
    kind, index = str(task.get("type", "worker")), int(task.get("index", 0))
    name = f"{kind}_{index}"
    if "chief" in cluster:
        return kind == "chief", name
    return kind == "worker" and index == 0, name


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Return the tf.distribute strategy for ``name``.

    ``auto``: MultiWorkerMirroredStrategy when ``TF_CONFIG`` names a cluster with
    more than one task, MirroredStrategy when several GPUs are visible, the
    default strategy otherwise.
    """
    import tensorflow as tf

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
