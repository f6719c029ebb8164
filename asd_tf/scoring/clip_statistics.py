"""Clip-statistics nearest-neighbour scores (the ``logmel_knn`` baseline system and the synthetic calibration).

Each clip is summarised by the mean and standard deviation over time of its
log-mel spectrogram (128 mels, n_fft 1024, hop 512; 256 numbers); features
are standardised with the section's training clips, and the anomaly score of
a test clip is the Euclidean distance to the nearest training clip of its
section. It measures how much of an anomaly is visible in *global* clip
statistics.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from ..errors import MetricError
from .base import ScoringBackend


def clip_statistics(path: str | os.PathLike, sample_rate: int = 16000) -> np.ndarray:
    """Mean and standard deviation over time of the clip's log-mel spectrogram (256 values)."""
    import librosa
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != sample_rate:
        x = librosa.resample(x, orig_sr=sr, target_sr=sample_rate)
    mel = librosa.feature.melspectrogram(y=x, sr=sample_rate, n_fft=1024, hop_length=512, n_mels=128, power=2.0)
    logmel = 10.0 * np.log10(mel + 1e-10)
    return np.concatenate([logmel.mean(axis=1), logmel.std(axis=1)])


def _standardised_training(train_feats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train [N_train, F], mean [F], std [F])``: training features standardised with their mean and std (+1e-8)."""
    train_feats = np.asarray(train_feats, dtype=np.float64)
    if train_feats.ndim != 2 or train_feats.shape[0] == 0:
        raise MetricError(f"nearest_neighbour_scores: need [clips, features] training features, got {train_feats.shape}")
    mu = train_feats.mean(axis=0)
    sd = train_feats.std(axis=0) + 1e-8
    return (train_feats - mu) / sd, mu, sd


def nearest_test_scores(train_feats: np.ndarray, test_feats: np.ndarray) -> np.ndarray:
    """Test scores ``[N_test]`` of :func:`nearest_neighbour_scores` alone (no training-clip distances)."""
    from scipy.spatial.distance import cdist

    ftr, mu, sd = _standardised_training(train_feats)
    fte = (np.asarray(test_feats, dtype=np.float64).reshape(-1, ftr.shape[1]) - mu) / sd
    return cdist(fte, ftr).min(axis=1) if fte.shape[0] else np.zeros(0)


def leave_one_out_train_scores(train_feats: np.ndarray) -> np.ndarray:
    """Training scores ``[N_train]`` of :func:`nearest_neighbour_scores` alone (no test clips)."""
    from scipy.spatial.distance import cdist

    ftr = _standardised_training(train_feats)[0]
    if ftr.shape[0] < 2:
        return np.zeros(ftr.shape[0])
    within = cdist(ftr, ftr)
    np.fill_diagonal(within, np.inf)
    return within.min(axis=1)


def nearest_neighbour_scores(train_feats: np.ndarray, test_feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(test [N_test], train [N_train])`` of one section from clip features.

    Features are standardised with the training clips' mean and standard
    deviation (+1e-8); a test clip's score is its Euclidean distance to the
    nearest training clip. A training clip's score (for the decision
    threshold) is its distance to the nearest *other* training clip, since its
    own distance is zero; with a single training clip it is 0.
    """
    return nearest_test_scores(train_feats, test_feats), leave_one_out_train_scores(train_feats)


class LogmelKNNBackend(ScoringBackend):
    """The ``logmel_knn`` baseline as a per-section backend: :func:`nearest_neighbour_scores` on clip statistics.

    Inputs are :func:`clip_statistics` features ``[N, 256]`` of a section's clips
    (no model); ``score_train`` gives the leave-one-out training scores.
    """

    name = "logmel_knn"
    inputs = "clip_statistics"

    def __init__(self) -> None:
        self._train: np.ndarray | None = None

    def fit(self, train_feats: np.ndarray, train_records: Sequence[Any]) -> "LogmelKNNBackend":
        """Keep the section's training features ``[N_train, F]``."""
        self._train = np.asarray(train_feats, dtype=np.float64)
        return self

    def score(self, feats: np.ndarray, records: Sequence[Any]) -> np.ndarray:
        """Distance ``[N]`` of each clip's standardised features to the nearest training clip."""
        self._require_fitted("score", self._train)
        return nearest_test_scores(self._train, feats)

    def score_train(self) -> np.ndarray:
        """Distance ``[N_train]`` of each training clip to the nearest *other* one (0 for a single clip)."""
        self._require_fitted("score_train", self._train)
        return leave_one_out_train_scores(self._train)
