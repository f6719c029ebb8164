"""Feature layers against independent NumPy references."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from asd_tf.errors import ConfigError
from asd_tf.features.normalization import TemporalMeanNormalization
from asd_tf.features.spectrum import FFTMagnitude
from asd_tf.features.stft import STFTMagnitude, spectrogram_shape


def _numpy_stft_magnitude(x: np.ndarray, frame_length: int, frame_step: int) -> np.ndarray:
    """|rfft| of periodic-Hann-windowed frames, frames fully inside the signal (no end padding)."""
    n = np.arange(frame_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / frame_length)  # periodic Hann
    frames = 1 + (x.shape[-1] - frame_length) // frame_step
    idx = np.arange(frames)[:, None] * frame_step + n[None, :]
    return np.abs(np.fft.rfft(x[..., idx] * window, axis=-1))


def test_stft_matches_numpy_reference():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4000)).astype(np.float32)
    got = np.asarray(STFTMagnitude(frame_length=256, frame_step=128)(x))
    want = _numpy_stft_magnitude(x.astype(np.float64), 256, 128)
    assert got.shape == want.shape == (2, 30, 129)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_stft_reference_size_shape_and_values():
    # 10 s at 16 kHz with a 1024 window / 512 hop and no padding -> 311 x 513
    # (docs/design.md, "The reference system").
    x = np.sin(2 * np.pi * 1000 * np.arange(160000) / 16000).astype(np.float32)[None]
    layer = STFTMagnitude()
    got = np.asarray(layer(x))
    assert got.shape == (1, 311, 513)
    assert spectrogram_shape(160000) == (311, 513)
    assert layer.compute_output_shape((None, 160000)) == (None, 311, 513)
    want = _numpy_stft_magnitude(x[:, :1024 + 9 * 512].astype(np.float64), 1024, 512)  # first 10 frames
    np.testing.assert_allclose(got[:, :10], want, rtol=1e-4, atol=1e-2)
    # A 1 kHz tone peaks in bin 1000 / (16000 / 1024) = 64.
    assert np.all(got[0].argmax(axis=-1) == 64)


def test_spectrogram_shape_rules():
    assert spectrogram_shape(1024) == (1, 513)
    assert spectrogram_shape(1535) == (1, 513)
    assert spectrogram_shape(1536) == (2, 513)
    assert spectrogram_shape(1000, pad_end=True) == (2, 513)
    with pytest.raises(ConfigError):
        spectrogram_shape(1000)


def test_fft_magnitude_matches_numpy():
    rng = np.random.default_rng(1)
    for n in (1000, 1001, 4096):
        x = rng.standard_normal((3, n)).astype(np.float32)
        got = np.asarray(FFTMagnitude()(x))
        want = np.abs(np.fft.rfft(x.astype(np.float64)))[:, : n // 2]
        assert got.shape == (3, n // 2)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    got = np.asarray(FFTMagnitude(n_bins=10)(x))
    np.testing.assert_allclose(got, np.abs(np.fft.rfft(x.astype(np.float64)))[:, :10], rtol=1e-4, atol=1e-3)
    with pytest.raises(ConfigError):
        FFTMagnitude(n_bins=5000)(x)


def test_temporal_mean_normalization_matches_numpy():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 7, 5)).astype(np.float32) + np.arange(5, dtype=np.float32)
    got = np.asarray(TemporalMeanNormalization()(x))
    np.testing.assert_allclose(got, x - x.mean(axis=1, keepdims=True), atol=1e-6)
    assert np.abs(got.mean(axis=1)).max() < 1e-5
    got2 = np.asarray(TemporalMeanNormalization(axis=2)(x))
    np.testing.assert_allclose(got2, x - x.mean(axis=2, keepdims=True), atol=1e-6)


def test_feature_layers_compute_in_float32_under_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        x = np.random.default_rng(3).standard_normal((1, 2048)).astype(np.float32) * 100
        assert STFTMagnitude(1024, 512)(x).dtype == "float32"
        got = np.asarray(FFTMagnitude()(x))
        np.testing.assert_allclose(got, np.abs(np.fft.rfft(x.astype(np.float64)))[:, :1024], rtol=1e-3, atol=1e-1)
    finally:
        keras.config.set_dtype_policy(previous)


def test_native_tensorflow_magnitudes_equal_the_keras_ops_path():
    """On TensorFlow the layers take |complex FFT| (``features/native.py``); ``keras.ops`` + ``complex_magnitude``
    is the path of every other backend: same values, a zero (finite) gradient at silent input, NaN kept."""
    import tensorflow as tf

    from asd_tf.features.native import native_spectra
    from asd_tf.features.stft import complex_magnitude

    assert native_spectra() is not None  # this process runs Keras on TensorFlow
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4000)).astype(np.float32)
    x[1, :] = 0.0  # a silent clip: |X| = 0 everywhere
    stft = STFTMagnitude(256, 128)
    want = complex_magnitude(*keras.ops.stft(x, 256, 128, 256, window="hann", center=False))
    np.testing.assert_allclose(stft(x), want, rtol=1e-5, atol=1e-6 * float(np.max(want)))
    fft = FFTMagnitude(n_bins=1500)
    real, imag = keras.ops.rfft(x)
    want = complex_magnitude(real[..., :1500], imag[..., :1500])
    np.testing.assert_allclose(fft(x), want, rtol=1e-5, atol=1e-6 * float(np.max(want)))
    assert float(np.max(np.asarray(fft(x))[1])) == 0.0

    xt = tf.constant(x)
    for layer in (stft, fft):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            total = tf.reduce_sum(layer(xt))
        grad = tape.gradient(total, xt).numpy()
        assert np.all(np.isfinite(grad)) and np.all(grad[1] == 0.0) and np.any(grad[0] != 0.0)
        bad = x.copy()
        bad[0, 100] = np.nan
        assert np.isnan(np.asarray(layer(bad))[0]).any() and not np.isnan(np.asarray(layer(bad))[1]).any()
