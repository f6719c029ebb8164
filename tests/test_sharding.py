"""Input sharding by file (asd_tf.data.sharding): which clips each worker reads, and its batch sizes.

Every clip's waveform encodes its index (first sample = index / 100), so the
clips a pipeline read are recovered from what it yields, independently of the
paths it was given.
"""

from __future__ import annotations

import os
import types
from pathlib import Path

import numpy as np
import pytest

from asd_tf.data.audio import AudioConfig
from asd_tf.data.pipeline import cache_path, make_dataset
from asd_tf.data.records import ClipRecord
from asd_tf.data.sharding import (
    distribute_training_dataset,
    make_sharded_dataset,
    num_input_pipelines,
    shard_clips,
    sharded_steps,
)
from asd_tf.errors import ConfigError, DatasetError

N = 256
CFG = AudioConfig(sample_rate=16000, num_samples=N)


def _clips(tmp_path: Path, make_wav, n: int) -> list[ClipRecord]:
    clips = []
    for i in range(n):
        machine = "fan" if i < n // 2 else "valve"  # sorted by path: the first half is one machine
        wave = np.full(N, 0.01, np.float32)
        wave[0] = i / 100.0
        path = make_wav(tmp_path / machine / "train" / f"section_00_source_train_normal_{i:04d}.wav", wave)
        clips.append(ClipRecord(path=str(path), dataset="dcase2023", machine=machine, section="00",
                                domain="source", split="train", label="normal"))
    return clips


def _read(ds) -> tuple[list[int], list[int], list[tuple]]:
    """Clip indices (decoded from the audio), labels and batch shapes of one pass over ``ds``."""
    ids, labels, shapes = [], [], []
    for wave, y in ds.as_numpy_iterator():
        shapes.append(wave.shape)
        ids += [int(round(v * 100)) for v in wave[:, 0]]
        labels += [int(v) for v in y]
    return ids, labels, shapes


def _context(pipelines: int, pipeline_id: int, replicas: int):
    import tensorflow as tf

    return tf.distribute.InputContext(num_input_pipelines=pipelines, input_pipeline_id=pipeline_id,
                                      num_replicas_in_sync=replicas)


