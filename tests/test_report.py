"""evaluate_scores / write_results: keys, values vs independent metric computations, unknown labels, DCASE 2020."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score

from asd_tf.evaluation.report import evaluate_scores, format_summary, write_results
from asd_tf.evaluation.submission import gamma_threshold
from records_helpers import Rec


def make_split(rng, dataset="dcase2022", sections=(("fan", "00"), ("fan", "01"), ("pump", "00")), label=True):
    test, scores, train, tscores = [], [], [], []
    for mi, (machine, section) in enumerate(sections):
        for dom in (("source",) if dataset == "dcase2020" else ("source", "target")):
            for lab in ("normal", "anomaly"):
                for i in range(8):
                    test.append(Rec(path=f"/d/{machine}/test/{section}_{dom}_{lab}_{i}.wav", dataset=dataset,
                                    machine=machine, section=section, domain=dom,
                                    label=lab if label else "unknown"))
                    scores.append(rng.standard_normal() + (1.0 + mi) * (lab == "anomaly"))
            for i in range(10):
                train.append(Rec(path=f"/d/{machine}/train/{section}_{dom}_{i}.wav", dataset=dataset, machine=machine,
                                 section=section, domain=dom, split="train"))
                tscores.append(abs(rng.standard_normal()))
    return test, np.array(scores), train, np.array(tscores)


def test_results_keys_and_values(tmp_path):
    rng = np.random.default_rng(0)
    test, scores, train, tscores = make_split(rng)
    res = evaluate_scores(test, scores, train, tscores)
    assert res["metrics"] == "dcase2022" and res["reason"] is None
    for key in ("auc_source", "auc_target", "pauc", "auc", "pauc_source", "pauc_target"):
        assert key in res["hmean"]
    assert len(res["sections"]) == 3
    flat = []
    for sec in res["sections"]:
        for key in ("machine", "section", "auc_source", "auc_target", "pauc", "auc", "pauc_source", "pauc_target",
                    "n_normal_source", "n_anomaly_source", "n_normal_target", "n_anomaly_target", "threshold"):
            assert key in sec
        idx = [i for i, r in enumerate(test) if (r.machine, r.section) == (sec["machine"], sec["section"])]
        y = np.array([test[i].label == "anomaly" for i in idx])
        s = scores[idx]
        d = np.array([test[i].domain for i in idx])
        m = (d == "source") | y
        assert sec["auc_source"] == pytest.approx(roc_auc_score(y[m], s[m]))
        assert sec["pauc"] == pytest.approx(roc_auc_score(y, s, max_fpr=0.1))
        tr = [i for i, r in enumerate(train) if (r.machine, r.section) == (sec["machine"], sec["section"])]
        assert sec["threshold"] == pytest.approx(gamma_threshold(tscores[tr]))
        assert sec["n_anomaly_target"] == 8
        flat += [sec["auc_source"], sec["auc_target"], sec["pauc"]]
    assert res["official_score"] == pytest.approx(scipy.stats.hmean(flat))
    assert res["table2"]["both"]["auc"] == pytest.approx(res["hmean"]["auc"])

    jp, mp = write_results(tmp_path, res)
    loaded = json.loads(jp.read_text())
    assert loaded["official_score"] == pytest.approx(res["official_score"])
    md = mp.read_text()
    assert "| fan | 01 |" in md and "Official score" in md
    summary = format_summary(res)
    assert f"{100 * res['official_score']:.2f}" in summary and "pump/00" in summary


def test_unknown_labels_give_null_metrics(tmp_path):
    rng = np.random.default_rng(1)
    test, scores, train, tscores = make_split(rng, label=False)
    res = evaluate_scores(test, scores, train, tscores)
    assert res["metrics"] is None and res["official_score"] is None
    assert "96 of 96 test clips have no normal/anomaly label" in res["reason"]
    assert test[0].path in res["reason"]
    assert [s["n_test"] for s in res["sections"]] == [32, 32, 32]
    jp, mp = write_results(tmp_path, res)
    assert json.loads(jp.read_text())["metrics"] is None
    assert "No metrics" in mp.read_text() and "no metrics" in format_summary(res)


def test_dcase2020_ids_machine_types_and_mauc():
    rng = np.random.default_rng(2)
    secs = (("valve", "00"), ("valve", "02"), ("fan", "01"))
    test, scores, train, tscores = make_split(rng, dataset="dcase2020", sections=secs)
    res = evaluate_scores(test, scores, train, tscores)
    assert res["metrics"] == "dcase2020"
    ids = {(e["machine"], e["id"]): e for e in res["ids"]}
    for machine, mid in secs:
        idx = [i for i, r in enumerate(test) if (r.machine, r.section) == (machine, mid)]
        y = np.array([test[i].label == "anomaly" for i in idx])
        assert ids[(machine, mid)]["auc"] == pytest.approx(roc_auc_score(y, scores[idx]))
    valve_aucs = [ids[("valve", "00")]["auc"], ids[("valve", "02")]["auc"]]
    assert res["machine_types"]["valve"]["auc"] == pytest.approx(np.mean(valve_aucs))
    assert res["mauc"]["valve"] == pytest.approx(min(valve_aucs))
    assert res["hmean"]["auc_target"] is None and "auc_target" in res["hmean_undefined"]
    flat = [e["auc"] for e in res["ids"]] + [e["pauc"] for e in res["ids"]]
    assert res["official_score"] == pytest.approx(scipy.stats.hmean(flat))
    assert "mAUC" in format_summary(res)
    json.dumps(res)


def test_real_clip_records_and_missing_domain_reason():
    records = pytest.importorskip("asd_tf.data.records")
    rng = np.random.default_rng(3)
    test, scores, train, tscores = make_split(rng, sections=(("fan", "00"),))
    conv = lambda rs: [records.ClipRecord(**{k: getattr(r, k) for k in Rec.__dataclass_fields__}) for r in rs]
    # drop the target normals: auc_target (target normals + all anomalies) is undefined
    keep = [i for i, r in enumerate(test) if not (r.domain == "target" and r.label == "normal")]
    res = evaluate_scores(conv([test[i] for i in keep]), scores[keep], conv(train), tscores)
    assert res["official_score"] is None
    assert "auc_target" in res["hmean_undefined"]["official_score"]
    assert res["sections"][0]["auc_target"] is None and res["sections"][0]["auc_source"] is not None
    assert "auc_target" in res["sections"][0]["undefined"]
