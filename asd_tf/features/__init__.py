"""Feature front-end layers (serialisable Keras layers, waveform -> features).

- :class:`STFTMagnitude` (``stft.py``): linear STFT magnitude, Hann window.
- :class:`FFTMagnitude` (``spectrum.py``): ``|FFT|`` of the whole clip, first half.
- :class:`TemporalMeanNormalization` (``normalization.py``): subtract the mean over time.
- :class:`LogMelSpectrogram` (``logmel.py``): log-mel spectrogram.

Names are resolved lazily so importing the package does not import TensorFlow.
"""

from __future__ import annotations

from ..lazy import lazy_getattr

_EXPORTS: dict[str, str] = {
    "STFTMagnitude": "stft",
    "spectrogram_shape": "stft",
    "FFTMagnitude": "spectrum",
    "TemporalMeanNormalization": "normalization",
    "LogMelSpectrogram": "logmel",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
