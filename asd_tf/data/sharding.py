"""Input sharding by file for multi-worker training: each worker reads only its share of the clips.

Why not tf.data auto-sharding
-----------------------------
:func:`asd_tf.data.pipeline.make_dataset` starts from a tensor of clip paths
(``Dataset.from_tensor_slices``) and decodes them in ``map``. tf.data's
``AutoShardPolicy.FILE`` only recognises reader datasets (TFRecord, text,
fixed-length records), so on this pipeline ``AUTO`` falls back to ``DATA``:
every worker would read and decode *every* clip and then keep one batch in
``k``. Sharding is therefore done explicitly, on the clip list, before the
pipeline is built, through ``strategy.distribute_datasets_from_function``
(tf.distribute then applies no auto-sharding of its own).

The sharding
------------
With ``n`` clips and ``k = input_context.num_input_pipelines`` (one per
worker), pipeline ``i`` reads the strided share ``clips[i::k][:n // k]``
(:func:`shard_clips`): the shares are disjoint and of equal size ``n // k``,
their union is the whole clip list but its last ``n mod k`` clips (fewer than
``k``; none when ``k`` divides ``n``), and because the clip list is sorted by
path (machine, then section) every worker sees every machine and section that
has at least ``k`` clips.

Equal shares matter: all workers must run the same number of steps, or the
collective ops of the last step wait forever for a worker that ran out of data.
They are cut at the clip level rather than by ``Dataset.take`` so that every
pipeline still reads its share to the end, which ``Dataset.cache`` needs to
finish its cache file.

Each pipeline shuffles its own share (seed ``seed + i``, reshuffled every
epoch; one seed for all would permute the equally long shares alike and always
put neighbouring clips ``k j .. k j + k - 1`` into one global batch),
decodes it and batches it into ``B / k`` clips (``drop_remainder``), split into
per-replica batches of ``input_context.get_per_replica_batch_size(B)`` when the
worker has several local replicas; tf.distribute hands successive per-replica
batches of a worker's pipeline to its local replicas. A global batch of ``B``
clips is thus made of ``B / k`` clips of each worker's share, and an epoch has
:func:`sharded_steps` ``= (n // k) // (B / k)`` global steps.

Single worker
-------------
With one input pipeline :func:`distribute_training_dataset` returns exactly
``make_dataset(clips, ..., batch_size=global_batch_size, drop_remainder=True)``
as before (same clips, same order, same shuffle seed), so single-worker runs and
their resumption are unchanged bit for bit.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional, Sequence, TypeVar, Union

import numpy as np

from ..errors import ConfigError, DatasetError
from .audio import AudioConfig
from .labels import LabelSet, encode_labels
from .records import ClipRecord

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

T = TypeVar("T")


def shard_clips(clips: Sequence[T], num_shards: int, index: int) -> list[T]:
    """The clips input pipeline ``index`` of ``num_shards`` reads: ``clips[index::k][:n // k]``.

    Shares are disjoint and equally long; the last ``n mod k`` clips belong to none.
    """
    if num_shards < 1 or not 0 <= index < num_shards:
        raise ConfigError(f"shard index {index} of {num_shards} shards is out of range")
    clips = list(clips)
    return clips[index::num_shards][: len(clips) // num_shards]


def per_pipeline_batch_size(global_batch_size: int, num_shards: int) -> int:
    """Clips each input pipeline contributes to one global batch (``B / k``; must divide evenly)."""
    if global_batch_size < 1 or global_batch_size % num_shards:
        raise ConfigError(
            f"the global batch size {global_batch_size} is not a positive multiple of the {num_shards} input pipelines"
        )
    return global_batch_size // num_shards


def sharded_steps(num_clips: int, global_batch_size: int, num_shards: int = 1) -> int:
    """Global steps per epoch every one of ``num_shards`` pipelines can supply: ``(n // k) // (B / k)``.

    For one pipeline this is ``n // B`` (``drop_remainder``).
    """
    return (num_clips // num_shards) // per_pipeline_batch_size(global_batch_size, num_shards)


def num_input_pipelines(strategy: Any) -> int:
    """Number of workers (input pipelines) of ``strategy``: chief + workers of its cluster, 1 without one."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("chief", [])) + len(spec.get("worker", [])))


def make_sharded_dataset(
    clips: Sequence[ClipRecord],
    input_context: "tf.distribute.InputContext",
    global_batch_size: int,
    config: AudioConfig = AudioConfig(),
    labels: Union[LabelSet, Sequence[int], np.ndarray, None] = None,
    shuffle: bool = True,
    seed: int = 0,
    cache_dir: Union[str, os.PathLike, None] = None,
    shuffle_buffer: Optional[int] = None,
    backend: str = "auto",
    epochs: Optional[tuple[int, int]] = None,
) -> "tf.data.Dataset":
    """The dataset of input pipeline ``input_context.input_pipeline_id``: its share, per-replica batches.

    Yields ``(waveform [b, num_samples], label [b])`` with
    ``b = input_context.get_per_replica_batch_size(global_batch_size)``:
    ``sharded_steps(...)`` batches of ``B / k`` clips of this pipeline's share,
    each split into ``B / k / b`` per-replica batches. Use as the ``dataset_fn``
    of ``strategy.distribute_datasets_from_function`` (see the module docstring).
    """
    import tensorflow as tf

    from .pipeline import make_dataset

    clips = list(clips)
    k, i = int(input_context.num_input_pipelines), int(input_context.input_pipeline_id)
    local_batch = per_pipeline_batch_size(global_batch_size, k)
    per_replica = int(input_context.get_per_replica_batch_size(global_batch_size))
    if local_batch % per_replica:
        raise ConfigError(
            f"input pipeline {i}: {local_batch} clips per global batch do not split into replica batches of {per_replica}"
        )
    steps = sharded_steps(len(clips), global_batch_size, k)
    if steps < 1:
        raise DatasetError(
            f"{len(clips)} clips are too few for global batches of {global_batch_size} over {k} input pipelines"
        )
    label_arr = encode_labels(clips, labels)  # once, before sharding: every share uses the same class ids
    share = shard_clips(clips, k, i)
    share_labels = None if label_arr is None else np.asarray(shard_clips(label_arr, k, i))
    ds = make_dataset(
        share, config, labels=share_labels, batch_size=local_batch, shuffle=shuffle, seed=seed + i,
        cache_dir=cache_dir, drop_remainder=True, shuffle_buffer=shuffle_buffer, backend=backend, epochs=epochs,
    )
    if per_replica != local_batch:  # several local replicas: consecutive slices of the worker's batch
        n_epochs = 1 if epochs is None else epochs[1] - epochs[0]
        ds = ds.rebatch(per_replica, drop_remainder=True)
        ds = ds.apply(tf.data.experimental.assert_cardinality(n_epochs * steps * (local_batch // per_replica)))
    return ds


def distribute_training_dataset(
    strategy: Any,
    clips: Sequence[ClipRecord],
    global_batch_size: int,
    config: AudioConfig = AudioConfig(),
    labels: Union[LabelSet, Sequence[int], np.ndarray, None] = None,
    shuffle: bool = True,
    seed: int = 0,
    cache_dir: Union[str, os.PathLike, None] = None,
    shuffle_buffer: Optional[int] = None,
    backend: str = "auto",
    epochs: Optional[tuple[int, int]] = None,
):
    """Training input for ``strategy``: sharded by file over workers, unchanged for one worker.

    One input pipeline: ``make_dataset(clips, ..., batch_size=global_batch_size,
    drop_remainder=True)`` (Keras distributes it over local replicas as before).
    Several: ``strategy.distribute_datasets_from_function`` over
    :func:`make_sharded_dataset`, a ``tf.distribute.DistributedDataset`` that
    ``keras.Model.fit`` accepts as is.
    """
    from .pipeline import make_dataset

    k = num_input_pipelines(strategy)
    if k == 1:
        return make_dataset(
            clips, config, labels=labels, batch_size=global_batch_size, shuffle=shuffle, seed=seed,
            cache_dir=cache_dir, drop_remainder=True, shuffle_buffer=shuffle_buffer, backend=backend,
            epochs=epochs,
        )
    clips = list(clips)

    def dataset_fn(input_context):
        return make_sharded_dataset(
            clips, input_context, global_batch_size, config, labels=labels, shuffle=shuffle, seed=seed,
            cache_dir=cache_dir, shuffle_buffer=shuffle_buffer, backend=backend, epochs=epochs,
        )

    return strategy.distribute_datasets_from_function(dataset_fn)
