"""AdaProj loss layer (docs/design.md, "Later methods") against NumPy.

Class cosines, scale trajectory, saving, MirroredStrategy.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import loss_reference as ref  # noqa: E402
from asd_tf.errors import ConfigError  # noqa: E402
from asd_tf.losses import build_loss  # noqa: E402

B, D, C, M = 10, 12, 4, 3
REPO = Path(__file__).resolve().parents[1]


def batches(steps, seed=0, mixup=True):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        e = rng.standard_normal((B, D)).astype(np.float32)
        y1 = rng.integers(0, C, B).astype(np.int32)
        y2 = rng.integers(0, C, B).astype(np.int32) if mixup else None
        if mixup:
            y2[0] = y1[0]  # a same-class pair: its target is 1, not a non-target class
        lam = rng.uniform(size=B).astype(np.float32) if mixup else None
        yield e, y1, y2, lam


def vectors(layer):
    return layer.centres.numpy().astype(np.float64)


@pytest.mark.parametrize("m", [1, M, 32])
def test_class_cosines_match_numpy(m):
    layer = build_loss("adaproj", C, D, subspace_dim=m, seed=2)
    e, _, _, _ = next(batches(1))
    got = layer.cosines(e).numpy()
    expected = ref.adaproj_class_cosines(e, vectors(layer), m)
    np.testing.assert_allclose(got, expected, atol=2e-6)
    assert got.shape == (B, C) and np.all(got >= 0.0)
    if m == 1:  # one vector per class: |cos(z, w_c)|, the projection flips the sign
        np.testing.assert_allclose(got, np.abs(ref.cosines(e, vectors(layer))), atol=2e-6)


def test_orthonormal_subspace_gives_norm_of_orthogonal_projection():
    # With orthonormal w_ck the class cosine is ||P_c z|| for the unit z (P_c the
    # orthogonal projector onto the span), computed here by least squares.
    layer = build_loss("adaproj", 2, D, subspace_dim=M)
    rng = np.random.default_rng(5)
    basis = [np.linalg.qr(rng.standard_normal((D, M)))[0].T for _ in range(2)]  # [M, D] each, orthonormal rows
    layer.centres.assign(np.concatenate(basis).astype(np.float32) * 3.0)  # any length: normalised each pass
    e = rng.standard_normal((6, D))
    z = e / np.linalg.norm(e, axis=1, keepdims=True)
    for c, w in enumerate(basis):
        coef = np.linalg.lstsq(w.T, z.T, rcond=None)[0]  # z ~ w^T coef
        expected = np.linalg.norm(w.T @ coef, axis=0)
        np.testing.assert_allclose(layer.cosines(e.astype(np.float32)).numpy()[:, c], expected, atol=2e-6)
    # an embedding inside class 0's subspace has cosine 1 there
    inside = (basis[0].T @ np.array([0.3, -1.2, 0.5])).astype(np.float32)[None]
    assert float(layer.cosines(inside).numpy()[0, 0]) == pytest.approx(1.0, abs=1e-5)


def test_initial_scale_and_vectors():
    layer = build_loss("adaproj", 5, D)
    assert layer.subspace_dim == 32  # default m of the author's later code
    assert float(layer.scale.numpy()) == pytest.approx(math.sqrt(2) * math.log(5 * 32 - 1))
    assert float(build_loss("adaproj", 5, D, subspace_dim=M).scale.numpy()) == pytest.approx(
        math.sqrt(2) * math.log(5 * M - 1))
    w = layer.centres.numpy()
    # Glorot uniform of the [C*m, D] matrix, fixed (not trainable), reproducible from the seed
    limit = math.sqrt(6 / (5 * 32 + D))
    assert w.shape == (5 * 32, D) and np.abs(w).max() <= limit and np.abs(w).max() > 0.9 * limit
    assert not layer.trainable_weights
    c = layer.centre_matrix().numpy()  # what explanations read: the normalised vectors, class-major
    np.testing.assert_allclose(c, w / np.linalg.norm(w, axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_array_equal(w, build_loss("adaproj", 5, D).centres.numpy())
    assert not np.allclose(w, build_loss("adaproj", 5, D, seed=1).centres.numpy())
    with pytest.raises(ConfigError, match="subspace_dim"):
        build_loss("adaproj", 5, D, subspace_dim=0)
    # m = 32 of D = 256 (the method) is fine; m close to D makes every class cosine near 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_loss("adaproj", 5, 256)
    with pytest.warns(UserWarning, match="about 0.71"):
        build_loss("adaproj", 5, 64)


@pytest.mark.parametrize("label_mix", ["linear", "max"])
@pytest.mark.parametrize("compiled", [False, True])
def test_scale_trajectory_five_steps(label_mix, compiled):
    layer = build_loss("adaproj", C, D, subspace_dim=M, label_mix=label_mix)
    w = vectors(layer)
    call = lambda *a: layer(*a, training=True)  # noqa: E731
    step = tf.function(call) if compiled else call
    s = float(layer.scale.numpy())
    scales = [s]
    for e, y1, y2, lam in batches(5):
        t = ref.targets(y1, C, y2, lam, label_mix)
        s = ref.adaproj_next_scale(e, w, t, s, M)
        loss = step(tf.constant(e), tf.constant(y1), tf.constant(y2), tf.constant(lam))
        assert float(layer.scale.numpy()) == pytest.approx(s, rel=1e-4)
        # the loss of step t uses s^(t) computed in that step
        np.testing.assert_allclose(loss.numpy(), ref.adaproj_loss(e, w, t, s, M), rtol=1e-4, atol=1e-4)
        scales.append(s)
    assert len(set(np.round(scales, 4))) == 6  # the scale moved at every step
    assert int(layer.scale_guard_count.numpy()) == 0


def test_no_mixup_and_fixed_scale():
    e, y1, _, _ = next(batches(1, mixup=False))
    layer = build_loss("adaproj", C, D, subspace_dim=M)
    s0 = float(layer.scale.numpy())
    loss = layer(e, y1, training=True).numpy()
    s1 = ref.adaproj_next_scale(e, vectors(layer), ref.onehot(y1, C), s0, M)
    assert float(layer.scale.numpy()) == pytest.approx(s1, rel=1e-4)
    np.testing.assert_allclose(loss, ref.adaproj_loss(e, vectors(layer), ref.onehot(y1, C), s1, M), rtol=1e-4)
    # evaluation calls change nothing; dynamic_scale=False keeps s_0 in training
    layer(e, y1, training=False)
    layer.class_loss(e, y1)
    assert float(layer.scale.numpy()) == pytest.approx(s1, rel=1e-6)
    fixed = build_loss("adaproj", C, D, subspace_dim=M, dynamic_scale=False)
    for e, y1, y2, lam in batches(3):
        fixed(e, y1, y2, lam, training=True)
    assert float(fixed.scale.numpy()) == pytest.approx(s0)


def test_gradient_matches_finite_differences_of_numpy_loss():
    e, y1, y2, lam = next(batches(1))
    layer = build_loss("adaproj", C, D, subspace_dim=M, dynamic_scale=False)
    s = float(layer.scale.numpy())
    x = tf.Variable(e)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(layer(x, y1, y2, lam, training=True))
    grad = tape.gradient(total, x).numpy()
    t = ref.targets(y1, C, y2, lam)
    w = vectors(layer)
    e64 = e.astype(np.float64)
    h = 1e-5
    for b, d in [(0, 0), (3, 5), (7, 11)]:
        plus, minus = e64.copy(), e64.copy()
        plus[b, d] += h
        minus[b, d] -= h
        fd = (ref.adaproj_loss(plus, w, t, s, M).sum() - ref.adaproj_loss(minus, w, t, s, M).sum()) / (2 * h)
        assert grad[b, d] == pytest.approx(fd, rel=1e-3, abs=1e-4)


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from asd_tf.losses import build_loss
    rng = np.random.default_rng(0)
    e = rng.standard_normal((10, 12)).astype(np.float32)
    y1 = rng.integers(0, 4, 10).astype(np.int32)
    y2 = rng.integers(0, 4, 10).astype(np.int32)
    lam = rng.uniform(size=10).astype(np.float32)
    out = {}
    for mode in ("mirrored", "default"):
        if mode == "mirrored":
            strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        else:
            strategy = tf.distribute.get_strategy()
        with strategy.scope():
            layer = build_loss("adaproj", 4, 12, subspace_dim=3)
        dist = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((e, y1, y2, lam)).batch(10))

        @tf.function
        def step(batch):
            loss, scale = strategy.run(
                lambda a, b, c, d: (layer(a, b, c, d, training=True), layer.scale + 0.0), args=batch
            )
            return strategy.experimental_local_results(loss), strategy.experimental_local_results(scale)

        scales, losses, replica_scales = [], [], []
        for _ in range(3):
            for batch in dist:
                results = step(batch)
            losses.append(np.concatenate([np.asarray(r) for r in results[0]]).tolist())
            replica_scales.append([float(r) for r in results[1]])
            scales.append(float(layer.scale.numpy()))
        out[mode] = {"scales": scales, "losses": losses, "replica_scales": replica_scales,
                     "replicas": strategy.num_replicas_in_sync}
    print("RESULT" + json.dumps(out))
    """
)


