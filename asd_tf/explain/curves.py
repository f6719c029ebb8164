"""Training curves of a run: angular loss and intra-/inter-class compactness per epoch (paper Figs. 2-3).

The paper (Wilkinghoff & Kurth, TASLP 2024, Sec. IV-C, Figs. 2-3) follows the
angular loss, the mean intra-class compactness (squared distance of the
normalised embedding to its own class centre) and the mean inter-class
compactness (to the other classes' centres; about 2 for random centres in high
dimension) over the training epochs. A run logs them per epoch in
``RUN/logs/training.csv`` (Keras ``CSVLogger``: ``epoch, loss, scale,
intra_compactness, inter_compactness`` and possibly ``val_*`` columns, ``NA`` when absent).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from asd_tf.errors import RunError

__all__ = ["TRAINING_LOG", "CURVE_COLUMNS", "read_training_log"]

TRAINING_LOG = Path("logs") / "training.csv"

#: (CSV column, axis label) of the three panels of the figure.
CURVE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("loss", "angular loss"),
    ("intra_compactness", "mean intra-class compactness"),
    ("inter_compactness", "mean inter-class compactness"),
)


def _number(text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return math.nan  # "NA" (CSVLogger's missing value) or empty
    return value


def read_training_log(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Columns of ``RUN/logs/training.csv`` as float64 arrays (``NA`` -> NaN), rows sorted by epoch.

    Raises :class:`RunError` naming the file when it is missing, empty or has no
    ``epoch`` / ``loss`` column.
    """
    path = Path(run_dir) / TRAINING_LOG
    if not path.is_file():
        raise RunError(f"{path}: no training log (was the run trained with `asd-tf train`?)")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    missing = [c for c in ("epoch", "loss") if c not in fields]
    if missing:
        raise RunError(f"{path}: training log lacks column(s) {missing}; has {fields}")
    if not rows:
        raise RunError(f"{path}: training log has no epochs yet")
    columns = {name: np.array([_number(r.get(name, "")) for r in rows], np.float64) for name in fields}
    order = np.argsort(columns["epoch"], kind="stable")  # a resumed run appends; keep epoch order
    return {name: values[order] for name, values in columns.items()}
