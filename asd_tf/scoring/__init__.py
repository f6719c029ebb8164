"""Anomaly scoring backends on NumPy embeddings, per section (paper Sec. IV-B).

Every backend subclasses :class:`ScoringBackend` (:mod:`asd_tf.scoring.base`) and declares
what it consumes and takes from the run; :func:`score_member` (:mod:`asd_tf.scoring.driver`)
drives any registered backend from those declarations.
"""

from asd_tf.scoring.backends import (
    BACKENDS,
    ScoringBackend,
    backend_options,
    ensemble_scores,
    group_by_section,
    make_backend,
    score_dataset,
)
from asd_tf.scoring.base import INPUT_KINDS, LogitsBackend, RunContext
from asd_tf.scoring.class_loss import ClassLossBackend, class_loss_options
from asd_tf.scoring.clip_statistics import LogmelKNNBackend
from asd_tf.scoring.density import DensityBackend
from asd_tf.scoring.driver import backend_class, score_member
from asd_tf.scoring.ensemble import COMBINE_METHODS, combine_scores, standardise_by_section
from asd_tf.scoring.kmeans import KMeansBackend, cosine_distances, l2_normalize
from asd_tf.scoring.knn import KNNBackend
from asd_tf.scoring.knn_smote import KNNSmoteBackend
from asd_tf.scoring.posterior import ClassPosteriorBackend, log_softmax

__all__ = [
    "BACKENDS",
    "COMBINE_METHODS",
    "INPUT_KINDS",
    "ClassLossBackend",
    "ClassPosteriorBackend",
    "DensityBackend",
    "KMeansBackend",
    "KNNBackend",
    "KNNSmoteBackend",
    "LogitsBackend",
    "LogmelKNNBackend",
    "RunContext",
    "ScoringBackend",
    "backend_class",
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
    "score_member",
    "standardise_by_section",
]
