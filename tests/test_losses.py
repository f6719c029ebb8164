"""Loss layers against the NumPy reference (tests/loss_reference.py)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import loss_reference as ref  # noqa: E402
from asd_tf.errors import ConfigError  # noqa: E402
from asd_tf.losses import LOSSES, build_loss  # noqa: E402
from asd_tf.losses.base import margin_cosine  # noqa: E402
from helpers.loss_batches import loss_batch  # noqa: E402

B, D, N, M = 12, 16, 5, 3
PAIR_LOSSES = {"arcmix", "noisy_arcmix", "margin_mixup", "emm", "noisy_arcmix_softtriple"}
SMALL = {"subcluster_adacos": {"num_subclusters": M}, "adaproj": {"subspace_dim": M}}


def batch(seed=1):
    e, y1, y2, lam = loss_batch(B, D, N, seed)
    y2[:2] = y1[:2]  # same-class pairs are an edge case of every mixed loss
    return e, y1, y2, lam


def make(name, **params):
    return build_loss(name, N, D, **{**SMALL.get(name, {}), **params})


def centres(layer):
    return np.asarray(layer.centres.numpy(), np.float64)


def reference_loss(name, layer, e, y1, y2, lam, mode):
    """NumPy value of ``layer(e, y1, y2, lam, training=False)``."""
    c = centres(layer) if name != "noisy_arcmix_softtriple" else None
    t = ref.targets(y1, N, y2, lam, mode)
    if y2 is None:
        y2p, lamp = y1, np.ones(B)
    else:
        y2p, lamp = y2, lam.astype(np.float64)
    if name == "compactness":
        return ref.compactness_loss(e, c, t)
    if name == "compactness_cce":
        w = layer.classifier.kernel.numpy().astype(np.float64)
        return ref.compactness_loss(e, c, t) + ref.cce(e.astype(np.float64) @ w, t)
    if name == "adacos":
        return ref.adacos_loss(e, c, t, float(layer.scale.numpy()))
    if name == "subcluster_adacos":
        return ref.subcluster_loss(e, c, t, float(layer.scale.numpy()), M)
    if name == "adaproj":
        return ref.adaproj_loss(e, c, t, float(layer.scale.numpy()), M)
    if name in ("arcface", "elasticface"):
        return ref.arcface_soft_loss(e, c, t, 30.0, 0.7)
    if name == "arcmix":
        return ref.arcmix_loss(e, c, y1, y2p, lamp, 30.0, 0.7)
    if name == "noisy_arcmix":
        return ref.noisy_arcmix_loss(e, c, y1, y2p, lamp, 30.0, 0.7)
    if name in ("margin_mixup", "emm"):
        return ref.margin_mixup_loss(e, c, y1, y2p, lamp, 30.0, lamp * 1.1, (1 - lamp) * 1.1)
    if name == "softtriple":
        return ref.softtriple_loss(e, c, t, 3, 0.1, 20.0, 0.02)
    if name == "noisy_arcmix_softtriple":
        ca = centres(layer.arcmix)
        cs = centres(layer.softtriple)
        tl = ref.targets(y1, N, y2p, lamp, mode)
        return ref.noisy_arcmix_loss(e, ca, y1, y2p, lamp, 30.0, 0.7) + 0.15 * ref.softtriple_loss(
            e, cs, tl, 3, 0.1, 20.0, 0.02
        )
    raise AssertionError(name)


def assert_close(actual, expected, name):
    # logits of scale 30 in float32: relative tolerance
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=2e-4, atol=2e-4, err_msg=name)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("mode", ["none", "linear", "max"])
def test_loss_value_matches_reference(name, mode):
    e, y1, y2, lam = batch()
    label_mix = "linear" if mode == "none" else mode
    layer = make(name, label_mix=label_mix)
    if mode == "none":
        out = layer(e, y1, training=False)
        expected = reference_loss(name, layer, e, y1, None, None, label_mix)
    else:
        out = layer(e, y1, y2, lam, training=False)
        expected = reference_loss(name, layer, e, y1, y2, lam, label_mix)
    assert out.shape == (B,)
    assert_close(out, expected, f"{name}/{mode}")


def test_max_label_mix_differs_from_linear():
    e, y1, y2, lam = batch()
    lin = make("adacos", label_mix="linear")(e, y1, y2, lam).numpy()
    mx = make("adacos", label_mix="max")(e, y1, y2, lam).numpy()
    assert not np.allclose(lin[2:], mx[2:])


@pytest.mark.parametrize("name", LOSSES)
def test_needs_pairs_flag(name):
    assert make(name).needs_pairs == (name in PAIR_LOSSES)


def test_pair_losses_without_mixup_equal_arcface_class_loss():
    e, y1, _, _ = batch()
    arc = make("arcface")
    expected = ref.arcface_class_loss(e, centres(arc), y1, 30.0, 0.7)
    assert_close(arc.class_loss(e, y1), expected, "arcface class_loss")
    for name in ("arcmix", "noisy_arcmix"):
        assert_close(make(name)(e, y1), expected, name)
    # margin-mixup/EMM default m = 1.1: lam = 1 puts the whole margin on y1
    expected_11 = ref.arcface_class_loss(e, centres(arc), y1, 30.0, 1.1)
    for name in ("margin_mixup", "emm"):
        assert_close(make(name)(e, y1), expected_11, name)
        assert_close(make(name).class_loss(e, y1), expected_11, name + " class_loss")


@pytest.mark.parametrize("name", LOSSES)
def test_class_loss_is_own_class_loss_without_update(name):
    e, y1, _, _ = batch()
    layer = make(name)
    scale_before = None if layer.scale is None else float(np.asarray(layer.scale))
    got = layer.class_loss(e, y1).numpy()
    assert got.shape == (B,)
    if scale_before is not None:
        assert float(np.asarray(layer.scale)) == scale_before
    if name in ("compactness", "adacos", "subcluster_adacos", "softtriple", "compactness_cce", "adaproj"):
        # deterministic soft-target losses: class_loss == loss with one-hot targets
        assert_close(got, reference_loss(name, layer, e, y1, None, None, "linear"), name)
    elif name == "noisy_arcmix_softtriple":
        exp = ref.arcface_class_loss(e, centres(layer.arcmix), y1, 30.0, 0.7) + 0.15 * ref.softtriple_loss(
            e, centres(layer.softtriple), ref.onehot(y1, N), 3, 0.1, 20.0, 0.02
        )
        assert_close(got, exp, name)
    else:
        m = 1.1 if name in ("margin_mixup", "emm") else 0.7
        assert_close(got, ref.arcface_class_loss(e, centres(layer), y1, 30.0, m), name)


@pytest.mark.parametrize("name", LOSSES)
def test_logits_give_class_posterior(name):
    e, _, _, _ = batch()
    layer = make(name)
    lg = layer.logits(e).numpy().astype(np.float64)
    assert lg.shape == (B, N)
    p = np.exp(ref.log_softmax(lg))
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)
    if name == "subcluster_adacos":
        expected = ref.subcluster_class_probs(e, centres(layer), float(layer.scale.numpy()), M)
        np.testing.assert_allclose(p, expected, atol=1e-5)
    if name == "adacos":
        np.testing.assert_allclose(lg, float(layer.scale.numpy()) * ref.cosines(e, centres(layer)), atol=1e-4)
    if name == "softtriple":
        np.testing.assert_allclose(lg, 20.0 * ref.softtriple_similarity(e, centres(layer), 3, 0.1), atol=1e-4)


@pytest.mark.parametrize("name", LOSSES)
def test_compactness_matches_reference(name):
    e, y1, _, _ = batch()
    layer = make(name)
    intra, inter = layer.compactness(e, y1)
    if name == "noisy_arcmix_softtriple":
        c, m = centres(layer.arcmix), 1
    elif name == "adaproj":  # the class subspaces are the "centres": ||z - p_c/|p_c| ||^2 = 2 - 2 cos_c
        dist = 2 - 2 * ref.adaproj_class_cosines(e, centres(layer), M)
        own = ref.onehot(y1, N).astype(bool)
        np.testing.assert_allclose(intra.numpy(), dist[own], atol=1e-5)
        np.testing.assert_allclose(inter.numpy(), dist[~own].reshape(B, N - 1).mean(1), atol=1e-5)
        return
    else:
        c, m = centres(layer), {"subcluster_adacos": M, "softtriple": 3}.get(name, 1)
    ri, ro = ref.intra_inter(e, c, y1, m)
    np.testing.assert_allclose(intra.numpy(), ri, atol=1e-5)
    np.testing.assert_allclose(inter.numpy(), ro, atol=1e-5)


def test_inter_class_compactness_about_two_in_high_dimension():
    # paper Sec. V: random unit centres in D = 256 are nearly orthogonal -> inter about 2
    layer = build_loss("subcluster_adacos", 20, 256, num_subclusters=4)
    rng = np.random.default_rng(3)
    c = layer.centres.numpy()
    y = rng.integers(0, 20, 64).astype(np.int32)
    e = c[y * 4] + 0.02 * rng.standard_normal((64, 256)).astype(np.float32)  # near an own centre
    intra, inter = layer.compactness(e, y)
    assert abs(float(np.mean(inter)) - 2.0) < 0.05
    assert float(np.mean(intra)) < 0.5


def test_one_class_compactness_has_zero_inter():
    layer = build_loss("compactness", 1, D)
    e, _, _, _ = batch()
    y = np.zeros(B, np.int32)
    intra, inter = layer.compactness(e, y)
    np.testing.assert_allclose(intra.numpy(), ref.compactness_loss(e, centres(layer), ref.onehot(y, 1)), atol=1e-5)
    assert np.all(inter.numpy() == 0)


def test_arcface_margin_beyond_pi_is_monotone_and_continuous():
    theta = np.linspace(0.0, np.pi, 2001)
    cos = np.cos(theta).astype(np.float32)
    for m in (0.7, 1.1):
        got = margin_cosine(tf.constant(cos), tf.constant(m, tf.float32)).numpy().astype(np.float64)
        # atol: arccos sees the cosine clipped to 1 - 1e-7 (theta >= 5e-4 rad)
        np.testing.assert_allclose(got, ref.psi(np.arccos(cos.astype(np.float64)), m), atol=6e-4)
        assert np.all(np.diff(got) < 1e-6)  # non-increasing in theta (cos(theta+m) alone is not)
        assert np.max(np.abs(np.diff(got))) < 1e-2  # no jump at theta = pi - m
    # the naive cos(theta + m) would increase again beyond pi - m
    assert np.cos(np.pi + 0.7) > np.cos(np.pi)
    # an embedding opposite its centre (theta = pi): the margin still penalises
    # (loss above the margin-free cross-entropy) and stays finite
    layer = make("arcface")
    e = (-centres(layer)[[0]]).astype(np.float32)
    y = np.array([0], np.int32)
    with_margin = layer.class_loss(e, y).numpy()[0]
    without = -ref.log_softmax(layer.logits(e).numpy())[0, 0]
    assert np.isfinite(with_margin) and with_margin > without + 30 * (1 - np.cos(0.7)) - 1e-3


@pytest.mark.parametrize("mode", ["weighted", "fixed"])
def test_emm_margin_statistics(mode):
    layer = make("emm", sigma=0.05, sigma_mode=mode, seed=7)  # larger sigma: clearer statistics
    n = 20000
    for lam_value in (0.3, 0.8):
        lam = tf.fill([n], lam_value)
        m1, m2 = layer.pair_margins(lam, training=True)
        m1, m2 = m1.numpy(), m2.numpy()
        s1 = lam_value * 0.05 if mode == "weighted" else 0.05
        s2 = (1 - lam_value) * 0.05 if mode == "weighted" else 0.05
        # mean within 5 standard errors, std within 5 %
        assert abs(m1.mean() - lam_value * 1.1) < 5 * s1 / np.sqrt(n)
        assert abs(m2.mean() - (1 - lam_value) * 1.1) < 5 * s2 / np.sqrt(n)
        assert abs(m1.std() / s1 - 1) < 0.05
        assert abs(m2.std() / s2 - 1) < 0.05
        assert abs(np.corrcoef(m1, m2)[0, 1]) < 0.05
    mean1, mean2 = layer.pair_margins(tf.constant([0.25]), training=False)
    np.testing.assert_allclose([mean1.numpy()[0], mean2.numpy()[0]], [0.275, 0.825], atol=1e-6)


def test_emm_training_loss_uses_sampled_margins():
    e, y1, y2, lam = batch()
    layer = make("emm", sigma=0.3)
    # replay the layer's next draw with a copy of its seed state
    state = layer.seed_generator.state.numpy().copy()
    got = layer(e, y1, y2, lam, training=True).numpy()
    layer.seed_generator.state.assign(state)
    m1, m2 = layer.pair_margins(tf.constant(lam), training=True)
    expected = ref.margin_mixup_loss(e, centres(layer), y1, y2, lam.astype(np.float64), 30.0, m1.numpy(), m2.numpy())
    assert_close(got, expected, "emm training")
    eval_loss = layer(e, y1, y2, lam, training=False).numpy()
    assert not np.allclose(got, eval_loss)


def test_margin_mixup_is_deterministic_and_elasticface_margins():
    layer = make("margin_mixup")
    a, b = layer.pair_margins(tf.constant([0.2, 0.9]), training=True)
    np.testing.assert_allclose(a.numpy(), [0.22, 0.99], atol=1e-6)
    np.testing.assert_allclose(b.numpy(), [0.88, 0.11], atol=1e-6)
    ef = make("elasticface", sigma=0.05, seed=3)
    m = ef.sample_margins(20000).numpy()
    assert abs(m.mean() - 0.7) < 5 * 0.05 / np.sqrt(20000)
    assert abs(m.std() / 0.05 - 1) < 0.05
    e, y1, _, _ = batch()
    state = ef.seed_generator.state.numpy().copy()
    got = ef(e, y1, training=True).numpy()
    ef.seed_generator.state.assign(state)
    margins = ef.sample_margins(B).numpy()
    assert_close(got, ref.arcface_soft_loss(e, centres(ef), ref.onehot(y1, N), 30.0, margins), "elasticface")


@pytest.mark.parametrize("name", ["subcluster_adacos", "noisy_arcmix_softtriple"])
def test_checkpoint_round_trip(name, tmp_path):
    e, _, _, _ = batch()
    layer = make(name)
    for w in layer.trainable_weights:
        w.assign(w.numpy() * 1.5 + 0.1)
    if name == "subcluster_adacos":
        layer.scale.assign(3.25)
    path = tf.train.Checkpoint(loss=layer).write(str(tmp_path / "ckpt"))
    restored = make(name)
    tf.train.Checkpoint(loss=restored).read(path).assert_consumed()
    np.testing.assert_allclose(restored.logits(e).numpy(), layer.logits(e).numpy(), atol=1e-6)


@pytest.mark.parametrize("name", ["compactness", "adacos", "subcluster_adacos", "arcface", "arcmix", "emm"])
def test_fixed_centres_come_from_seed(name):
    a, b, c = make(name, seed=1), make(name, seed=1), make(name, seed=2)
    np.testing.assert_array_equal(a.centres.numpy(), b.centres.numpy())
    assert not np.allclose(a.centres.numpy(), c.centres.numpy())
    np.testing.assert_allclose(np.linalg.norm(a.centres.numpy(), axis=1), 1.0, atol=1e-6)
    assert not a.trainable_weights  # fixed centres, reference system


def test_softtriple_centres_trainable_and_regulariser():
    layer = make("softtriple", tau=0.2)
    assert len(layer.trainable_weights) == 1
    e, y1, y2, lam = batch()
    got = layer(e, y1, y2, lam).numpy()
    exp = ref.softtriple_loss(e, centres(layer), ref.targets(y1, N, y2, lam), 3, 0.1, 20.0, 0.02, tau=0.2)
    assert_close(got, exp, "softtriple tau")


def test_gradients_finite_for_every_loss():
    e, y1, y2, lam = batch()
    e[0] = -make("arcface").centres.numpy()[y1[0]]  # theta = pi for the target
    for name in LOSSES:
        layer = make(name)
        x = tf.Variable(e)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(layer(x, y1, y2, lam, training=True))
        grads = tape.gradient(loss, [x] + layer.trainable_weights)
        assert all(np.all(np.isfinite(g.numpy())) for g in grads), name


def test_build_loss_errors():
    with pytest.raises(ConfigError):
        build_loss("nope", 3, 4)
    with pytest.raises(ConfigError):
        build_loss("arcface", 3, 4, bogus=1)
    with pytest.raises(ConfigError):
        build_loss("adacos", 3, 4, label_mix="min")
    with pytest.raises(ConfigError):
        build_loss("emm", 3, 4, sigma_mode="other")
