"""Magnitude spectrum of a whole clip as a Keras layer.

The spectrum branch of the reference system (Wilkinghoff, ICASSP 2023; used in
Wilkinghoff & Kurth, TASLP 2024, Sec. IV-B) takes ``|FFT|`` of the entire
10 s clip and keeps the first half of the bins (80000 for 160000 samples).
"""

from __future__ import annotations

import keras
from keras import ops

from ..errors import ConfigError
from .native import native_spectra
from .stft import complex_magnitude


@keras.saving.register_keras_serializable(package="asd_tf")
class FFTMagnitude(keras.layers.Layer):
    """``|rfft(x)|`` over the last axis, truncated to ``n_bins`` bins.

    Args:
        n_bins: number of leading bins to keep; ``None`` keeps ``n // 2`` (the
            reference setting: the first half of the full FFT, i.e. every rfft
            bin except Nyquist).
        **kwargs: base ``keras.layers.Layer`` arguments; ``dtype`` defaults to
            ``"float32"`` (an FFT over 160000 samples must not run in float16).

    Call arguments:
        inputs: waveforms ``[batch, n]``.

    Returns:
        ``[batch, n_bins]`` float32 magnitudes.

    Example:
        >>> FFTMagnitude()(np.zeros([2, 160000], "float32")).shape  # (2, 80000)
    """

    def __init__(self, n_bins: int | None = None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if n_bins is not None and int(n_bins) <= 0:
            raise ConfigError(f"FFTMagnitude: n_bins must be positive, got {n_bins}")
        self.n_bins = None if n_bins is None else int(n_bins)

    def _bins(self, n: int) -> int:
        # rfft yields n // 2 + 1 bins; more cannot be kept.
        bins = n // 2 if self.n_bins is None else self.n_bins
        if bins > n // 2 + 1:
            raise ConfigError(f"FFTMagnitude: n_bins={bins} exceeds the {n // 2 + 1} rfft bins of {n} samples")
        return bins

    def call(self, inputs):
        waveforms = ops.cast(inputs, "float32")  # [batch, n]
        n = waveforms.shape[-1]
        if n is None:
            raise ConfigError("FFTMagnitude needs a static clip length (build the model with a fixed num_samples)")
        bins = self._bins(n)
        native = native_spectra()
        if native is not None:
            return native.rfft_magnitude(waveforms, bins)
        real, imag = ops.rfft(waveforms)  # [batch, n // 2 + 1] each
        return complex_magnitude(real[..., :bins], imag[..., :bins])

    def compute_output_shape(self, input_shape):
        n = input_shape[-1]
        return (*input_shape[:-1], None if n is None else self._bins(n))

    def get_config(self):
        config = super().get_config()
        config.update(n_bins=self.n_bins)
        return config
