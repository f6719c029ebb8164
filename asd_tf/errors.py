"""Exception types raised by asd_tf.

Every error names the offending file (or object) and says what is wrong and
what to do, so a user never has to read a traceback to act on it.

Errors about what a user gave (settings, data, labels, scores) are also ``ValueError``
(``except ValueError`` catches them, as it catches NumPy's and scikit-learn's); a
library used in the wrong order (a scoring backend asked for scores before ``fit``)
raises :class:`NotFittedError`, a ``RuntimeError``, never a user-input error.
"""

from __future__ import annotations


class ASDError(Exception):
    """Base class of all asd_tf errors."""


class DatasetError(ASDError, ValueError):
    """A directory is not a readable DCASE-style dataset (missing folders, no clips).

    Also the error for a section without training clips (nothing to fit or threshold on),
    wherever that is found (scoring, evaluation, baselines, explain).
    """


class FileNameError(DatasetError):
    """A file name does not match any known DCASE naming pattern."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class AudioError(ASDError, ValueError):
    """An audio file cannot be decoded or holds invalid samples (empty, NaN/inf, corrupt)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class LabelError(ASDError, ValueError):
    """Labels are missing or inconsistent (unknown label set, ground truth does not match files)."""


class ConfigError(ASDError, ValueError):
    """A configuration value is unknown or out of range."""


class RunError(ASDError):
    """A run directory is missing, incomplete or from an incompatible version."""


class TrainingError(ASDError):
    """Training cannot continue (non-finite loss, diverging scale)."""


class MetricError(ASDError, ValueError):
    """A metric is undefined for the given scores/labels (e.g. only one class present)."""


class NotFittedError(ASDError, RuntimeError):
    """A fitted object (a scoring backend) was used before ``fit`` (scikit-learn's name): a programming error."""
