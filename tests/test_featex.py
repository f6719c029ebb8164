"""FeatEx training option (docs/design.md, "Later methods").

Branch exchange, 3C targets, loss against NumPy, saving, training.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import loss_reference as ref  # noqa: E402
from asd_tf.errors import ConfigError  # noqa: E402
from asd_tf.losses import build_loss  # noqa: E402
from asd_tf.losses.featex import FeatExLoss, exchange_branches, featex_split, featex_targets  # noqa: E402
from helpers.loss_batches import loss_batch  # noqa: E402

B, D, N, M, SPLIT = 6, 8, 3, 2, 3


def numpy_featex(e, t, keep, split):
    """FeatEx (docs/design.md, "Later methods") by hand: row i keeps its first branch; unless kept,
    it takes row B-1-i's second branch."""
    e = np.asarray(e, np.float64)
    out = e.copy()
    t3 = np.zeros((len(e), 3 * t.shape[1]))
    for i in range(len(e)):
        j = len(e) - 1 - i
        if keep[i]:
            t3[i, : t.shape[1]] = t[i]
        else:
            out[i, split:] = e[j, split:]
            t3[i, t.shape[1] : 2 * t.shape[1]] = t[i] / 2
            t3[i, 2 * t.shape[1] :] = t[j] / 2
    return out, t3


@pytest.mark.parametrize("size", [B, B + 1])  # odd: the middle clip is its own partner
def test_exchange_and_targets_match_hand_computation(size):
    rng = np.random.default_rng(1)
    e = rng.standard_normal((size, D)).astype(np.float32)
    t = rng.dirichlet(np.ones(N), size).astype(np.float32)
    keep = rng.uniform(size=size) < 0.5
    keep[:2] = [True, False]
    exp_e, exp_t = numpy_featex(e, t, keep, SPLIT)
    np.testing.assert_allclose(exchange_branches(e, SPLIT, keep).numpy(), exp_e, atol=1e-7)
    got_t = featex_targets(t, keep).numpy()
    np.testing.assert_allclose(got_t, exp_t, atol=1e-7)
    np.testing.assert_allclose(got_t.sum(1), 1.0, atol=1e-6)  # still a distribution over 3C classes


def make(**extra):
    params = dict(num_subclusters=M, featex=True, featex_split=SPLIT, seed=4)
    params.update(extra)
    return build_loss("subcluster_adacos", N, D, **params)


def test_training_loss_is_main_plus_featex_head_against_numpy():
    layer = make()
    assert isinstance(layer, FeatExLoss) and layer.featex_head.num_classes == 3 * N
    assert layer.featex_head.trainable_centres and not layer.main.trainable_centres
    assert [w.name for w in layer.trainable_weights] == ["centres"]  # the FeatEx head's only
    e, y1, y2, lam = loss_batch(B, D, N)
    c_main = layer.main.centres.numpy().astype(np.float64)
    c_head = layer.featex_head.centres.numpy().astype(np.float64)
    s_main, s_head = float(layer.main.scale.numpy()), float(layer.featex_head.scale.numpy())
    state = layer.seed_generator.state.numpy().copy()
    keep = layer.keep_decisions(B).numpy()
    layer.seed_generator.state.assign(state)  # replay the same draw in the call
    got = layer(e, y1, y2, lam, training=True).numpy()
    t = ref.targets(y1, N, y2, lam)
    e_x, t3 = numpy_featex(e, t, keep, SPLIT)
    s_main = ref.subcluster_next_scale(e, c_main, t, s_main, M)
    s_head = ref.subcluster_next_scale(e_x, c_head, t3, s_head, M)
    expected = ref.subcluster_loss(e, c_main, t, s_main, M) + ref.subcluster_loss(e_x, c_head, t3, s_head, M)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert float(layer.main.scale.numpy()) == pytest.approx(s_main, rel=1e-4)
    assert float(layer.featex_head.scale.numpy()) == pytest.approx(s_head, rel=1e-4)
    # evaluation and scoring see the main head only
    np.testing.assert_allclose(layer(e, y1, y2, lam).numpy(), ref.subcluster_loss(e, c_main, t, s_main, M), rtol=1e-4)
    np.testing.assert_array_equal(layer.logits(e).numpy(), layer.main.logits(e).numpy())
    assert layer.scale is layer.main.scale


def test_keep_probability_and_weight():
    layer = make(featex_prob=0.3, featex_weight=0.0)
    keep = layer.keep_decisions(20000).numpy()
    assert abs(keep.mean() - 0.3) < 5 * np.sqrt(0.3 * 0.7 / 20000)
    e, y1, y2, lam = loss_batch(B, D, N)
    # weight 0: exactly the main loss
    np.testing.assert_array_equal(layer(e, y1, y2, lam, training=False).numpy(), layer.main(e, y1, y2, lam).numpy())


@pytest.mark.parametrize("head", ["adaproj", "adacos"])
def test_any_main_loss_and_head(head):
    layer = build_loss("arcface", N, D, featex=True, featex_split=SPLIT, featex_head=head)
    assert type(layer.featex_head).__name__ == {"adaproj": "AdaProjLoss", "adacos": "AdaCosLoss"}[head]
    e, y1, y2, lam = loss_batch(B, D, N)
    x = tf.Variable(e)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(layer(x, y1, y2, lam, training=True))
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads) and len(grads) == 2
    # arcface cannot be a head (no soft targets): its main loss gets sub-cluster AdaCos by default
    assert type(build_loss("arcface", N, D, featex=True, featex_split=SPLIT).featex_head).__name__ == (
        "SubclusterAdaCosLoss")


def test_build_errors():
    with pytest.raises(ConfigError, match="featex_split"):
        build_loss("adacos", N, D, featex=True)
    with pytest.raises(ConfigError, match="without featex=true"):
        build_loss("adacos", N, D, featex_prob=0.3)
    with pytest.raises(ConfigError, match="featex_head"):
        build_loss("adacos", N, D, featex=True, featex_split=SPLIT, featex_head="arcface")
    with pytest.raises(ConfigError, match="split"):
        build_loss("adacos", N, D, featex=True, featex_split=D)
    with pytest.raises(ConfigError, match="true or false"):
        build_loss("adacos", N, D, featex="yes", featex_split=SPLIT)


def test_reference_model_branch_embeddings_are_addressable():
    from asd_tf.models.reference import branch_slices, build_reference_model

    opts = dict(stage_channels=(4, 4, 4, 8), spectrum_filters=4, dense_units=8)
    model = build_reference_model(num_samples=4096, branch_dim=6, **opts)
    assert branch_slices(model) == {"spectrum": (0, 6), "spectrogram": (6, 12)}
    assert featex_split(model) == 6
    # the slices are the named branch layers' outputs
    embedder = model.get_layer("embedder")
    branches = keras.Model(embedder.input, [embedder.get_layer("spectrum_embedding").output,
                                            embedder.get_layer("spectrogram_embedding").output])
    x = np.random.default_rng(0).standard_normal((2, 4096)).astype(np.float32)
    spec, gram = branches(model.get_layer("frontend")(x))
    emb = model(x).numpy()
    np.testing.assert_allclose(emb[:, :6], spec.numpy(), atol=1e-6)
    np.testing.assert_allclose(emb[:, 6:], gram.numpy(), atol=1e-6)
    single = build_reference_model(num_samples=4096, branches="spectrogram", branch_dim=6, **opts)
    with pytest.raises(ConfigError, match="branches=both"):
        featex_split(single)

