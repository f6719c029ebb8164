"""The comparison as a grouped bar chart (one group per column, one bar per row, error bars = std)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .table import ComparisonTable, task_label


def plot(table: ComparisonTable, path_stem: str | os.PathLike) -> list[Path]:
    """Grouped bar chart (one group per column, one bar per row, error bars = std); PNG and PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = table.columns
    n_rows = max(1, len(table.rows))
    width = 0.8 / n_rows
    x = np.arange(len(cols))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(cols) + 2), 4.2))
    cmap = plt.get_cmap("tab10" if n_rows <= 10 else "tab20")
    for i, row in enumerate(table.rows):
        means = np.array([row.mean(c.key) for c in cols])
        stds = np.array([row.std(c.key) for c in cols])
        ax.bar(x - 0.4 + (i + 0.5) * width, np.nan_to_num(means), width, yerr=np.nan_to_num(stds),
               capsize=2, color=cmap(i % cmap.N), label=f"{row.experiment.row}, {task_label(row)}")
    ax.axhline(50.0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x)
    ax.set_xticklabels([c.label for c in cols], rotation=30, ha="right")
    ax.set_ylabel("%")
    lows = [row.mean(c.key) for row in table.rows for c in cols if not math.isnan(row.mean(c.key))]
    ax.set_ylim(max(0.0, (min(lows) if lows else 40.0) - 10.0), 100.0)
    ax.set_title(f"{table.dataset}: mean ± std over trials")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    stem = Path(path_stem)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        tmp = p.with_name(p.stem + ".tmp" + p.suffix)
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        os.replace(tmp, p)
    plt.close(fig)
    return paths
