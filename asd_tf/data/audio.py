"""Read one clip as a fixed-length mono waveform at 16 kHz (docs/design.md, "Data layouts" and "The reference system").

The reference system uses the first 10 s of each clip (160000 samples at
16 kHz; paper Sec. IV-B). :func:`load_audio` decodes with soundfile, averages
the channels, resamples with librosa when the file is not at the target rate,
and crops or zero-pads to ``num_samples``. It is the reference the in-graph
fast path of :mod:`asd_tf.data.pipeline` is tested against.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass

import numpy as np

from ..errors import AudioError, ConfigError


@dataclass(frozen=True)
class AudioConfig:
    """Target sample rate and length (defaults: 16 kHz, first 10 s = 160000 samples)."""

    sample_rate: int = 16000
    num_samples: int = 160000

    def __post_init__(self) -> None:
        for name in ("sample_rate", "num_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ConfigError(f"AudioConfig.{name} must be a positive integer, got {value!r}")

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    def fingerprint(self) -> str:
        """Short stable hash of the settings (part of cache keys)."""
        text = f"audio-v1;sr={int(self.sample_rate)};n={int(self.num_samples)}"
        return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of one audio file."""

    sample_rate: int
    channels: int
    frames: int
    format: str  # soundfile container name, e.g. "WAV"
    subtype: str  # soundfile sample format, e.g. "PCM_16"


def probe_audio(path: str | os.PathLike) -> AudioInfo:
    """Read the header only; AudioError if it is not a readable audio file."""
    import soundfile as sf

    try:
        info = sf.info(os.fspath(path))
    except Exception as exc:  # soundfile raises several types (LibsndfileError, RuntimeError, OSError)
        raise AudioError(str(path), f"cannot read audio header ({exc})") from exc
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), str(info.format), str(info.subtype))


def fit_length(waveform: np.ndarray, num_samples: int) -> np.ndarray:
    """Keep the first ``num_samples`` samples, zero-padding at the end if shorter."""
    if waveform.shape[0] >= num_samples:
        return waveform[:num_samples]
    return np.pad(waveform, (0, num_samples - waveform.shape[0]))


def load_audio(path: str | os.PathLike, config: AudioConfig = AudioConfig()) -> np.ndarray:
    """Mono float32 waveform ``[config.num_samples]`` in [-1, 1) for PCM input.

    Steps: decode (soundfile) -> mean over channels -> resample to
    ``config.sample_rate`` (librosa, soxr high quality) -> crop/pad.
    Raises AudioError for unreadable or empty files and non-finite samples.
    """
    import soundfile as sf

    path = os.fspath(path)
    try:
        with sf.SoundFile(path) as fh:
            sr = int(fh.samplerate)
            if fh.frames == 0:
                raise AudioError(path, "file holds no samples")
            # At the target rate only the first num_samples frames are needed; when
            # resampling, read enough source frames to cover them plus filter context.
            if sr == config.sample_rate:
                frames = config.num_samples
            else:
                frames = int(math.ceil(config.num_samples * sr / config.sample_rate)) + sr // 10
            data = fh.read(frames=frames, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(path, f"cannot decode audio ({exc})") from exc
    if data.shape[0] == 0:
        raise AudioError(path, "file holds no samples")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "audio contains NaN or infinite samples")

    # Channel mean: the reference recordings are mono; multi-channel input is downmixed.
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    if sr != config.sample_rate:
        import librosa

        mono = librosa.resample(mono, orig_sr=sr, target_sr=config.sample_rate).astype(np.float32)
    return np.ascontiguousarray(fit_length(mono, config.num_samples), dtype=np.float32)
