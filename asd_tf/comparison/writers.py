"""Writers of the comparison table: markdown, CSV, LaTeX, JSON, and all of them (with the plot) at once.

``write_outputs`` writes ``comparison.{md,csv,tex,json,png,pdf}``: best per column
in bold (compared at the printed precision), the paper's reported values next to
ours where a config gives them.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io_utils import atomic_write_json, atomic_write_text
from .plot import plot
from .table import _METRIC_LABEL, DECIMALS, Column, ComparisonTable, RowSummary, task_label


def _num(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.{DECIMALS}f}"


def _cell(row: RowSummary, key: str) -> str:
    mean, std = row.mean(key), row.std(key)
    if math.isnan(mean):
        return "-"
    return _num(mean) if math.isnan(std) else f"{_num(mean)} ± {_num(std)}"


def to_markdown(table: ComparisonTable, meta: dict[str, Any] | None = None) -> str:
    """The comparison as a markdown document (ours, then the paper's reported values if any)."""
    meta = meta or {}
    out = [f"# Loss comparison on {table.dataset}", ""]
    for k, v in meta.items():
        out.append(f"- {k}: `{v}`" if k == "command" else f"- {k}: {v}")
    if meta:
        out.append("")
    out += [
        "Harmonic means over sections in percent (DCASE 2020: arithmetic means over machine IDs and types); "
        "mean ± standard deviation (ddof = 1) over the trials; best per column in bold.",
        "",
    ]
    header = ["loss", "auxiliary task (classes)", "trials"] + [c.label for c in table.columns]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * 3 + "---:|" * len(table.columns))
    best = {c.key: table.best(c.key) for c in table.columns}
    for i, row in enumerate(table.rows):
        cells = [row.experiment.row, task_label(row), str(len(row.seeds))]
        for c in table.columns:
            text = _cell(row, c.key)
            cells.append(f"**{text}**" if i in best[c.key] else text)
        out.append("| " + " | ".join(cells) + " |")
    paper_rows = [r for r in table.rows if r.experiment.paper]
    if paper_rows:
        keys = [c for c in table.columns if any(c.key in r.experiment.paper for r in paper_rows)]
        extra = sorted({k for r in paper_rows for k in r.experiment.paper} - {c.key for c in keys})
        keys += [Column(k, k.rsplit("_", 1)[0], _METRIC_LABEL.get(k.rsplit("_", 1)[-1], "")) for k in extra]
        out += ["", "## Reported in the paper (mean over trials, %)", "",
                "| loss | auxiliary task | " + " | ".join(c.label for c in keys) + " |",
                "|---|---|" + "---:|" * len(keys)]
        for r in paper_rows:
            vals = [_num(r.experiment.paper[c.key]) if c.key in r.experiment.paper else "-" for c in keys]
            out.append(f"| {r.experiment.row} | {r.experiment.task} | " + " | ".join(vals) + " |")
    if table.missing:
        out += ["", f"Runs without results ({len(table.missing)}): " + ", ".join(f"`{m}`" for m in table.missing)]
    out += ["", "Configs: " + ", ".join(f"`{r.experiment.path.name}`" for r in table.rows)]
    return "\n".join(out) + "\n"


def to_csv(table: ComparisonTable) -> str:
    """One line per row: labels, classes, trials, then ``<column>_mean`` and ``<column>_std`` (percent)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["config", "loss", "task", "classes", "trials"]
                    + [f"{c.key}_{s}" for c in table.columns for s in ("mean", "std")])
    for row in table.rows:
        cells: list[Any] = [row.experiment.name, row.experiment.row, row.experiment.task, row.classes, len(row.seeds)]
        for c in table.columns:
            cells += [_csv_num(row.mean(c.key)), _csv_num(row.std(c.key))]
        writer.writerow(cells)
    return buf.getvalue()


def _csv_num(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.4f}"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "σ": r"$\sigma$", "λ": r"$\lambda$", "±": r"$\pm$", "×": r"$\times$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(table: ComparisonTable, caption: str | None = None) -> str:
    """A ``table`` environment in the paper's layout (grouped headers, ``\\textbf`` for the best)."""
    cols = table.columns
    groups: list[tuple[str, int]] = []
    for c in cols:
        if groups and groups[-1][0] == c.group:
            groups[-1] = (c.group, groups[-1][1] + 1)
        else:
            groups.append((c.group, 1))
    best = {c.key: table.best(c.key) for c in cols}
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\caption{" + latex_escape(caption or f"ASD performance on {table.dataset}: harmonic means over sections "
                                    "in percent, mean and standard deviation over trials; best per column in bold.")
        + "}",
        r"\begin{tabular}{ll" + "c" * len(cols) + "}",
        r"\hline",
        " & & " + " & ".join(rf"\multicolumn{{{n}}}{{c}}{{{latex_escape(g)}}}" for g, n in groups) + r" \\",
        "loss & auxiliary task (classes) & " + " & ".join(latex_escape(c.metric) for c in cols) + r" \\",
        r"\hline",
    ]
    for i, row in enumerate(table.rows):
        cells = [latex_escape(row.experiment.row), latex_escape(task_label(row))]
        for c in cols:
            mean, std = row.mean(c.key), row.std(c.key)
            if math.isnan(mean):
                text = "-"
            elif math.isnan(std):
                text = _num(mean)
            else:
                text = f"{_num(mean)} \\pm {_num(std)}"
            if i in best[c.key] and text != "-":
                text = rf"\mathbf{{{text}}}"
            cells.append(f"${text}$" if text != "-" else text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_json(table: ComparisonTable) -> dict[str, Any]:
    return {
        "dataset": table.dataset,
        "columns": [{"key": c.key, "group": c.group, "metric": c.metric} for c in table.columns],
        "rows": [
            {
                "config": r.experiment.name, "loss": r.experiment.row, "task": r.experiment.task,
                "classes": r.classes, "seeds": r.seeds, "backend": r.experiment.backend,
                "values": {k: [None if np.isnan(x) else float(x) for x in v] for k, v in r.values.items()},
                "mean": {c.key: None if math.isnan(r.mean(c.key)) else r.mean(c.key) for c in table.columns},
                "std": {c.key: None if math.isnan(r.std(c.key)) else r.std(c.key) for c in table.columns},
                "paper": r.experiment.paper,
            }
            for r in table.rows
        ],
        "missing": table.missing,
    }


def write_outputs(table: ComparisonTable, out: str | os.PathLike, meta: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``comparison.{md,csv,tex,json,png,pdf}`` into ``out``; returns the paths by format."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "md": atomic_write_text(out / "comparison.md", to_markdown(table, meta)),
        "csv": atomic_write_text(out / "comparison.csv", to_csv(table)),
        "tex": atomic_write_text(out / "comparison.tex", to_latex(table)),
        "json": atomic_write_json(out / "comparison.json", {"meta": meta or {}, **to_json(table)}),
    }
    png, pdf = plot(table, out / "comparison")
    paths.update(png=png, pdf=pdf)
    return paths
