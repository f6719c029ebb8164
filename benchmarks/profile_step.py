#!/usr/bin/env python
"""Where one training step of the full-size reference model spends its time (issue 16, item 2).

    python benchmarks/profile_step.py [--batch-size 64] [--steps 3] [--out docs/profile.json]

Times, each as a compiled ``tf.function`` on the same random batch (``--batch-size`` clips of
160000 samples), after one warm-up call, the median of ``--steps`` calls:

* ``mixup``: pairing and mixing the waveforms (``asd_tf.losses.mixup.mixup_batch``);
* ``frontend``: the waveform features, |STFT| spectrogram and |FFT| spectrum (no weights,
  forward only: the gradient does not flow into the waveform);
* ``spectrum branch`` and ``spectrogram branch``: forward and backward of each branch of the
  embedder alone (its own feature input, gradient of the summed output w.r.t. its weights);
* ``loss head``: sub-cluster AdaCos (342 classes x 16 sub-clusters, 256-d), forward and
  backward w.r.t. the embeddings and the centres, in training mode (adaptive scale update);
* ``optimizer``: one Adam update of every trainable variable of model and loss;
* ``train step``: ``ASDTrainer.train_step``, all of the above together;
* ``matmul``: a 2048 x 2048 float32 matrix product, the machine's reference throughput.

FLOPs per part are counted by TensorFlow's graph profiler from the traced graphs (ops with a
registered FLOP count: convolutions, matrix products, element-wise ops; the FFTs are not
counted, their cost is given as ``5 N log2 N`` per transform in the output).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

NUM_SAMPLES = 160000


def _median_seconds(fn, args, steps: int) -> float:
    out = fn(*args)  # trace + warm up
    _block(out)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        _block(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _block(out) -> None:
    import tensorflow as tf

    for t in tf.nest.flatten(out):
        if hasattr(t, "numpy"):
            t.numpy()


def _flops(fn, args) -> float | None:
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # the v1 profiler warns about its own deprecated helpers on every op
    try:
        graph = fn.get_concrete_function(*args).graph
        opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        opts["output"] = "none"
        info = tf.compat.v1.profiler.profile(graph, options=opts)
        return float(info.total_float_ops)
    except Exception:  # noqa: BLE001 - a missing count is reported as null, never guessed
        return None
    finally:
        logger.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", default=None, help="JSON file for the figures")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from asd_tf.console import start_tensorflow

    start_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf

    from asd_tf.losses.mixup import MixupConfig, mixup_batch
    from asd_tf.losses.registry import build_loss
    from asd_tf.models.reference import build_reference_embedder, build_reference_model
    from asd_tf.training.trainer import ASDTrainer

    b = args.batch_size
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((b, NUM_SAMPLES)).astype("float32") * 0.1)
    y = tf.constant(rng.integers(0, 342, b).astype("int32"))
    keras.utils.set_random_seed(0)
    model = build_reference_model(num_samples=NUM_SAMPLES)
    frontend = model.get_layer("frontend")
    features = frontend(x)
    loss = build_loss("subcluster_adacos", 342, int(model.output_shape[-1]), dtype="float32")
    trainer = ASDTrainer(model, loss)
    trainer.compile(optimizer=keras.optimizers.Adam())
    trainer.build_for_training(NUM_SAMPLES)

    parts: dict[str, dict] = {}

    def record(name, fn, fn_args):
        seconds = _median_seconds(fn, fn_args, args.steps)
        flops = _flops(fn, fn_args)
        parts[name] = {"seconds": seconds, "flops": flops,
                       "gflop_per_s": None if flops is None else flops / seconds / 1e9}
        print(f"{name:<20} {seconds * 1000:9.1f} ms" + ("" if flops is None else f"  {flops / 1e9:9.2f} GFLOP"),
              flush=True)

    mix_rng = tf.random.Generator.from_seed(0)
    record("mixup", tf.function(lambda w, l: mixup_batch(w, l, MixupConfig(), mix_rng)), (x, y))
    record("frontend", tf.function(lambda w: frontend(w, training=True)), (x,))

    for key in ("spectrum", "spectrogram"):
        branch = build_reference_embedder({key: tuple(features[key].shape[1:])})

        @tf.function
        def branch_step(f, branch=branch):
            with tf.GradientTape() as tape:
                out = branch(f, training=True)
                total = tf.reduce_sum(out) + tf.add_n(branch.losses)
            return tape.gradient(total, branch.trainable_variables)

        record(f"{key} branch", branch_step, ({key: features[key]},))

    emb = tf.constant(rng.standard_normal((b, int(model.output_shape[-1]))).astype("float32"))
    lam = tf.constant(rng.uniform(size=b).astype("float32"))
    y2 = tf.constant(rng.integers(0, 342, b).astype("int32"))

    @tf.function
    def head_step(e, y1, y2, lam):
        with tf.GradientTape() as tape:
            tape.watch(e)
            per_sample = loss(e, y1, y2, lam, training=True)
            total = tf.reduce_mean(per_sample)
        return tape.gradient(total, [e, *loss.trainable_variables])

    record("loss head", head_step, (emb, y, y2, lam))

    variables = trainer.trainable_variables
    grads = [tf.constant(rng.standard_normal(v.shape).astype("float32") * 1e-3) for v in variables]
    record("optimizer (Adam)", tf.function(lambda *g: trainer.optimizer.apply_gradients(zip(g, variables))),
           tuple(grads))
    record("train step", tf.function(trainer.train_step), ((x, y),))

    # The machine's reference throughput: a large float32 matrix product in the same process.
    n = 2048
    a = tf.constant(rng.standard_normal((n, n)).astype("float32"))
    matmul_s = _median_seconds(tf.function(lambda m: tf.matmul(m, m)), (a,), args.steps)
    matmul_gflops = 2 * n ** 3 / matmul_s / 1e9
    print(f"matmul {n}x{n}       {matmul_s * 1000:9.1f} ms  {matmul_gflops:9.1f} GFLOP/s", flush=True)

    step = parts["train step"]["seconds"]
    summed = sum(v["seconds"] for k, v in parts.items() if k != "train step")
    n_fft_spectrum = NUM_SAMPLES
    frames = 1 + (NUM_SAMPLES - 1024) // 512
    fft_flops = b * (5 * n_fft_spectrum * math.log2(n_fft_spectrum) + frames * 5 * 1024 * math.log2(1024))
    result = {
        "batch_size": b, "num_samples": NUM_SAMPLES, "steps": args.steps,
        "clips_per_s": b / step, "parts": parts, "sum_of_parts_s": summed,
        "fft_flops_estimate_5NlogN": fft_flops,
        "matmul_2048_gflop_per_s": matmul_gflops,
        "train_step_fraction_of_matmul": parts["train step"]["gflop_per_s"] / matmul_gflops
        if parts["train step"]["gflop_per_s"] else None,
        "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
        "tensorflow": tf.__version__,
    }
    print(f"train step {step:.3f} s = {b / step:.1f} clips/s; parts sum to {summed:.3f} s; "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
