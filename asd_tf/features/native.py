"""Magnitude spectra through a backend's own complex FFT, where that is faster than ``keras.ops``.

``keras.ops.stft`` and ``keras.ops.rfft`` return the real and the imaginary part as two
tensors on every backend, and :func:`asd_tf.features.stft.complex_magnitude` needs nine
element-wise passes over them (squares, sum, the zero guard of its gradient, square root).
On TensorFlow the transform is complex to begin with, and one ``ComplexAbs`` gives the same
magnitude (``hypot``; it differs from ``sqrt(re^2 + im^2)`` by float32 rounding, about 1e-7 of
the largest value) with the same gradient behaviour (0, not NaN, where ``|X| = 0``; NaN stays
NaN). On the reference model this took the two front ends from about 190 to about 100 ms of
operator time per training step of 64 clips (``docs/training_step_profile.md``).

:func:`native_spectra` returns the current backend's kernels, or ``None`` (JAX, PyTorch: the
``keras.ops`` path, where XLA fuses the element-wise passes itself). The layers that use it
(:class:`~asd_tf.features.stft.STFTMagnitude`, :class:`~asd_tf.features.spectrum.FFTMagnitude`)
give the same numbers either way (``tests/test_features.py``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import keras

__all__ = ["native_spectra"]


def _tensorflow() -> SimpleNamespace:
    # Imported here: the features package must import on backends without TensorFlow.
    import tensorflow as tf

    def stft_magnitude(waveforms: Any, frame_length: int, frame_step: int) -> Any:
        """``|STFT|``, periodic Hann window, FFT length = frame length, no padding: ``[B, frames, bins]``."""
        # The same transform as keras.ops.stft(..., window="hann", center=False) on TensorFlow.
        window = tf.signal.hann_window(frame_length, periodic=True, dtype=waveforms.dtype)
        spectrum = tf.signal.stft(waveforms, frame_length=frame_length, frame_step=frame_step,
                                  fft_length=frame_length, window_fn=lambda length, dtype: window)
        return tf.abs(spectrum)

    def rfft_magnitude(waveforms: Any, bins: int) -> Any:
        """``|rfft|`` over the last axis, the first ``bins`` bins: ``[B, bins]``."""
        return tf.abs(tf.signal.rfft(waveforms)[..., :bins])

    return SimpleNamespace(stft_magnitude=stft_magnitude, rfft_magnitude=rfft_magnitude)


#: Keras backend name -> a loader of its native magnitude kernels.
_NATIVE = {"tensorflow": _tensorflow}


def native_spectra() -> SimpleNamespace | None:
    """The current backend's ``stft_magnitude`` / ``rfft_magnitude`` kernels, or ``None``."""
    loader = _NATIVE.get(keras.backend.backend())
    return None if loader is None else loader()
