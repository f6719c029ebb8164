"""RISE over a trained run: the importance map of any wav, scored by the run's own anomaly score (paper Sec. IV-E).

The score of a masked spectrogram is the run's anomaly score: the k-means
backend (:class:`asd_tf.scoring.KMeansBackend`, default options and the run's
seed, as ``asd-tf evaluate``) fitted on the training embeddings of the clip's
machine and section; the masks and the map are :mod:`asd_tf.explain.rise`.

Documented choice for a clip whose machine/section has no training clips in
the run's data (e.g. a real DCASE 2023 gearbox clip and a model trained on
synthetic data): by default the k-means centres are fitted on *all* the run's
training embeddings (every section pooled) and a warning is issued;
``allow_fallback=False`` raises :class:`DatasetError` naming the machine/section.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asd_tf.errors import ConfigError, DatasetError, RunError
from asd_tf.explain.run_loaders import clip_scope, open_run_data, run_embeddings

__all__ = [
    "RiseResult",
    "RiseExplainer",
    "require_spectrogram_run",
    "rise_for_clip",
    "SILENCE_PEAK",
    "silence_warning",
]


@dataclass
class RiseResult:
    """RISE map of one clip by one run, with what is needed to plot and measure it."""

    clip: str
    machine: str
    section: str | None  # None: the file name is not an official DCASE name
    spectrogram: np.ndarray  # [T, F] magnitude STFT (the embedder's input)
    importance: np.ndarray  # [T, F]
    clean_score: float  # the run's anomaly score of the unmasked spectrogram
    centres_from: str  # which training clips gave the k-means centres
    fallback: bool  # True when the clip's section had no training clips
    n_centres: int
    sample_rate: int
    hop: int
    n_fft: int
    n_masks: int
    seed: int

    @property
    def seconds_per_frame(self) -> float:
        return self.hop / self.sample_rate

    @property
    def hz_per_bin(self) -> float:
        return self.sample_rate / self.n_fft

    @property
    def time_offset_s(self) -> float:
        """Time of frame 0's centre: the STFT does not pad (``pad_end=False``, no centring)."""
        return 0.5 * self.n_fft / self.sample_rate

    def metadata(self) -> dict[str, Any]:
        keys = ("clip", "machine", "section", "clean_score", "centres_from", "fallback", "n_centres",
                "sample_rate", "hop", "n_fft", "n_masks", "seed")
        out = {k: getattr(self, k) for k in keys}
        out["shape"] = list(self.importance.shape)
        return out


def _stft_geometry(frontend: Any) -> tuple[int, int]:
    """``(frame_length, frame_step)`` of the frontend's STFT layer."""
    from asd_tf.features.stft import STFTMagnitude

    for layer in frontend.layers:
        if isinstance(layer, STFTMagnitude):
            return int(layer.frame_length), int(layer.frame_step)
    raise ConfigError(f"frontend {frontend.name!r} has no STFTMagnitude layer; RISE needs a magnitude spectrogram")


def require_spectrogram_run(run_dir: str | Path) -> None:
    """Raise :class:`ConfigError` unless the run's model has only the spectrogram branch (RISE's input)."""
    from asd_tf.runs import Run

    cfg = Run.open(run_dir).config
    if cfg.branches != "spectrogram":
        raise ConfigError(
            f"{run_dir}: RISE needs a spectrogram-only model (train with --branches spectrogram); "
            f"this run has branches={cfg.branches!r}, backbone={cfg.backbone!r}"
        )


