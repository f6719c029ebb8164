"""Submission files in the official format and the gamma decision threshold."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import scipy.stats

from asd_tf.errors import ConfigError
from asd_tf.evaluation.submission import (
    gamma_threshold,
    percentile_threshold,
    read_submission,
    submission_file_names,
    write_submission,
    write_submissions,
)
from records_helpers import Rec


def test_gamma_threshold_equals_scipy_ppf():
    rng = np.random.default_rng(0)
    sample = rng.gamma(shape=3.0, scale=0.05, size=300) + 0.1
    shape, loc, scale = scipy.stats.gamma.fit(sample)
    expected = scipy.stats.gamma.ppf(0.9, shape, loc=loc, scale=scale)
    assert gamma_threshold(sample) == pytest.approx(expected, rel=1e-9)
    # a sensible 90th percentile of this sample
    assert np.percentile(sample, 85) < gamma_threshold(sample) < np.percentile(sample, 95)


def test_gamma_threshold_degenerate_inputs():
    assert gamma_threshold([0.3] * 8) == 0.3
    with pytest.raises(ConfigError):
        gamma_threshold([])
    with pytest.raises(ConfigError):
        gamma_threshold([0.1, float("nan")])
    assert percentile_threshold(np.arange(11.0)) == pytest.approx(9.0)


def test_write_submission_official_format(tmp_path):
    files = [f"/data/fan/test/section_00_source_test_normal_{i:04d}_noAttribute.wav" for i in range(5)]
    scores = np.array([0.1, 0.25, 0.9, 1e-7, 0.5])
    decisions = (scores > 0.3).astype(int)
    sp, dp = write_submission(tmp_path, "fan", "00", files, scores, decisions)
    assert sp.name == "anomaly_score_fan_section_00_test.csv"
    assert dp.name == "decision_result_fan_section_00_test.csv"
    with open(sp, newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 5 and all(len(r) == 2 for r in rows)  # no header, 2 columns, one row per file
    assert [r[0] for r in rows] == [f.rsplit("/", 1)[1] for f in files]
    np.testing.assert_array_equal([float(r[1]) for r in rows], scores)  # repr round-trips exactly
    with open(dp, newline="") as fh:
        drows = list(csv.reader(fh))
    assert [r[1] for r in drows] == ["0", "0", "1", "0", "1"]
    assert read_submission(dp) == [(f.rsplit("/", 1)[1], float(v)) for f, v in zip(files, decisions)]
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left no temporary file


def test_write_submission_rejects_bad_input(tmp_path):
    with pytest.raises(ConfigError):
        write_submission(tmp_path, "fan", "00", ["a.wav"], [0.1, 0.2], [0, 1])
    with pytest.raises(ConfigError):
        write_submission(tmp_path, "fan", "00", ["a.wav"], [0.1], [2])
    with pytest.raises(ConfigError):
        write_submission(tmp_path, "fan", "00", ["a.wav"], [float("nan")], [0])
    bad = tmp_path / "bad.csv"
    bad.write_text("file,score,extra\n")
    with pytest.raises(ConfigError, match="3 columns"):
        read_submission(bad)


def test_file_naming_per_dataset():
    assert submission_file_names("valve", "04", "dcase2020") == ("anomaly_score_valve_id_04.csv", "decision_result_valve_id_04.csv")
    assert submission_file_names("gearbox", "03", "dcase2021", "target")[0] == "anomaly_score_gearbox_section_03_target_test.csv"
    assert submission_file_names("ToyCar", "00", "dcase2023")[1] == "decision_result_ToyCar_section_00_test.csv"
    with pytest.raises(ConfigError):
        submission_file_names("gearbox", "03", "dcase2021")


def test_write_submissions_thresholds_from_training_scores(tmp_path):
    rng = np.random.default_rng(1)
    train = [Rec(path=f"/t/train_{i}.wav", split="train", section=s) for i, s in enumerate(["00"] * 40 + ["01"] * 40)]
    train_scores = np.concatenate([rng.gamma(2.0, 0.1, 40), rng.gamma(2.0, 0.1, 40) + 1.0])
    test = [Rec(path=f"/t/test_{i}.wav", section=s) for i, s in enumerate(["00"] * 6 + ["01"] * 4)]
    test_scores = rng.uniform(0, 2, 10)
    thr = write_submissions(tmp_path, test, test_scores, train, train_scores)
    assert thr["fan/00"] == pytest.approx(gamma_threshold(train_scores[:40]))
    assert thr["fan/01"] == pytest.approx(gamma_threshold(train_scores[40:]))
    rows = read_submission(tmp_path / "decision_result_fan_section_01_test.csv")
    assert [int(v) for _, v in rows] == [int(s > thr["fan/01"]) for s in test_scores[6:]]
    assert len(read_submission(tmp_path / "anomaly_score_fan_section_00_test.csv")) == 6
