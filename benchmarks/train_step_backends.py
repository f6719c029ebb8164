#!/usr/bin/env python
"""One training step of the full-size reference model on TensorFlow or on JAX, timed in-process.

    python benchmarks/train_step_backends.py --backend tf|jax [--batch-size 64] [--steps 3] [--json FILE]

* ``tf``: ``asd_tf.training.trainer.ASDTrainer.train_step`` as ``make bench`` times it today
  (a ``tf.function``, no XLA: the CPU default);
* ``jax``: the same computation as one XLA-compiled JAX function (``benchmarks/jax_step.py``:
  mixup, model and sub-cluster AdaCos in training mode, L2 terms, non-finite guard, Adam),
  ``KERAS_BACKEND=jax``, TensorFlow blocked.

Same model (reference, both branches, 160,000 samples), same loss (sub-cluster AdaCos, 342 classes),
same random batch (``jax_step.random_batch``). Prints one JSON line (``@@{...}``): the median step
time over ``--steps`` steps after one warm-up step, clips/s, the warm-up (trace/compile) seconds,
and for JAX the step's FLOPs by XLA's cost analysis. Used by ``bench.py`` (section ``backends``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NUM_SAMPLES = 160000
NUM_CLASSES = 342


def run_tf(batch_size: int, steps: int, num_samples: int, model_options: dict) -> dict:
    import keras
    import tensorflow as tf

    from asd_tf.losses.registry import build_loss
    from asd_tf.models.reference import build_reference_model
    from asd_tf.training.trainer import ASDTrainer
    from jax_step import random_batch

    keras.utils.set_random_seed(0)
    t0 = time.perf_counter()
    model = build_reference_model(num_samples=num_samples, **model_options)
    loss = build_loss("subcluster_adacos", NUM_CLASSES, int(model.output_shape[-1]), dtype="float32")
    trainer = ASDTrainer(model, loss)
    trainer.compile(optimizer=keras.optimizers.Adam())
    trainer.build_for_training(num_samples)
    x, y = random_batch(batch_size, num_samples, NUM_CLASSES)
    x, y = tf.constant(x), tf.constant(y)
    step = tf.function(trainer.train_step)
    float(step((x, y))["loss"])  # trace + warm up
    warm = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t1 = time.perf_counter()
        logs = step((x, y))
        float(logs["loss"])
        times.append(time.perf_counter() - t1)
    return {"backend": "tensorflow", "tensorflow": tf.__version__, "setup_and_warmup_s": warm, "step_s_all": times,
            "xla": False, "final_loss": float(logs["loss"])}


def run_jax(batch_size: int, steps: int, num_samples: int, model_options: dict) -> dict:
    import jax

    import jax_step

    t0 = time.perf_counter()
    setup = jax_step.build_setup("reference", num_samples, NUM_CLASSES, "float32", model_options=model_options)
    compiled, flops, compile_s = jax_step.compile_step(setup, batch_size)
    r = jax_step.time_train_step(setup, batch_size, steps, jit=True, compiled=compiled)
    return {"backend": "jax", "jax": jax.__version__, "setup_and_warmup_s": time.perf_counter() - t0
            - sum(r["step_s_all"]), "compile_s": compile_s, "step_s_all": r["step_s_all"], "xla": True,
            "xla_flops_per_step": flops, "final_loss": r["final_loss"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("tf", "jax"), required=True)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--num-samples", type=int, default=NUM_SAMPLES)
    parser.add_argument("--narrow", action="store_true", help="a narrow model (stage channels 4-4-8-8): tests only")
    parser.add_argument("--json", default=None, help="also append the result line to this file")
    args = parser.parse_args(argv)

    os.environ["KERAS_BACKEND"] = "tensorflow" if args.backend == "tf" else "jax"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.backend == "jax":
        for name in ("tensorflow", "tf_keras", "tensorflow_io"):
            sys.modules[name] = None  # the JAX step must not lean on TensorFlow
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))
    if args.backend == "tf":
        from asd_tf.console import start_tensorflow

        start_tensorflow()
    options = {"stage_channels": (4, 4, 8, 8), "spectrum_filters": 8, "dense_units": 8, "branch_dim": 8} \
        if args.narrow else {}
    run = run_tf if args.backend == "tf" else run_jax
    r = run(args.batch_size, args.steps, args.num_samples, options)
    median = statistics.median(r["step_s_all"])
    r.update({"batch_size": args.batch_size, "steps": args.steps, "num_samples": args.num_samples,
              "model": "reference (both branches)" + (", narrow" if args.narrow else ""),
              "loss": f"subcluster_adacos ({NUM_CLASSES} classes)", "step_s_median": median,
              "clips_per_s": args.batch_size / median, "cpu_count": os.cpu_count(),
              "load_average": os.getloadavg()})
    line = json.dumps(r)
    print("@@" + line, flush=True)
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
