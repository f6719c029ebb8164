"""Exception types raised by asd_tf.

Every error names the offending file (or object) and says what is wrong and
what to do, so a user never has to read a traceback to act on it.
"""

from __future__ import annotations


class ASDError(Exception):
    """Base class of all asd_tf errors."""


class DatasetError(ASDError):
    """A directory is not a readable DCASE-style dataset (missing folders, no clips)."""


class FileNameError(DatasetError):
    """A file name does not match any known DCASE naming pattern."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class AudioError(ASDError):
    """An audio file cannot be decoded or holds invalid samples (empty, NaN/inf, corrupt)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class LabelError(ASDError):
    """Labels are missing or inconsistent (unknown label set, ground truth does not match files)."""


class ConfigError(ASDError):
    """A configuration value is unknown or out of range."""


class RunError(ASDError):
    """A run directory is missing, incomplete or from an incompatible version."""


class TrainingError(ASDError):
    """Training cannot continue (non-finite loss, diverging scale)."""


class MetricError(ASDError):
    """A metric is undefined for the given scores/labels (e.g. only one class present)."""