def test_mirrored_strategy_over_two_cpus_equals_one_device(tmp_path):
    script = tmp_path / "mirrored_adaproj.py"
    script.write_text(_MIRRORED_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.split("RESULT")[-1])
    mirrored, single = res["mirrored"], res["default"]
    assert (mirrored["replicas"], single["replicas"]) == (2, 1)
    # every replica holds the same scale, the one of the global batch
    for per_replica, s in zip(mirrored["replica_scales"], mirrored["scales"]):
        assert per_replica == pytest.approx([s, s], rel=1e-6)
    np.testing.assert_allclose(mirrored["scales"], single["scales"], rtol=1e-5)
    np.testing.assert_allclose(mirrored["losses"], single["losses"], rtol=1e-5, atol=1e-6)
    # and both follow the single-device NumPy reference on the whole batch
    rng = np.random.default_rng(0)
    e = rng.standard_normal((10, 12)).astype(np.float32)
    y1 = rng.integers(0, 4, 10)
    y2 = rng.integers(0, 4, 10)
    lam = rng.uniform(size=10).astype(np.float32).astype(np.float64)
    layer = build_loss("adaproj", 4, 12, subspace_dim=3)
    w, t, s = vectors(layer), ref.targets(y1, 4, y2, lam), float(layer.scale.numpy())
    for got_s, got_loss in zip(mirrored["scales"], mirrored["losses"]):
        s = ref.adaproj_next_scale(e, w, t, s, 3)
        assert got_s == pytest.approx(s, rel=1e-4)
        np.testing.assert_allclose(got_loss, ref.adaproj_loss(e, w, t, s, 3), rtol=1e-4, atol=1e-4)


