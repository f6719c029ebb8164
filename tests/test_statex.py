"""StatEx training option (docs/design.md, "Later methods"; asd_tf/losses/statex.py).

Frame-statistics exchange against NumPy, 3C / 9C targets against a hand-computed case,
a silent frame, the loss against the NumPy loss formulas, the model split, the CLI.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import loss_reference as ref  # noqa: E402
from asd_tf.errors import ConfigError  # noqa: E402
from asd_tf.losses import build_loss  # noqa: E402
from asd_tf.losses.statex import (  # noqa: E402
    StatExLoss, check_statex_model, exchange_statistics, exchanged_embeddings, statex_targets,
)
from asd_tf.losses.featex import featex_targets  # noqa: E402
from helpers.loss_batches import loss_batch  # noqa: E402

B, D, N, M, SPLIT = 6, 8, 3, 2, 3


def numpy_statex(x, keep, eps=1e-16):
    """The formula of docs/design.md, "Later methods", frame by frame in float64: unless kept,
    X_i(t) <- (X_i(t) - mu_i(t)) / (sigma_i(t) + eps) * sigma_j(t) + mu_j(t), j = B - 1 - i,
    mean and population standard deviation over the frequency bins of frame t."""
    x = np.asarray(x, np.float64)
    out = x.copy()
    for i in range(len(x)):
        if keep[i]:
            continue
        j = len(x) - 1 - i
        for t in range(x.shape[1]):
            mu_i, sd_i = x[i, t].mean(), x[i, t].std()
            mu_j, sd_j = x[j, t].mean(), x[j, t].std()
            out[i, t] = (x[i, t] - mu_i) / (sd_i + eps) * sd_j + mu_j
    return out


@pytest.mark.parametrize("size", [4, 5])  # odd: the middle clip is its own partner (unchanged)
def test_exchange_matches_numpy_formula(size):
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, 1.5, size=(size, 7, 9)).astype(np.float32)  # magnitudes: positive, skewed
    keep = np.random.default_rng(11).uniform(size=size) < 0.5  # the mask, fixed by a seed
    keep[:2] = [False, True]  # both cases present
    got = np.asarray(exchange_statistics(x, keep))
    np.testing.assert_allclose(got, numpy_statex(x, keep), rtol=1e-5, atol=1e-5)
    # the exchanged frames carry the partner's statistics, the kept ones are untouched
    i, j = 0, size - 1
    np.testing.assert_allclose(got[i].mean(-1), x[j].mean(-1), rtol=1e-5)
    np.testing.assert_allclose(got[i].std(-1), x[j].std(-1), rtol=1e-4)
    np.testing.assert_array_equal(got[keep], x[keep])


def test_silent_frame_gives_no_nan():
    x = np.abs(np.random.default_rng(0).standard_normal((2, 3, 4))).astype(np.float32)
    x[0, 1] = 0.0  # silence: sigma = 0
    x[1, 1] = 2.0  # a constant frame: sigma = 0, mean 2
    got = np.asarray(exchange_statistics(x, [False, False]))
    assert np.all(np.isfinite(got))
    np.testing.assert_array_equal(got[0, 1], 2.0)  # (0 - 0) / eps * 0 + 2: the partner's mean
    np.testing.assert_array_equal(got[1, 1], 0.0)  # (2 - 2) / eps * 0 + 0
    np.testing.assert_allclose(got, numpy_statex(x, [False, False]), rtol=1e-5, atol=1e-5)


def test_targets_3c_and_9c_hand_computed():
    t = np.array([[1.0, 0.0], [0.25, 0.75], [0.0, 1.0], [0.5, 0.5]], np.float32)
    keep = np.array([True, False, False, True])
    u = np.asarray(statex_targets(t, keep))
    expected_u = np.array([
        [1, 0, 0, 0, 0, 0],  # kept: [t_0, 0, 0]
        [0, 0, 0.125, 0.375, 0, 0.5],  # exchanged with row 2: [0, t_1 / 2, t_2 / 2]
        [0, 0, 0, 0.5, 0.125, 0.375],  # exchanged with row 1
        [0.5, 0.5, 0, 0, 0, 0],  # kept
    ])
    np.testing.assert_allclose(u, expected_u, atol=1e-7)
    # StatEx + FeatEx: FeatEx's targets of the 3C StatEx targets (public code: AugLayer on the StatEx labels)
    featex_keep = np.array([False, True, False, True])
    nine = np.asarray(featex_targets(u, featex_keep))
    z = np.zeros(6)
    expected_9 = np.stack([
        np.concatenate([z, expected_u[0] / 2, expected_u[3] / 2]),  # branch exchanged with row 3
        np.concatenate([expected_u[1], z, z]),
        np.concatenate([z, expected_u[2] / 2, expected_u[1] / 2]),  # with row 1
        np.concatenate([expected_u[3], z, z]),
    ])
    np.testing.assert_allclose(nine, expected_9, atol=1e-7)
    assert nine.shape == (4, 18)
    np.testing.assert_allclose(nine.sum(1), 1.0, atol=1e-6)
    # row 0 written out: featex block 1 holds u_0 / 2 = class 0 of statex block 0 -> index 6
    np.testing.assert_allclose(nine[0, [6, 13, 12]], [0.5, 0.25, 0.25])


def make(**extra):
    params = dict(num_subclusters=M, statex=True, seed=4)
    params.update(extra)
    return build_loss("subcluster_adacos", N, D, **params)


@pytest.mark.parametrize("featex", [False, True])
def test_loss_is_kept_main_plus_head_against_numpy(featex):
    layer = make(featex=True, featex_split=SPLIT) if featex else make()
    assert isinstance(layer, StatExLoss) and layer.head.num_classes == (9 if featex else 3) * N
    assert layer.head.trainable_centres and not layer.main.trainable_centres
    e, y1, y2, lam = loss_batch(B, D, N)
    keep = np.array([True, False, False, True, False, True])
    c_main = layer.main.centres.numpy().astype(np.float64)
    c_head = layer.head.centres.numpy().astype(np.float64)
    s_main, s_head = float(layer.main.scale.numpy()), float(layer.head.scale.numpy())
    state = layer.seed_generator.state.numpy().copy()
    featex_keep = layer.keep_decisions(B, 0.5).numpy()
    layer.seed_generator.state.assign(state)  # replay the FeatEx draw in the call
    got = layer(e, y1, y2, lam, keep=keep, training=True).numpy()
    t = ref.targets(y1, N, y2, lam)
    u = np.zeros((B, 3 * N))  # StatEx targets, by hand
    for i in range(B):
        j = B - 1 - i
        u[i] = np.concatenate([t[i], 0 * t[i], 0 * t[i]]) if keep[i] else np.concatenate([0 * t[i], t[i] / 2, t[j] / 2])
    e_head, t_head = e.astype(np.float64), u
    if featex:
        e_head = e_head.copy()
        t_head = np.zeros((B, 9 * N))
        for i in range(B):
            j = B - 1 - i
            if featex_keep[i]:
                t_head[i, : 3 * N] = u[i]
            else:
                e_head[i, SPLIT:] = e[j, SPLIT:]
                t_head[i, 3 * N: 6 * N] = u[i] / 2
                t_head[i, 6 * N:] = u[j] / 2
    s_main = ref.subcluster_next_scale(e, c_main, t, s_main, M)  # the main scale sees the whole batch
    s_head = ref.subcluster_next_scale(e_head, c_head, t_head, s_head, M)
    expected = keep * ref.subcluster_loss(e, c_main, t, s_main, M) + ref.subcluster_loss(
        e_head, c_head, t_head, s_head, M)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert float(layer.head.scale.numpy()) == pytest.approx(s_head, rel=1e-4)
    # evaluation and scoring see the main head only
    np.testing.assert_allclose(layer(e, y1, y2, lam).numpy(), ref.subcluster_loss(e, c_main, t, s_main, M),
                               rtol=1e-4)
    np.testing.assert_array_equal(layer.logits(e).numpy(), layer.main.logits(e).numpy())
    assert layer.scale is layer.main.scale


def test_only_the_spectrogram_feature_is_exchanged():
    """Between frontend and embedder: the spectrogram changes, the spectrum branch input does not."""
    from asd_tf.models.reference import build_reference_model

    opts = dict(stage_channels=(4, 4, 4, 8), spectrum_filters=4, dense_units=8, branch_dim=6)
    model = build_reference_model(num_samples=4096, **opts)
    check_statex_model(model)
    x = np.random.default_rng(0).standard_normal((4, 4096)).astype(np.float32)
    keep = np.array([False, True, False, True])
    features = model.get_layer("frontend")(x)
    spectrogram = numpy_statex(np.asarray(features["spectrogram"]), keep).astype(np.float32)
    spectrum = np.asarray(features["spectrum"])
    expected = model.get_layer("embedder")({"spectrum": spectrum, "spectrogram": spectrogram})
    got = exchanged_embeddings(model, x, keep, training=False)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-5)
    # the spectrum half (first branch) of an exchanged clip equals its unexchanged embedding
    plain = np.asarray(model(x))
    np.testing.assert_allclose(np.asarray(got)[:, :6], plain[:, :6], rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(got)[0, 6:], plain[0, 6:], atol=1e-4)
    with pytest.raises(ConfigError, match="spectrogram"):
        check_statex_model(build_reference_model(num_samples=4096, branches="spectrum", **opts))


def test_the_trainer_embeds_through_the_loss_layer_hook():
    """``training_embeddings``: every loss layer has it; a plain head gives the model's own training embeddings
    and no call arguments, StatEx the exchanged embeddings (:func:`exchanged_embeddings`) and its keep draws."""
    from asd_tf.losses import LOSSES, loss_class
    from asd_tf.losses.base import LossLayer
    from asd_tf.losses.featex import FeatExLoss
    from asd_tf.models.reference import build_reference_model

    assert all(issubclass(loss_class(name), LossLayer) for name in LOSSES)
    assert issubclass(StatExLoss, LossLayer) and issubclass(FeatExLoss, LossLayer)
    opts = dict(stage_channels=(4, 4, 4, 8), spectrum_filters=4, dense_units=8, branch_dim=6)
    model = build_reference_model(num_samples=4096, **opts)
    x = np.random.default_rng(0).standard_normal((4, 4096)).astype(np.float32)
    embeddings, extra = build_loss("adacos", N, 12).training_embeddings(model, x)
    assert extra == {}
    np.testing.assert_array_equal(np.asarray(embeddings), np.asarray(model(x, training=True)))
    layer = build_loss("adacos", N, 12, statex=True, seed=4)
    state = layer.seed_generator.state.numpy().copy()
    embeddings, extra = layer.training_embeddings(model, x)
    layer.seed_generator.state.assign(state)  # replay the keep draw
    keep = layer.keep_decisions(4).numpy()
    assert set(extra) == {"keep"} and np.array_equal(np.asarray(extra["keep"]), keep) and not keep.all()
    np.testing.assert_allclose(np.asarray(embeddings), np.asarray(exchanged_embeddings(model, x, keep, training=True)),
                               rtol=1e-5, atol=1e-6)


def test_build_and_setting_errors():
    from asd_tf.settings import TrainConfig

    with pytest.raises(ConfigError, match="without statex=true"):
        build_loss("adacos", N, D, statex_prob=0.3)
    with pytest.raises(ConfigError, match="true or false"):
        build_loss("adacos", N, D, statex="yes")
    with pytest.raises(ConfigError, match="featex_weight"):
        build_loss("adacos", N, D, statex=True, featex=True, featex_split=SPLIT, featex_weight=0.5)
    with pytest.raises(ConfigError, match="featex_split"):
        build_loss("adacos", N, D, statex=True, featex=True)
    with pytest.raises(ConfigError, match="statex_prob"):
        build_loss("adacos", N, D, statex=True, statex_prob=1.5)
    with pytest.raises(ConfigError, match="statex_head"):
        build_loss("adacos", N, D, statex=True, statex_head="arcface")
    # arcface as the main loss: the head defaults to sub-cluster AdaCos (soft targets)
    assert type(build_loss("arcface", N, D, statex=True).head).__name__ == "SubclusterAdaCosLoss"
    cfg = TrainConfig(loss="adaproj", loss_params={"statex": True, "statex_prob": 0.25, "featex": True}).validate()
    assert cfg.loss_params == {"statex": True, "statex_prob": 0.25, "featex": True}
    with pytest.raises(ConfigError, match="statex"):
        TrainConfig(loss="adaproj", loss_params={"statex": "yes"}).validate()


def test_cli_trains_statex_featex_saves_and_reloads(tiny_data, tmp_path):
    """``asd-tf train --loss-option statex=true --loss-option featex=true``: one epoch, the config records
    the options, the head (StatEx wrapper, 9C head) reloads with safe_mode=True."""
    from conftest import TINY_MODEL, TINY_SAMPLES

    from asd_tf.commands import main
    from asd_tf.runs import Run

    out = tmp_path / "statex_run"
    argv = [
        "train", "--data", str(tiny_data), "--out", str(out), "--epochs", "1", "--batch-size", "16",
        "--num-samples", str(TINY_SAMPLES), "--loss", "subcluster_adacos", "--loss-option", "statex=true",
        "--loss-option", "featex=true", "--labels", "section", "--quiet", "--no-evaluate",
    ]
    for key, value in TINY_MODEL.items():
        argv += ["--model-option", f"{key}={json.dumps(value)}"]
    assert main(argv) == 0
    run = Run.open(out)
    assert run.config.loss_params == {"statex": True, "featex": True}  # recorded in config.yaml
    (member,) = run.members()
    summary = json.loads((out / "train_summary.json").read_text())
    assert np.isfinite(summary["final"]["loss"])
    loss = member.load_head()  # safe_mode=True
    assert type(loss) is StatExLoss and loss.featex_split == TINY_MODEL["branch_dim"]
    assert loss.head.num_classes == 9 * loss.main.num_classes and loss.head.trainable_centres
    assert loss.head.centres.shape[0] == 9 * loss.main.num_classes * loss.head.num_subclusters
    assert member.load_model().output.shape[-1] == 2 * TINY_MODEL["branch_dim"]  # safe_mode=True


def test_statex_on_jax_matches_numpy(tmp_path):
    """The exchange, the 9C targets and the loss with ``keras.ops`` on JAX (no TensorFlow) equal the NumPy
    formula / the TensorFlow numbers (FeatEx prob 0: every branch exchanged, so no random draw differs)."""
    from helpers.backends import backend_available, run_on_backend

    if not backend_available("jax"):
        pytest.skip("jax is not installed")
    rng = np.random.default_rng(5)
    x = rng.gamma(2.0, 1.5, size=(5, 4, 6)).astype(np.float32)
    x[1, 2] = 0.0  # a silent frame
    keep = np.array([False, True, False, False, True])
    e, y1, y2, lam = loss_batch(B, D, N, seed=2)
    params = dict(num_subclusters=M, statex=True, featex=True, featex_split=SPLIT, featex_prob=0.0, seed=4)
    layer = build_loss("subcluster_adacos", N, D, **params)
    weights = layer.get_weights()
    keep6 = np.array([True, False, False, True, False, True])
    tf_loss = layer(e, y1, y2, lam, keep=keep6, training=True).numpy()
    arrays = dict(x=x, keep=keep, e=e, y1=y1, y2=y2, lam=lam, keep6=keep6, **{f"w{i}": w for i, w in enumerate(weights)})
    out = run_on_backend("jax", f'''
import numpy as np
from keras import ops
from asd_tf.losses import build_loss
from asd_tf.losses.statex import exchange_statistics
a = np.load(IN)
layer = build_loss("subcluster_adacos", {N}, {D}, **{params!r})
layer.set_weights([a[f"w{{i}}"] for i in range({len(weights)})])
loss = layer(a["e"], a["y1"], a["y2"], a["lam"], keep=a["keep6"], training=True)
np.savez(OUT, x=ops.convert_to_numpy(exchange_statistics(a["x"], a["keep"])), loss=ops.convert_to_numpy(loss))
''', tmp_path, **arrays)
    np.testing.assert_allclose(out["x"], numpy_statex(x, keep), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["loss"], tf_loss, rtol=2e-5, atol=2e-5)
