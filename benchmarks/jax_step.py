"""A jitted JAX training step built from the toolkit's public pieces (benchmarks only).

The step computes what ``asd_tf.training.trainer.ASDTrainer.train_step`` computes on
TensorFlow: mixup within the batch (``asd_tf.losses.mixup.mixup_batch`` with a
``keras.random.SeedGenerator``), the embedding model in training mode, the loss layer in
training mode in float32 (adaptive scale updated), the batch-mean loss plus the model's L2
terms, the non-finite guard (a non-finite loss zeroes the gradients) and one Adam update, all
as pure functions of the state (Keras ``stateless_call`` / ``StatelessScope`` /
``Optimizer.stateless_apply``; see docs/notes/core-ls.md, "What a JAX train_step needs from
the loss layers"). It does not replace the toolkit's JAX trainer: it exists so that the
benchmarks (``bench.py``, ``device_check.py``) time the same step on JAX as on TensorFlow.

Needs ``KERAS_BACKEND=jax`` (set before ``import keras``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

NUM_SAMPLES = 160000
NUM_CLASSES = 342  # the reference system's DCASE 2022 attribute classes


def _require_jax() -> None:
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"jax_step needs KERAS_BACKEND=jax, Keras runs on {keras.backend.backend()!r}")


@dataclass
class Setup:
    """Model, loss layer, optimizer and the pure step functions over their state."""

    model: Any
    loss_layer: Any
    optimizer: Any
    mixup_seed: Any
    state: tuple
    step: Callable  # (state, x, y) -> (state, loss)
    settings: dict = field(default_factory=dict)
    variables: tuple = ()  # the Keras variables behind ``state``, in its order

    def assign_state(self) -> None:
        """Write ``state`` back into the Keras variables (the step donates its input buffers)."""
        for group, values in zip(self.variables, self.state):
            if not isinstance(group, (list, tuple)):
                group, values = [group], [values]
            for variable, value in zip(group, values):
                variable.assign(value)


def build_setup(
    backbone: str = "reference",
    num_samples: int = NUM_SAMPLES,
    num_classes: int = NUM_CLASSES,
    precision: str = "float32",
    loss: str = "subcluster_adacos",
    model_options: dict | None = None,
    seed: int = 0,
) -> Setup:
    """Build the model (``asd_tf.models.registry.build_backbone``), the loss and Adam, and the step.

    ``precision``: ``"float32"`` or ``"mixed_bfloat16"`` (Keras global policy while the model is
    built; variables stay float32, the loss head runs in float32 as in the TF trainer).
    """
    _require_jax()
    import keras

    from asd_tf.losses.mixup import MixupConfig, mixup_batch
    from asd_tf.losses.registry import build_loss
    from asd_tf.models.registry import build_backbone

    if precision not in ("float32", "mixed_bfloat16"):
        raise ValueError(f"precision must be float32 or mixed_bfloat16, got {precision!r}")
    keras.utils.set_random_seed(seed)
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = build_backbone(backbone, num_samples, **(model_options or {}))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    embedding_dim = int(model.output_shape[-1])
    loss_layer = build_loss(loss, num_classes, embedding_dim, dtype="float32")
    loss_layer.build((None, embedding_dim))
    optimizer = keras.optimizers.Adam()
    mixup_seed = keras.random.SeedGenerator(seed)
    mixup_config = MixupConfig()

    model_tv, model_ntv = model.trainable_variables, model.non_trainable_variables
    loss_tv, loss_ntv = loss_layer.trainable_variables, loss_layer.non_trainable_variables
    trainable = [*model_tv, *loss_tv]
    optimizer.build(trainable)
    n_model = len(model_tv)

    def loss_fn(train_values, model_state, loss_state, seed_state, x, y):
        import jax.numpy as jnp
        from keras import ops

        with keras.StatelessScope(state_mapping=[(mixup_seed.state, seed_state)]) as scope:
            x_mix, y1, y2, lam = mixup_batch(x, y, mixup_config, mixup_seed)
            new_seed_state = scope.get_current_value(mixup_seed.state)
        embeddings, model_state, model_losses = model.stateless_call(
            train_values[:n_model], model_state, x_mix, training=True, return_losses=True)
        embeddings = ops.cast(embeddings, "float32")  # the loss head runs in float32 (as the TF trainer)
        per_sample, loss_state, head_losses = loss_layer.stateless_call(
            train_values[n_model:], loss_state, embeddings, y1, y2, lam, training=True, return_losses=True)
        batch_loss = jnp.mean(per_sample)
        regularization = sum((jnp.asarray(v, "float32") for v in [*model_losses, *head_losses]), jnp.float32(0))
        total = batch_loss + regularization
        return total, (batch_loss, model_state, loss_state, new_seed_state)

    def step(state, x, y):
        import jax
        import jax.numpy as jnp

        train_values, opt_values, model_state, loss_state, seed_state = state
        (total, (batch_loss, model_state, loss_state, seed_state)), grads = jax.value_and_grad(
            loss_fn, has_aux=True)(train_values, model_state, loss_state, seed_state, x, y)
        finite = jnp.isfinite(total)  # never train on NaN (the TF trainer's guard)
        grads = [jnp.where(finite, g, jnp.zeros_like(g)) for g in grads]
        train_values, opt_values = optimizer.stateless_apply(opt_values, grads, train_values)
        return (train_values, opt_values, model_state, loss_state, seed_state), batch_loss

    state = (
        [v.value for v in trainable],
        [v.value for v in optimizer.variables],
        [v.value for v in model_ntv],
        [v.value for v in loss_ntv],
        mixup_seed.state.value,
    )
    settings = {"backbone": backbone, "num_samples": num_samples, "num_classes": num_classes,
                "precision": precision, "loss": loss, "model_options": dict(model_options or {}),
                "optimizer": "Adam (Keras defaults)", "mixup": "prob 1.0, lambda ~ U(0,1)",
                "parameters": int(model.count_params())}
    variables = (trainable, list(optimizer.variables), list(model_ntv), list(loss_ntv), mixup_seed.state)
    return Setup(model, loss_layer, optimizer, mixup_seed, state, step, settings, variables)


def random_batch(batch_size: int, num_samples: int, num_classes: int, seed: int = 0):
    """A fixed random waveform batch (scaled Gaussian noise, never zeros) and class ids."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = (0.1 * rng.standard_normal((batch_size, num_samples))).astype("float32")
    y = rng.integers(0, num_classes, batch_size).astype("int32")
    return x, y


