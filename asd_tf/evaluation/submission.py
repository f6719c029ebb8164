"""DCASE Task 2 submission files and the decision threshold.

File names (official naming of each year; no header, two columns):

- DCASE 2022/2023 (default): ``anomaly_score_<machine>_section_<XX>_test.csv``
  (``file,score``) and ``decision_result_<machine>_section_<XX>_test.csv``
  (``file,0|1``);
- DCASE 2021: one pair per section *and domain*:
  ``anomaly_score_<machine>_section_<XX>_<domain>_test.csv``;
- DCASE 2020: ``anomaly_score_<machine>_id_<XX>.csv``; the 2020 challenge
  asked for anomaly scores only, the decisions are written alongside as
  ``decision_result_<machine>_id_<XX>.csv`` for completeness.

``file`` is the base name of the wav.  Decision 1 = anomalous, i.e. score above
the section's threshold.

Threshold: as in the official DCASE baselines, a gamma distribution is fitted
to the section's *training* anomaly scores with ``scipy.stats.gamma.fit`` (all
three parameters free: shape, ``loc`` and ``scale``) and the threshold is its
90th percentile (``gamma.ppf(0.9, shape, loc, scale)``).  When the fit is
impossible (fewer than 2 distinct scores) or fails, the empirical percentile
of the training scores is used instead (documented fallback, never NaN).
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from asd_tf.errors import ConfigError, DatasetError
from asd_tf.io_utils import atomic_write_text


def gamma_threshold(train_scores: Sequence[float], q: float = 0.9) -> float:
    """``q``-quantile of a gamma distribution fitted (shape, loc, scale all free) to ``train_scores``."""
    import scipy.stats

    s = np.asarray(train_scores, dtype=np.float64).reshape(-1)
    if s.size == 0:
        raise ConfigError("gamma_threshold: no training scores to fit the threshold on")
    if not np.all(np.isfinite(s)):
        raise ConfigError("gamma_threshold: training scores contain NaN/inf")
    if not 0.0 < q < 1.0:
        raise ConfigError(f"gamma_threshold: q must be in (0, 1), got {q}")
    if np.unique(s).size < 2:
        return float(s[0])  # a gamma fit needs spread; every training clip has this score
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optimiser warnings on awkward samples; result checked below
            shape, loc, scale = scipy.stats.gamma.fit(s)
            thr = float(scipy.stats.gamma.ppf(q, shape, loc=loc, scale=scale))
    except Exception:
        thr = float("nan")
    if not np.isfinite(thr):
        thr = float(np.percentile(s, 100.0 * q))
    return thr


def percentile_threshold(train_scores: Sequence[float], q: float = 0.9) -> float:
    """Empirical ``q``-quantile of the training scores (the authors' public code uses the 90th percentile)."""
    s = np.asarray(train_scores, dtype=np.float64).reshape(-1)
    if s.size == 0:
        raise ConfigError("percentile_threshold: no training scores")
    return float(np.percentile(s, 100.0 * q))


def submission_file_names(machine: str, section: str, dataset: str = "dcase2022", domain: str | None = None) -> tuple[str, str]:
    """``(anomaly score file name, decision file name)`` for one section in the naming of ``dataset``."""
    section = str(section)
    if dataset == "dcase2020":
        stem = f"{machine}_id_{section}"
        return f"anomaly_score_{stem}.csv", f"decision_result_{stem}.csv"
    if dataset == "dcase2021":
        if domain not in ("source", "target"):
            raise ConfigError(f"DCASE 2021 submission files are per domain; got domain={domain!r} for {machine}/{section}")
        stem = f"{machine}_section_{section}_{domain}_test"
    else:
        stem = f"{machine}_section_{section}_test"
    return f"anomaly_score_{stem}.csv", f"decision_result_{stem}.csv"


def _csv_text(rows: Sequence[tuple[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue()


def write_submission(
    out_dir: str | os.PathLike,
    machine: str,
    section: str,
    file_names: Sequence[str],
    scores: Sequence[float],
    decisions: Sequence[int],
    dataset: str = "dcase2022",
    domain: str | None = None,
) -> tuple[Path, Path]:
    """Write the anomaly-score and decision CSVs of one section atomically; return their paths.

    ``file_names`` may be full paths; only the base names are written.
    """
    names = [os.path.basename(str(f)) for f in file_names]
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    d = np.asarray(decisions).reshape(-1)
    if not (len(names) == s.size == d.size):
        raise ConfigError(
            f"write_submission {machine}/{section}: {len(names)} files, {s.size} scores, {d.size} decisions"
        )
    if not np.all(np.isfinite(s)):
        raise ConfigError(f"write_submission {machine}/{section}: non-finite anomaly scores")
    if not np.all(np.isin(d, (0, 1))):
        raise ConfigError(f"write_submission {machine}/{section}: decisions must be 0 or 1")
    if len(set(names)) != len(names):
        raise ConfigError(f"write_submission {machine}/{section}: duplicate file names")
    score_name, decision_name = submission_file_names(machine, section, dataset, domain)
    out = Path(out_dir)
    score_path = atomic_write_text(out / score_name, _csv_text([(n, repr(float(v))) for n, v in zip(names, s)]))
    decision_path = atomic_write_text(out / decision_name, _csv_text([(n, str(int(v))) for n, v in zip(names, d)]))
    return score_path, decision_path


def read_submission(path: str | os.PathLike) -> list[tuple[str, float]]:
    """Rows ``(file, value)`` of a submission CSV; ``ConfigError`` if a row is not ``name,number``."""
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for line_no, row in enumerate(csv.reader(fh), start=1):
            if len(row) != 2:
                raise ConfigError(f"{path}: line {line_no} has {len(row)} columns, expected 2")
            try:
                rows.append((row[0], float(row[1])))
            except ValueError:
                raise ConfigError(f"{path}: line {line_no}: {row[1]!r} is not a number") from None
    return rows


def write_submissions(
    out_dir: str | os.PathLike,
    test_records: Sequence[Any],
    test_scores: Sequence[float],
    train_records: Sequence[Any],
    train_scores: Sequence[float],
    q: float = 0.9,
    threshold: str = "gamma",
) -> dict[str, float]:
    """Write the submission files of every section; return ``{"<machine>/<section>": threshold}``.

    The threshold of a section is fitted on its training clips' scores
    (``threshold="gamma"``: ``gamma_threshold``; ``"percentile"``: empirical).
    The dataset naming comes from the records' ``dataset`` field.
    """
    if threshold not in ("gamma", "percentile"):
        raise ConfigError(f"threshold must be 'gamma' or 'percentile', got {threshold!r}")
    fit = gamma_threshold if threshold == "gamma" else percentile_threshold
    test_scores = np.asarray(test_scores, dtype=np.float64)
    train_scores = np.asarray(train_scores, dtype=np.float64)
    if test_scores.shape[0] != len(test_records) or train_scores.shape[0] != len(train_records):
        raise ConfigError("write_submissions: scores and records differ in length")
    train_by: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(train_records):
        train_by.setdefault((r.machine, r.section), []).append(i)
    groups: dict[tuple[str, str, str | None], list[int]] = {}
    for i, r in enumerate(test_records):
        dom = r.domain if r.dataset == "dcase2021" else None
        groups.setdefault((r.machine, r.section, dom), []).append(i)
    thresholds: dict[str, float] = {}
    for (machine, section, dom), idx in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")):
        key = f"{machine}/{section}"
        if key not in thresholds:
            tr = train_by.get((machine, section))
            if not tr:
                raise DatasetError(f"write_submissions: no training scores for {machine}/section {section}")
            thresholds[key] = fit(train_scores[tr], q)
        s = test_scores[idx]
        write_submission(
            out_dir,
            machine,
            section,
            [test_records[i].path for i in idx],
            s,
            (s > thresholds[key]).astype(int),
            dataset=test_records[idx[0]].dataset,
            domain=dom,
        )
    return thresholds
