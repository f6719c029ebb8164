"""LogMelSpectrogram against librosa (independent reference implementation)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import tensorflow as tf

from asd_tf.errors import ConfigError
from asd_tf.features.logmel import LogMelSpectrogram, logmel_frames, mel_filter_bank

SR = 16000


def _signal(num_samples: int = 8000, seed: int = 0) -> np.ndarray:
    # Noise plus a tone: every mel band holds energy well above the log floor.
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / SR
    return (0.1 * rng.normal(size=num_samples) + 0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


def _ours(y: np.ndarray, **config) -> np.ndarray:
    return LogMelSpectrogram(**config)(tf.constant(y[None]))[0].numpy()  # [frames, mels]


@pytest.mark.parametrize("mel_scale,norm", [("htk", None), ("slaney", "slaney")])
@pytest.mark.parametrize("n_fft,n_mels,f_min,f_max", [(1024, 128, 0.0, None), (2048, 64, 50.0, 7000.0)])
def test_filter_bank_matches_librosa(mel_scale, norm, n_fft, n_mels, f_min, f_max):
    ours = mel_filter_bank(SR, n_fft, n_mels, f_min, f_max, mel_scale, norm)  # [bins, mels]
    ref = librosa.filters.mel(
        sr=SR, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max, htk=mel_scale == "htk", norm=norm
    )  # [mels, bins]
    np.testing.assert_allclose(ours.T, ref, rtol=1e-5, atol=1e-7)


def test_default_power_db_matches_librosa_htk_unnormalised():
    """Defaults = torchaudio MelSpectrogram(power=2, htk, norm=None, reflect) + 10 log10."""
    y = _signal()
    ours = _ours(y)
    mel = librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=SR, n_fft=1024, hop_length=512, window="hann", center=True,
        pad_mode="reflect", power=2.0, n_mels=128, htk=True, norm=None,
    )
    ref = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T
    assert ours.shape == ref.shape == (1 + 8000 // 512, 128)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_magnitude_20log10_slaney_constant_pad_matches_librosa():
    """Neri & Carli's 20 log10 of mel magnitudes; librosa's default Slaney scale/norm and zero padding."""
    y = _signal(seed=1)
    config = dict(n_fft=1024, hop_length=512, n_mels=64, power=1.0, mel_scale="slaney", mel_norm="slaney",
                  pad_mode="constant", log="db")
    ours = _ours(y, **config)
    mel = librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=SR, n_fft=1024, hop_length=512, center=True, pad_mode="constant",
        power=1.0, n_mels=64, htk=False, norm="slaney",
    )
    ref = librosa.amplitude_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_short_window_natural_log_no_center_matches_librosa():
    y = _signal(seed=2)
    ours = _ours(y, n_fft=2048, win_length=1024, hop_length=256, n_mels=40, center=False, log="natural")
    mel = librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=SR, n_fft=2048, win_length=1024, hop_length=256, center=False,
        power=2.0, n_mels=40, htk=True, norm=None,
    )
    ref = np.log(np.maximum(mel, 1e-10)).T
    assert ours.shape == ref.shape == (logmel_frames(8000, 256, 2048, center=False), 40)
    np.testing.assert_allclose(ours, ref, atol=5e-4)


def test_frames_for_ten_seconds():
    assert logmel_frames(160000, 512) == 313  # 313 x 128 in Neri & Carli and Jiang et al.
    layer = LogMelSpectrogram()
    assert tuple(layer.compute_output_shape((None, 160000))) == (None, 313, 128)


def test_filter_bank_is_a_constant_not_a_weight():
    # (config and .keras round trip: tests/test_serialization.py)
    layer = LogMelSpectrogram(n_fft=512, hop_length=128, n_mels=32)
    layer(_signal(4000)[None])
    assert layer.count_params() == 0


@pytest.mark.parametrize(
    "bad", [{"pad_mode": "edge"}, {"log": "log2"}, {"mel_scale": "bark"}, {"win_length": 4096}, {"power": 0}]
)
def test_bad_config_raises_config_error(bad):
    with pytest.raises(ConfigError):
        LogMelSpectrogram(**bad)
