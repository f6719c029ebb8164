"""AdaCos / sub-cluster AdaCos adaptive scale (Wilkinghoff & Kurth Eqs. 7-12) against NumPy."""

from __future__ import annotations

import warnings

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import loss_reference as ref  # noqa: E402
from asd_tf.losses import build_loss  # noqa: E402
from asd_tf.losses.adaptive_scale import median  # noqa: E402

B, D, N, M = 10, 8, 4, 3


def batches(steps, seed=0, mixup=True):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        e = rng.standard_normal((B, D)).astype(np.float32)
        y1 = rng.integers(0, N, B).astype(np.int32)
        if mixup:
            y2 = rng.integers(0, N, B).astype(np.int32)
            y2[0] = y1[0]
            lam = rng.uniform(size=B).astype(np.float32)
        else:
            y2, lam = None, None
        yield e, y1, y2, lam


def test_initial_scales():
    assert float(build_loss("adacos", 5, D).scale.numpy()) == pytest.approx(math.sqrt(2) * math.log(4))
    sc = build_loss("subcluster_adacos", 5, D, num_subclusters=3)
    assert float(sc.scale.numpy()) == pytest.approx(math.sqrt(2) * math.log(14))
    assert float(build_loss("subcluster_adacos", 342, 4).scale.numpy()) == pytest.approx(math.sqrt(2) * math.log(342 * 16 - 1))
    # N = 2: the paper's s_0 = sqrt(2) log 1 = 0 is a fixed point; fallback sqrt(2) log 2
    for n in (1, 2):
        s0 = float(build_loss("adacos", n, D).scale.numpy())
        assert s0 == pytest.approx(math.sqrt(2) * math.log(2))


@pytest.mark.parametrize("odd", [True, False])
def test_median_matches_numpy(odd):
    v = np.random.default_rng(1).standard_normal(7 if odd else 8).astype(np.float32)
    assert float(median(tf.constant(v))) == pytest.approx(float(np.median(v)), abs=1e-7)


@pytest.mark.parametrize("name", ["adacos", "subcluster_adacos"])
@pytest.mark.parametrize("label_mix", ["linear", "max"])
@pytest.mark.parametrize("compiled", [False, True])
def test_scale_trajectory_five_steps(name, label_mix, compiled):
    m = M if name == "subcluster_adacos" else 1
    params = {"num_subclusters": M} if m > 1 else {}
    layer = build_loss(name, N, D, label_mix=label_mix, **params)
    c = layer.centres.numpy().astype(np.float64)
    step = tf.function(lambda *a: layer(*a, training=True)) if compiled else (lambda *a: layer(*a, training=True))
    s = float(layer.scale.numpy())
    for e, y1, y2, lam in batches(5):
        t = ref.targets(y1, N, y2, lam, label_mix)
        if m == 1:
            s = ref.adacos_next_scale(e, c, t, s)
            expected_loss = ref.adacos_loss(e, c, t, s)
        else:
            s = ref.subcluster_next_scale(e, c, t, s, m)
            expected_loss = ref.subcluster_loss(e, c, t, s, m)
        loss = step(tf.constant(e), tf.constant(y1), tf.constant(y2), tf.constant(lam))
        assert float(layer.scale.numpy()) == pytest.approx(s, rel=1e-4)
        # the loss of step t uses the scale s^(t) computed in that step
        np.testing.assert_allclose(loss.numpy(), expected_loss, rtol=1e-4, atol=1e-4)
    assert int(layer.scale_guard_count.numpy()) == 0


def test_evaluation_does_not_update_scale():
    layer = build_loss("subcluster_adacos", N, D, num_subclusters=M)
    s0 = float(layer.scale.numpy())
    e, y1, y2, lam = next(batches(1))
    layer(e, y1, y2, lam, training=False)
    layer.class_loss(e, y1)
    layer.logits(e)
    assert float(layer.scale.numpy()) == s0


def test_no_mixup_scale_is_guarded_and_warns_once(capfd):
    # without mixup the sub-cluster scale grows quickly; bound it at 5 to trigger the guard
    layer = build_loss("subcluster_adacos", N, D, num_subclusters=M, max_scale=5.0)
    step = tf.function(lambda e, y: layer(e, y, training=True))
    rng = np.random.default_rng(4)
    c = layer.centres.numpy()
    y = rng.integers(0, N, B).astype(np.int32)
    e = (c[y * M] + 0.05 * rng.standard_normal((B, D))).astype(np.float32)  # embeddings near own centres
    for _ in range(6):
        loss = step(tf.constant(e), tf.constant(y))
        assert np.all(np.isfinite(loss.numpy()))
    assert float(layer.scale.numpy()) == 5.0
    assert int(layer.scale_guard_count.numpy()) >= 2
    with pytest.warns(RuntimeWarning, match=r"adaptive scale of .* held at max_scale=5\.0 \(without mixup"):
        assert layer.check_scale_guard()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        assert layer.check_scale_guard()