def _block(tree) -> None:
    import jax

    jax.block_until_ready(tree)


def compile_step(setup: Setup, batch_size: int) -> tuple[Callable, float | None, float]:
    """``(compiled step, XLA-counted FLOPs of one step, compile seconds)`` at ``batch_size``.

    One compilation serves both the FLOP count (XLA's cost analysis of the compiled program)
    and the timing; the compiled step donates its state buffers.
    """
    import jax

    x, y = random_batch(batch_size, setup.settings["num_samples"], setup.settings["num_classes"])
    abstract = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), setup.state)
    t0 = time.perf_counter()
    compiled = jax.jit(setup.step, donate_argnums=0).lower(
        abstract, jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct(y.shape, y.dtype)).compile()
    return compiled, _flops_of(compiled), time.perf_counter() - t0


def time_train_step(setup: Setup, batch_size: int, steps: int, jit: bool = True, warmup: int = 1,
                    compiled: Callable | None = None) -> dict:
    """Clips/s of ``setup.step`` (median step time over ``steps`` after ``warmup`` untimed steps).

    ``jit``: through XLA (``compiled`` if given, else ``jax.jit``), or op by op (JAX's eager mode).
    """
    import statistics

    import jax

    x, y = random_batch(batch_size, setup.settings["num_samples"], setup.settings["num_classes"])
    x, y = jax.device_put(x), jax.device_put(y)
    if jit:
        fn = compiled if compiled is not None else jax.jit(setup.step, donate_argnums=0)
    else:
        fn = setup.step
    state = setup.state
    start = time.perf_counter()
    for _ in range(max(1, warmup)):
        state, loss = fn(state, x, y)
        _block(loss)
    first_s = time.perf_counter() - start
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        state, loss = fn(state, x, y)
        _block(state)
        times.append(time.perf_counter() - t0)
    setup.state = state
    setup.assign_state()
    median = statistics.median(times)
    return {"batch_size": batch_size, "steps": steps, "warmup_steps": max(1, warmup), "jit": jit,
            "warmup_s": first_s, "step_s_median": median, "step_s_all": times,
            "clips_per_s": batch_size / median, "final_loss": float(loss)}


def _flops_of(compiled) -> float | None:
    try:
        analysis = compiled.cost_analysis()
    except Exception:  # noqa: BLE001 - a backend without a cost model gives no count, never a guess
        return None
    if isinstance(analysis, (list, tuple)):  # older jax: one dict per device program
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        return None
    return float(analysis["flops"])


def xla_flops(fn: Callable, *args) -> float | None:
    """FLOPs of one call of ``fn(*args)`` by XLA's cost analysis of the compiled function."""
    import jax

    try:
        compiled = jax.jit(fn).lower(*args).compile()
    except Exception:  # noqa: BLE001
        return None
    return _flops_of(compiled)


def inference_fn(model) -> tuple[Callable, tuple]:
    """``(f, (trainable, non_trainable))`` with ``f(tv, ntv, x)`` the model's inference output."""

    def f(tv, ntv, x):
        out, _ = model.stateless_call(tv, ntv, x, training=False)
        return out

    return f, ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])


def time_embedding(model, batch_size: int, batches: int) -> dict:
    """Embedding extraction clips/s (jitted inference of the whole waveform -> embedding model)."""
    import statistics

    import jax

    f, (tv, ntv) = inference_fn(model)
    jf = jax.jit(f)
    x = jax.device_put(random_batch(batch_size, int(model.input_shape[-1]), 2)[0])
    t0 = time.perf_counter()
    _block(jf(tv, ntv, x))
    warm = time.perf_counter() - t0
    times = []
    for _ in range(batches):
        t0 = time.perf_counter()
        _block(jf(tv, ntv, x))
        times.append(time.perf_counter() - t0)
    flops = xla_flops(f, tv, ntv, x)
    median = statistics.median(times)
    return {"batch_size": batch_size, "batches": batches, "warmup_s": warm, "batch_s_median": median,
            "clips_per_s": batch_size / median, "xla_flops_per_clip": None if flops is None else flops / batch_size}
