"""Linear-magnitude short-time Fourier transform as a Keras layer.

The reference system (Wilkinghoff & Kurth, TASLP 2024, Sec. IV-B; Wilkinghoff,
ICASSP 2023) feeds a *linear* magnitude spectrogram with a 1024-sample window,
a hop of 512 samples and no padding at the end to its spectrogram branch:
160000 samples (10 s at 16 kHz) give 311 frames x 513 frequency bins.
"""

from __future__ import annotations

import keras
from keras import ops

from ..errors import ConfigError
from .native import native_spectra


def spectrogram_shape(
    num_samples: int, frame_length: int = 1024, frame_step: int = 512, pad_end: bool = False
) -> tuple[int, int]:
    """Return ``(frames, bins)`` of :class:`STFTMagnitude` for a clip of ``num_samples`` samples.

    Without end padding a frame is kept only if it lies fully inside the clip:
    ``frames = 1 + (num_samples - frame_length) // frame_step``; with padding,
    ``ceil(num_samples / frame_step)``. ``bins = frame_length // 2 + 1``.
    """
    if frame_length <= 0 or frame_step <= 0:
        raise ConfigError(f"STFT frame_length ({frame_length}) and frame_step ({frame_step}) must be positive")
    if pad_end:
        frames = -(-num_samples // frame_step)
    else:
        if num_samples < frame_length:
            raise ConfigError(
                f"clips of {num_samples} samples are shorter than one STFT frame ({frame_length}); "
                "use longer clips or a shorter frame_length"
            )
        frames = 1 + (num_samples - frame_length) // frame_step
    return frames, frame_length // 2 + 1


def complex_magnitude(real, imag):
    """``|re + i im| = sqrt(re^2 + im^2)`` with a zero (not NaN) gradient where the value is 0.

    ``sqrt`` has an infinite derivative at 0 (silent frames, zero padding); the
    inner ``where`` keeps that branch out of the gradient, so the gradient at 0
    is 0, as TensorFlow's ``tf.abs`` of a complex tensor gives.
    """
    power = ops.square(real) + ops.square(imag)
    zero = power == 0  # NaN compares unequal, so a NaN input still gives NaN (the non-finite guard needs it)
    return ops.where(zero, ops.zeros_like(power), ops.sqrt(ops.where(zero, ops.ones_like(power), power)))


@keras.saving.register_keras_serializable(package="asd_tf")
class STFTMagnitude(keras.layers.Layer):
    """Magnitude of the STFT with a periodic Hann window.

    Args:
        frame_length: window (and FFT) length in samples; 1024 in the reference system.
        frame_step: hop size in samples; 512 in the reference system.
        pad_end: zero-pad the end so the last partial frame is kept; ``False``
            in the reference system (311 frames for 160000 samples).
        **kwargs: base ``keras.layers.Layer`` arguments. ``dtype`` defaults to
            ``"float32"`` so a mixed-precision policy never runs the FFT in float16.

    Call arguments:
        inputs: waveforms ``[batch, num_samples]``.

    Returns:
        ``[batch, frames, frame_length // 2 + 1]`` float32 linear magnitudes.

    Example:
        >>> spec = STFTMagnitude()(np.zeros([2, 160000], "float32"))  # [2, 311, 513]

    References:
        Wilkinghoff & Kurth, "Why do angular margin losses work well for
        semi-supervised anomalous sound detection?", TASLP 2024, Sec. IV-B.
    """

    def __init__(self, frame_length: int = 1024, frame_step: int = 512, pad_end: bool = False, **kwargs):
        # The FFT needs float32: float16 loses the dynamic range of 1024-point sums.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if int(frame_length) <= 0 or int(frame_step) <= 0:
            raise ConfigError(f"STFTMagnitude: frame_length ({frame_length}) and frame_step ({frame_step}) must be positive")
        self.frame_length = int(frame_length)
        self.frame_step = int(frame_step)
        self.pad_end = bool(pad_end)

    def call(self, inputs):
        waveforms = ops.cast(inputs, "float32")  # [batch, samples]
        if self.pad_end:
            # As tf.signal.stft(pad_end=True): zeros at the end so ceil(samples / step) frames fit.
            num_samples = waveforms.shape[-1]
            frames, _ = spectrogram_shape(num_samples, self.frame_length, self.frame_step, pad_end=True)
            missing = max(0, (frames - 1) * self.frame_step + self.frame_length - num_samples)
            waveforms = ops.pad(waveforms, [[0, 0]] * (len(waveforms.shape) - 1) + [[0, missing]])
        native = native_spectra()
        if native is not None:
            return native.stft_magnitude(waveforms, self.frame_length, self.frame_step)
        real, imag = ops.stft(
            waveforms,
            sequence_length=self.frame_length,
            sequence_stride=self.frame_step,
            fft_length=self.frame_length,
            window="hann",  # periodic Hann on every backend (tf.signal.hann_window's default), as the public code
            center=False,
        )  # [batch, frames, bins] each
        return complex_magnitude(real, imag)

    def compute_output_shape(self, input_shape):
        num_samples = input_shape[-1]
        bins = self.frame_length // 2 + 1
        if num_samples is None:
            return (*input_shape[:-1], None, bins)
        frames, _ = spectrogram_shape(num_samples, self.frame_length, self.frame_step, self.pad_end)
        return (*input_shape[:-1], frames, bins)

    def get_config(self):
        config = super().get_config()
        config.update(frame_length=self.frame_length, frame_step=self.frame_step, pad_end=self.pad_end)
        return config
