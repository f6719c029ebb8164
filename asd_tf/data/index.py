"""Index a DCASE Task 2 dataset folder into :class:`ClipRecord` objects (DESIGN.md section 1).

Layout
------
Clips live in ``<machine>/{train,test}/*.wav`` folders. These are searched for
recursively below the root, so all of these work::

    <root>/<machine>/{train,test}/                      # one official archive
    <root>/dev_data/<machine>/..., <root>/eval_data/<machine>/...
    <root>/dcase2020_task2_dev/<machine>/..., <root>/dcase2023_task2_dev/...  (mixed)
    <root> = <machine>                                   # a single machine folder

Non-WAV files (attribute tables ``attributes_0X.csv``, anomaly sidecars) are
ignored; hidden folders and ``ground_truth_*`` folders are not searched.

Which DCASE year
----------------
DCASE 2020 names (``normal_id_00_...``) identify themselves. The 2021, 2022 and
2023 names share one pattern, so the year of ``section_...`` clips is taken,
in order of preference, from

1. the ``dataset=`` argument;
2. the nearest folder between the machine folder and the root (inclusive)
   whose name contains ``dcase2021``/``dcase2022``/``dcase2023``
   (e.g. ``dcase2023_task2_dev``);
3. inference: ``dcase2023`` when every machine has only section 00 (2023 has
   one section per machine type), else ``dcase2022``.

Anonymised evaluation test clips
--------------------------------
``section_03_0000.wav`` carries no label and no domain. Ground-truth CSVs
(no header) supply them: ``ground_truth_data/ground_truth_<machine>_section_XX_test.csv``
rows ``name,0|1`` (1 = anomaly) and ``ground_truth_domain/...`` rows
``name,0|1`` (1 = target). They are read from ``ground_truth_dir`` or, if not
given, from ``<root>/ground_truth_data`` and ``<root>/ground_truth_domain``
when present. A clip that no CSV covers keeps label ``unknown`` and domain
``unknown``. A train clip whose name has no label is ``normal`` (DCASE
training data are normal only).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ..errors import ConfigError, DatasetError, FileNameError, LabelError
from .filenames import ParsedName, parse_filename
from .records import DATASETS, SPLITS, ClipRecord

_HINT_RE = re.compile(r"dcase[_-]?(2020|2021|2022|2023)", re.IGNORECASE)
_GT_FILE_RE = re.compile(r"ground_truth_(.+)_section_(\d{2})_test\.csv")
GT_LABEL_DIR = "ground_truth_data"
GT_DOMAIN_DIR = "ground_truth_domain"

# key of a ground-truth row: (machine, section, file name)
GTKey = tuple[str, str, str]


@dataclass
class DatasetIndex:
    """All clips found under ``root``, sorted by path.

    ``dataset`` is the layout family of the clips, or ``"mixed"`` when the root
    holds several families (e.g. a folder with ``dcase2020_task2_dev`` and
    ``dcase2023_task2_dev`` inside). ``skipped`` lists ``(path, problem)`` of
    files left out with ``skip_bad=True``.
    """

    root: str
    dataset: str
    clips: list[ClipRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def machines(self) -> list[str]:
        """Sorted machine types present."""
        return sorted({c.machine for c in self.clips})

    def select(
        self,
        split: Optional[str] = None,
        machine: Optional[str] = None,
        section: Optional[str] = None,
        domain: Optional[str] = None,
        label: Optional[str] = None,
    ) -> list[ClipRecord]:
        """Clips matching every given field (``None`` = any), in index order."""
        return select_clips(self.clips, split=split, machine=machine, section=section,
                            domain=domain, label=label)

    def fingerprint(self, extra: str = "") -> str:
        """SHA-1 of every clip's path relative to the root, size and mtime, plus ``extra``.

        Changes when a file is added, removed, replaced or touched, so caches
        keyed by it are never reused for different data.
        """
        h = hashlib.sha1()
        for clip in self.clips:
            st = os.stat(clip.path)
            rel = os.path.relpath(clip.path, self.root)
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        h.update(extra.encode("utf-8", "surrogateescape"))
        return h.hexdigest()


def select_clips(
    clips: Iterable[ClipRecord],
    split: Optional[str] = None,
    machine: Optional[str] = None,
    section: Optional[str] = None,
    domain: Optional[str] = None,
    label: Optional[str] = None,
) -> list[ClipRecord]:
    """Filter ``clips`` by field values (``None`` = any)."""
    wanted = {"split": split, "machine": machine, "section": section, "domain": domain, "label": label}
    wanted = {k: v for k, v in wanted.items() if v is not None}
    return [c for c in clips if all(getattr(c, k) == v for k, v in wanted.items())]


def count_table(clips: Iterable[ClipRecord]) -> list[tuple[str, str, str, str, str, str, int]]:
    """Clip counts per (dataset, machine, section, domain, split, label), sorted."""
    counts = Counter((c.dataset, c.machine, c.section, c.domain, c.split, c.label) for c in clips)
    return [(*key, n) for key, n in sorted(counts.items())]


# --------------------------------------------------------------------------- discovery


def _find_machine_dirs(root: Path) -> list[tuple[Path, list[str]]]:
    """Folders holding a ``train`` and/or ``test`` sub-folder, with those split names."""
    found: list[tuple[Path, list[str]]] = []
    seen: set[str] = set()
    for dirpath, dirnames, _ in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop; do not walk it twice
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and d not in (GT_LABEL_DIR, GT_DOMAIN_DIR)
        )
        splits = [d for d in dirnames if d in SPLITS]
        if splits:
            found.append((Path(dirpath), splits))
            dirnames[:] = []  # a machine folder holds only train/test and attribute tables
    return found


def _folder_hint(machine_dir: Path, root: Path) -> Optional[str]:
    """Dataset family named by the nearest folder from ``machine_dir`` up to ``root``."""
    current = machine_dir
    while True:
        match = _HINT_RE.search(current.name)
        if match:
            return f"dcase{match.group(1)}"
        if current == root or current.parent == current:
            return None
        current = current.parent


# --------------------------------------------------------------------------- ground truth


def _read_gt_csv(path: Path, positive: str, negative: str) -> dict[str, str]:
    """``name -> positive|negative`` from a header-less ``name,0|1`` CSV."""
    out: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ground-truth CSV ({exc})") from exc
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 2:
            raise DatasetError(f"{path}:{lineno}: expected 'name,0|1', got {line!r}")
        name, value = fields[0], fields[1]
        if value not in ("0", "1"):
            if lineno == 1 and not name.lower().endswith(".wav"):
                continue  # tolerate a header line although the official files have none
            raise DatasetError(f"{path}:{lineno}: value must be 0 or 1, got {value!r}")
        out[name] = positive if value == "1" else negative
    return out


def _read_gt_folder(folder: Path, positive: str, negative: str) -> dict[GTKey, str]:
    table: dict[GTKey, str] = {}
    for csv in sorted(folder.glob("ground_truth_*_section_*_test.csv")):
        match = _GT_FILE_RE.fullmatch(csv.name)
        if not match:
            continue
        machine, section = match.groups()
        for name, value in _read_gt_csv(csv, positive, negative).items():
            table[(machine, section, name)] = value
    return table


def load_ground_truth(gt_dir: str | os.PathLike) -> tuple[dict[GTKey, str], dict[GTKey, str]]:
    """Read evaluator ground truth below ``gt_dir``.

    Returns ``(labels, domains)`` keyed by ``(machine, section, file name)``
    with values ``normal|anomaly`` and ``source|target``. ``gt_dir`` is the
    folder holding ``ground_truth_data/`` and ``ground_truth_domain/``; pointing
    it at ``ground_truth_data`` itself also works (the domain folder is then
    looked for beside it).
    """
    gt = Path(gt_dir)
    if not gt.is_dir():
        raise DatasetError(f"{gt}: ground-truth directory does not exist")
    label_dir, domain_dir = gt / GT_LABEL_DIR, gt / GT_DOMAIN_DIR
    if not label_dir.is_dir() and not domain_dir.is_dir():
        if any(gt.glob("ground_truth_*_section_*_test.csv")):
            label_dir, domain_dir = gt, gt.parent / GT_DOMAIN_DIR
        else:
            raise DatasetError(
                f"{gt}: no {GT_LABEL_DIR}/ or {GT_DOMAIN_DIR}/ folder and no "
                "ground_truth_<machine>_section_XX_test.csv files"
            )
    labels = _read_gt_folder(label_dir, "anomaly", "normal") if label_dir.is_dir() else {}
    domains = _read_gt_folder(domain_dir, "target", "source") if domain_dir.is_dir() else {}
    return labels, domains


# --------------------------------------------------------------------------- scan


@dataclass
class _Entry:
    path: str
    machine: str
    split: str
    hint: Optional[str]
    parsed: ParsedName


def scan_dataset(
    root: str | os.PathLike,
    ground_truth_dir: str | os.PathLike | None = None,
    skip_bad: bool = False,
    dataset: Optional[str] = None,
) -> DatasetIndex:
    """Index every clip below ``root`` (see the module docstring for the rules).

    Raises :class:`DatasetError` naming the directory when it does not exist or
    holds no ``<machine>/{train,test}`` folders or no clips, and
    :class:`FileNameError` for a clip whose name matches no DCASE pattern, unless
    ``skip_bad=True``, which lists such files in ``.skipped`` instead.
    ``dataset`` forces the family of ``section_...`` clips (``dcase2021``..``dcase2023``).
    """
    root_path = Path(os.path.abspath(os.fspath(root)))
    if dataset is not None and dataset not in DATASETS:
        raise ConfigError(f"dataset={dataset!r} is not one of {', '.join(DATASETS)}")
    if not root_path.is_dir():
        raise DatasetError(f"{root_path}: dataset directory does not exist")

    machine_dirs = _find_machine_dirs(root_path)
    if not machine_dirs:
        raise DatasetError(
            f"{root_path}: no dataset found (expected <machine>/train and/or <machine>/test folders "
            "with .wav clips somewhere below it)"
        )

    skipped: list[tuple[str, str]] = []
    entries: list[_Entry] = []
    for machine_dir, splits in machine_dirs:
        hint = _folder_hint(machine_dir, root_path)
        for split in splits:
            split_dir = machine_dir / split
            for name in sorted(os.listdir(split_dir)):
                path = split_dir / name
                if not name.lower().endswith(".wav") or not path.is_file():
                    continue  # attribute tables, sidecars, sub-folders
                try:
                    parsed = parse_filename(str(path))
                    if parsed.split is not None and parsed.split != split:
                        raise FileNameError(
                            str(path), f"name says split '{parsed.split}' but the file is in a '{split}' folder"
                        )
                    if parsed.style == "dcase2020" and dataset not in (None, "dcase2020"):
                        raise FileNameError(str(path), f"DCASE 2020 name but dataset={dataset!r} was requested")
                    if parsed.style == "section" and dataset == "dcase2020":
                        raise FileNameError(str(path), "DCASE 2021-2023 name but dataset='dcase2020' was requested")
                except FileNameError as exc:
                    if not skip_bad:
                        raise
                    skipped.append((str(path), exc.problem))
                    continue
                entries.append(_Entry(str(path), machine_dir.name, split, hint, parsed))

    if not entries:
        extra = f" ({len(skipped)} unreadable file names skipped)" if skipped else ""
        raise DatasetError(f"{root_path}: no .wav clips in any <machine>/{{train,test}} folder{extra}")

    family = _assign_families(entries, dataset)

    if ground_truth_dir is not None:
        gt_labels, gt_domains = load_ground_truth(ground_truth_dir)
    elif (root_path / GT_LABEL_DIR).is_dir() or (root_path / GT_DOMAIN_DIR).is_dir():
        gt_labels, gt_domains = load_ground_truth(root_path)
    else:
        gt_labels, gt_domains = {}, {}

    clips = [_make_record(e, family[i], gt_labels, gt_domains) for i, e in enumerate(entries)]
    clips.sort(key=lambda c: c.path)
    families = sorted({c.dataset for c in clips})
    return DatasetIndex(
        root=str(root_path),
        dataset=families[0] if len(families) == 1 else "mixed",
        clips=clips,
        skipped=skipped,
    )


def _assign_families(entries: Sequence[_Entry], dataset: Optional[str]) -> list[str]:
    """Layout family of each entry (explicit > folder name > section-count inference)."""
    unhinted_sections: dict[str, set[str]] = {}
    for e in entries:
        if e.parsed.style == "section" and dataset is None and e.hint in (None, "dcase2020"):
            unhinted_sections.setdefault(e.machine, set()).add(e.parsed.section)
    # DCASE 2023 has exactly one section (00) per machine type; 2021/2022 have three or more.
    inferred = (
        "dcase2023"
        if all(secs == {"00"} for secs in unhinted_sections.values())
        else "dcase2022"
    )
    out = []
    for e in entries:
        if e.parsed.style == "dcase2020":
            out.append("dcase2020")
        elif dataset is not None:
            out.append(dataset)
        elif e.hint not in (None, "dcase2020"):
            out.append(e.hint)
        else:
            out.append(inferred)
    return out


def _make_record(
    e: _Entry, family: str, gt_labels: dict[GTKey, str], gt_domains: dict[GTKey, str]
) -> ClipRecord:
    p = e.parsed
    key = (e.machine, p.section, p.name)
    label = p.label or ("normal" if e.split == "train" else "unknown")
    domain = p.domain or "unknown"
    if key in gt_labels:
        if p.label is not None and p.label != gt_labels[key]:
            raise LabelError(f"{e.path}: file name says '{p.label}' but the ground truth says '{gt_labels[key]}'")
        label = gt_labels[key]
    if key in gt_domains:
        if p.domain is not None and p.domain != gt_domains[key]:
            raise LabelError(f"{e.path}: file name says '{p.domain}' but the ground truth says '{gt_domains[key]}'")
        domain = gt_domains[key]
    return ClipRecord(
        path=e.path,
        dataset=family,
        machine=e.machine,
        section=p.section,
        domain=domain,
        split=e.split,
        label=label,
        attributes=p.attributes,
        attribute_pairs=p.attribute_pairs,
    )
