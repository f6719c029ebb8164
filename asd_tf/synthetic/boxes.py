"""Anomaly boxes of the synthetic clips and their sidecar CSV ``<stem>.anomaly.csv``.

Every anomalous clip is written with a sidecar holding the time-frequency
box(es) of its fault, one row per box under the header
:data:`ANOMALY_CSV_HEADER` (seconds and Hz).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import DatasetError


ANOMALY_CSV_HEADER = "kind,t_start_s,t_end_s,f_low_hz,f_high_hz"


@dataclass(frozen=True)
class AnomalyBox:
    """Time-frequency region of an anomaly (sidecar CSV row)."""

    kind: str
    t_start_s: float
    t_end_s: float
    f_low_hz: float
    f_high_hz: float


def boxes_csv(boxes: Sequence[AnomalyBox]) -> str:
    lines = [ANOMALY_CSV_HEADER]
    for b in boxes:
        lines.append(f"{b.kind},{b.t_start_s:.4f},{b.t_end_s:.4f},{b.f_low_hz:.1f},{b.f_high_hz:.1f}")
    return "\n".join(lines) + "\n"


def read_anomaly_boxes(wav_path: str | os.PathLike) -> list[AnomalyBox]:
    """Anomaly boxes of a clip from its sidecar ``<stem>.anomaly.csv`` ([] when there is none)."""
    sidecar = Path(wav_path).with_suffix(".anomaly.csv")
    if not sidecar.exists():
        return []
    with open(sidecar, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != ANOMALY_CSV_HEADER.split(","):
            raise DatasetError(f"{sidecar}: header must be {ANOMALY_CSV_HEADER!r}, got {reader.fieldnames!r}")
        try:
            return [AnomalyBox(r["kind"], float(r["t_start_s"]), float(r["t_end_s"]), float(r["f_low_hz"]),
                               float(r["f_high_hz"])) for r in reader]
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"{sidecar}: malformed anomaly row ({exc})") from exc
