"""Strategy names and the role of this process in a ``TF_CONFIG`` cluster, without TensorFlow.

Read by ``asd_tf.distribute`` (TensorFlow) and by the training run on every
backend (a JAX run must know whether it is the chief, and refuses a cluster).
"""

from __future__ import annotations

import json
import os

STRATEGIES = ("auto", "default", "mirrored", "multiworker")


def tf_config() -> dict:
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


def multi_task_cluster(config: dict) -> dict:
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
    config = tf_config()
    cluster = multi_task_cluster(config)
    if not cluster:
        return True, "chief"
    task = config.get("task", {})
    kind, index = str(task.get("type", "worker")), int(task.get("index", 0))
    name = f"{kind}_{index}"
    if "chief" in cluster:
        return kind == "chief", name
    return kind == "worker" and index == 0, name
