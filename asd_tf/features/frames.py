"""Log-mel frame windows of the official DCASE autoencoder baseline (DCASE 2020-2025 Task 2).

Features of the baseline (public code ``nttcslab/dcase2023_task2_baseline_ae``,
``baseline.yaml`` and ``datasets/loader_common.file_to_vectors``): the log-mel
spectrogram of the whole clip with librosa's defaults for the rest (Slaney mel
scale and filter normalisation, periodic Hann window, centred frames with zero
padding), 128 mels, 1024-point FFT, hop 512, power 2, and the log
``20 / power * log10(max(mel, eps))`` with ``eps`` = float64 machine epsilon
(``sys.float_info.epsilon``), i.e. ``10 log10`` of the mel power with a floor.
Five consecutive frames are concatenated into one 640-d vector, frame-major
(``[frame t | frame t+1 | ... | frame t+4]``, 128 mels each), one vector per
frame position: ``T - 4`` vectors for ``T`` frames (309 for a 10-s clip).

The spectrogram is :class:`~asd_tf.features.logmel.LogMelSpectrogram` with
those settings (tested against librosa in ``tests/test_logmel.py``).
"""

from __future__ import annotations

import math
import sys
from typing import Iterator, Sequence

import numpy as np

from ..errors import ConfigError

#: The baseline's log-mel settings as :class:`LogMelSpectrogram` arguments.
DCASE_LOGMEL = {
    "n_fft": 1024,
    "hop_length": 512,
    "n_mels": 128,
    "power": 2.0,
    "mel_scale": "slaney",  # librosa default
    "mel_norm": "slaney",  # librosa default
    "center": True,
    "pad_mode": "constant",  # librosa >= 0.10 default
    "log": "db",  # 20 / power * log10
    "amin": sys.float_info.epsilon,  # np.maximum(mel, sys.float_info.epsilon)
}
DCASE_FRAMES = 5


def dcase_logmel_layer(sample_rate: int = 16000, n_mels: int = 128):
    """The baseline's log-mel front-end, ``[batch, samples] -> [batch, frames, n_mels]``."""
    from .logmel import LogMelSpectrogram

    return LogMelSpectrogram(sample_rate=sample_rate, **{**DCASE_LOGMEL, "n_mels": int(n_mels)})


def frame_windows(logmel: np.ndarray, frames: int = DCASE_FRAMES) -> np.ndarray:
    """Concatenate ``frames`` consecutive frames: ``[T, M] -> [T - frames + 1, frames * M]``.

    Row ``i`` is ``logmel[i], logmel[i + 1], ..., logmel[i + frames - 1]`` end to end
    (frame-major, as the baseline's ``vectors[:, M*t:M*(t+1)] = logmel[t:t+n].T``).
    A clip shorter than ``frames`` frames gives no rows (the baseline skips it too).
    """
    logmel = np.asarray(logmel)
    if logmel.ndim != 2:
        raise ConfigError(f"frame_windows: expected a [frames, mels] array, got shape {logmel.shape}")
    if frames < 1:
        raise ConfigError(f"frame_windows: frames must be positive, got {frames}")
    n, m = logmel.shape
    if n < frames:
        return np.zeros((0, frames * m), dtype=logmel.dtype)
    view = np.lib.stride_tricks.sliding_window_view(logmel, frames, axis=0)  # [n - f + 1, M, f]
    return np.ascontiguousarray(view.transpose(0, 2, 1).reshape(n - frames + 1, frames * m))


def clip_num_samples(path: str, sample_rate: int, max_samples: int) -> int:
    """Samples of the whole clip at ``sample_rate``, capped at ``max_samples`` (never padded)."""
    from ..data.audio import probe_audio

    info = probe_audio(path)
    length = int(math.floor(info.frames * sample_rate / info.sample_rate))
    return max(1, min(int(max_samples), length))


def clip_logmel_windows(
    clips: Sequence,
    sample_rate: int = 16000,
    max_samples: int = 480000,
    frames: int = DCASE_FRAMES,
    n_mels: int = 128,
    batch_size: int = 32,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(clip index, windows [n_windows, frames * n_mels] float32)`` for every clip.

    Each clip is read whole (resampled to ``sample_rate``, mono), up to
    ``max_samples`` samples and never zero-padded: padding would add frames of
    the log floor (-156 dB) that the baseline never sees. Clips of equal length
    are transformed together, ``batch_size`` at a time. Yields in an order
    grouped by length; callers index by the returned clip index.
    """
    import keras

    from ..data.audio import AudioConfig, load_audio

    layer = dcase_logmel_layer(sample_rate, n_mels)
    lengths: dict[int, list[int]] = {}
    for i, clip in enumerate(clips):
        lengths.setdefault(clip_num_samples(clip.path, sample_rate, max_samples), []).append(i)
    for length, indices in sorted(lengths.items()):
        config = AudioConfig(sample_rate=sample_rate, num_samples=length)
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            waves = np.stack([load_audio(clips[i].path, config) for i in chunk])
            logmel = keras.ops.convert_to_numpy(layer(waves)).astype(np.float32)  # [b, T, M]
            for i, spec in zip(chunk, logmel):
                yield i, frame_windows(spec, frames)
