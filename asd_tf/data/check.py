"""What a DCASE dataset folder holds and everything in it that is inconsistent (``asd-tf check-data``).

:func:`check_dataset` indexes the folder the way training and evaluation do
(:func:`asd_tf.data.index.scan_dataset`, ground truth included), reads every
clip's audio header (``soundfile.info``, plus the RIFF chunk sizes of WAV files;
no samples are decoded, so it is fast) and reports:

- what is there: machines, sections, clip counts per dataset, machine,
  section, domain, split and label; sample rates, channels, sample formats and
  durations; attribute tables and their rows; the ground truth used; DCASE
  2025 supplemental clips;
- findings, each an ``error`` (a run on this data would fail or compute
  something the data do not mean) or a ``warning`` (the toolkit copes, but the
  data differ from an official DCASE set).

Errors: a file name that matches no DCASE pattern or, in 2021-2025 layouts,
carries a label but no domain; an unreadable audio header; a clip without
samples; a WAV whose data chunk is longer than the file (truncated); two clips
with the same name for one machine and split; an anomalous clip in a training
folder; a test section without training clips (no threshold, no reference
embeddings); a labelled test section without normal or without anomalous clips
(AUC undefined); ground truth that does not match the test clips (rows without
a clip, clips without a row, names listed twice, name and ground truth
disagreeing).

Warnings: sample rates other than 16 kHz or several rates (clips are resampled
on the fly); several channels (downmixed); clips whose duration differs from
their machine's usual one by more than 0.5 s, or shorter than 1 s (cropped or
zero-padded to the input length); a domain of a test section without normal
clips (its AUC and the official score are undefined); a section without target
training clips; missing attribute tables, clips without an attribute row, rows
without a clip; unreadable supplemental clips; files other than WAV clips and
anomaly sidecars in ``train``/``test`` folders.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from .audit import wav_truncation  # one WAV chunk walker for check-data and the pre-training audit
from .filenames import parse_filename
from .ground_truth import _some
from .index import count_table, scan_dataset, supplemental_summary
from .records import ClipRecord

ERROR = "error"
WARNING = "warning"
EXPECTED_RATE = 16000          # every official DCASE Task 2 set (docs/design.md, "Data layouts")
DURATION_TOLERANCE_S = 0.5     # beyond this a clip is cropped/padded differently from its machine's others
MIN_DURATION_S = 1.0
SIDECAR_SUFFIX = ".anomaly.csv"  # synthetic anomaly boxes beside the clips


@dataclass(frozen=True)
class Finding:
    """One inconsistency: ``severity`` (error|warning), a short ``problem`` title and ``detail`` naming files."""

    severity: str
    problem: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"severity": self.severity, "problem": self.problem, "detail": self.detail}


@dataclass(frozen=True)
class AudioHeader:
    """Header facts of one clip (``None`` fields when unreadable; ``error`` says why)."""

    path: str
    sample_rate: Optional[int] = None
    channels: Optional[int] = None
    frames: Optional[int] = None
    subtype: Optional[str] = None
    error: Optional[str] = None

    @property
    def duration_s(self) -> Optional[float]:
        if self.frames is None or not self.sample_rate:
            return None
        return self.frames / self.sample_rate


@dataclass
class DataReport:
    """Everything :func:`check_dataset` found (see the module docstring)."""

    root: str
    dataset: str
    machines: list[str]
    sections: dict[str, list[str]]
    counts: list[tuple[str, str, str, str, str, str, int]]
    n_clips: int
    sample_rates: dict[int, int] = field(default_factory=dict)
    channels: dict[int, int] = field(default_factory=dict)
    subtypes: dict[str, int] = field(default_factory=dict)
    # machine folder (relative to the root) -> (min, typical, max) duration in seconds
    durations: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    attribute_files: dict[str, int] = field(default_factory=dict)  # relative path -> rows
    ground_truth: Optional[str] = None
    supplemental: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict of every field plus ``n_errors`` and ``n_warnings``."""
        return {
            "root": self.root,
            "dataset": self.dataset,
            "machines": self.machines,
            "sections": self.sections,
            "n_clips": self.n_clips,
            "counts": [dict(zip(("dataset", "machine", "section", "domain", "split", "label", "clips"), row))
                       for row in self.counts],
            "sample_rates": {str(k): v for k, v in self.sample_rates.items()},
            "channels": {str(k): v for k, v in self.channels.items()},
            "subtypes": self.subtypes,
            "durations": {m: {"min": a, "typical": b, "max": c} for m, (a, b, c) in self.durations.items()},
            "attribute_files": self.attribute_files,
            "ground_truth": self.ground_truth,
            "supplemental": self.supplemental,
            "notes": self.notes,
            "findings": [f.to_json() for f in self.findings],
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
        }


