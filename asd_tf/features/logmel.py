"""Log-mel spectrogram as a serialisable Keras layer.

The log-mel front-end of STgram-MFN, TASTgram, FGASpecNet (Jiang et al.,
Mathematics 2026, Sec. 2.1.2 and 3.1.1: torchaudio, 128 mel filters, frame
shift 512, ``log(H_M |STFT|^2)``, mel(f) = 2595 log10(1 + f / 700)) and of the
low-complexity attention model (Neri & Carli, IEEE Sens. Lett. 2024, Sec. II-A:
64 ms Hann window, 50 % overlap, ``20 log10 H_Mel(STFT)``, 313 x 128 for 10 s).

The mel filter bank is built here in NumPy rather than with
``tf.signal.linear_to_mel_weight_matrix``: TensorFlow draws its triangles in
the mel domain and drops the DC bin, whereas the papers' torchaudio
(``melscale_fbanks``, ``mel_scale="htk"``, ``norm=None``) and librosa
(``librosa.filters.mel``) draw them linearly in Hz between mel-spaced corner
frequencies. The defaults (``mel_scale="htk"``, ``mel_norm=None``,
``center=True``, ``pad_mode="reflect"``, power 2, ``10 log10``) reproduce
torchaudio's ``MelSpectrogram`` + ``AmplitudeToDB`` and
``librosa.power_to_db(librosa.feature.melspectrogram(..., htk=True, norm=None,
pad_mode="reflect"), ref=1, top_db=None)``. ``mel_scale="slaney"`` with
``mel_norm="slaney"`` reproduces librosa's own defaults.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ..errors import ConfigError
from .stft import complex_magnitude

_WINDOWS = ("hann", "hamming")
_LOG_MODES = ("db", "natural", "none")
_PAD_MODES = ("reflect", "constant")


def hz_to_mel(frequencies: np.ndarray, mel_scale: str = "htk") -> np.ndarray:
    """Hz -> mel. ``htk``: 2595 log10(1 + f/700); ``slaney``: linear below 1 kHz, log above (librosa)."""
    f = np.asarray(frequencies, dtype=np.float64)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    if mel_scale == "slaney":
        f_sp = 200.0 / 3.0  # 66.67 Hz per mel below the break
        min_log_hz = 1000.0
        min_log_mel = min_log_hz / f_sp
        logstep = math.log(6.4) / 27.0
        mel = f / f_sp
        above = f >= min_log_hz
        return np.where(above, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, mel)
    raise ConfigError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")


def mel_to_hz(mels: np.ndarray, mel_scale: str = "htk") -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if mel_scale == "slaney":
        f_sp = 200.0 / 3.0
        min_log_hz = 1000.0
        min_log_mel = min_log_hz / f_sp
        logstep = math.log(6.4) / 27.0
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)
    raise ConfigError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")


def mel_filter_bank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    mel_scale: str = "htk",
    norm: str | None = None,
) -> np.ndarray:
    """Triangular mel filters ``[n_fft // 2 + 1, n_mels]`` (linear-frequency bins x mel bands).

    Corner frequencies are ``n_mels + 2`` points equally spaced on the mel
    scale between ``f_min`` and ``f_max``; each triangle rises and falls linearly
    in Hz (as librosa and torchaudio do). ``norm="slaney"`` divides each filter
    by half its bandwidth in Hz (constant energy per band).
    """
    f_max = sample_rate / 2.0 if f_max is None else float(f_max)
    if not 0.0 <= f_min < f_max <= sample_rate / 2.0:
        raise ConfigError(f"mel filter bank needs 0 <= f_min ({f_min}) < f_max ({f_max}) <= sample_rate/2")
    if norm not in (None, "slaney"):
        raise ConfigError(f"mel_norm must be None or 'slaney', got {norm!r}")
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)  # [bins]
    mel_points = np.linspace(hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale), n_mels + 2)
    hz_points = mel_to_hz(mel_points, mel_scale)  # [n_mels + 2]
    widths = np.diff(hz_points)  # [n_mels + 1]
    ramps = hz_points[:, None] - fft_freqs[None, :]  # [n_mels + 2, bins]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))  # [n_mels, bins]
    if norm == "slaney":
        weights *= (2.0 / (hz_points[2:] - hz_points[:-2]))[:, None]
    return weights.T.astype(np.float32)


def _window(name: str, length: int) -> np.ndarray:
    """Periodic (DFT-even) window, as ``torch.hann_window`` and ``scipy.signal.get_window`` give."""
    n = np.arange(length, dtype=np.float64)
    if name == "hann":
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)
    if name == "hamming":
        return 0.54 - 0.46 * np.cos(2.0 * np.pi * n / length)
    raise ConfigError(f"window must be one of {_WINDOWS}, got {name!r}")


def logmel_frames(num_samples: int, hop_length: int = 512, n_fft: int = 1024, center: bool = True) -> int:
    """Number of frames :class:`LogMelSpectrogram` yields for ``num_samples`` samples (313 for 160000)."""
    if center:
        return 1 + num_samples // hop_length
    if num_samples < n_fft:
        raise ConfigError(f"clips of {num_samples} samples are shorter than one frame ({n_fft}) with center=False")
    return 1 + (num_samples - n_fft) // hop_length


@keras.saving.register_keras_serializable(package="asd_tf")
class LogMelSpectrogram(keras.layers.Layer):
    """Log-mel spectrogram of waveforms, ``[batch, samples] -> [batch, frames, n_mels]``.

    Args:
        sample_rate: sampling rate in Hz (16000 in all DCASE Task 2 datasets).
        n_fft: FFT length in samples (1024 = 64 ms at 16 kHz; FGASpecNet states 2048).
        hop_length: frame shift in samples (512 = 50 % overlap).
        win_length: window length (``None``: ``n_fft``); a shorter window is
            centred in the ``n_fft`` frame with zeros around it (torch/librosa).
        window: ``"hann"`` or ``"hamming"`` (periodic).
        n_mels: number of mel bands (128 in the papers).
        f_min, f_max: frequency range of the filter bank (``f_max=None``: Nyquist).
        power: exponent of the STFT magnitude before the mel filters (2: power, 1: magnitude).
        mel_scale: ``"htk"`` (torchaudio default, the papers) or ``"slaney"`` (librosa default).
        mel_norm: ``None`` (torchaudio default) or ``"slaney"`` (librosa default).
        center: pad ``n_fft // 2`` samples on both sides so frame ``t`` is centred
            on sample ``t * hop_length``; 313 frames for 10 s at hop 512.
        pad_mode: ``"reflect"`` (torchaudio) or ``"constant"`` (librosa >= 0.10).
        log: ``"db"``: ``(20 / power) log10``, i.e. ``10 log10`` for power
            (``power=2``) and ``20 log10`` for magnitude (``power=1``) mel values, i.e. ``librosa.power_to_db`` /
            ``amplitude_to_db`` with ``ref=1`` and no ``top_db``; ``"natural"``:
            ``ln``; ``"none"``: no log.
        amin: floor applied before the log (``1e-10``, torchaudio/librosa default).
        **kwargs: base layer arguments; ``dtype`` defaults to ``"float32"``.

    Call arguments:
        inputs: waveforms ``[batch, num_samples]``.

    Returns:
        ``[batch, frames, n_mels]`` float32, time-major.

    Example:
        >>> LogMelSpectrogram()(np.zeros([2, 160000], "float32")).shape  # (2, 313, 128)

    References:
        Liu et al., "Anomalous sound detection using spectral-temporal information
        fusion", ICASSP 2022; Neri & Carli, IEEE Sens. Lett. 8, 6014404, 2024;
        Jiang et al., Mathematics 14(3), 530, 2026, Eq. for F_LM.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 512,
        win_length: int | None = None,
        window: str = "hann",
        n_mels: int = 128,
        f_min: float = 0.0,
        f_max: float | None = None,
        power: float = 2.0,
        mel_scale: str = "htk",
        mel_norm: str | None = None,
        center: bool = True,
        pad_mode: str = "reflect",
        log: str = "db",
        amin: float = 1e-10,
        **kwargs,
    ):
        # The FFT and the log need float32 even under a mixed-precision policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.win_length = None if win_length is None else int(win_length)
        self.window = str(window)
        self.n_mels = int(n_mels)
        self.f_min = float(f_min)
        self.f_max = None if f_max is None else float(f_max)
        self.power = float(power)
        self.mel_scale = str(mel_scale)
        self.mel_norm = mel_norm
        self.center = bool(center)
        self.pad_mode = str(pad_mode)
        self.log = str(log)
        self.amin = float(amin)
        if self.n_fft <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ConfigError(
                f"LogMelSpectrogram: n_fft ({n_fft}), hop_length ({hop_length}) and n_mels ({n_mels}) must be positive"
            )
        win = self.n_fft if self.win_length is None else self.win_length
        if not 0 < win <= self.n_fft:
            raise ConfigError(f"LogMelSpectrogram: win_length ({win_length}) must be in 1..n_fft ({n_fft})")
        if self.pad_mode not in _PAD_MODES:
            raise ConfigError(f"LogMelSpectrogram: pad_mode must be one of {_PAD_MODES}, got {pad_mode!r}")
        if self.log not in _LOG_MODES:
            raise ConfigError(f"LogMelSpectrogram: log must be one of {_LOG_MODES}, got {log!r}")
        if self.power <= 0:
            raise ConfigError(f"LogMelSpectrogram: power must be positive, got {power}")
        # Zero-pad a short window to n_fft, centred, as torch.stft and librosa do.
        window_values = np.zeros(self.n_fft, dtype=np.float64)
        start = (self.n_fft - win) // 2
        window_values[start : start + win] = _window(self.window, win)
        self._window_values = window_values.astype(np.float32)
        self._mel_matrix = mel_filter_bank(
            self.sample_rate, self.n_fft, self.n_mels, self.f_min, self.f_max, self.mel_scale, self.mel_norm
        )  # [bins, n_mels]; a constant, not a weight, so it never counts as a parameter

    def call(self, inputs):
        x = ops.cast(inputs, "float32")  # [batch, samples]
        if self.center:
            pad = self.n_fft // 2
            widths = [[0, 0]] * (len(x.shape) - 1) + [[pad, pad]]
            x = ops.pad(x, widths, mode="reflect" if self.pad_mode == "reflect" else "constant")
        # Frames of n_fft samples every hop_length, times the (zero-padded) window, then rfft.
        real, imag = ops.stft(
            x, self.n_fft, self.hop_length, self.n_fft, window=self._window_values, center=False
        )  # [batch, frames, bins] each
        if self.power == 2.0:
            values = ops.square(real) + ops.square(imag)  # |X|^2 without a square root
        elif self.power == 1.0:
            values = complex_magnitude(real, imag)
        else:
            values = ops.power(complex_magnitude(real, imag), self.power)
        mel = ops.matmul(values, self._mel_matrix)  # [batch, frames, n_mels]
        if self.log == "none":
            return mel
        floored = ops.maximum(mel, self.amin)
        if self.log == "natural":
            return ops.log(floored)
        # dB of the underlying amplitude: 10 log10 of powers (power=2), 20 log10 of
        # magnitudes (power=1), i.e. librosa's power_to_db / amplitude_to_db with ref=1.
        factor = 20.0 / self.power
        return factor * ops.log(floored) / math.log(10.0)

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else logmel_frames(samples, self.hop_length, self.n_fft, self.center)
        return (input_shape[0], frames, self.n_mels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "n_fft": self.n_fft,
                "hop_length": self.hop_length,
                "win_length": self.win_length,
                "window": self.window,
                "n_mels": self.n_mels,
                "f_min": self.f_min,
                "f_max": self.f_max,
                "power": self.power,
                "mel_scale": self.mel_scale,
                "mel_norm": self.mel_norm,
                "center": self.center,
                "pad_mode": self.pad_mode,
                "log": self.log,
                "amin": self.amin,
            }
        )
        return config