class RiseExplainer:
    """RISE maps of clips by one run; keeps the model and the per-section k-means centres loaded.

    Args:
        run_dir: a trained run whose model has only the spectrogram branch
            (``--branches spectrogram``): its embedder takes ``{"spectrogram": [B, T, F]}``.
        allow_fallback: when the clip's machine/section has no training clips,
            fit the centres on all training clips (warning) instead of raising.
        batch_size: clips per batch when embedding training clips.
    """

    def __init__(self, run_dir: str | Path, allow_fallback: bool = True, batch_size: int = 64) -> None:
        require_spectrogram_run(run_dir)
        self.rd = open_run_data(run_dir)
        self.allow_fallback = bool(allow_fallback)
        self.batch_size = int(batch_size)
        self._members: dict[Path, tuple[Any, Any, Any]] = {}  # directory -> (frontend, embedder, (n_fft, hop))
        self._centres: dict[tuple[str, str], tuple[np.ndarray, str, bool]] = {}

    def _model(self, member: Any) -> tuple[Any, Any, tuple[int, int]]:
        if member.directory not in self._members:
            model = member.load_model()
            frontend, embedder = model.get_layer("frontend"), model.get_layer("embedder")
            keys = sorted(embedder.input.keys()) if isinstance(embedder.input, dict) else None
            if keys != ["spectrogram"]:
                raise ConfigError(
                    f"{member.model_path}: RISE needs an embedder that takes only {{'spectrogram': [B, T, F]}}; "
                    f"this one takes {keys if keys is not None else embedder.input}"
                )
            self._members[member.directory] = (frontend, embedder, _stft_geometry(frontend))
        return self._members[member.directory]

    def centres(self, machine: str, section: str | None) -> tuple[np.ndarray, str, bool]:
        """``(centres [K, D], description, fallback)`` of the k-means backend of ``machine``/``section``."""
        from asd_tf.scoring.kmeans import KMeansBackend

        key = (machine, section)
        if key not in self._centres:
            clips = [c for c in self.rd.train if (c.machine, c.section) == key]
            fallback = not clips
            if fallback:
                msg = (f"no training clips for {machine} section {section} in {self.rd.data_root}" if section
                       else f"the clip's file name gives no DCASE section (machine folder {machine!r})")
                if not self.allow_fallback:
                    raise DatasetError(msg + "; RISE needs that section's training embeddings for its k-means centres")
                if len(self.rd.run.members()) > 1:
                    raise RunError(f"{self.rd.run.directory}: {msg}, and this run has one model per section")
                warnings.warn(msg + "; k-means centres fitted on all training clips of the run instead", stacklevel=2)
                clips = list(self.rd.train)
                if not clips:
                    raise DatasetError(f"{self.rd.data_root}: no training clips at all")
                what = f"all {len(clips)} training clips (fallback)"
            else:
                what = f"{machine} section {section} ({len(clips)} training clips)"
            emb = run_embeddings(self.rd, clips, self.batch_size, False, "train")
            # The same backend and options as `asd-tf evaluate` (score_run): defaults, seed = run seed.
            backend = KMeansBackend(seed=self.rd.config.seed).fit(emb, clips)
            self._centres[key] = (backend.centres, what, fallback)
        return self._centres[key]

    def explain(
        self, wav_path: str | Path, n_masks: int, seed: int = 0, batch_size: int = 256, progress: bool = True
    ) -> RiseResult:
        """RISE map of one wav (cropped/padded to the run's ``num_samples``)."""
        import tensorflow as tf

        from asd_tf.data.audio import load_audio
        from asd_tf.explain.rise import make_kmeans_score_fn, rise_importance

        machine, section = clip_scope(wav_path)
        try:
            member = self.rd.run.member_for(machine, section or "")
        except RunError:
            member = self.rd.run.members()[0]  # only individual runs lack a model; centres() reports it
        frontend, embedder, (n_fft, hop) = self._model(member)
        centres, what, fallback = self.centres(machine, section)
        wave = load_audio(wav_path, self.rd.audio)  # [num_samples]
        silent = silence_warning(wave, wav_path)
        if silent:
            warnings.warn(silent, stacklevel=2)
        spec = np.asarray(frontend(tf.constant(wave[None]), training=False)["spectrogram"][0], np.float32)  # [T, F]

        def embed(x):
            return embedder(x, training=False)

        score_fn = make_kmeans_score_fn(embed, centres, input_key="spectrogram")
        clean = float(np.asarray(score_fn(tf.constant(spec[None])))[0])
        importance = rise_importance(spec, score_fn, n_masks=n_masks, batch_size=batch_size, seed=seed,
                                     progress=progress)
        return RiseResult(
            clip=str(Path(wav_path).resolve()), machine=machine, section=section, spectrogram=spec,
            importance=importance, clean_score=clean, centres_from=what, fallback=fallback,
            n_centres=int(centres.shape[0]), sample_rate=int(self.rd.audio.sample_rate), hop=hop, n_fft=n_fft,
            n_masks=int(n_masks), seed=int(seed),
        )


#: Peak below half a 16-bit step: nothing a 16-bit WAV could hold (digital silence).
SILENCE_PEAK = 0.5 / 32768.0


def silence_warning(wave: np.ndarray, wav_path: str | Path) -> str | None:
    """A one-line warning if ``wave`` (the clip as the model reads it) is digital silence, else ``None``.

    RISE on silence measures how the model reacts to masking nothing: the map is
    noise about the clip's score, not a localisation of any sound.
    """
    peak = float(np.max(np.abs(wave))) if np.size(wave) else 0.0
    if peak >= SILENCE_PEAK:
        return None
    return (f"{wav_path}: silent clip (peak {peak:.2g} of full scale); its RISE map shows no sound, "
            "only the model's response to masked silence")


def rise_for_clip(
    run_dir: str | Path,
    wav_path: str | Path,
    n_masks: int,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = True,
    allow_fallback: bool = True,
) -> RiseResult:
    """RISE map of one clip by one run (see :class:`RiseExplainer`); ``.spectrogram``, ``.importance`` [T, F]."""
    return RiseExplainer(run_dir, allow_fallback).explain(wav_path, n_masks, seed, batch_size, progress)
