"""Anomaly scoring backends on NumPy embeddings, per section (paper Sec. IV-B)."""

from asd_tf.scoring.backends import (
    BACKENDS,
    ScoringBackend,
    backend_options,
    ensemble_scores,
    group_by_section,
    make_backend,
    score_dataset,
)
from asd_tf.scoring.class_loss import ClassLossBackend, class_loss_options
from asd_tf.scoring.density import DensityBackend
from asd_tf.scoring.ensemble import COMBINE_METHODS, combine_scores, standardise_by_section
from asd_tf.scoring.kmeans import KMeansBackend, cosine_distances, l2_normalize
from asd_tf.scoring.knn import KNNBackend
from asd_tf.scoring.knn_smote import KNNSmoteBackend
from asd_tf.scoring.posterior import ClassPosteriorBackend, log_softmax

__all__ = [
    "BACKENDS",
    "COMBINE_METHODS",
    "ClassLossBackend",
    "ClassPosteriorBackend",
    "DensityBackend",
    "KMeansBackend",
    "KNNBackend",
    "KNNSmoteBackend",
    "ScoringBackend",
    "backend_options",
    "class_loss_options",
    "combine_scores",
    "cosine_distances",
    "ensemble_scores",
    "group_by_section",
    "l2_normalize",
    "log_softmax",
    "make_backend",
    "score_dataset",
    "standardise_by_section",
]
