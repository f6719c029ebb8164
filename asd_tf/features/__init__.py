"""Feature front-end layers (serialisable Keras layers, waveform -> features).

- :class:`STFTMagnitude` (``stft.py``): linear STFT magnitude, Hann window.
- :class:`FFTMagnitude` (``spectrum.py``): ``|FFT|`` of the whole clip, first half.
- :class:`TemporalMeanNormalization` (``normalization.py``): subtract the mean over time.
- :class:`LogMelSpectrogram` (``logmel.py``): log-mel spectrogram.

Names are resolved lazily so importing the package does not import TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "STFTMagnitude": "stft",
    "spectrogram_shape": "stft",
    "FFTMagnitude": "spectrum",
    "TemporalMeanNormalization": "normalization",
    "LogMelSpectrogram": "logmel",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
    return getattr(module, name)