def test_two_workers_read_disjoint_halves_that_cover_the_training_set(tmp_path, make_wav):
    clips = _clips(tmp_path, make_wav, 16)
    labels = np.arange(16, dtype=np.int32)
    read, orders = [], []
    for worker in range(2):
        ds = make_sharded_dataset(clips, _context(2, worker, 2), global_batch_size=4, config=CFG,
                                  labels=labels, shuffle=True, seed=5)
        ids, ys, shapes = _read(ds)
        assert ids == ys  # each label travels with its clip
        assert shapes == [(2, N)] * 4  # per-replica batches of 4 / 2 clips, 16 / 4 steps
        assert len(set(ids)) == len(ids)  # no clip twice in an epoch
        assert {clips[i].machine for i in ids} == {"fan", "valve"}  # every worker sees every machine
        read.append(set(ids))
        orders.append([i // 2 for i in ids])  # position of each clip within its share
    # each worker shuffles with its own seed: not the same permutation of the two shares
    assert orders[0] != orders[1]
    assert not read[0] & read[1]
    assert read[0] | read[1] == set(range(16))
    assert len(read[0]) == len(read[1]) == 8
    # the documented rule, by hand: worker w reads the clips w, w + 2, w + 4, ...
    assert read[0] == set(range(0, 16, 2)) and read[1] == set(range(1, 16, 2))


def test_shares_of_an_uneven_clip_list_are_equal():
    paths = [f"clip_{i:02d}" for i in range(11)]
    shares = [shard_clips(paths, 3, w) for w in range(3)]
    assert shares == [paths[0:9:3], paths[1:9:3], paths[2:9:3]]  # 3 each; clips 9 and 10 in none
    assert sorted(sum(shares, [])) == paths[:9]
    # Equal shares give every worker the same number of steps (else the last collective hangs).
    assert sharded_steps(27, 8, 2) == 3  # 13 clips per worker, 4 per step
    assert sharded_steps(27, 8, 1) == 27 // 8
    with pytest.raises(ConfigError):
        shard_clips(paths, 2, 2)


def test_per_replica_batch_size_follows_the_global_batch(tmp_path, make_wav):
    clips = _clips(tmp_path, make_wav, 16)
    # two workers with two replicas each: 8 clips per global batch, 8 / 4 = 2 per replica
    assert _context(2, 1, 4).get_per_replica_batch_size(8) == 2
    ds = make_sharded_dataset(clips, _context(2, 1, 4), global_batch_size=8, config=CFG, shuffle=False)
    ids, _, shapes = _read(ds)
    assert shapes == [(2, N)] * 4  # (16 // 2) // (8 // 2) = 2 steps x 2 local replicas
    assert int(ds.cardinality()) == 4
    assert ids == list(range(1, 16, 2))  # unshuffled share, in order
    # one replica per worker: the worker's whole share of each global batch, 8 / 2 = 4 clips
    ds = make_sharded_dataset(clips, _context(2, 0, 2), global_batch_size=8, config=CFG, shuffle=False)
    ids, _, shapes = _read(ds)
    assert shapes == [(4, N)] * 2 and ids == list(range(0, 16, 2))
    with pytest.raises(ConfigError, match="multiple"):
        make_sharded_dataset(clips, _context(2, 0, 2), global_batch_size=7, config=CFG)
    with pytest.raises(DatasetError, match="too few"):
        make_sharded_dataset(clips[:3], _context(2, 0, 2), global_batch_size=4, config=CFG)


def test_one_worker_keeps_the_unsharded_pipeline(tmp_path, make_wav):
    import tensorflow as tf

    clips = _clips(tmp_path, make_wav, 10)
    labels = np.arange(10, dtype=np.int32) % 3
    strategy = tf.distribute.get_strategy()
    assert num_input_pipelines(strategy) == 1
    ds = distribute_training_dataset(strategy, clips, 4, CFG, labels=labels, shuffle=True, seed=7)
    ref = make_dataset(clips, CFG, labels=labels, batch_size=4, shuffle=True, seed=7, drop_remainder=True)
    for _ in range(2):  # two epochs: the same reshuffling
        got, want = list(ds.as_numpy_iterator()), list(ref.as_numpy_iterator())
        assert len(got) == len(want) == 2
        for (gw, gy), (ww, wy) in zip(got, want):
            np.testing.assert_array_equal(gw, ww)
            np.testing.assert_array_equal(gy, wy)


def test_num_input_pipelines_counts_chief_and_workers():
    import tensorflow as tf

    spec = tf.train.ClusterSpec({"chief": ["h0:1"], "worker": ["h1:1", "h2:1"]})
    fake = types.SimpleNamespace(cluster_resolver=tf.distribute.cluster_resolver.SimpleClusterResolver(spec))
    assert num_input_pipelines(fake) == 3
    assert num_input_pipelines(types.SimpleNamespace(cluster_resolver=None)) == 1


def test_each_worker_completes_its_own_cache(tmp_path, make_wav):
    # 10 clips, 2 workers: shares of 5, 2 clips per step -> one clip left over per epoch. Each
    # worker caches its own share under its own name, and a second epoch is served from it.
    clips = _clips(tmp_path / "clips", make_wav, 10)
    cache_dir = tmp_path / "cache"
    for worker in range(2):
        ds = make_sharded_dataset(clips, _context(2, worker, 2), global_batch_size=4, config=CFG,
                                  shuffle=True, seed=1, cache_dir=cache_dir, shuffle_buffer=2)
        first, _, _ = _read(ds)
        target = cache_path(cache_dir, shard_clips(clips, 2, worker), CFG)
        assert Path(f"{target}.index").exists()
        for clip in shard_clips(clips, 2, worker):  # the other worker never needs these files
            os.remove(clip.path)
        second, _, _ = _read(ds)  # served from the cache
        assert len(first) == len(second) == 4
        share = set(range(worker, 10, 2))
        assert set(first) <= share and set(second) <= share