def test_non_finite_statistics_keep_previous_scale(capfd):
    layer = build_loss("adacos", N, D)
    e, y1, y2, lam = next(batches(1))
    layer(e, y1, y2, lam, training=True)
    s_prev = float(layer.scale.numpy())
    bad = e.copy()
    bad[3] = np.nan
    layer(bad, y1, y2, lam, training=True)
    assert float(layer.scale.numpy()) == s_prev
    # one class: no non-target class, log B_avg = -inf -> keep the (fallback) scale
    one = build_loss("adacos", 1, D)
    s1 = float(one.scale.numpy())
    loss = one(e, np.zeros(B, np.int32), training=True)
    assert float(one.scale.numpy()) == s1 and np.all(np.isfinite(loss.numpy()))
    # below max_scale: the warning names the non-finite/non-positive cause, not the growth without mixup
    with pytest.warns(RuntimeWarning, match=r"adaptive scale of .* non-finite or non-positive") as seen:
        assert layer.check_scale_guard()
    assert "without mixup" not in str(seen[0].message)
    with pytest.warns(RuntimeWarning, match="single class"):
        assert one.check_scale_guard()


def test_default_max_scale_bounds_exploding_scale():
    layer = build_loss("subcluster_adacos", N, D, num_subclusters=M)
    assert layer.max_scale == 1000.0
    assert float(layer._assign_guarded_scale(tf.constant(5e4))) == 1000.0
    assert float(layer.scale.numpy()) == 1000.0
    # at the bound, logits s*cos stay finite and so do loss and gradients
    e, y1, _, _ = next(batches(1))
    x = tf.Variable(e)
    with tf.GradientTape() as tape:
        loss = layer(x, y1, training=True)
    assert np.all(np.isfinite(loss.numpy())) and np.all(np.isfinite(tape.gradient(loss, x).numpy()))
    assert float(layer.scale.numpy()) <= 1000.0


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from asd_tf.losses import build_loss
    rng = np.random.default_rng(0)
    e = rng.standard_normal((10, 8)).astype(np.float32)
    y1 = rng.integers(0, 4, 10).astype(np.int32)
    y2 = rng.integers(0, 4, 10).astype(np.int32)
    lam = rng.uniform(size=10).astype(np.float32)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        layer = build_loss(sys.argv[1], 4, 8, **({"num_subclusters": 3} if sys.argv[1] == "subcluster_adacos" else {}))
    ds = tf.data.Dataset.from_tensor_slices((e, y1, y2, lam)).batch(10)
    dist = strategy.experimental_distribute_dataset(ds)

    @tf.function
    def step(batch):
        return strategy.run(lambda a, b, c, d: layer(a, b, c, d, training=True), args=batch)

    for batch in dist:
        step(batch)
        step(batch)
    print("SCALE", float(layer.scale.numpy()))
    """
)


@pytest.mark.parametrize("name", ["adacos", "subcluster_adacos"])
def test_scale_uses_global_batch_under_mirrored_strategy(name, tmp_path):
    script = tmp_path / "mirrored_scale.py"
    script.write_text(_MIRRORED_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    # The timeout only stops a hung child; a TensorFlow start on a loaded 2-core machine alone can take a minute.
    out = subprocess.run([sys.executable, str(script), name], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    got = float(out.stdout.split("SCALE")[-1])
    # single-device NumPy reference on the whole (global) batch, two steps
    rng = np.random.default_rng(0)
    e = rng.standard_normal((10, 8))
    y1 = rng.integers(0, 4, 10)
    y2 = rng.integers(0, 4, 10)
    lam = rng.uniform(size=10).astype(np.float32).astype(np.float64)
    m = 3 if name == "subcluster_adacos" else 1
    layer = build_loss(name, 4, 8, **({"num_subclusters": 3} if m > 1 else {}))
    c = layer.centres.numpy().astype(np.float64)
    t = ref.targets(y1, 4, y2, lam)
    s = float(layer.scale.numpy())
    for _ in range(2):
        s = ref.adacos_next_scale(e, c, t, s) if m == 1 else ref.subcluster_next_scale(e, c, t, s, m)
    assert got == pytest.approx(s, rel=1e-4)
