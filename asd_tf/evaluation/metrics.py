"""AUC / pAUC metrics with the official DCASE Task 2 evaluator definitions.

DCASE 2022/2023 (official evaluator), per section (machine, section):

- ``auc_source``: AUC over the *source* normal clips and *all* anomalous clips
  of the section (both domains); ``auc_target`` likewise with target normals;
- ``pauc``: ``roc_auc_score(max_fpr=0.1)`` (McClish-standardised partial AUC)
  over all clips of the section;
- official score: harmonic mean over the flat list of all ``auc_source``, all
  ``auc_target`` and all ``pauc`` values of all sections.

Also computed per section: ``auc`` (whole section, "both domains") and the
*in-domain* values ``auc_source_in_domain``, ``pauc_source`` (and target),
computed on that domain's normal *and anomalous* clips only.  The paper's
Table II reports "source domain / target domain AUC, pAUC"; its text does not
define the subsets, and the authors' public evaluation code computes both AUC
and pAUC of a domain on that domain's test clips only, so ``table2_summary``
uses the in-domain values per domain and the whole-section values for "both
domains" (harmonic means over sections).  The in-domain definition is also the
official one of DCASE 2021 (AUC and pAUC per section *and domain*), which
``official_score(..., dataset="dcase2021")`` uses.

DCASE 2020: per machine ID, AUC and pAUC over all clips of the ID; arithmetic
means per machine type; mAUC = minimum AUC over a machine type's IDs.

Edge cases: a metric with only one class present raises ``MetricError``
naming the machine/section (optional in-domain values are instead ``None``
with a reason in ``undefined``); ties are handled as scikit-learn does
(a tie counts one half), so constant scores give AUC = pAUC = 0.5; a harmonic
mean containing a zero is 0; an empty harmonic mean raises ``MetricError``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from asd_tf.errors import MetricError

MAX_FPR = 0.1  # pAUC range p (paper Sec. IV-A)


def _check(y_true: Any, y_score: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    s = np.asarray(y_score, dtype=np.float64).reshape(-1)
    where = f" ({name})" if name else ""
    if y.shape != s.shape:
        raise MetricError(f"{len(y)} labels but {len(s)} scores{where}")
    if not np.all(np.isin(y, (0, 1))):
        raise MetricError(f"labels must be 0 (normal) or 1 (anomaly){where}")
    if not np.all(np.isfinite(s)):
        raise MetricError(f"{int(np.sum(~np.isfinite(s)))} non-finite anomaly scores{where}")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        present = "no clips" if len(y) == 0 else ("only anomalous clips" if n_pos else "only normal clips")
        raise MetricError(f"AUC undefined{where}: {present}; need both normal and anomalous clips")
    return y, s


def auc(y_true: Sequence[int], y_score: Sequence[float], *, name: str = "") -> float:
    """Area under the ROC curve; ``y_true`` 1 = anomaly; higher score = more anomalous."""
    from sklearn.metrics import roc_auc_score

    y, s = _check(y_true, y_score, name)
    return float(roc_auc_score(y, s))


def pauc(y_true: Sequence[int], y_score: Sequence[float], max_fpr: float = MAX_FPR, *, name: str = "") -> float:
    """Partial AUC over FPR in [0, max_fpr], McClish-standardised (``roc_auc_score(max_fpr=...)``)."""
    from sklearn.metrics import roc_auc_score

    y, s = _check(y_true, y_score, name)
    return float(roc_auc_score(y, s, max_fpr=max_fpr))


def hmean(values: Iterable[float], *, name: str = "") -> float:
    """Harmonic mean; 0 if any value is 0; ``MetricError`` if empty, negative or non-finite."""
    v = np.asarray(list(values), dtype=np.float64)
    where = f" ({name})" if name else ""
    if v.size == 0:
        raise MetricError(f"harmonic mean of no values{where}")
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise MetricError(f"harmonic mean needs finite non-negative values{where}, got {v.tolist()}")
    if np.any(v == 0):
        return 0.0
    return float(v.size / np.sum(1.0 / v))


def binary_labels(records: Sequence[Any]) -> np.ndarray:
    """``1`` for anomaly, ``0`` for normal; ``MetricError`` naming the first clip with another label."""
    out = np.empty((len(records),), dtype=np.int64)
    for i, r in enumerate(records):
        if r.label == "anomaly":
            out[i] = 1
        elif r.label == "normal":
            out[i] = 0
        else:
            raise MetricError(f"{r.path}: label {r.label!r} is not normal/anomaly; cannot compute metrics")
    return out


@dataclass
class SectionMetrics:
    """Metrics of one section (see module docstring for each subset)."""

    machine: str
    section: str
    auc: float
    pauc: float
    auc_source: float | None
    auc_target: float | None
    auc_source_in_domain: float | None
    auc_target_in_domain: float | None
    pauc_source: float | None
    pauc_target: float | None
    n_normal_source: int
    n_anomaly_source: int
    n_normal_target: int
    n_anomaly_target: int
    undefined: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)


def _optional(fn, y: np.ndarray, s: np.ndarray, mask: np.ndarray, key: str, name: str, undefined: dict) -> float | None:
    try:
        return fn(y[mask], s[mask], name=f"{name}, {key}")
    except MetricError as err:
        undefined[key] = str(err)
        return None


def section_metrics(
    y_true: Sequence[int],
    y_score: Sequence[float],
    domains: Sequence[str],
    machine: str,
    section: str,
    max_fpr: float = MAX_FPR,
) -> SectionMetrics:
    """All AUC/pAUC values of one section; ``domains`` holds "source"/"target" per clip.

    Raises:
        MetricError: the section as a whole lacks normal or anomalous clips.
    """
    name = f"{machine}/section {section}"
    y, s = _check(y_true, y_score, name)
    d = np.asarray(domains).reshape(-1)
    if d.shape != y.shape:
        raise MetricError(f"{len(d)} domains but {len(y)} labels ({name})")
    src, tgt = d == "source", d == "target"
    undefined: dict[str, str] = {}

    def p_fn(yy, ss, name=""):
        return pauc(yy, ss, max_fpr, name=name)

    anomalous = y == 1
    return SectionMetrics(
        machine=machine,
        section=section,
        auc=auc(y, s, name=name),
        pauc=pauc(y, s, max_fpr, name=name),
        auc_source=_optional(auc, y, s, src | anomalous, "auc_source", name, undefined),
        auc_target=_optional(auc, y, s, tgt | anomalous, "auc_target", name, undefined),
        auc_source_in_domain=_optional(auc, y, s, src, "auc_source_in_domain", name, undefined),
        auc_target_in_domain=_optional(auc, y, s, tgt, "auc_target_in_domain", name, undefined),
        pauc_source=_optional(p_fn, y, s, src, "pauc_source", name, undefined),
        pauc_target=_optional(p_fn, y, s, tgt, "pauc_target", name, undefined),
        n_normal_source=int(np.sum(src & ~anomalous)),
        n_anomaly_source=int(np.sum(src & anomalous)),
        n_normal_target=int(np.sum(tgt & ~anomalous)),
        n_anomaly_target=int(np.sum(tgt & anomalous)),
        undefined=undefined,
    )


SUMMARY_KEYS = (
    "auc_source",
    "auc_target",
    "pauc",
    "auc",
    "pauc_source",
    "pauc_target",
    "auc_source_in_domain",
    "auc_target_in_domain",
)


def _values(sections: Sequence[SectionMetrics], key: str) -> list[float]:
    vals = []
    for m in sections:
        v = getattr(m, key)
        if v is None:
            raise MetricError(
                f"{key} undefined for {m.machine}/section {m.section}: {m.undefined.get(key, 'no value')}"
            )
        vals.append(v)
    return vals


def official_score(sections: Sequence[SectionMetrics], dataset: str = "dcase2022") -> float:
    """Official DCASE score: harmonic mean over the flat list of per-section values.

    DCASE 2022/2023: all ``auc_source``, all ``auc_target``, all ``pauc``.
    DCASE 2021: all in-domain AUC and pAUC per section and domain.
    """
    if not sections:
        raise MetricError("official score of no sections")
    if dataset == "dcase2021":
        keys = ("auc_source_in_domain", "auc_target_in_domain", "pauc_source", "pauc_target")
    else:
        keys = ("auc_source", "auc_target", "pauc")
    flat: list[float] = []
    for key in keys:
        flat.extend(_values(sections, key))
    return hmean(flat, name="official score")


def summary_hmeans(sections: Sequence[SectionMetrics]) -> tuple[dict[str, float | None], dict[str, str]]:
    """Harmonic mean over sections of each key in ``SUMMARY_KEYS``; undefined ones are ``None`` with a reason."""
    out: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    for key in SUMMARY_KEYS:
        try:
            out[key] = hmean(_values(sections, key), name=key)
        except MetricError as err:
            out[key] = None
            reasons[key] = str(err)
    return out, reasons


def table2_summary(sections: Sequence[SectionMetrics]) -> dict[str, dict[str, float | None]]:
    """The paper's Table II layout: harmonic means over sections per domain and for both domains.

    ``source``/``target``: in-domain AUC and pAUC; ``both``: whole-section AUC and pAUC.
    """
    hm, _ = summary_hmeans(sections)
    return {
        "source": {"auc": hm["auc_source_in_domain"], "pauc": hm["pauc_source"]},
        "target": {"auc": hm["auc_target_in_domain"], "pauc": hm["pauc_target"]},
        "both": {"auc": hm["auc"], "pauc": hm["pauc"]},
    }


# ----------------------------------------------------------------------------- DCASE 2020


@dataclass
class IdMetrics:
    """DCASE 2020 metrics of one machine ID (all clips of the ID)."""

    machine: str
    id: str
    auc: float
    pauc: float
    n_normal: int
    n_anomaly: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def id_metrics(
    y_true: Sequence[int], y_score: Sequence[float], machine: str, machine_id: str, max_fpr: float = MAX_FPR
) -> IdMetrics:
    """AUC and pAUC over all clips of one DCASE 2020 machine ID."""
    name = f"{machine}/id {machine_id}"
    y, s = _check(y_true, y_score, name)
    return IdMetrics(
        machine=machine,
        id=machine_id,
        auc=auc(y, s, name=name),
        pauc=pauc(y, s, max_fpr, name=name),
        n_normal=int(np.sum(y == 0)),
        n_anomaly=int(np.sum(y == 1)),
    )


def machine_type_summary(ids: Sequence[IdMetrics]) -> dict[str, dict[str, float]]:
    """Per machine type: arithmetic means of AUC and pAUC over its IDs and mAUC (minimum AUC)."""
    if not ids:
        raise MetricError("machine type summary of no machine IDs")
    out: dict[str, dict[str, float]] = {}
    for machine in sorted({m.machine for m in ids}):
        group = [m for m in ids if m.machine == machine]
        aucs = np.array([m.auc for m in group])
        out[machine] = {
            "auc": float(aucs.mean()),
            "pauc": float(np.mean([m.pauc for m in group])),
            "mauc": float(aucs.min()),
            "n_ids": len(group),
        }
    return out
