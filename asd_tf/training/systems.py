"""Systems a user trains and scores by name (``asd-tf train --system NAME``).

* ``embedding`` (default): the toolkit's embedding model + auxiliary loss, scored
  by the backends of :mod:`asd_tf.scoring.backends` (``kmeans`` by default).
* ``dcase_ae``: the official DCASE Task 2 autoencoder baseline
  (:mod:`asd_tf.training.baselines`), scored by ``ae_mse`` (mean reconstruction
  error) or ``ae_mahala`` (Mahalanobis distance of the reconstruction error).
  Defaults follow the public code: 100 epochs, batch 256, Adam lr 1e-3; the
  whole clip up to 30 s (``num_samples`` caps it).
* ``logmel_knn``: no training; each clip is summarised by the mean and standard
  deviation over time of its log-mel spectrogram, and scored by the distance to
  the nearest training clip of its section (:mod:`asd_tf.scoring.clip_statistics`).
"""

from __future__ import annotations

from typing import Any

# What scores a run of each system lives with the run directory (read by evaluation too).
from ..runs import SYSTEM_BACKENDS, SYSTEMS, check_backends, default_backend, system_backends  # noqa: F401

#: TrainConfig settings of a system where neither a file nor a flag gives them.
SYSTEM_DEFAULTS: dict[str, dict[str, Any]] = {
    # public code baseline.yaml: epochs 100, batch_size 256, lr 0.001; whole clips (cap 30 s)
    "dcase_ae": {"backbone": "dcase_ae", "epochs": 100, "batch_size": 256, "learning_rate": 1e-3,
                 "num_samples": 480000, "mixup_prob": 0.0},
    "logmel_knn": {"backbone": "none", "mixup_prob": 0.0},
}


def apply_system_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the defaults of its ``system`` filled in where unset (a new dict)."""
    out = dict(values)
    for key, value in SYSTEM_DEFAULTS.get(out.get("system", "embedding"), {}).items():
        out.setdefault(key, value)
    return out
