"""Evaluator ground truth of anonymised test clips: reading the CSVs and matching them with the clips.

``section_03_0000.wav`` carries no label and no domain. Ground-truth CSVs
(no header) supply them: ``ground_truth_data/ground_truth_<machine>_section_XX_test.csv``
rows ``name,0|1`` (1 = anomaly) and ``ground_truth_domain/...`` rows
``name,0|1`` (1 = target); ``ground_truth_attributes/...`` rows
``anonymised name,full name without .wav`` (the official 2023-2025 evaluators
read it) let the same CSVs label test folders renamed to full names. They are
read from ``ground_truth_dir`` or, if not given, from
``<root>/ground_truth_data`` and ``<root>/ground_truth_domain`` when present.
A clip that no CSV covers keeps label ``unknown`` and domain ``unknown``. A
train clip whose name has no label is ``normal`` (DCASE training data are
normal only).

When ground truth is given (either way), it must match the test clips exactly
(``strict_ground_truth=True``, the default): a row whose clip is missing
(within a machine/section that has test clips), a test clip without a row in
its section's CSV, a test clip left without a label, a labelled test clip left
without a domain, or a name listed twice in one CSV is a :class:`LabelError`
listing every such file. CSVs of machine/sections without any test clip here
are not an error (a subset of machines may be evaluated); they are listed in
:attr:`DatasetIndex.notes`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..errors import DatasetError, LabelError
from .records import ClipRecord

_GT_FILE_RE = re.compile(r"ground_truth_(.+)_section_(\d{2})_test\.csv")
GT_LABEL_DIR = "ground_truth_data"
GT_DOMAIN_DIR = "ground_truth_domain"
GT_ATTRIBUTES_DIR = "ground_truth_attributes"
GT_DIRS = (GT_LABEL_DIR, GT_DOMAIN_DIR, GT_ATTRIBUTES_DIR)
GTKey = tuple[str, str, str]
# How many file names one problem line lists before "... and N more".
_LIST_NAMES = 5


@dataclass
class GroundTruth:
    """Evaluator ground truth read from one folder (see the module docstring).

    ``labels``/``domains`` map ``(machine, section, file name)`` to
    ``normal|anomaly`` and ``source|target``; ``label_files``/``domain_files``
    map ``(machine, section)`` to the CSV read; ``aliases`` maps
    ``(machine, section, full name)`` to the anonymised name (from
    ``ground_truth_attributes``); ``duplicates`` lists names given twice in one CSV.
    """

    directory: str
    labels: dict[GTKey, str] = field(default_factory=dict)
    domains: dict[GTKey, str] = field(default_factory=dict)
    label_files: dict[tuple[str, str], Path] = field(default_factory=dict)
    domain_files: dict[tuple[str, str], Path] = field(default_factory=dict)
    aliases: dict[GTKey, str] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """``(line number, stripped fields)`` of the non-empty lines of a header-less CSV."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ground-truth CSV ({exc})") from exc
    return [(n, [f.strip() for f in line.split(",")]) for n, line in enumerate(lines, start=1) if line.strip()]


def _read_gt_csv(path: Path, positive: str, negative: str, duplicates: list[str] | None = None) -> dict[str, str]:
    """``name -> positive|negative`` from a header-less ``name,0|1`` CSV.

    A name listed twice is recorded in ``duplicates`` (``path: 'name' on lines a and b``).
    """
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, fields in _csv_rows(path):
        if len(fields) < 2:
            raise DatasetError(f"{path}:{lineno}: expected 'name,0|1', got {','.join(fields)!r}")
        name, value = fields[0], fields[1]
        if value not in ("0", "1"):
            if lineno == 1 and not name.lower().endswith(".wav"):
                continue  # tolerate a header line although the official files have none
            raise DatasetError(f"{path}:{lineno}: value must be 0 or 1, got {value!r}")
        if name in first_line and duplicates is not None:
            duplicates.append(f"{path}: {name!r} on lines {first_line[name]} and {lineno}")
        first_line.setdefault(name, lineno)
        out[name] = positive if value == "1" else negative
    return out


