"""Backbones of the source papers: parameter counts, shapes, save/load, and the custom layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from asd_tf.models.fgaspecnet import (
    FourierConv2D,
    Fourier2D,
    FrequencyGatedAttention,
    InverseFourier2D,
    SpectralBatchNormalization,
    spec_net,
)
from asd_tf.models.mobilefacenet import mobilefacenet
from asd_tf.models.registry import build_backbone
from asd_tf.models.stgram import TemporalAttention

SMALL = 16000  # 1 s: 32 frames, fast to build and run
NAMES = ("stgram_mfn", "tastgram", "lowcomplexity_attention", "fgaspecnet")


def _trainable(model) -> int:
    # PyTorch's sum(p.numel() for p in parameters()) counts trainable weights only (no BN running stats).
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _mfn_params_by_hand(in_channels: int) -> int:
    """MobileFaceNet of STgram-MFN on a 313 x 128 map, counted layer by layer (conv, BN gamma/beta, PReLU)."""
    bn = lambda c: 2 * c  # noqa: E731
    total = in_channels * 64 * 9 + bn(64) + 64  # stem 3x3 conv
    total += 64 * 9 + bn(64) + 64  # depthwise 3x3
    inp = 64
    for t, c, n, _ in ((2, 128, 2, 2), (4, 128, 2, 2), (4, 128, 2, 2)):
        for _ in range(n):
            e = inp * t
            total += inp * e + bn(e) + e + e * 9 + bn(e) + e + e * c + bn(c)
            inp = c
    total += 128 * 512 + bn(512) + 512  # 1x1 expand
    total += 512 * 20 * 8 + bn(512)  # global depthwise over 20 x 8 (157 -> 79 -> 40 -> 20; 64 -> 32 -> 16 -> 8)
    total += 512 * 128 + bn(128)  # linear 1x1
    return total


def test_mobilefacenet_parameter_count_by_hand():
    x = keras.Input((313, 128, 2))
    model = keras.Model(x, mobilefacenet(x))
    assert model.output_shape == (None, 128)
    assert _trainable(model) == _mfn_params_by_hand(2) == 870336


@pytest.fixture(scope="module")
def full_size_models():
    return {name: build_backbone(name, 160000) for name in NAMES}


# Papers' counts: STgram-MFN 1.1 M (Neri & Carli Table 2; Jiang et al. Table 5), TASTgram 1.2 M and
# FGASpecNet 1.3 M (Jiang et al. Table 5), low-complexity attention 884 k (Neri & Carli Table 2).
# Our models exclude the classification head (41 x 128 = 5,248 ArcFace weights), < 0.6 % of any count.
@pytest.mark.parametrize(
    "name,paper", [("stgram_mfn", 1.1e6), ("tastgram", 1.2e6), ("lowcomplexity_attention", 884e3), ("fgaspecnet", 1.3e6)]
)
def test_parameter_counts_within_15_percent_of_papers(full_size_models, name, paper):
    count = _trainable(full_size_models[name])
    assert abs(count - paper) / paper < 0.15, f"{name}: {count} vs paper {paper:.0f}"


def test_parameter_count_components(full_size_models):
    stgram = _trainable(full_size_models["stgram_mfn"])
    tgram = 128 * 1024 + 3 * (2 * 313 + 128 * 128 * 3)  # Table 1; LayerNorm over 313 frames
    assert stgram == _mfn_params_by_hand(2) + tgram
    assert _trainable(full_size_models["tastgram"]) == stgram + 64 * 9  # TAgram has no weights, one more input channel
    wavegram = 1024 + 128 + 128  # depthwise kernel, pointwise 1 -> 128, bias
    attention = (2 * 9 + 2 * 16 + 2 * 16) + (16 * 9 + 16 * 64 + 2 * 64) + (64 * 2 + 2)
    assert _trainable(full_size_models["lowcomplexity_attention"]) == _mfn_params_by_hand(2) + wavegram + attention
    specnet = 2 * (2 * 313 * 128) + 2 * 2  # two complex [T, M] kernels, BN gamma/beta for re and im
    fga = 256 * 128 + 128 + 3 + 1
    assert _trainable(full_size_models["fgaspecnet"]) == _mfn_params_by_hand(4) + tgram + specnet + fga


def test_lowcomplexity_ablation_without_separable_wavegram_is_about_one_million():
    model = build_backbone("lowcomplexity_attention", 160000, use_attention=False, separable_wavegram=False)
    count = _trainable(model)
    assert count == _mfn_params_by_hand(2) + 128 * 1024 + 128
    assert abs(count - 1.0e6) / 1.0e6 < 0.15  # Neri & Carli Table 4: "1 M"


@pytest.mark.parametrize("name", NAMES)
def test_shapes_submodels_and_keras_round_trip(name, tmp_path):
    model = build_backbone(name, SMALL)
    frontend, embedder = model.get_layer("frontend"), model.get_layer("embedder")
    x = np.random.default_rng(0).normal(size=(2, SMALL)).astype(np.float32)
    features = frontend(x)
    assert set(features) == {"waveform", "logmel"}
    assert tuple(features["logmel"].shape) == (2, 1 + SMALL // 512, 128)
    np.testing.assert_array_equal(features["waveform"].numpy(), x)
    y = model(x, training=False).numpy()
    assert y.shape == (2, 128) and np.all(np.isfinite(y))
    np.testing.assert_allclose(embedder(features, training=False).numpy(), y, rtol=1e-5, atol=1e-5)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(x, training=False).numpy(), y, rtol=1e-5, atol=1e-5)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in embedder.layers + frontend.layers)


def test_attention_map_submodel():
    model = build_backbone("lowcomplexity_attention", SMALL)
    embedder = model.get_layer("embedder")
    probe = keras.Model(
        embedder.input,
        [embedder.get_layer("attention").output, embedder.get_layer("stack").output, embedder.get_layer("attended").output],
    )
    x = np.random.default_rng(1).normal(size=(2, SMALL)).astype(np.float32)
    attention, features, attended = (t.numpy() for t in probe(model.get_layer("frontend")(x)))
    assert attention.shape == features.shape == (2, 32, 128, 2)
    assert np.all((attention > 0) & (attention < 1))  # sigmoid
    np.testing.assert_allclose(attended, attention * features, rtol=1e-6, atol=1e-6)  # X~ = f_ATT(X) (x) X


def test_temporal_attention_formula():
    x = np.array([[[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]], dtype=np.float32)  # [1, T=2, M=3]
    # frame 0: mean -0.1667 + max 1 = 0.8333; frame 1: mean 0.6667 + max 3 = 3.6667
    weights = 1.0 / (1.0 + np.exp(-np.array([-0.5 / 3 + 1.0, 2.0 / 3 + 3.0])))
    np.testing.assert_allclose(TemporalAttention()(x).numpy()[0], weights[:, None] * x[0], rtol=1e-6)


def test_frequency_gated_attention_hand_case():
    """T=2, M=2, kernel 1: every gate value computed by hand."""
    layer = FrequencyGatedAttention(fusion_weight=0.5, kernel_size=1)
    tagram = np.array([[[1.0, 2.0], [3.0, 0.0]]], dtype=np.float32)  # [1, T, M]
    logmel = np.array([[[10.0, 20.0], [30.0, 40.0]]], dtype=np.float32)
    spec = np.array([[[0.0, 0.0], [0.0, 0.0]]], dtype=np.float32)
    layer([tagram, logmel, spec])
    # s_f = [max_t, avg_t] = [3, 2, 2, 1]; A picks g_f logits [3 - 1, 2 - 1] + bias [0, 0] = [2, 1]
    freq_kernel = np.array([[1, 0], [0, 1], [0, 0], [-1, -1]], dtype=np.float32)
    # avg_f profile = [1.5, 1.5]; kernel 2, bias -3 -> g_t logits [0, 0] -> g_t = [0.5, 0.5]
    layer.set_weights([freq_kernel, np.zeros(2, np.float32), np.full((1, 1, 1), 2.0, np.float32), np.array([-3.0], np.float32)])
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    gate = 0.5 * np.outer([0.5, 0.5], [sig(2.0), sig(1.0)])  # l * g_t g_f^T
    expected = (1 - gate) * logmel[0] + gate * spec[0]
    np.testing.assert_allclose(layer([tagram, logmel, spec]).numpy()[0], expected, rtol=1e-6)


def test_frequency_gated_attention_matches_numpy_loop():
    rng = np.random.default_rng(3)
    T, M, k, lam = 6, 4, 3, 0.7
    tagram, logmel, spec = (rng.normal(size=(1, T, M)).astype(np.float32) for _ in range(3))
    layer = FrequencyGatedAttention(fusion_weight=lam, kernel_size=k)
    layer([tagram, logmel, spec])
    a, b = rng.normal(size=(2 * M, M)).astype(np.float32), rng.normal(size=M).astype(np.float32)
    w, c = rng.normal(size=k).astype(np.float32), np.float32(0.3)
    layer.set_weights([a, b, w.reshape(k, 1, 1), np.array([c])])
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    g_f = sig(np.concatenate([tagram[0].max(0), tagram[0].mean(0)]) @ a + b)
    profile = np.pad(tagram[0].mean(1), 1)  # "same" padding for k = 3
    g_t = sig(np.array([profile[t : t + k] @ w for t in range(T)]) + c)
    G = np.outer(g_t, g_f)
    expected = (1 - lam * G) * logmel[0] + lam * G * spec[0]
    np.testing.assert_allclose(layer([tagram, logmel, spec]).numpy()[0], expected, rtol=1e-5, atol=1e-6)
    zero = FrequencyGatedAttention(fusion_weight=0.0, kernel_size=k)
    np.testing.assert_array_equal(zero([tagram, logmel, spec]).numpy(), logmel)


def test_fourier_conv_is_circular_convolution():
    rng = np.random.default_rng(4)
    T, M = 8, 6
    x = rng.normal(size=(2, T, M)).astype(np.float32)
    h = np.zeros((T, M))
    h[:2, :3] = rng.normal(size=(2, 3))  # small kernel, zero-padded to the map
    conv = FourierConv2D()
    conv.build((None, T, M, 2))
    w = np.fft.fft2(h)
    conv.set_weights([w.real.astype(np.float32), w.imag.astype(np.float32)])
    out = InverseFourier2D()(conv(Fourier2D()(x))).numpy()
    expected = np.zeros_like(x, dtype=np.float64)  # y[t, m] = sum h[i, j] x[t - i, m - j] (circular)
    for i in range(2):
        for j in range(3):
            expected += h[i, j] * np.roll(x, shift=(i, j), axis=(1, 2))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    assert conv.compute_output_shape((None, T, M, 2)) == (None, T, M, 2)


def test_specnet_residual_is_identity_when_last_fourier_conv_is_zero():
    T, M = 10, 8
    inp = keras.Input((T, M))
    model = keras.Model(inp, spec_net(inp))
    model.get_layer("specnet_fconv2").set_weights([np.zeros((T, M), np.float32)] * 2)
    x = np.random.default_rng(5).normal(size=(3, T, M)).astype(np.float32) * 20 - 40  # dB-like values
    np.testing.assert_allclose(model(x, training=True).numpy(), x, rtol=1e-4, atol=1e-3)
    assert model.output_shape == (None, T, M)


def test_spectral_batch_norm_normalises_real_and_imag_separately():
    rng = np.random.default_rng(6)
    z = np.stack([rng.normal(5.0, 3.0, size=(4, 5, 6)), rng.normal(-2.0, 0.5, size=(4, 5, 6))], -1).astype(np.float32)
    bn = SpectralBatchNormalization()
    out = bn(z, training=True).numpy()
    expected = (z - z.mean(axis=(0, 1, 2))) / np.sqrt(z.var(axis=(0, 1, 2)) + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    clone = SpectralBatchNormalization.from_config(bn.get_config())
    assert (clone.momentum, clone.epsilon, clone.axis) == (0.9, 1e-5, -1)
    assert set(bn.get_config()) == {"name", "trainable", "dtype", "momentum", "epsilon"}


def test_fgaspecnet_gradients_are_finite():
    model = build_backbone("fgaspecnet", SMALL)
    x = tf.constant(np.random.default_rng(7).normal(size=(2, SMALL)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    by_name = {w.path: g for w, g in zip(model.trainable_weights, grads)}
    assert any("specnet_fconv1" in p and np.any(g.numpy() != 0) for p, g in by_name.items())
