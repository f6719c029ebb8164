"""Data layer: DCASE dataset indexing, label sets, audio loading and the tf.data pipeline.

Importing this package stays light (no TensorFlow): ``make_dataset`` and
``make_file_dataset`` import TensorFlow only when called.
"""

from __future__ import annotations

from .audio import AudioConfig, AudioInfo, fit_length, load_audio, probe_audio
from .filenames import ParsedName, parse_attributes, parse_filename
from .ground_truth import GroundTruth, load_ground_truth, read_ground_truth
from .index import DatasetIndex, SupplementalClip, count_table, scan_dataset, select_clips
from .labels import LABEL_SETS, LabelSet, build_label_set, class_name, individual_groups
from .pipeline import (
    cache_path,
    clips_fingerprint,
    is_fast_wav,
    make_dataset,
    make_file_dataset,
    prepare_cache,
    tfio_available,
)
from .records import DATASETS, DOMAINS, LABELS, SPLITS, ClipRecord

__all__ = [
    "AudioConfig",
    "AudioInfo",
    "ClipRecord",
    "DATASETS",
    "DOMAINS",
    "DatasetIndex",
    "GroundTruth",
    "LABELS",
    "LABEL_SETS",
    "LabelSet",
    "ParsedName",
    "SPLITS",
    "SupplementalClip",
    "build_label_set",
    "cache_path",
    "class_name",
    "clips_fingerprint",
    "count_table",
    "fit_length",
    "individual_groups",
    "is_fast_wav",
    "load_audio",
    "load_ground_truth",
    "make_dataset",
    "make_file_dataset",
    "parse_attributes",
    "parse_filename",
    "prepare_cache",
    "probe_audio",
    "read_ground_truth",
    "scan_dataset",
    "select_clips",
    "tfio_available",
]
