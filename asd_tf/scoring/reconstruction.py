"""Anomaly scores of the official DCASE autoencoder baseline: ``MSE`` and ``MAHALA``.

Facts from the public code (``nttcslab/dcase2023_task2_baseline_ae``,
``networks/dcase2023t2_ae/dcase2023t2_ae.py`` and ``networks/criterion/mahala.py``):

* ``MSE``: the mean squared reconstruction error over all frame windows of
  the clip and all their 640 values.
* ``MAHALA`` (DCASE 2023 on): each 640-d error vector ``x - x_hat`` of a window
  is cut into its 5 frames of 128 mels (``view(-1, 128)``). Covariances of
  those 128-d error rows are estimated on the training clips, one for the
  source domain and one for the target domain (the source one when there is no
  target clip). A clip's score is ``mean_ij e_i^T C^-1 e_j`` over its rows
  ``e_i``, which equals ``e_bar^T C^-1 e_bar`` for the clip's mean error row
  ``e_bar``: the squared Mahalanobis distance of ``e_bar`` from zero. The
  score is the smaller of the source and target values.

Two details differ from the public code and change no ranking: the covariance
here is the unbiased covariance of the rows (``np.cov``); the public code
centres each batch on its own mean and divides by the number of windows minus
one rather than the number of rows, which scales both covariances by about
the number of frames (5), hence every score by a common constant. The
inverse is the pseudo-inverse (equal to the inverse for a full-rank
covariance; defined when a domain has too few rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError


def error_rows(inputs: np.ndarray, reconstructions: np.ndarray, n_mels: int = 128) -> np.ndarray:
    """Reconstruction errors ``x - x_hat`` of ``[n, frames * n_mels]`` windows as ``[n * frames, n_mels]`` rows."""
    inputs = np.asarray(inputs, dtype=np.float64)
    reconstructions = np.asarray(reconstructions, dtype=np.float64)
    if inputs.shape != reconstructions.shape or inputs.ndim != 2 or inputs.shape[1] % n_mels:
        raise ConfigError(
            f"error_rows: inputs {inputs.shape} and reconstructions {reconstructions.shape} must be equal "
            f"[windows, frames x {n_mels}] arrays"
        )
    return (inputs - reconstructions).reshape(-1, n_mels)


def mse_score(inputs: np.ndarray, reconstructions: np.ndarray) -> float:
    """``MSE``: mean of ``(x - x_hat)^2`` over all windows of one clip and all their values."""
    diff = np.asarray(inputs, dtype=np.float64) - np.asarray(reconstructions, dtype=np.float64)
    if diff.size == 0:
        raise ConfigError("mse_score: the clip has no frame windows (shorter than 5 frames?)")
    return float(np.mean(diff**2))


@dataclass
class RowMoments:
    """Running count, sum and sum of outer products of error rows (one domain), for a covariance."""

    dim: int
    n: int = 0
    total: np.ndarray = field(init=False)
    outer: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.total = np.zeros(self.dim, dtype=np.float64)
        self.outer = np.zeros((self.dim, self.dim), dtype=np.float64)

    def add(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.float64)
        self.n += rows.shape[0]
        self.total += rows.sum(axis=0)
        self.outer += rows.T @ rows

    def covariance(self) -> np.ndarray:
        """Unbiased covariance (``np.cov(rows, rowvar=False)``) of every row added."""
        if self.n < 2:
            raise ConfigError(f"covariance of reconstruction errors needs at least 2 rows, got {self.n}")
        mean = self.total / self.n
        return (self.outer - self.n * np.outer(mean, mean)) / (self.n - 1)


def mahala_scores(mean_errors: np.ndarray, covariances: list[np.ndarray]) -> np.ndarray:
    """``MAHALA`` of clips with mean error rows ``[N, M]``: ``min_d e_bar^T C_d^-1 e_bar`` over the covariances."""
    e = np.asarray(mean_errors, dtype=np.float64)
    if e.ndim != 2:
        raise ConfigError(f"mahala_scores: expected [clips, mels] mean errors, got shape {e.shape}")
    if not covariances:
        raise ConfigError("mahala_scores: no covariance given")
    per_domain = []
    for cov in covariances:
        precision = np.linalg.pinv(np.asarray(cov, dtype=np.float64), hermitian=True)
        per_domain.append(np.einsum("ni,ij,nj->n", e, precision, e))
    return np.min(np.stack(per_domain), axis=0)
