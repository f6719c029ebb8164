"""Subprocess helper: train a tiny model for a few steps on fixed global batches and dump the trajectory.

Usage: python mirrored_run.py OUT.npz {default|mirrored}
With ``mirrored`` the CPU is split into two logical devices and MirroredStrategy
runs one replica on each; both modes see exactly the same global batches.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

out_path, mode = sys.argv[1], sys.argv[2]
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

import keras  # noqa: E402

from asd_tf.losses.registry import build_loss  # noqa: E402
from asd_tf.models.reference import build_reference_model  # noqa: E402
from asd_tf.training.trainer import ASDTrainer  # noqa: E402

NUM_SAMPLES, BATCH, STEPS, CLASSES = 4096, 8, 4, 3
rng = np.random.default_rng(0)
t = np.arange(NUM_SAMPLES) / 16000.0
waves, labels = [], []
for i in range(BATCH * STEPS):
    c = i % CLASSES
    waves.append(np.sin(2 * np.pi * (300 + 400 * c) * t) + 0.5 * rng.standard_normal(NUM_SAMPLES))
    labels.append(c)
x = np.asarray(waves, np.float32)
y = np.asarray(labels, np.int32)

keras.utils.set_random_seed(1)
if mode == "mirrored":
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
else:
    strategy = tf.distribute.get_strategy()
assert strategy.num_replicas_in_sync == (2 if mode == "mirrored" else 1)

with strategy.scope():
    model = build_reference_model(
        num_samples=NUM_SAMPLES, branches="both", stage_channels=(4, 4, 8, 8), spectrum_filters=8, dense_units=8, branch_dim=8,
        synchronized_bn=(mode == "mirrored"),
    )
    loss = build_loss("subcluster_adacos", CLASSES, int(model.output_shape[-1]), seed=3, num_subclusters=2)
    trainer = ASDTrainer(model, loss, mixup_prob=0.0, seed=0)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    trainer.build_for_training(NUM_SAMPLES)


class Record(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.scales = []

    def on_train_batch_end(self, batch, logs=None):
        self.scales.append(float(np.asarray(loss.scale)))


rec = Record()
dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH, drop_remainder=True)
trainer.fit(dataset, epochs=1, verbose=0, callbacks=[rec])
weights = [np.asarray(w) for w in model.trainable_weights]
np.savez(out_path, scales=np.asarray(rec.scales), *weights)
