"""The toolkit's own training step (``ASDTrainer``) built and timed as ``asd-tf train`` runs it, on any backend.

Used by ``device_check.py`` (GPU check, JAX) and ``train_step_backends.py`` / ``bench.py``
(section ``backends``: TensorFlow vs JAX on the CPU). Nothing here re-implements the step:

* :func:`build_trainer` builds the embedding model (``asd_tf.models.registry.build_backbone``),
  the loss layer (``build_loss(..., dtype="float32")``) and ``ASDTrainer``, compiles it with Adam and
  calls ``build_for_training``, in the order ``asd_tf/training/run.py`` does (global dtype policy
  set while building and compiling, then restored);
* on JAX, :func:`compile_jax_step` compiles ``jax.jit(trainer.train_step, donate_argnums=0)``:
  the function Keras's ``JAXTrainer.make_train_function`` jits for ``fit`` (single device, no
  distribution), here compiled ahead of time so that one compilation gives both the timing and
  XLA's cost analysis (FLOPs) of the step users run; the state is Keras's
  ``(trainable, non_trainable, optimizer, metrics)`` tuple;
* :func:`time_train_step`: median seconds of the step after warm-up: on JAX the compiled step
  above (the state passed from step to step, as ``fit`` does, written back into the variables at
  the end), or with ``jit=False`` Keras's own un-jitted ``train_function``
  (``compile(jit_compile=False)``: JAX op by op, the "without XLA" point); on TensorFlow / PyTorch
  Keras's ``trainer.train_function`` (what ``fit`` calls; a ``tf.function``, XLA as ``compile``'s
  ``jit_compile``) fed one ``(x, y)`` batch.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

NUM_SAMPLES = 160000
NUM_CLASSES = 342  # the reference system's DCASE 2022 attribute classes x sections


def random_batch(batch_size: int, num_samples: int, num_classes: int, seed: int = 0):
    """A fixed random waveform batch (scaled Gaussian noise, never zeros) and int32 class ids."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = (0.1 * rng.standard_normal((batch_size, num_samples))).astype("float32")
    y = rng.integers(0, num_classes, batch_size).astype("int32")
    return x, y


def build_trainer(backbone: str = "reference", num_samples: int = NUM_SAMPLES, num_classes: int = NUM_CLASSES,
                  precision: str = "float32", loss: str = "subcluster_adacos", model_options: dict | None = None,
                  jit_compile: bool | str = "auto", seed: int = 0):
    """``ASDTrainer`` compiled with Adam (Keras defaults) and built, as ``asd_tf.training.run`` builds it.

    ``precision``: ``"float32"`` or a Keras mixed policy (``"mixed_bfloat16"`` on JAX, what
    ``mixed_precision: true`` selects there). ``jit_compile``: ``compile``'s argument (``asd-tf
    train`` passes True on JAX, the ``jit`` setting on TensorFlow, default off).
    """
    import keras

    from asd_tf.losses.registry import build_loss
    from asd_tf.models.registry import build_backbone
    from asd_tf.training.trainer import ASDTrainer

    keras.utils.set_random_seed(seed)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = build_backbone(backbone, num_samples=num_samples, **(model_options or {}))
        loss_layer = build_loss(loss, num_classes, int(model.output_shape[-1]), dtype="float32", seed=seed)
        trainer = ASDTrainer(model, loss_layer, seed=seed)
        trainer.compile(optimizer=keras.optimizers.Adam(), jit_compile=jit_compile)
        trainer.build_for_training(num_samples)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    trainer.bench_settings = {
        "trainer": "asd_tf.training.trainer.ASDTrainer", "backend": keras.backend.backend(), "backbone": backbone,
        "num_samples": num_samples, "num_classes": num_classes, "precision": precision, "loss": loss,
        "model_options": dict(model_options or {}), "optimizer": "Adam (Keras defaults)",
        "mixup": "prob 1.0, lambda ~ U(0,1) (ASDTrainer defaults)", "jit_compile": jit_compile,
        "parameters": int(model.count_params()),
    }
    return trainer


def jax_state(trainer) -> tuple:
    """Keras's JAX training state ``(trainable, non_trainable, optimizer, metrics)`` variable values."""
    return ([v.value for v in trainer.trainable_variables], [v.value for v in trainer.non_trainable_variables],
            [v.value for v in trainer.optimizer.variables], [v.value for v in trainer.metrics_variables])


