"""Metrics (official DCASE definitions), submission files and result reports."""

from asd_tf.evaluation.metrics import (
    MAX_FPR,
    IdMetrics,
    SectionMetrics,
    auc,
    hmean,
    id_metrics,
    machine_type_summary,
    official_score,
    pauc,
    section_metrics,
    summary_hmeans,
    table2_summary,
)
from asd_tf.evaluation.report import evaluate_scores, format_summary, write_results
from asd_tf.evaluation.submission import (
    gamma_threshold,
    percentile_threshold,
    read_submission,
    submission_file_names,
    write_submission,
    write_submissions,
)

__all__ = [
    "MAX_FPR",
    "IdMetrics",
    "SectionMetrics",
    "auc",
    "evaluate_scores",
    "format_summary",
    "gamma_threshold",
    "hmean",
    "id_metrics",
    "machine_type_summary",
    "official_score",
    "pauc",
    "percentile_threshold",
    "read_submission",
    "section_metrics",
    "submission_file_names",
    "summary_hmeans",
    "table2_summary",
    "write_results",
    "write_submission",
    "write_submissions",
]
