"""The reference dual-branch model: structure, bias-free rule, weight decay, serialisation, CLI."""

from __future__ import annotations

import argparse
import contextlib
import io
import re

import keras
import numpy as np
import pytest

from asd_tf.errors import ConfigError
from asd_tf.features.normalization import TemporalMeanNormalization
from asd_tf.commands import describe
from asd_tf.models.describe import iter_layers, layers_with_bias, layers_without_kernel_regularizer
from asd_tf.models.reference import build_reference_model

TINY = dict(stage_channels=(4, 4, 8, 8), spectrum_filters=4, dense_units=8, branch_dim=6)
SHORT = 8000  # 0.5 s: 14 STFT frames, 4000 spectrum bins


def _expected_parameters(n_bins, frames, bins, stage_channels, filters, dense_units, branch_dim, branches):
    """Parameter count of the architecture in docs/design.md, "The reference system", computed by hand (no biases).

    BatchNorm holds 4 numbers per channel (gamma, beta, moving mean, moving variance).
    """
    total = 0
    if "spectrum" in branches:
        steps = n_bins
        for stride in (64, 32, 4):
            steps = -(-steps // stride)  # "same" padding
        total += 256 * 1 * filters + 64 * filters * filters + 16 * filters * filters
        total += steps * filters * dense_units + 3 * dense_units * dense_units + 4 * 4 * dense_units
        total += dense_units * branch_dim
    if "spectrogram" in branches:
        total += 4 * bins  # BN per frequency bin
        c0 = stage_channels[0]
        total += 7 * 7 * c0 + 4 * c0  # stem conv + BN
        t, f = -(-frames // 2), -(-bins // 2)
        t, f = (t - 3) // 2 + 1, (f - 3) // 2 + 1  # max-pool 3, stride 2, valid
        c_in = c0
        for stage, c in enumerate(stage_channels, start=1):
            for block in (1, 2):
                total += 4 * c_in + 9 * c_in * c + 4 * c + 9 * c * c  # bn0, conv1, bn1, conv2
                if stage > 1 and block == 1:
                    total += c_in * c  # 1x1 projection on the shortcut
                    t, f = -(-t // 2), -(-f // 2)
                c_in = c
        t = -(-t // min(10, t))  # time max-pool, "same" padding
        flat = t * f * c_in
        total += 4 * flat + flat * branch_dim
    return total


@pytest.fixture(scope="module")
def full_model():
    return build_reference_model()


@pytest.fixture(scope="module")
def tiny_model():
    return build_reference_model(SHORT, **TINY)


def test_full_size_reference_model(full_model):
    model = full_model
    assert model.name == "reference"
    assert model.input.shape == (None, 160000)
    assert model.output.shape == (None, 256)
    frontend, embedder = model.get_layer("frontend"), model.get_layer("embedder")
    assert frontend.output["spectrum"].shape == (None, 80000)
    assert frontend.output["spectrogram"].shape == (None, 311, 513)
    assert embedder.get_layer("spectrogram_time_pool").pool_size == (10, 1)
    assert embedder.get_layer("spectrogram_flatten").output.shape == (None, 16 * 128)
    assert embedder.get_layer("spectrum_flatten").output.shape == (None, 10 * 128)
    expected = _expected_parameters(80000, 311, 513, (16, 32, 64, 128), 128, 128, 128, ("spectrum", "spectrogram"))
    print(f"reference model parameters: {model.count_params()}")
    assert model.count_params() == expected == 2548884
    assert layers_with_bias(model) == []
    assert layers_without_kernel_regularizer(model) == []


@pytest.mark.parametrize("branches", ["spectrum", "spectrogram"])
def test_single_branch_models(branches):
    model = build_reference_model(branches=branches)
    assert model.output.shape == (None, 128)
    assert set(model.get_layer("frontend").output) == {branches}
    expected = _expected_parameters(80000, 311, 513, (16, 32, 64, 128), 128, 128, 128, (branches,))
    assert model.count_params() == expected
    print(f"{branches}-only parameters: {model.count_params()}")


def test_bias_walker_flags_a_biased_layer():
    # The walker must be able to fail: nest a biased Dense inside a sub-model.
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, keras.layers.Dense(3, name="has_bias")(inner_in), name="inner")
    outer_in = keras.Input((4,))
    outer = keras.Model(outer_in, keras.layers.Dense(2, use_bias=False, name="no_bias")(inner(outer_in)))
    assert layers_with_bias(outer) == ["has_bias"]
    assert sorted(layers_without_kernel_regularizer(outer)) == ["has_bias", "no_bias"]
    assert {layer.name for layer in iter_layers(outer)} >= {"inner", "has_bias", "no_bias"}


def test_tiny_model_structure_and_bias_free(tiny_model):
    model = tiny_model
    assert model.output.shape == (None, 12)
    assert layers_with_bias(model) == []
    assert model.get_layer("embedder").get_layer("spectrogram_time_pool").pool_size == (1, 1)
    kinds = {type(layer).__name__ for layer in iter_layers(model)}
    assert "Lambda" not in kinds
    assert {"Conv1D", "Conv2D", "Dense", "BatchNormalization"} <= kinds
    expected = _expected_parameters(SHORT // 2, 14, 513, TINY["stage_channels"], 4, 8, 6, ("spectrum", "spectrogram"))
    assert model.count_params() == expected


def test_l2_regularisation_on_every_kernel(tiny_model):
    model = tiny_model
    x = np.random.default_rng(0).standard_normal((2, SHORT)).astype(np.float32)
    model(x, training=False)
    kernels = [layer.kernel for layer in iter_layers(model) if getattr(layer, "kernel", None) is not None]
    assert len(kernels) == 5 + 3 + 1 + 4 * 4 + 3 + 1  # spectrum convs+denses, stem, 16 block convs, 3 proj, dense
    losses = sorted(float(v) for v in model.losses)
    want = sorted(1e-5 * float(np.sum(np.square(np.asarray(k)))) for k in kernels)
    np.testing.assert_allclose(losses, want, rtol=1e-5)
    assert build_reference_model(SHORT, weight_decay=0.0, **TINY).losses == []


def test_forward_equals_embedder_of_frontend(tiny_model):
    model = tiny_model
    x = np.random.default_rng(1).standard_normal((3, SHORT)).astype(np.float32)
    features = model.get_layer("frontend")(x)
    assert set(features) == {"spectrum", "spectrogram"}
    direct = np.asarray(model(x, training=False))
    composed = np.asarray(model.get_layer("embedder")(features, training=False))
    np.testing.assert_allclose(direct, composed, rtol=1e-5, atol=1e-5)
    assert direct.shape == (3, 12) and np.all(np.isfinite(direct))


def test_temporal_mean_normalisation_is_first_spectrogram_op():
    model = build_reference_model(SHORT, branches="spectrogram", **TINY)
    embedder = model.get_layer("embedder")
    spectrogram_input = embedder.get_layer("spectrogram")
    consumers = [layer for layer in embedder.layers if layer.input is spectrogram_input.output]
    assert [type(layer) for layer in consumers] == [TemporalMeanNormalization]
    # Behaviour: a constant offset per frequency bin does not change the embedding.
    spec = np.abs(np.random.default_rng(2).standard_normal((2, 14, 513))).astype(np.float32)
    offset = np.linspace(0.0, 5.0, 513, dtype=np.float32)
    a = np.asarray(embedder({"spectrogram": spec}, training=False))
    b = np.asarray(embedder({"spectrogram": spec + offset}, training=False))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_safe_mode_round_trip(tiny_model, tmp_path):
    model = tiny_model
    x = np.random.default_rng(3).standard_normal((2, SHORT)).astype(np.float32)
    model(x, training=True)  # move BN statistics away from their initial values
    path = tmp_path / "reference.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)), rtol=1e-5, atol=1e-6)
    assert loaded.get_layer("embedder").output.shape == (None, 12)
    assert set(loaded.get_layer("frontend").output) == {"spectrum", "spectrogram"}


def test_synchronized_bn_option():
    model = build_reference_model(SHORT, branches="spectrum", synchronized_bn=True, **TINY)
    norms = [layer for layer in iter_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 4 and all(layer.synchronized for layer in norms)
    assert not any(
        layer.synchronized
        for layer in iter_layers(build_reference_model(SHORT, branches="spectrum", **TINY))
        if isinstance(layer, keras.layers.BatchNormalization)
    )


def test_invalid_options_raise_config_error():
    with pytest.raises(ConfigError, match="branches"):
        build_reference_model(SHORT, branches="mel", **TINY)
    with pytest.raises(ConfigError, match="too small|shorter"):
        build_reference_model(2048, branches="spectrogram", **TINY)  # 3 frames


def _run_describe(argv):
    parser = argparse.ArgumentParser()
    describe.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.func(args) == 0
    return out.getvalue()


def test_describe_cli_prints_parameter_count():
    text = _run_describe(
        ["describe", "--backbone", "reference", "--num-samples", str(SHORT), "--branches", "spectrogram",
         "-o", "stage_channels=[4, 4, 8, 8]", "-o", "branch_dim=6"]
    )
    match = re.search(r"^parameters: (\d+)$", text, flags=re.M)
    assert match, text[-500:]
    model = build_reference_model(SHORT, branches="spectrogram", stage_channels=(4, 4, 8, 8), branch_dim=6)
    assert int(match.group(1)) == model.count_params()
    assert "spectrogram_stage4_block2_conv2" in text  # nested layers listed
    assert "embedding dim: 6" in text and "bias-free: yes" in text
    with pytest.raises(ConfigError):
        _run_describe(["describe", "--backbone", "reference", "-o", "no_such_option=1"])
    with pytest.raises(ConfigError):
        _run_describe(["describe", "--backbone", "reference", "-o", "novalue"])


def test_fast_layers_give_the_numbers_of_plain_keras_layers():
    """The space-to-depth stem and the fused-kernel BatchNorm change the speed, not the numbers.

    Reference: the same model with every such layer rebuilt as Keras's own ``Conv2D`` /
    ``BatchNormalization`` from its config, with the same weights. Embeddings in both modes, the
    gradient of every weight and the BatchNorm moving statistics after a training pass must agree
    as closely as the reference agrees with itself on the same batch in another order (a float32
    summation-order change and nothing else): within 4x that difference, or 1e-4 of the largest
    value. Measured: the differences are the size of the reference's own (about 2e-5 of the
    largest value; 1e-2 for the stem BatchNorm's gamma, a small sum of cancelling terms), against
    order 1 for a misaligned kernel.
    """
    import tensorflow as tf

    from asd_tf.models.batch_norm import BatchNormalization
    from asd_tf.models.space_to_depth import SpaceToDepthConv2D

    keras.utils.set_random_seed(0)
    model = build_reference_model(num_samples=SHORT, **TINY)
    swapped = {SpaceToDepthConv2D: keras.layers.Conv2D, BatchNormalization: keras.layers.BatchNormalization}
    assert {type(layer) for layer in iter_layers(model)} >= set(swapped)

    def plain(layer):
        return swapped.get(type(layer), type(layer)).from_config(layer.get_config())

    reference = keras.models.clone_model(model, clone_function=plain, recursive=True)
    assert not {type(layer) for layer in iter_layers(reference)} & set(swapped)
    weights = model.get_weights()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, SHORT)).astype(np.float32) * 0.1
    target = rng.standard_normal((4, model.output_shape[-1])).astype(np.float32)

    def run(m, order):
        m.set_weights(weights)
        xs, ts = tf.constant(x[order]), tf.constant(target[order])
        with tf.GradientTape() as tape:
            train = m(xs, training=True)
            loss = tf.reduce_sum(train * ts)
        grads = tape.gradient(loss, m.trainable_weights)
        stats = [w for w in m.non_trainable_weights if "moving" in w.path]
        back = np.argsort(order)  # embeddings back in the original clip order
        return [np.asarray(m(xs, training=False))[back], np.asarray(train)[back], *map(np.asarray, grads + stats)]

    got, want, again = run(model, [0, 1, 2, 3]), run(reference, [0, 1, 2, 3]), run(reference, [3, 1, 0, 2])
    assert len(got) == len(want) > 40
    for a, b, c in zip(got, want, again):
        noise = float(np.max(np.abs(c - b)))
        np.testing.assert_allclose(a, b, rtol=0, atol=max(4 * noise, 1e-4 * float(np.max(np.abs(b)))))