def _assign_jax_state(trainer, state) -> None:
    groups = (trainer.trainable_variables, trainer.non_trainable_variables, trainer.optimizer.variables,
              trainer.metrics_variables)
    for variables, values in zip(groups, state):
        for variable, value in zip(variables, values):
            variable.assign(value)


def flops_of(compiled) -> float | None:
    """FLOPs of a compiled JAX program by XLA's cost analysis (None where the backend gives none)."""
    try:
        analysis = compiled.cost_analysis()
    except Exception:  # noqa: BLE001 - a backend without a cost model gives no count, never a guess
        return None
    if isinstance(analysis, (list, tuple)):  # older jax: one dict per device program
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        return None
    return float(analysis["flops"])


def compile_jax_step(trainer, batch_size: int) -> tuple[Callable, float | None, float]:
    """``(compiled step, XLA FLOPs of one step, compile seconds)``: ``jax.jit(trainer.train_step, donate_argnums=0)``.

    The same jitted function as Keras's ``make_train_function`` (single device), lowered for a
    ``(x [batch, n] float32, y [batch] int32)`` batch.
    """
    import jax

    s = trainer.bench_settings
    x, y = random_batch(batch_size, s["num_samples"], s["num_classes"])
    abstract = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), jax_state(trainer))
    data = (jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct(y.shape, y.dtype))
    t0 = time.perf_counter()
    compiled = jax.jit(trainer.train_step, donate_argnums=0).lower(abstract, data).compile()
    return compiled, flops_of(compiled), time.perf_counter() - t0


def time_train_step(trainer, batch_size: int, steps: int, warmup: int = 1, jit: bool = True,
                    compiled: Callable | None = None) -> dict:
    """Clips/s of the trainer's training step: median over ``steps`` timed steps after ``warmup`` untimed ones.

    JAX: ``compiled`` (from :func:`compile_jax_step`; compiled here if None) when ``jit``, else
    Keras's ``train_function`` of a trainer compiled with ``jit_compile=False`` (op by op).
    Other backends: Keras's ``trainer.train_function`` on one ``(x, y)`` batch.
    """
    import keras

    s = trainer.bench_settings
    x, y = random_batch(batch_size, s["num_samples"], s["num_classes"])
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        x, y = jax.device_put(x), jax.device_put(y)
        if jit:
            fn = compiled if compiled is not None else compile_jax_step(trainer, batch_size)[0]
        else:
            if trainer.jit_compile:
                raise ValueError("time_train_step(jit=False) needs a trainer compiled with jit_compile=False")
            trainer.make_train_function()

            def fn(state, data):  # Keras's train_function takes an iterator of batches
                return trainer.train_function(state, iter([data]))

        state = jax_state(trainer)

        def one(state):
            logs, state = fn(state, (x, y))
            jax.block_until_ready(state)
            return logs, state
    else:
        if backend == "tensorflow":
            import tensorflow as tf

            x, y = tf.constant(x), tf.constant(y)

        # Keras's compiled train function, fed as ``fit`` feeds it (``train_on_batch`` would add a
        # ``sample_weight`` slot that ASDTrainer's ``(waveforms, labels)`` step does not take).
        trainer.make_train_function()

        def one(state):
            logs = trainer.train_function([(x, y)])
            return {k: float(v) for k, v in logs.items()}, state

        state = None
    t0 = time.perf_counter()
    for _ in range(max(1, warmup)):
        logs, state = one(state)
    warm = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t1 = time.perf_counter()
        logs, state = one(state)
        times.append(time.perf_counter() - t1)
    if backend == "jax":
        _assign_jax_state(trainer, state)
    median = statistics.median(times)
    return {"batch_size": batch_size, "steps": steps, "warmup_steps": max(1, warmup), "jit": jit,
            "timed": ("jax.jit(ASDTrainer.train_step) as Keras's make_train_function" if jit else
                      "Keras's train_function with jit_compile=False (op by op)") if backend == "jax" else
            "Keras's train_function (ASDTrainer.train_step)", "warmup_s": warm, "step_s_median": median, "step_s_all": times,
            "clips_per_s": batch_size / median, "final_loss": float(logs["loss"])}