# --------------------------------------------------------------------------- audio headers


def read_header(path: str | os.PathLike) -> AudioHeader:
    """Header of one audio file via ``soundfile.info``; ``error`` set when unreadable or truncated."""
    import soundfile as sf

    path = os.fspath(path)
    try:
        info = sf.info(path)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError or OSError
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return AudioHeader(path, error=f"unreadable audio header ({message})")
    header = AudioHeader(path, int(info.samplerate), int(info.channels), int(info.frames), str(info.subtype))
    truncated = wav_truncation(path)
    if truncated:
        return AudioHeader(path, header.sample_rate, header.channels, header.frames, header.subtype, truncated)
    return header


def _headers(paths: Sequence[str], progress: bool) -> list[AudioHeader]:
    iterator: Iterable[str] = paths
    if progress:
        from tqdm import tqdm

        # disable=None: a bar on a terminal only, nothing in logs
        iterator = tqdm(paths, desc="reading headers", unit="clip", leave=False, disable=None)
    return [read_header(p) for p in iterator]


# --------------------------------------------------------------------------- attribute tables


def _attribute_rows(path: Path) -> Optional[list[str]]:
    """``file_name`` column of an ``attributes_XX.csv`` table (first column), ``None`` if unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    rows = list(csv.reader(io.StringIO(text)))
    if rows and rows[0] and rows[0][0].strip().lower() == "file_name":
        rows = rows[1:]
    return [r[0].strip() for r in rows if r and r[0].strip()]


def _check_attribute_tables(clips: Sequence[ClipRecord], report: DataReport) -> None:
    """Attribute tables of the 2022-2025 layouts: present, readable, one row per named clip."""
    by_dir: dict[tuple[str, str], list[ClipRecord]] = {}
    for c in clips:
        if c.dataset in ("dcase2020", "dcase2021"):
            continue  # no attribute tables in these layouts
        machine_dir = str(Path(c.path).parent.parent)
        by_dir.setdefault((machine_dir, c.section), []).append(c)
    missing_tables, no_row, no_clip = [], [], []
    for (machine_dir, section), members in sorted(by_dir.items()):
        table = Path(machine_dir) / f"attributes_{section}.csv"
        rel_table = os.path.relpath(table, report.root)
        if not table.is_file():
            missing_tables.append(rel_table)
            continue
        rows = _attribute_rows(table)
        if rows is None:
            report.findings.append(Finding(WARNING, "unreadable attribute table", str(table)))
            continue
        report.attribute_files[rel_table] = len(rows)
        machine = Path(machine_dir).name
        listed = {r.replace("\\", "/") for r in rows}
        # anonymised test clips (no label in the name) carry no attributes and are not always listed
        named = {f"{machine}/{c.split}/{c.name}" for c in members if parse_filename(c.name).label is not None
                 or c.split == "train"}
        no_row += sorted(named - listed)
        # rows are ``<machine>/<split>/<name>``, relative to the machine folder's parent
        no_clip += [f"{rel_table}: {r}" for r in sorted(listed)
                    if r.startswith(machine + "/") and not (Path(machine_dir).parent / r).is_file()]
    if missing_tables:
        report.findings.append(Finding(WARNING, "missing attribute tables",
                                       f"{len(missing_tables)}: {_some(missing_tables)}"))
    if no_row:
        report.findings.append(Finding(WARNING, "clips without an attribute-table row",
                                       f"{len(no_row)}: {_some(no_row)}"))
    if no_clip:
        report.findings.append(Finding(WARNING, "attribute-table rows without a clip",
                                       f"{len(no_clip)}: {_some(no_clip)}"))


# --------------------------------------------------------------------------- the check


def _typical(values: list[float]) -> float:
    """Most common value (ties: the smallest), rounded to milliseconds."""
    counts = Counter(round(v, 3) for v in values)
    best = max(counts.values())
    return min(v for v, n in counts.items() if n == best)


def _stray_files(clips: Sequence[ClipRecord]) -> list[str]:
    """Files in the clips' train/test folders that are neither WAV clips nor anomaly sidecars."""
    folders = sorted({str(Path(c.path).parent) for c in clips})
    out = []
    for folder in folders:
        for name in sorted(os.listdir(folder)):
            if name.lower().endswith(".wav") or name.endswith(SIDECAR_SUFFIX) or name.startswith("."):
                continue
            out.append(os.path.join(folder, name))
    return out