def _gt_csvs(folder: Path) -> list[tuple[str, str, Path]]:
    out = []
    for csv in sorted(folder.glob("ground_truth_*_section_*_test.csv")):
        match = _GT_FILE_RE.fullmatch(csv.name)
        if match:
            out.append((match.group(1), match.group(2), csv))
    return out


def _read_gt_folder(folder: Path, positive: str, negative: str, gt: GroundTruth, table: dict[GTKey, str],
                    files: dict[tuple[str, str], Path]) -> None:
    for machine, section, csv in _gt_csvs(folder):
        files[(machine, section)] = csv
        for name, value in _read_gt_csv(csv, positive, negative, gt.duplicates).items():
            table[(machine, section, name)] = value


def _read_gt_attributes(folder: Path, gt: GroundTruth) -> None:
    """``ground_truth_attributes`` rows ``anonymised.wav,full name[.wav][,...]`` -> ``gt.aliases``."""
    for machine, section, csv in _gt_csvs(folder):
        seen: dict[str, int] = {}
        for lineno, fields in _csv_rows(csv):
            if len(fields) < 2 or not fields[0].lower().endswith(".wav"):
                continue  # a header or a malformed line: aliases are optional help, not ground truth
            full = fields[1] if fields[1].lower().endswith(".wav") else fields[1] + ".wav"
            if fields[0] in seen:
                gt.duplicates.append(f"{csv}: {fields[0]!r} on lines {seen[fields[0]]} and {lineno}")
            seen.setdefault(fields[0], lineno)
            gt.aliases[(machine, section, full)] = fields[0]


def read_ground_truth(gt_dir: str | os.PathLike) -> GroundTruth:
    """Read every evaluator ground-truth CSV below ``gt_dir`` (labels, domains, attribute aliases).

    ``gt_dir`` is the folder holding ``ground_truth_data/`` and
    ``ground_truth_domain/`` (and optionally ``ground_truth_attributes/``);
    pointing it at ``ground_truth_data`` itself also works (the other folders
    are then looked for beside it). DatasetError when the folder or its CSVs
    are missing or malformed.
    """
    gt_path = Path(gt_dir)
    if not gt_path.is_dir():
        raise DatasetError(f"{gt_path}: ground-truth directory does not exist")
    base = gt_path
    if not (gt_path / GT_LABEL_DIR).is_dir() and not (gt_path / GT_DOMAIN_DIR).is_dir():
        if any(gt_path.glob("ground_truth_*_section_*_test.csv")):
            base = gt_path.parent
        else:
            raise DatasetError(
                f"{gt_path}: no {GT_LABEL_DIR}/ or {GT_DOMAIN_DIR}/ folder and no "
                "ground_truth_<machine>_section_XX_test.csv files"
            )
    label_dir = gt_path if base != gt_path else base / GT_LABEL_DIR
    gt = GroundTruth(directory=str(base))
    if label_dir.is_dir():
        _read_gt_folder(label_dir, "anomaly", "normal", gt, gt.labels, gt.label_files)
    if (base / GT_DOMAIN_DIR).is_dir():
        _read_gt_folder(base / GT_DOMAIN_DIR, "target", "source", gt, gt.domains, gt.domain_files)
    if (base / GT_ATTRIBUTES_DIR).is_dir():
        _read_gt_attributes(base / GT_ATTRIBUTES_DIR, gt)
    return gt


def load_ground_truth(gt_dir: str | os.PathLike) -> tuple[dict[GTKey, str], dict[GTKey, str]]:
    """Read evaluator ground truth below ``gt_dir``.

    Returns ``(labels, domains)`` keyed by ``(machine, section, file name)``
    with values ``normal|anomaly`` and ``source|target``. ``gt_dir`` is the
    folder holding ``ground_truth_data/`` and ``ground_truth_domain/``; pointing
    it at ``ground_truth_data`` itself also works (the domain folder is then
    looked for beside it). LabelError when a CSV lists a name twice.
    """
    gt = read_ground_truth(gt_dir)
    if gt.duplicates:
        raise LabelError("ground truth lists a file twice: " + "; ".join(gt.duplicates))
    return gt.labels, gt.domains