def test_cli_trains_and_evaluates_adaproj_with_featex(tiny_data, tmp_path, capsys):
    """``asd-tf train --loss adaproj --loss-option featex=true`` end to end: training, k-means scoring,
    the run's config and the safe-mode reload of both heads."""
    from conftest import TINY_MODEL, TINY_SAMPLES

    from asd_tf.commands import main
    from asd_tf.losses.featex import FeatExLoss
    from asd_tf.runs import Run

    out = tmp_path / "adaproj_run"
    argv = [
        "train", "--data", str(tiny_data), "--out", str(out), "--epochs", "1", "--batch-size", "16",
        "--num-samples", str(TINY_SAMPLES), "--loss", "adaproj", "--loss-option", "subspace_dim=4",
        "--loss-option", "featex=true", "--labels", "section", "--quiet",
    ]
    for key, value in TINY_MODEL.items():
        argv += ["--model-option", f"{key}={json.dumps(value)}"]
    assert main(argv) == 0
    assert "official score" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert 0.0 <= results["official_score"] <= 1.0
    run = Run.open(out)
    assert run.config.loss_params == {"subspace_dim": 4, "featex": True}  # recorded in config.yaml
    (member,) = run.members()
    loss = member.load_head()  # safe_mode=True
    assert type(loss) is FeatExLoss and loss.split == TINY_MODEL["branch_dim"]
    head = loss.main
    assert type(head).__name__ == "AdaProjLoss" and head.subspace_dim == 4 and not head.trainable_centres
    assert type(loss.featex_head).__name__ == "AdaProjLoss" and loss.featex_head.trainable_centres
    assert loss.featex_head.num_classes == 3 * head.num_classes
    # the saved scale is the adapted one, not s_0
    s0 = math.sqrt(2) * math.log(head.num_classes * 4 - 1)
    assert np.isfinite(float(head.scale.numpy())) and float(head.scale.numpy()) != pytest.approx(s0, rel=1e-6)
