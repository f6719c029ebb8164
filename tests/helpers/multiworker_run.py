"""Subprocess helper: one worker of a MultiWorkerMirroredStrategy run on the loopback interface.

Usage: python multiworker_run.py OUT.npz WORKER_INDEX PORT0 PORT1   (two workers)
       python multiworker_run.py OUT.npz single                    (one process, same global batches)
Trains the tiny reference model with sub-cluster AdaCos for a few steps and saves
the scale trajectory and all weights.

The workers read WAV files through the training input pipeline, sharded by file
(asd_tf.data.sharding: worker i reads clips[i::2][:n // 2]). The single process
builds the same global batches by hand from the same files read with soundfile:
global batch t = worker 0's clips 4t..4t+3 followed by worker 1's.
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
import soundfile as sf  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from asd_tf.data.audio import AudioConfig  # noqa: E402
from asd_tf.data.records import ClipRecord  # noqa: E402
from asd_tf.data.sharding import distribute_training_dataset  # noqa: E402
from asd_tf.distribute import make_strategy  # noqa: E402
from asd_tf.losses.registry import build_loss  # noqa: E402
from asd_tf.models.reference import build_reference_model  # noqa: E402
from asd_tf.training.trainer import ASDTrainer  # noqa: E402

NUM_SAMPLES, BATCH, STEPS, CLASSES = 4096, 8, 3, 3
# 27 clips: shares of 13 (clip 26 is in none), 3 batches of 4 per worker and one clip left over.
NUM_CLIPS = BATCH * STEPS + 3
rng = np.random.default_rng(0)
t = np.arange(NUM_SAMPLES) / 16000.0
# Every clip differs (level, tone, noise), so the batch losses tell which clips formed a batch.
x = np.asarray(
    [(0.05 + 0.02 * i) * np.sin(2 * np.pi * (300 + 400 * (i % CLASSES) + 23 * i) * t)
     + (0.01 + 0.01 * (i % 5)) * rng.standard_normal(NUM_SAMPLES)
     for i in range(NUM_CLIPS)], np.float32)
y = np.asarray([i % CLASSES for i in range(NUM_CLIPS)], np.int32)

# Every process writes its own copy of the clips (no two processes write one file).
clip_dir = os.path.join(os.path.dirname(os.path.abspath(out_path)), "clips_" + sys.argv[2])
os.makedirs(clip_dir, exist_ok=True)
clips = []
for i in range(NUM_CLIPS):
    path = os.path.join(clip_dir, f"clip_{i:02d}.wav")
    sf.write(path, x[i], 16000, subtype="PCM_16")
    clips.append(ClipRecord(path=path, dataset="dcase2023", machine="fan", section="00", domain="source",
                            split="train", label="normal"))

strategy = make_strategy("auto")
keras.utils.set_random_seed(1)
with strategy.scope():
    model = build_reference_model(
        num_samples=NUM_SAMPLES, stage_channels=(4, 4, 8, 8), spectrum_filters=8, dense_units=8, branch_dim=8,
        synchronized_bn=strategy.num_replicas_in_sync > 1,
    )
    loss = build_loss("subcluster_adacos", CLASSES, int(model.output_shape[-1]), seed=3, num_subclusters=2)
    trainer = ASDTrainer(model, loss, mixup_prob=0.0, seed=0)
    # Plain SGD keeps every weight change proportional to its gradient (Adam moves a weight by
    # about lr whatever its gradient, so float32 reduction-order noise in a near-zero gradient
    # could flip a step), which makes the comparison with the single process tight.
    trainer.compile(optimizer=keras.optimizers.SGD(0.05))
    trainer.build_for_training(NUM_SAMPLES)


class Record(keras.callbacks.Callback):
    scales: list = []
    losses: list = []

    def on_train_batch_end(self, batch, logs=None):
        Record.scales.append(float(np.asarray(loss.scale)))
        Record.losses.append(float(np.asarray(logs["loss"]).reshape(-1)[0]))  # running mean over the epoch


if strategy.num_replicas_in_sync > 1:
    dataset = distribute_training_dataset(
        strategy, clips, BATCH, AudioConfig(16000, NUM_SAMPLES), labels=y, shuffle=False, seed=0,
    )
else:
    # Independent reference: the documented shares, cut into per-worker batches of BATCH / 2.
    waves = np.stack([sf.read(c.path, dtype="float32")[0] for c in clips])
    share = [np.arange(w, NUM_CLIPS, 2)[: NUM_CLIPS // 2] for w in range(2)]
    half = BATCH // 2
    order = np.concatenate([np.concatenate([s[k * half:(k + 1) * half] for s in share]) for k in range(STEPS)])
    dataset = tf.data.Dataset.from_tensor_slices((waves[order], y[order])).batch(BATCH, drop_remainder=True)
trainer.fit(dataset, epochs=1, verbose=0, callbacks=[Record()])
np.savez(out_path, scales=np.asarray(Record.scales), losses=np.asarray(Record.losses), replicas=strategy.num_replicas_in_sync,
         *[np.asarray(w) for w in model.weights])
