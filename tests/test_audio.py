"""load_audio: crop/pad, downmix, resampling and error cases against NumPy/librosa/wave references."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from asd_tf.data.audio import AudioConfig, fit_length, load_audio, probe_audio
from asd_tf.errors import AudioError, ConfigError


def int16_signal(n: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Random int16 samples; as floats k/32768 they round-trip exactly through PCM_16."""
    rng = np.random.default_rng(seed)
    ints = rng.integers(-20000, 20000, size=(n, channels)).astype(np.int16)
    return ints


def test_crop_keeps_first_samples(tmp_path: Path, make_wav) -> None:
    ints = int16_signal(5000)
    path = make_wav(tmp_path / "a.wav", ints[:, 0] / 32768.0)
    out = load_audio(path, AudioConfig(num_samples=3000))
    assert out.dtype == np.float32 and out.shape == (3000,)
    np.testing.assert_array_equal(out, ints[:3000, 0].astype(np.float32) / 32768.0)


def test_pad_with_zeros(tmp_path: Path, make_wav) -> None:
    ints = int16_signal(1000)
    path = make_wav(tmp_path / "a.wav", ints[:, 0] / 32768.0)
    out = load_audio(path, AudioConfig(num_samples=2500))
    np.testing.assert_array_equal(out[:1000], ints[:, 0].astype(np.float32) / 32768.0)
    assert np.all(out[1000:] == 0.0)


def test_stereo_is_channel_mean(tmp_path: Path, make_wav) -> None:
    ints = int16_signal(4000, channels=2, seed=1)
    path = make_wav(tmp_path / "st.wav", ints / 32768.0)
    out = load_audio(path, AudioConfig(num_samples=4000))
    ref = (ints[:, 0].astype(np.float64) + ints[:, 1]) / 2 / 32768.0
    np.testing.assert_allclose(out, ref, atol=1e-7)


@pytest.mark.parametrize("sr", [8000, 22050, 48000])
def test_resampling_matches_librosa_and_keeps_frequency(tmp_path: Path, make_wav, sr: int) -> None:
    import librosa

    t = np.arange(int(sr * 1.5)) / sr  # longer than needed: load_audio reads a prefix only
    x = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    path = make_wav(tmp_path / f"s{sr}.wav", x, sr=sr, subtype="FLOAT")
    cfg = AudioConfig(sample_rate=16000, num_samples=7000)  # a crop
    out = load_audio(path, cfg)
    ref = librosa.resample(x, orig_sr=sr, target_sr=16000)[:7000]
    np.testing.assert_allclose(out, ref, atol=1e-4)
    spectrum = np.abs(np.fft.rfft(out[500:6500] * np.hanning(6000)))
    peak_hz = np.argmax(spectrum) * 16000 / 6000
    assert abs(peak_hz - 1000.0) < 16000 / 6000


def test_real_clip_matches_wave_module(real_data_dir: Path) -> None:
    # 12 s ToyCar clip: the first 10 s are kept; reference decoded with Python's wave module
    path = real_data_dir / "dcase2023_task2_dev/ToyCar/train/section_00_source_train_normal_0835_car_D2_spd_34V_mic_1.wav"
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        ref = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    out = load_audio(path, AudioConfig())
    assert ref.shape[0] == 192000 and out.shape == (160000,)
    np.testing.assert_array_equal(out, ref[:160000])
    info = probe_audio(path)
    assert (info.sample_rate, info.channels, info.frames, info.subtype) == (16000, 1, 192000, "PCM_16")


def test_corrupt_and_empty_files_raise_audio_error(tmp_path: Path, make_wav) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    zero_bytes = tmp_path / "zero.wav"
    zero_bytes.write_bytes(b"")
    empty = make_wav(tmp_path / "empty.wav", np.zeros((0,), dtype=np.float32))
    for path in (garbage, zero_bytes, empty, tmp_path / "missing.wav"):
        with pytest.raises(AudioError) as info:
            load_audio(path, AudioConfig(num_samples=100))
        assert info.value.path == str(path) and info.value.problem
    with pytest.raises(AudioError):
        probe_audio(garbage)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_raise_audio_error(tmp_path: Path, make_wav, bad: float) -> None:
    x = np.zeros(800, dtype=np.float32)
    x[123] = bad
    path = make_wav(tmp_path / "nf.wav", x, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(path, AudioConfig(num_samples=400))


def test_audio_config_validation_and_fingerprint() -> None:
    assert AudioConfig().num_samples == 160000 and AudioConfig().sample_rate == 16000
    assert AudioConfig().duration_s == 10.0
    for kwargs in ({"num_samples": 0}, {"sample_rate": -1}, {"num_samples": 1.5}, {"sample_rate": True}):
        with pytest.raises(ConfigError):
            AudioConfig(**kwargs)
    assert AudioConfig().fingerprint() == AudioConfig(16000, 160000).fingerprint()
    assert AudioConfig().fingerprint() != AudioConfig(num_samples=159999).fingerprint()
    assert AudioConfig().fingerprint() != AudioConfig(sample_rate=22050).fingerprint()


def test_fit_length() -> None:
    x = np.arange(5, dtype=np.float32)
    assert fit_length(x, 3).tolist() == [0, 1, 2]
    assert fit_length(x, 7).tolist() == [0, 1, 2, 3, 4, 0, 0]
