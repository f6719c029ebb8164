#!/usr/bin/env python
"""The toolkit's own training step (``ASDTrainer``) of the full-size reference model, on TensorFlow or JAX.

    python benchmarks/train_step_backends.py --backend tf|jax [--batch-size 64] [--steps 3] [--json FILE]

Both backends run the same trainer, built and compiled as ``asd-tf train`` builds it
(``benchmarks/trainer_step.py``: ``ASDTrainer`` with Adam, ``build_for_training``):

* ``tf``: Keras's ``trainer.train_function`` (as ``fit`` calls it) with ``jit_compile=False`` (the TensorFlow default of
  ``asd-tf train``: a ``tf.function``, no XLA);
* ``jax``: ``KERAS_BACKEND=jax``, TensorFlow blocked, ``jit_compile=True`` (what ``asd-tf train``
  uses on JAX): ``jax.jit(trainer.train_step, donate_argnums=0)``, the function Keras's
  ``make_train_function`` jits, compiled once for the timing and XLA's FLOP count.

Same model (reference, both branches, 160,000 samples), same loss (sub-cluster AdaCos, 342 classes),
same random batch (``trainer_step.random_batch``). Prints one JSON line (``@@{...}``): the median step
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
    import tensorflow as tf

    import trainer_step

    t0 = time.perf_counter()
    trainer = trainer_step.build_trainer("reference", num_samples, NUM_CLASSES, "float32",
                                         model_options=model_options, jit_compile=False)
    build_s = time.perf_counter() - t0
    r = trainer_step.time_train_step(trainer, batch_size, steps)
    return {"backend": "tensorflow", "tensorflow": tf.__version__, "build_s": build_s,
            "setup_and_warmup_s": build_s + r["warmup_s"], "step_s_all": r["step_s_all"], "xla": False,
            "timed": r["timed"], "final_loss": r["final_loss"]}


def run_jax(batch_size: int, steps: int, num_samples: int, model_options: dict) -> dict:
    import jax

    import trainer_step

    t0 = time.perf_counter()
    trainer = trainer_step.build_trainer("reference", num_samples, NUM_CLASSES, "float32",
                                         model_options=model_options, jit_compile=True)
    build_s = time.perf_counter() - t0
    compiled, flops, compile_s = trainer_step.compile_jax_step(trainer, batch_size)
    r = trainer_step.time_train_step(trainer, batch_size, steps, jit=True, compiled=compiled)
    return {"backend": "jax", "jax": jax.__version__, "build_s": build_s,
            "setup_and_warmup_s": build_s + compile_s + r["warmup_s"], "compile_s": compile_s,
            "step_s_all": r["step_s_all"], "xla": True, "timed": r["timed"], "xla_flops_per_step": flops,
            "final_loss": r["final_loss"]}


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
              "trainer": "asd_tf.training.trainer.ASDTrainer", "model": "reference (both branches)" + (", narrow" if args.narrow else ""),
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
