"""Evaluation of a scored test set: ``results.json``, ``results.md`` and a terminal summary.

``evaluate_scores`` groups the test clips by (machine, section), fits each
section's decision threshold on its training scores (``gamma_threshold``),
and computes the metrics of ``asd_tf.evaluation.metrics``.  When some test
labels are unknown (an anonymised evaluation set without ground truth) no
metric is computed: ``results["metrics"]`` is ``None`` and ``results["reason"]``
says why; thresholds and counts are still reported.

Layout of the results dict (JSON-serialisable):

- ``dataset``, ``n_test``, ``n_train``, ``metrics`` (the metric convention
  used, e.g. ``"dcase2022"``, or ``None``), ``reason`` (``None`` or a string);
- ``official_score``: harmonic mean over all ``auc_source``, ``auc_target``
  and ``pauc`` values (DCASE 2021: in-domain AUC/pAUC per section and domain;
  DCASE 2020: over all per-ID AUC and pAUC values, a summary in the same
  spirit since the 2020 ranking itself was rank-based);
- ``hmean``: harmonic means over sections of ``auc_source``, ``auc_target``,
  ``pauc``, ``auc``, ``pauc_source``, ``pauc_target``,
  ``auc_source_in_domain``, ``auc_target_in_domain`` (``None`` when undefined
  in some section; the reason is in ``hmean_undefined``);
- ``table2``: the paper's Table II layout (``source``/``target``/``both`` with
  ``auc`` and ``pauc``);
- ``sections``: per section ``machine``, ``section``, ``threshold``, every
  value of ``SectionMetrics`` and per-domain ``precision/recall/f1`` of the
  decisions (official evaluator: on that domain's clips);
- DCASE 2020 only: ``ids`` (``machine``, ``id``, ``auc``, ``pauc``, counts),
  ``machine_types`` (mean AUC, mean pAUC, mAUC per type) and ``mauc``
  (``{machine: minimum AUC over its IDs}``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from asd_tf.errors import ConfigError, DatasetError, MetricError
from asd_tf.evaluation import metrics as M
from asd_tf.evaluation.submission import gamma_threshold
from asd_tf.io_utils import atomic_write_json, atomic_write_text
from asd_tf.scoring.backends import group_by_section


def _dataset_of(records: Sequence[Any]) -> str:
    names = sorted({r.dataset for r in records})
    if len(names) != 1:
        raise ConfigError(f"test clips must come from one dataset layout, got {names or 'none'}")
    return names[0]


def _decision_stats(y: np.ndarray, decisions: np.ndarray) -> dict[str, float]:
    # official evaluator: precision = tp / max(tp + fp, eps) etc., so empty cases give 0
    eps = np.finfo(np.float64).eps
    tp = float(np.sum((decisions == 1) & (y == 1)))
    fp = float(np.sum((decisions == 1) & (y == 0)))
    fn = float(np.sum((decisions == 0) & (y == 1)))
    precision = tp / max(tp + fp, eps)
    recall = tp / max(tp + fn, eps)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(precision + recall, eps)}


def evaluate_scores(
    test_records: Sequence[Any],
    test_scores: Sequence[float],
    train_records: Sequence[Any],
    train_scores: Sequence[float],
    max_fpr: float = M.MAX_FPR,
    q: float = 0.9,
) -> dict[str, Any]:
    """Metrics, thresholds and summaries of one scored dataset (layout in the module docstring)."""
    test_scores = np.asarray(test_scores, dtype=np.float64).reshape(-1)
    train_scores = np.asarray(train_scores, dtype=np.float64).reshape(-1)
    if test_scores.size != len(test_records) or train_scores.size != len(train_records):
        raise ConfigError(
            f"evaluate_scores: {test_scores.size} test scores for {len(test_records)} clips, "
            f"{train_scores.size} train scores for {len(train_records)} clips"
        )
    dataset = _dataset_of(test_records)
    train_groups = group_by_section(train_records)  # the scoring driver's sections, in the same order
    test_groups = group_by_section(test_records)

    thresholds: dict[tuple[str, str], float] = {}
    for key in test_groups:
        if key not in train_groups:
            raise DatasetError(f"evaluate_scores: no training scores for {key[0]}/section {key[1]}")
        thresholds[key] = gamma_threshold(train_scores[train_groups[key]], q)

    results: dict[str, Any] = {
        "dataset": dataset,
        "n_test": len(test_records),
        "n_train": len(train_records),
        "metrics": None,
        "reason": None,
        "official_score": None,
        "hmean": None,
        "hmean_undefined": {},
        "table2": None,
        "sections": [],
    }
    unknown = [r for r in test_records if r.label not in ("normal", "anomaly")]
    if unknown:
        results["reason"] = (
            f"{len(unknown)} of {len(test_records)} test clips have no normal/anomaly label "
            f"(e.g. {unknown[0].path}); submissions only, no metrics"
        )
        for (machine, section), idx in test_groups.items():
            results["sections"].append(
                {
                    "machine": machine,
                    "section": section,
                    "threshold": thresholds[(machine, section)],
                    "n_test": len(idx),
                    "n_train": len(train_groups[(machine, section)]),
                }
            )
        if dataset == "dcase2020":
            results.update(ids=None, machine_types=None, mauc=None)
        return results

    section_results: list[M.SectionMetrics] = []
    for (machine, section), idx in test_groups.items():
        recs = [test_records[i] for i in idx]
        y = M.binary_labels(recs)
        s = test_scores[idx]
        domains = np.array([r.domain for r in recs])
        sm = M.section_metrics(y, s, domains, machine, section, max_fpr)
        section_results.append(sm)
        entry: dict[str, Any] = {"machine": machine, "section": section, "threshold": thresholds[(machine, section)]}
        entry.update({k: v for k, v in sm.to_json().items() if k not in ("machine", "section")})
        decisions = (s > thresholds[(machine, section)]).astype(int)
        for dom in ("source", "target"):
            mask = domains == dom
            if mask.any():
                for k, v in _decision_stats(y[mask], decisions[mask]).items():
                    entry[f"{k}_{dom}"] = v
        results["sections"].append(entry)

    hm, reasons = M.summary_hmeans(section_results)
    results["hmean"] = hm
    results["hmean_undefined"] = reasons
    results["table2"] = M.table2_summary(section_results)
    results["metrics"] = dataset
    if dataset == "dcase2020":
        ids = [
            M.IdMetrics(sm.machine, sm.section, sm.auc, sm.pauc, sm.n_normal_source + sm.n_normal_target,
                        sm.n_anomaly_source + sm.n_anomaly_target)
            for sm in section_results
        ]
        results["ids"] = [m.to_json() for m in ids]
        results["machine_types"] = M.machine_type_summary(ids)
        results["mauc"] = {k: v["mauc"] for k, v in results["machine_types"].items()}
        results["official_score"] = M.hmean([m.auc for m in ids] + [m.pauc for m in ids], name="official score")
    else:
        try:
            results["official_score"] = M.official_score(section_results, dataset)
        except MetricError as err:
            # e.g. a section without target normals: report the rest, say why there is no score
            results["hmean_undefined"]["official_score"] = str(err)
    return results


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{100.0 * v:.2f}"
    return str(v)


_SECTION_COLUMNS = (
    ("AUC src", "auc_source"),
    ("AUC tgt", "auc_target"),
    ("pAUC", "pauc"),
    ("AUC all", "auc"),
    ("AUC src (dom)", "auc_source_in_domain"),
    ("pAUC src (dom)", "pauc_source"),
    ("AUC tgt (dom)", "auc_target_in_domain"),
    ("pAUC tgt (dom)", "pauc_target"),
)


def format_summary(results: dict[str, Any]) -> str:
    """One-screen plain-text summary (values in percent)."""
    lines = [f"dataset: {results.get('dataset')}   test clips: {results.get('n_test')}"]
    if results.get("metrics") is None:
        lines.append(f"no metrics: {results.get('reason')}")
        lines.append(f"sections: {len(results.get('sections') or [])} (submission files only)")
        return "\n".join(lines)
    lines.append(f"official score (hmean): {_fmt(results['official_score'])}")
    if results["dataset"] == "dcase2020":
        lines.append(f"{'machine':<14}{'AUC':>8}{'pAUC':>8}{'mAUC':>8}")
        for machine, v in results["machine_types"].items():
            lines.append(f"{machine:<14}{_fmt(v['auc']):>8}{_fmt(v['pauc']):>8}{_fmt(v['mauc']):>8}")
        return "\n".join(lines)
    lines.append(f"{'machine/section':<22}{'AUC src':>9}{'AUC tgt':>9}{'pAUC':>9}{'AUC all':>9}")
    for sec in results["sections"]:
        name = f"{sec['machine']}/{sec['section']}"
        lines.append(
            f"{name:<22}{_fmt(sec['auc_source']):>9}{_fmt(sec['auc_target']):>9}"
            f"{_fmt(sec['pauc']):>9}{_fmt(sec['auc']):>9}"
        )
    hm = results["hmean"]
    lines.append(
        f"{'hmean':<22}{_fmt(hm['auc_source']):>9}{_fmt(hm['auc_target']):>9}{_fmt(hm['pauc']):>9}{_fmt(hm['auc']):>9}"
    )
    t2 = results["table2"]
    lines.append(
        "Table II (hmean, %): "
        + "  ".join(f"{d} AUC {_fmt(t2[d]['auc'])} pAUC {_fmt(t2[d]['pauc'])}" for d in ("source", "target", "both"))
    )
    return "\n".join(lines)


def _markdown(results: dict[str, Any]) -> str:
    out = ["# Results", "", f"Dataset layout: `{results.get('dataset')}`, test clips: {results.get('n_test')}", ""]
    if results.get("metrics") is None:
        out += [f"No metrics: {results.get('reason')}", "", "| machine | section | threshold | test clips |", "|---|---|---|---|"]
        for s in results["sections"]:
            out.append(f"| {s['machine']} | {s['section']} | {s['threshold']:.6g} | {s['n_test']} |")
        return "\n".join(out) + "\n"
    out += [f"**Official score** (harmonic mean): {_fmt(results['official_score'])} %", ""]
    out += ["Values in percent. *(dom)*: on that domain's normal and anomalous clips only (paper Table II / DCASE 2021).", ""]
    header = ["machine", "section"] + [c for c, _ in _SECTION_COLUMNS] + ["threshold"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    for s in results["sections"]:
        cells = [s["machine"], s["section"]] + [_fmt(s[k]) for _, k in _SECTION_COLUMNS] + [f"{s['threshold']:.6g}"]
        out.append("| " + " | ".join(cells) + " |")
    hm = results["hmean"]
    out.append("| **hmean** | | " + " | ".join(_fmt(hm[k]) for _, k in _SECTION_COLUMNS) + " | |")
    out += ["", "## Paper Table II layout (harmonic means over sections)", "",
            "| | AUC | pAUC |", "|---|---|---|"]
    for d in ("source", "target", "both"):
        out.append(f"| {d} | {_fmt(results['table2'][d]['auc'])} | {_fmt(results['table2'][d]['pauc'])} |")
    if results.get("hmean_undefined"):
        out += ["", "Undefined summaries:", ""] + [f"- `{k}`: {v}" for k, v in results["hmean_undefined"].items()]
    if results["dataset"] == "dcase2020":
        out += ["", "## DCASE 2020 machine types", "", "| machine | AUC | pAUC | mAUC | IDs |", "|---|---|---|---|---|"]
        for m, v in results["machine_types"].items():
            out.append(f"| {m} | {_fmt(v['auc'])} | {_fmt(v['pauc'])} | {_fmt(v['mauc'])} | {v['n_ids']} |")
    out += ["", "```", format_summary(results), "```"]
    return "\n".join(out) + "\n"


def write_results(run_dir: str | os.PathLike, results: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` into ``run_dir`` atomically; return both paths."""
    run_dir = Path(run_dir)
    json.dumps(results)  # fail before writing anything if not serialisable
    json_path = atomic_write_json(run_dir / "results.json", results)
    md_path = atomic_write_text(run_dir / "results.md", _markdown(results))
    return json_path, md_path