def check_dataset(
    root: str | os.PathLike,
    ground_truth_dir: str | os.PathLike | None = None,
    dataset: Optional[str] = None,
    progress: bool = False,
) -> DataReport:
    """Inspect a dataset folder (module docstring).

    Raises :class:`~asd_tf.errors.DatasetError` only when there is no dataset
    to inspect (missing folder, no clips); everything else becomes a finding.
    """
    index = scan_dataset(root, ground_truth_dir=ground_truth_dir, skip_bad=True, dataset=dataset,
                         strict_ground_truth=False)
    clips = index.clips
    sections: dict[str, list[str]] = {}
    for c in clips:
        sections.setdefault(c.machine, [])
        if c.section not in sections[c.machine]:
            sections[c.machine].append(c.section)
    report = DataReport(
        root=index.root,
        dataset=index.dataset,
        machines=index.machines,
        sections={m: sorted(s) for m, s in sorted(sections.items())},
        counts=count_table(clips),
        n_clips=len(clips),
        ground_truth=index.ground_truth,
        supplemental=supplemental_summary(index.supplemental),
        notes=list(index.notes),
    )
    add = report.findings.append

    # -- names (left out by the index with skip_bad) and ground truth
    by_problem: dict[str, list[str]] = {}
    for path, problem in index.skipped:
        by_problem.setdefault(problem, []).append(path)
    for problem, paths in by_problem.items():
        add(Finding(ERROR, "bad file name", f"{problem}: {len(paths)} file(s): {_some(paths)}"))
    for problem in index.ground_truth_problems:
        add(Finding(ERROR, "ground truth does not match the clips", problem))
    if index.ground_truth is None:
        unknown = [c.path for c in clips if c.split == "test" and c.label == "unknown"]
        if unknown:
            report.notes.append(f"{len(unknown)} test clip(s) without a label and no ground truth: "
                                "evaluation writes submission files only")

    # -- duplicates and training anomalies
    seen: dict[tuple[str, str, str], list[str]] = {}
    for c in clips:
        seen.setdefault((c.machine, c.split, c.name.lower()), []).append(c.path)
    dups = [paths for paths in seen.values() if len(paths) > 1]
    if dups:
        add(Finding(ERROR, "duplicate clip names",
                    f"{len(dups)} name(s) used by several clips of one machine and split: "
                    + "; ".join(" = ".join(p) for p in dups[:5]) + (" ..." if len(dups) > 5 else "")))
    train_anomalies = [c.path for c in clips if c.split == "train" and c.label == "anomaly"]
    if train_anomalies:
        add(Finding(ERROR, "anomalous clips in a training folder",
                    f"{len(train_anomalies)} (training would learn them as normal): {_some(train_anomalies)}"))

    # -- section structure
    groups: dict[tuple[str, str, str], list[ClipRecord]] = {}
    for c in clips:
        groups.setdefault((c.dataset, c.machine, c.section), []).append(c)
    for (family, machine, section), members in sorted(groups.items()):
        train = [c for c in members if c.split == "train"]
        test = [c for c in members if c.split == "test"]
        where = f"{machine} section {section}" + (f" ({family})" if report.dataset == "mixed" else "")
        if test and not train:
            add(Finding(ERROR, "test clips without training clips",
                        f"{where}: {len(test)} test clip(s) but no training clip (no reference to score against)"))
        if train and members[0].dataset != "dcase2020" and not any(c.domain == "target" for c in train):
            add(Finding(WARNING, "no target-domain training clips", f"{where}: the target domain has no reference"))
        labelled = [c for c in test if c.label != "unknown"]
        if labelled and len(labelled) == len(test):
            kinds = {c.label for c in labelled}
            if kinds != {"normal", "anomaly"}:
                add(Finding(ERROR, "AUC undefined",
                            f"{where}: test clips are all {kinds.pop()} (AUC needs normal and anomalous clips)"))
            elif members[0].dataset != "dcase2020":
                for dom in ("source", "target"):
                    if not any(c.domain == dom and c.label == "normal" for c in labelled):
                        add(Finding(WARNING, f"AUC({dom}) undefined",
                                    f"{where}: no normal {dom} test clips (no official score)"))

    # -- audio headers
    headers = _headers([c.path for c in clips], progress)
    ok = [h for h in headers if h.error is None]
    bad = [h for h in headers if h.error is not None]
    by_error: dict[str, list[str]] = {}
    for h in bad:
        kind = h.error.split(":")[0].split(" (")[0]
        by_error.setdefault(kind, []).append(f"{h.path} ({h.error})")
    for kind, items in by_error.items():
        add(Finding(ERROR, kind, f"{len(items)} clip(s): {_some(items)}"))
    empty = [h.path for h in ok if not h.frames]
    if empty:
        add(Finding(ERROR, "clips without samples", f"{len(empty)}: {_some(empty)}"))
    report.sample_rates = dict(sorted(Counter(h.sample_rate for h in ok).items()))
    report.channels = dict(sorted(Counter(h.channels for h in ok).items()))
    report.subtypes = dict(sorted(Counter(h.subtype for h in ok).items()))
    if len(report.sample_rates) > 1:
        usual = max(report.sample_rates, key=report.sample_rates.get)
        odd = [f"{h.path} ({h.sample_rate} Hz)" for h in ok if h.sample_rate != usual]
        add(Finding(WARNING, "mixed sample rates",
                    f"{report.sample_rates} clips per rate; {len(odd)} differ from {usual} Hz "
                    f"(resampled on the fly): {_some(odd)}"))
    elif report.sample_rates and EXPECTED_RATE not in report.sample_rates:
        add(Finding(WARNING, "sample rate", f"every clip is at {next(iter(report.sample_rates))} Hz, "
                                            f"not {EXPECTED_RATE} Hz (resampled on the fly)"))
    multi = [h.path for h in ok if h.channels and h.channels > 1]
    if multi:
        add(Finding(WARNING, "several channels", f"{len(multi)} clip(s) (averaged to mono): {_some(multi)}"))
    # durations per machine folder (a mixed root can hold ToyCar of 2020 and of 2023)
    machine_of = {c.path: os.path.relpath(Path(c.path).parent.parent, report.root) for c in clips}
    per_machine: dict[str, list[AudioHeader]] = {}
    for h in ok:
        if h.frames:
            per_machine.setdefault(machine_of[h.path], []).append(h)
    odd_length, too_short = [], []
    for machine, hs in sorted(per_machine.items()):
        durs = [h.duration_s for h in hs]
        typical = _typical(durs)
        report.durations[machine] = (min(durs), typical, max(durs))
        odd_length += [f"{h.path} ({h.duration_s:.2f} s, usual {typical:.2f} s)" for h in hs
                       if abs(h.duration_s - typical) > DURATION_TOLERANCE_S]
        too_short += [f"{h.path} ({h.duration_s:.2f} s)" for h in hs if h.duration_s < MIN_DURATION_S]
    if odd_length:
        add(Finding(WARNING, "unusual durations",
                    f"{len(odd_length)} clip(s) cropped or zero-padded unlike their machine's others: "
                    f"{_some(odd_length)}"))
    if too_short:
        add(Finding(WARNING, "very short clips", f"{len(too_short)} clip(s) under {MIN_DURATION_S:g} s: "
                                                 f"{_some(too_short)}"))

    # -- supplemental clips are not used, but a broken one is worth knowing about
    sup_bad = [f"{h.path} ({h.error})" for h in (read_header(s.path) for s in index.supplemental) if h.error]
    if sup_bad:
        add(Finding(WARNING, "unreadable supplemental clips", f"{len(sup_bad)}: {_some(sup_bad)}"))

    # -- attribute tables and stray files
    _check_attribute_tables(clips, report)
    stray = _stray_files(clips)
    if stray:
        add(Finding(WARNING, "other files in train/test folders", f"{len(stray)} (ignored): {_some(stray)}"))
    return report


