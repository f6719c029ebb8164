"""Subprocess helper: one worker of a MultiWorkerMirroredStrategy run on the loopback interface.

Usage: python multiworker_run.py OUT.npz WORKER_INDEX PORT0 PORT1   (two workers)
       python multiworker_run.py OUT.npz single                    (one process, same global batches)
Trains the tiny reference model with sub-cluster AdaCos for a few steps and saves
the scale trajectory and all weights.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
out_path = sys.argv[1]
if sys.argv[2] != "single":
    index, ports = int(sys.argv[2]), sys.argv[3:5]
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
    )

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from asd_tf.distribute import make_strategy  # noqa: E402
from asd_tf.losses.registry import build_loss  # noqa: E402
from asd_tf.models.reference import build_reference_model  # noqa: E402
from asd_tf.training.trainer import ASDTrainer  # noqa: E402

NUM_SAMPLES, BATCH, STEPS, CLASSES = 4096, 8, 3, 3
rng = np.random.default_rng(0)
t = np.arange(NUM_SAMPLES) / 16000.0
x = np.asarray(
    [np.sin(2 * np.pi * (300 + 400 * (i % CLASSES)) * t) + 0.5 * rng.standard_normal(NUM_SAMPLES)
     for i in range(BATCH * STEPS)], np.float32)
y = np.asarray([i % CLASSES for i in range(BATCH * STEPS)], np.int32)

strategy = make_strategy("auto")
keras.utils.set_random_seed(1)
with strategy.scope():
    model = build_reference_model(
        num_samples=NUM_SAMPLES, stage_channels=(4, 4, 8, 8), spectrum_filters=8, dense_units=8, branch_dim=8,
        synchronized_bn=strategy.num_replicas_in_sync > 1,
    )
    loss = build_loss("subcluster_adacos", CLASSES, int(model.output_shape[-1]), seed=3, num_subclusters=2)
    trainer = ASDTrainer(model, loss, mixup_prob=0.0, seed=0)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    trainer.build_for_training(NUM_SAMPLES)


class Record(keras.callbacks.Callback):
    scales: list = []

    def on_train_batch_end(self, batch, logs=None):
        Record.scales.append(float(np.asarray(loss.scale)))


dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH, drop_remainder=True)
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
dataset = dataset.with_options(options)
trainer.fit(dataset, epochs=1, verbose=0, callbacks=[Record()])
np.savez(out_path, scales=np.asarray(Record.scales), replicas=strategy.num_replicas_in_sync,
         *[np.asarray(w) for w in model.weights])