def _some(names: Sequence[str]) -> str:
    """``a, b, c`` or ``a, b, c, ... and N more``."""
    names = list(names)
    shown = ", ".join(names[:_LIST_NAMES])
    return shown + (f", ... and {len(names) - _LIST_NAMES} more" if len(names) > _LIST_NAMES else "")


def _gt_key(gt: GroundTruth, table: dict[GTKey, str], machine: str, section: str, name: str) -> Optional[GTKey]:
    """The key of ``table`` that describes clip ``name`` (its own name, else its anonymised alias)."""
    key = (machine, section, name)
    if key in table:
        return key
    alias = gt.aliases.get(key)
    if alias is not None and (machine, section, alias) in table:
        return (machine, section, alias)
    return None


def ground_truth_problems(clips: Sequence[ClipRecord], gt: GroundTruth) -> tuple[list[str], list[str]]:
    """``(problems, notes)``: how ground truth ``gt`` and the test ``clips`` disagree.

    Problems: names listed twice in a CSV; CSV rows without a clip in a
    machine/section that has test clips; test clips without a row in their
    section's CSV; test clips left without a label or, with a label, without a
    domain. Notes: CSVs of machine/sections without any test clip here.
    """
    problems = list(gt.duplicates)
    notes: list[str] = []
    tests: dict[tuple[str, str], list[ClipRecord]] = {}
    for c in clips:
        if c.split == "test":
            tests.setdefault((c.machine, c.section), []).append(c)
    for what, table, files in (("label", gt.labels, gt.label_files), ("domain", gt.domains, gt.domain_files)):
        rows: dict[tuple[str, str], list[str]] = {}
        for (machine, section, name) in table:
            rows.setdefault((machine, section), []).append(name)
        unused_sections = []
        for (machine, section), csv in sorted(files.items()):
            members = tests.get((machine, section))
            if not members:
                unused_sections.append(f"{machine} section {section}")
                continue
            keys = {c.path: _gt_key(gt, table, machine, section, c.name) for c in members}
            used = {k for k in keys.values() if k is not None}
            missing = sorted(n for n in rows.get((machine, section), []) if (machine, section, n) not in used)
            if missing:
                problems.append(f"{csv}: {len(missing)} row(s) without a test clip in {machine}/test: "
                                f"{_some(missing)}")
            unmatched = [path for path, k in keys.items() if k is None]
            if unmatched:
                problems.append(f"{len(unmatched)} test clip(s) of {machine} section {section} without a row in "
                                f"{csv}: {_some(unmatched)}")
        if unused_sections:
            notes.append(f"ground-truth {what} CSVs of {_some(unused_sections)} match no test clips here (not used)")
    for (machine, section), members in sorted(tests.items()):
        unlabelled = [c.path for c in members if c.label == "unknown"]
        if unlabelled and (machine, section) not in gt.label_files:
            problems.append(f"{len(unlabelled)} test clip(s) of {machine} section {section} have no label "
                            f"(no ground_truth_{machine}_section_{section}_test.csv in "
                            f"{Path(gt.directory) / GT_LABEL_DIR}): {_some(unlabelled)}")
        no_domain = [c.path for c in members
                     if c.label != "unknown" and c.domain == "unknown" and c.dataset != "dcase2020"]
        if no_domain and (machine, section) not in gt.domain_files:
            problems.append(f"{len(no_domain)} labelled test clip(s) of {machine} section {section} have no domain "
                            f"(no ground_truth_{machine}_section_{section}_test.csv in "
                            f"{Path(gt.directory) / GT_DOMAIN_DIR}): {_some(no_domain)}")
    return problems, notes
