"""The exception types: user-input errors are ValueErrors, misuse is NotFittedError, one type per condition."""

from __future__ import annotations

import numpy as np
import pytest

from asd_tf import errors
from asd_tf.errors import ASDError, ConfigError, DatasetError, NotFittedError
from records_helpers import Rec, TrainRec

USER_INPUT_ERRORS = [errors.ConfigError, errors.DatasetError, errors.FileNameError, errors.AudioError,
                     errors.LabelError, errors.MetricError]


@pytest.mark.parametrize("cls", USER_INPUT_ERRORS, ids=lambda c: c.__name__)
def test_user_input_errors_are_value_errors(cls) -> None:
    args = ("clip.wav", "bad") if cls in (errors.FileNameError, errors.AudioError) else ("bad",)
    exc = cls(*args)
    assert isinstance(exc, ASDError) and isinstance(exc, ValueError)
    with pytest.raises(ValueError):  # caught like NumPy's / scikit-learn's bad-value errors
        raise exc


def test_not_fitted_is_a_runtime_error_not_a_user_input_error() -> None:
    exc = NotFittedError("kmeans backend: score() called before fit()")
    assert isinstance(exc, ASDError) and isinstance(exc, RuntimeError)
    assert not isinstance(exc, ValueError) and not isinstance(exc, ConfigError)


def test_nothing_catches_asd_errors_as_value_errors_in_the_cli(capsys) -> None:
    # the command line still reports every ASDError (a NotFittedError too) as "error:", exit status 2
    from asd_tf import commands

    assert commands.main(["index", "/no/such/dataset/dir"]) == 2
    assert "asd-tf index: error:" in capsys.readouterr().err


def _records(n: int, section: str = "00", train: bool = False) -> list:
    cls = TrainRec if train else Rec
    return [cls(path=f"{'train' if train else 'test'}/{section}_{i}.wav", section=section) for i in range(n)]


@pytest.mark.parametrize("name", ["kmeans", "knn", "knn_smote", "density", "class_posterior", "class_loss", "logmel_knn"])
def test_every_backend_used_before_fit_raises_not_fitted(name) -> None:
    from asd_tf.scoring.backends import make_backend
    from asd_tf.scoring.clip_statistics import LogmelKNNBackend

    backend = LogmelKNNBackend() if name == "logmel_knn" else make_backend(name)
    with pytest.raises(NotFittedError, match=rf"^{name} backend: score\(\) called before fit\(\)$"):
        backend.score(np.ones((2, 4)), _records(2))
    with pytest.raises(NotFittedError, match=rf"^{name} backend: score_train\(\) called before fit\(\)$"):
        backend.score_train()


def test_a_section_without_training_clips_is_a_dataset_error_everywhere(tmp_path) -> None:
    from asd_tf.evaluation.report import evaluate_scores
    from asd_tf.evaluation.submission import write_submissions
    from asd_tf.scoring.backends import score_dataset
    from asd_tf.scoring.ensemble import standardise_by_section

    train = _records(4, "00", train=True)
    test = _records(3, "00") + _records(2, "01")  # section 01 has test clips only
    train_s, test_s = np.linspace(0, 1, 4), np.linspace(0, 1, 5)
    rng = np.random.default_rng(0)
    with pytest.raises(DatasetError, match="no training clips for fan/section 01"):
        score_dataset("knn", rng.standard_normal((4, 3)), train, rng.standard_normal((5, 3)), test)
    with pytest.raises(DatasetError, match="no training scores for fan/section 01"):
        standardise_by_section(test_s, train_s, test, train)
    with pytest.raises(DatasetError, match="no training scores for fan/section 01"):
        evaluate_scores(test, test_s, train, train_s)
    with pytest.raises(DatasetError, match="no training scores for fan/section 01"):
        write_submissions(tmp_path, test, test_s, train, train_s)
    from asd_tf.evaluation.baselines import _score_logmel_knn

    with pytest.raises(DatasetError, match="section 01: no training clips"):  # was a RunError
        _score_logmel_knn(None, train, _records(2, "01"))
