"""Mixed precision and XLA against float32 eager execution, on CPU, with the tiny reference model.

References: the float32 model with the same weights (mixed precision), the same
training step without XLA (jit_compile), and hand-derived expectations for the
non-finite guard and dynamic loss scaling.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_MODEL, TINY_SAMPLES, train_tiny_run

N_CLASSES = 3


@contextlib.contextmanager
def policy(name: str):
    """Set the global Keras dtype policy for building, always restoring float32."""
    import keras

    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _waves(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(TINY_SAMPLES) / 16000.0
    x = np.stack([0.3 * np.sin(2 * np.pi * (200 + 150 * i) * t) + 0.05 * rng.standard_normal(TINY_SAMPLES)
                  for i in range(n)]).astype(np.float32)
    return x, (np.arange(n) % N_CLASSES).astype(np.int32)


def _model():
    from asd_tf.models.reference import build_reference_model

    return build_reference_model(num_samples=TINY_SAMPLES, **TINY_MODEL)


def _trainer(model, optimizer, jit_compile: bool = False, mixup_prob: float = 0.0):
    from asd_tf.losses.registry import build_loss
    from asd_tf.training.trainer import ASDTrainer

    loss = build_loss("subcluster_adacos", N_CLASSES, int(model.output_shape[-1]), seed=3, num_subclusters=2)
    trainer = ASDTrainer(model, loss, mixup_prob=mixup_prob, seed=0)
    trainer.compile(optimizer=optimizer, jit_compile=jit_compile)
    trainer.build_for_training(TINY_SAMPLES)
    return trainer, loss


def test_mixed_float16_embeddings_match_float32_and_the_head_stays_float32():
    import keras
    import tensorflow as tf

    from asd_tf.losses.head import LossHead

    x, _ = _waves()
    keras.utils.set_random_seed(0)
    model32 = _model()
    with policy("mixed_float16"):
        model16 = _model()
        trainer, loss = _trainer(model16, keras.optimizers.Adam(1e-3))
        head = LossHead(loss, int(model16.output_shape[-1]))
        head.build((None, int(model16.output_shape[-1])))
    model16.set_weights(model32.get_weights())  # variables are float32 under both policies

    # The network body computes in float16, the FFT front end in float32.
    embedder, frontend = model16.get_layer("embedder"), model16.get_layer("frontend")
    assert embedder.get_layer("spectrogram_stem_conv").compute_dtype == "float16"
    assert all(v.dtype == "float32" for v in model16.weights)
    assert frontend.get_layer("stft_magnitude").compute_dtype == "float32"
    assert frontend.get_layer("fft_magnitude").compute_dtype == "float32"

    e32 = model32(x, training=False).numpy()
    e16_tensor = model16(x, training=False)
    assert e16_tensor.dtype == tf.float16
    e16 = e16_tensor.numpy().astype(np.float32)
    rel = np.linalg.norm(e16 - e32, axis=1) / np.linalg.norm(e32, axis=1)
    cos = np.sum(e16 * e32, axis=1) / (np.linalg.norm(e16, axis=1) * np.linalg.norm(e32, axis=1))
    # float16 keeps 11 significant bits (unit roundoff u = 2^-11 ~ 4.9e-4); every one of the
    # ~15 float16 layers of the embedder rounds its output once, so errors of sqrt(15)..15 u
    # (2e-3..7e-3) are expected (measured: <= 4.3e-3). 2e-2 (~40 u) bounds that; the angle,
    # which is all the angular losses and the scoring use, agrees far better (1 - cos ~ 5e-6).
    assert rel.max() < 2e-2, rel
    assert 1.0 - cos.min() < 1e-4, cos
    assert np.median(rel) > 1e-5  # the float16 path really ran (float32 agrees to ~1e-7)

    # Loss layer and head: float32 policy, float32 variables and outputs.
    assert loss.compute_dtype == "float32" and loss.scale.dtype == "float32"
    assert loss.centres.dtype == "float32"
    assert head.compute_dtype == "float32"
    assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    logits = head(e16_tensor)
    assert logits.dtype == tf.float32
    # The head must not round the embeddings to float16: same logits as the layer on float32 input.
    np.testing.assert_array_equal(logits.numpy(), loss.logits(tf.constant(e16)).numpy())
    per_sample = loss(tf.cast(e16_tensor, tf.float32), tf.constant([0, 1, 2, 0, 1, 2, 0, 1]))
    assert per_sample.dtype == tf.float32


def test_mixed_precision_run_saves_float32_head_and_restores_the_policy(tiny_data, tmp_path):
    import keras

    from asd_tf.runs import Run

    run_dir = Path(train_tiny_run(tiny_data, tmp_path / "mixed", epochs=1, mixed_precision=True, labels="section"))
    assert keras.mixed_precision.global_policy().name == "float32"
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert np.isfinite(summary["final"]["loss"])
    member = Run.open(run_dir).members()[0]
    model, loss = member.load_model(), member.load_head()
    assert model.get_layer("embedder").get_layer("spectrogram_stem_conv").compute_dtype == "float16"
    assert loss.compute_dtype == "float32" and loss.scale.dtype == "float32"
    head = keras.saving.load_model(run_dir / "head.keras", safe_mode=True, compile=False)  # the LossHead wrapper
    assert head.compute_dtype == "float32"
    x, _ = _waves(2)
    emb = model(x, training=False)
    logits = head(emb)  # a float16 wrapper would cast the centres to float16 here and fail
    assert logits.dtype == "float32" and np.all(np.isfinite(logits.numpy()))
    np.testing.assert_array_equal(logits.numpy(), loss.logits(emb).numpy())

    # A run whose model cannot be built still restores the policy it changed.
    with pytest.raises(Exception):
        train_tiny_run(tiny_data, tmp_path / "broken", epochs=1, mixed_precision=True, labels="section",
                       backbone_options={**TINY_MODEL, "no_such_option": 1})
    assert keras.mixed_precision.global_policy().name == "float32"


def test_xla_training_step_matches_eager():
    import keras
    import tensorflow as tf

    x, y = _waves()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    results = {}
    for jit in (False, True):
        keras.utils.set_random_seed(1)
        # Plain SGD: the step is -lr * gradient, so the weights compare the gradients themselves
        # (an Adam first step is lr * sign(gradient) and would hide gradient errors).
        trainer, loss = _trainer(_model(), keras.optimizers.SGD(1e-2), jit_compile=jit)
        assert trainer.jit_compile is jit  # Keras did not fall back to eager execution
        before = [w.numpy().copy() for w in trainer.embedding_model.trainable_weights]
        history = trainer.fit(ds, epochs=1, verbose=0)
        after = [w.numpy() for w in trainer.embedding_model.trainable_weights]
        moving = [w.numpy() for w in trainer.embedding_model.non_trainable_weights]
        results[jit] = (before, after, moving, float(loss.scale.numpy()), history.history["loss"][0])
    (b0, a0, m0, s0, l0), (b1, a1, m1, s1, l1) = results[False], results[True]
    for p, q in zip(b0, b1):
        np.testing.assert_array_equal(p, q)  # same seed, same initial weights
    # One step. XLA fuses and reorders float32 reductions (batch-norm moments, FFT sums):
    # forward embeddings differ by ~1e-6..1e-5 relative from eager, the weight updates by
    # ~1.5e-5 (measured). rtol 1e-4 on the weights and 1e-3 on the update leave a wide margin;
    # a wrong or missing gradient term would be off by O(1).
    np.testing.assert_allclose(l1, l0, rtol=1e-5)
    np.testing.assert_allclose(s1, s0, rtol=1e-5)
    for p, q in zip(a0, a1):
        np.testing.assert_allclose(q, p, rtol=1e-4, atol=1e-6)
    for p, q in zip(m0, m1):  # moving statistics; the frequency BN's mean is ~0 (temporal mean removed)
        np.testing.assert_allclose(q, p, rtol=1e-4, atol=1e-6)
    update_err = np.sqrt(sum(np.sum((q - p) ** 2) for p, q in zip(a0, a1)))
    update = np.sqrt(sum(np.sum((p - w) ** 2) for p, w in zip(a0, b0)))
    assert update > 1e-3  # the step did move the weights
    assert update_err / update < 1e-3
    # Not compared: with mixup, XLA draws other numbers from the same tf.random.Generator
    # state than the eager kernels, so the mixup pairs (and everything after) differ.


def test_non_finite_guard_and_loss_scaling_under_mixed_precision():
    import keras
    import tensorflow as tf

    x, y = _waves(4)
    keras.utils.set_random_seed(2)
    with policy("mixed_float16"):
        model = _model()
        # 2^40 overflows float16 in the backward pass (max 65504) for any gradient above ~6e-8.
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3), initial_scale=2.0**40)
        trainer, loss = _trainer(model, optimizer)
    weights = lambda: [w.numpy().copy() for w in trainer.embedding_model.trainable_weights]  # noqa: E731

    # 1. A non-finite loss (NaN input): gradients zeroed, weights and adaptive scale kept.
    start, scale0 = weights(), float(loss.scale.numpy())
    bad = x.copy()
    bad[0, 5] = np.nan
    logs = trainer.train_step((tf.constant(bad), tf.constant(y)))
    assert not np.isfinite(float(np.asarray(logs["loss"])))  # what StopOnNonFiniteLoss reacts to
    for p, q in zip(start, weights()):
        np.testing.assert_array_equal(p, q)
    assert float(loss.scale.numpy()) == scale0
    assert int(loss.scale_guard_count.numpy()) == 1
    assert float(optimizer.dynamic_scale.numpy()) == 2.0**40  # zeroed gradients are finite: no back-off

    # 2. A finite loss whose scaled gradients overflow float16: the guard leaves them alone and
    #    the loss-scale optimizer skips the step and halves the loss scale.
    for metric in trainer.metrics:  # the logged loss is a running mean: forget the NaN
        metric.reset_state()
    logs = trainer.train_step((tf.constant(x), tf.constant(y)))
    assert np.isfinite(float(np.asarray(logs["loss"])))
    assert float(optimizer.dynamic_scale.numpy()) == 2.0**39
    for p, q in zip(start, weights()):
        np.testing.assert_array_equal(p, q)

    # 3. With a loss scale float16 can hold, the step is applied and every weight stays finite.
    optimizer.dynamic_scale.assign(2.0**8)
    trainer.train_step((tf.constant(x), tf.constant(y)))
    after = weights()
    assert float(optimizer.dynamic_scale.numpy()) == 2.0**8
    assert all(np.all(np.isfinite(w)) for w in after)
    assert any(not np.array_equal(p, q) for p, q in zip(start, after))