# --------------------------------------------------------------------------- text output


def format_report(report: DataReport) -> str:
    """The human-readable report printed by ``asd-tf check-data``."""
    from .index import format_table

    lines = [f"{report.root}: dataset {report.dataset}, {len(report.machines)} machine type(s), "
             f"{report.n_clips} clips"]
    lines.append("sections: " + "; ".join(f"{m} {', '.join(s)}" for m, s in report.sections.items()))
    lines.append("")
    lines.append(format_table(report.counts))
    lines.append("")
    if report.sample_rates:
        lines.append("sample rates: " + ", ".join(f"{k} Hz ({v})" for k, v in report.sample_rates.items())
                     + "; channels: " + ", ".join(f"{k} ({v})" for k, v in report.channels.items())
                     + "; formats: " + ", ".join(f"{k} ({v})" for k, v in report.subtypes.items()))
    for machine, (lo, typical, hi) in report.durations.items():
        lines.append(f"duration {machine}: {typical:.2f} s (min {lo:.2f}, max {hi:.2f})")
    if report.attribute_files:
        lines.append("attribute tables: " + ", ".join(f"{k} ({v} rows)" for k, v in report.attribute_files.items()))
    lines.append(f"ground truth: {report.ground_truth or 'none'}")
    lines += [f"supplemental: {s}" for s in report.supplemental]
    lines += [f"note: {n}" for n in report.notes]
    for severity, items in (("errors", report.errors), ("warnings", report.warnings)):
        if items:
            lines.append(f"{severity} ({len(items)}):")
            lines += [f"  - {f.problem}: {f.detail}" for f in items]
    if report.errors:
        lines.append(f"result: {len(report.errors)} error(s); a run on this data would fail or be wrong")
    else:
        lines.append(f"result: OK ({len(report.warnings)} warning(s))")
    return "\n".join(lines)


__all__ = ["AudioHeader", "DataReport", "Finding", "check_dataset", "format_report", "read_header",
           "wav_truncation"]
