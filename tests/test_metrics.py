"""Metrics vs hand-computed cases, pair counting, an explicit ROC integration and scipy.stats.hmean."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from asd_tf.errors import MetricError
from asd_tf.evaluation import metrics as M


def pair_auc(y, s):
    """AUC by counting (anomaly, normal) pairs; a tie counts one half."""
    pos = [v for v, t in zip(s, y) if t == 1]
    neg = [v for v, t in zip(s, y) if t == 0]
    total = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return total / (len(pos) * len(neg))


def ref_pauc(y, s, max_fpr=0.1):
    """ROC built by hand (distinct scores), area up to max_fpr with linear interpolation, McClish standardised."""
    y, s = np.asarray(y), np.asarray(s)
    order = np.argsort(-s)
    ys = y[order]
    tpr = np.concatenate([[0.0], np.cumsum(ys) / ys.sum()])
    fpr = np.concatenate([[0.0], np.cumsum(1 - ys) / (1 - ys).sum()])
    grid_f = [0.0]
    grid_t = [0.0]
    for f, t in zip(fpr[1:], tpr[1:]):
        if f > max_fpr:
            # interpolate the point at max_fpr between the previous and this one
            f0, t0 = grid_f[-1], grid_t[-1]
            grid_t.append(t0 + (t - t0) * (max_fpr - f0) / (f - f0))
            grid_f.append(max_fpr)
            break
        grid_f.append(f)
        grid_t.append(t)
    area = sum((grid_f[i + 1] - grid_f[i]) * (grid_t[i + 1] + grid_t[i]) / 2 for i in range(len(grid_f) - 1))
    min_a, max_a = max_fpr**2 / 2, max_fpr
    return 0.5 * (1 + (area - min_a) / (max_a - min_a))


def test_auc_hand_case_and_pair_counting_with_ties():
    assert M.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    y[:2] = [0, 1]
    s = rng.integers(0, 5, 40).astype(float)  # many ties
    assert M.auc(y, s) == pytest.approx(pair_auc(y, s))


def test_pauc_hand_cases():
    # 10 normals, 2 anomalies: one normal above both anomalies -> TPR 0 on [0, 0.1) -> pA = 0
    y = [0, 1, 1] + [0] * 9
    s = [10.0, 9.0, 8.5] + [float(v) for v in range(9)]
    expected = 0.5 * (1 + (0 - 0.005) / (0.1 - 0.005))
    assert M.pauc(y, s) == pytest.approx(expected)
    # anomalies on top -> full partial area -> 1
    assert M.pauc([1, 1] + [0] * 10, [9.0, 8.0] + [float(v) for v in range(8)] + [-1.0, -2.0]) == pytest.approx(1.0)


def test_pauc_matches_explicit_roc_integration():
    rng = np.random.default_rng(1)
    for _ in range(5):
        y = rng.integers(0, 2, 60)
        y[:2] = [0, 1]
        s = rng.standard_normal(60) + 0.8 * y
        assert M.pauc(y, s) == pytest.approx(ref_pauc(y, s), abs=1e-12)


def test_constant_scores_give_half():
    assert M.auc([0, 1, 0, 1], [3.0] * 4) == 0.5
    assert M.pauc([0, 1, 0, 1], [3.0] * 4) == 0.5


def test_single_class_raises_naming_section():
    with pytest.raises(MetricError, match="fan/section 03"):
        M.section_metrics([0, 0, 0], [0.1, 0.2, 0.3], ["source"] * 3, "fan", "03")
    with pytest.raises(MetricError):
        M.auc([], [])


def test_hmean():
    vals = [0.5, 0.8, 0.9, 0.61]
    assert M.hmean(vals) == pytest.approx(scipy.stats.hmean(vals))
    assert M.hmean([0.7, 0.0, 0.9]) == 0.0
    with pytest.raises(MetricError):
        M.hmean([])
    with pytest.raises(MetricError):
        M.hmean([0.5, float("nan")])


def make_section(rng, n=10, shift=1.0):
    """Source/target normals and anomalies; returns y, scores, domains."""
    y = np.array([0] * n + [1] * n + [0] * n + [1] * n)
    d = np.array(["source"] * 2 * n + ["target"] * 2 * n)
    s = rng.standard_normal(4 * n) + shift * y + 0.3 * (d == "target")
    return y, s, d


def test_section_subsets_follow_official_definitions():
    rng = np.random.default_rng(2)
    y, s, d = make_section(rng)
    m = M.section_metrics(y, s, d, "ToyCar", "01")
    src_auc_mask = (d == "source") | (y == 1)
    tgt_auc_mask = (d == "target") | (y == 1)
    assert m.auc_source == pytest.approx(pair_auc(y[src_auc_mask], s[src_auc_mask]))
    assert m.auc_target == pytest.approx(pair_auc(y[tgt_auc_mask], s[tgt_auc_mask]))
    assert m.auc == pytest.approx(pair_auc(y, s))
    assert m.pauc == pytest.approx(ref_pauc(y, s))
    src = d == "source"
    assert m.auc_source_in_domain == pytest.approx(pair_auc(y[src], s[src]))
    assert m.pauc_target == pytest.approx(ref_pauc(y[~src], s[~src]))
    assert (m.n_normal_source, m.n_anomaly_source, m.n_normal_target, m.n_anomaly_target) == (10, 10, 10, 10)
    assert m.auc_source != pytest.approx(m.auc_source_in_domain)  # the subsets really differ


def test_in_domain_undefined_is_none_with_reason():
    y = np.array([0, 0, 1, 1, 0, 0])
    d = np.array(["source"] * 4 + ["target"] * 2)  # no target anomalies
    m = M.section_metrics(y, np.arange(6.0), d, "fan", "00")
    assert m.auc_target is not None  # target normals + all anomalies
    assert m.auc_target_in_domain is None and m.pauc_target is None
    assert "fan/section 00" in m.undefined["pauc_target"]
    hm, reasons = M.summary_hmeans([m])
    assert hm["pauc_target"] is None and "pauc_target" in reasons
    with pytest.raises(MetricError):
        M.official_score([m], "dcase2021")


def test_official_score_is_hmean_of_flat_list():
    rng = np.random.default_rng(3)
    sections = [M.section_metrics(*make_section(rng, shift=sh), "fan", f"0{i}") for i, sh in enumerate([0.5, 1.0, 2.0])]
    flat = [m.auc_source for m in sections] + [m.auc_target for m in sections] + [m.pauc for m in sections]
    assert M.official_score(sections) == pytest.approx(scipy.stats.hmean(flat))
    flat21 = [m.auc_source_in_domain for m in sections] + [m.auc_target_in_domain for m in sections]
    flat21 += [m.pauc_source for m in sections] + [m.pauc_target for m in sections]
    assert M.official_score(sections, "dcase2021") == pytest.approx(scipy.stats.hmean(flat21))
    t2 = M.table2_summary(sections)
    assert t2["both"]["auc"] == pytest.approx(scipy.stats.hmean([m.auc for m in sections]))
    assert t2["source"]["pauc"] == pytest.approx(scipy.stats.hmean([m.pauc_source for m in sections]))
    with pytest.raises(MetricError):
        M.official_score([])


def test_dcase2020_ids_and_machine_types():
    rng = np.random.default_rng(4)
    ids = []
    for mid, shift in (("00", 0.5), ("02", 2.0), ("04", 1.0)):
        y = np.array([0] * 20 + [1] * 8)
        s = rng.standard_normal(28) + shift * y
        ids.append(M.id_metrics(y, s, "valve", mid))
        assert ids[-1].auc == pytest.approx(pair_auc(y, s))
    y = np.array([0, 1, 0, 1])
    ids.append(M.id_metrics(y, [0.1, 0.9, 0.2, 0.8], "pump", "01"))
    summary = M.machine_type_summary(ids)
    aucs = [m.auc for m in ids[:3]]
    assert summary["valve"]["auc"] == pytest.approx(np.mean(aucs))
    assert summary["valve"]["mauc"] == pytest.approx(min(aucs))
    assert summary["valve"]["pauc"] == pytest.approx(np.mean([m.pauc for m in ids[:3]]))
    assert summary["pump"] == {"auc": 1.0, "pauc": 1.0, "mauc": 1.0, "n_ids": 1}
