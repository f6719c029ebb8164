"""Index a DCASE Task 2 dataset folder into :class:`ClipRecord` objects.

docs/design.md, "Data layouts" and "Later methods".

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
DCASE 2025's ``<machine>/supplemental/`` folder (clean machine and noise-only
clips) is recognised and listed in :attr:`DatasetIndex.supplemental`; its clips
are never training or test clips.

Which DCASE year
----------------
DCASE 2020 names (``normal_id_00_...``) identify themselves. The 2021-2025
names share one pattern, so the year of ``section_...`` clips is taken,
in order of preference, from

1. the ``dataset=`` argument;
2. the nearest folder between the machine folder and the root (inclusive)
   whose name contains ``dcase2021`` .. ``dcase2025`` (e.g.
   ``dcase2023_task2_dev``, ``dcase2024t2``);
3. inference over the folders without such a name: ``dcase2022`` when some
   machine has several sections; otherwise the one year named by the machine
   types that occur in a single year's evaluation set (``RoboticArm`` ->
   2024, ``AutoTrash`` -> 2025, ``ToyDrone`` -> 2023; ``_YEAR_MACHINES``) or by a
   ``supplemental/`` folder (2025), and ``dcase2023`` when none or several
   years are named. 2023-2025 share naming and metrics, so the choice only
   labels the results.

Domains
-------
In the 2021-2025 layouts a training clip, or a test clip whose name carries a
label, must carry its domain too: such a name without ``source``/``target`` is
a :class:`FileNameError` (skipped with ``skip_bad=True``). DCASE 2020 has no
domains (every clip is ``source``).

Anonymised evaluation test clips and ground truth
-------------------------------------------------
Read and matched with the clips by :mod:`asd_tf.data.ground_truth` (its docstring
says what the CSVs hold and what a mismatch is).
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
from .ground_truth import (
    GT_DIRS,
    GT_DOMAIN_DIR,
    GT_LABEL_DIR,
    GroundTruth,
    _gt_key,
    ground_truth_problems,
    read_ground_truth,
)
from .records import DATASETS, SPLITS, ClipRecord

_HINT_RE = re.compile(r"dcase[_-]?(2020|2021|2022|2023|2024|2025)", re.IGNORECASE)
SUPPLEMENTAL_DIR = "supplemental"

# Machine types of one year's evaluation set only: they name the year
# (docs/design.md, "Data layouts" and "Later methods").
_YEAR_MACHINES: dict[str, frozenset[str]] = {
    "dcase2023": frozenset({"ToyDrone", "ToyNscale", "ToyTank", "Vacuum", "bandsaw", "grinder", "shaker"}),
    "dcase2024": frozenset({"3DPrinter", "AirCompressor", "BrushlessMotor", "HairDryer", "HoveringDrone",
                            "RoboticArm", "Scanner", "ToothBrush", "ToyCircuit"}),
    "dcase2025": frozenset({"AutoTrash", "BandSealer", "CoffeeGrinder", "HomeCamera", "Polisher",
                            "ScrewFeeder", "ToyPet", "ToyRCCar"}),
}
# Supplemental clip names are not confirmed beyond ``section_00_machine_0001_.wav``;
# the section is read when present and the kind from a ``machine``/``noise`` token.
_RE_SUPPLEMENTAL = re.compile(r"section_(\d{2})_(.*)\.wav", re.IGNORECASE | re.ASCII)

# key of a ground-truth row: (machine, section, file name)


@dataclass(frozen=True)
class SupplementalClip:
    """A clip of a DCASE 2025 ``<machine>/supplemental/`` folder (never training or test data).

    ``section`` is ``None`` when the name has no ``section_XX_`` prefix; ``kind``
    is ``machine`` (clean machine sound), ``noise`` (noise only) or ``other``,
    read from the name's tokens.
    """

    path: str
    machine: str
    section: Optional[str]
    kind: str


@dataclass
class DatasetIndex:
    """All clips found under ``root``, sorted by path.

    ``dataset`` is the layout family of the clips, or ``"mixed"`` when the root
    holds several families (e.g. a folder with ``dcase2020_task2_dev`` and
    ``dcase2023_task2_dev`` inside). ``skipped`` lists ``(path, problem)`` of
    files left out with ``skip_bad=True``. ``supplemental`` lists the clips of
    DCASE 2025 ``supplemental/`` folders (not in ``clips``). ``ground_truth``
    is the ground-truth folder used (``None`` without one);
    ``ground_truth_problems`` lists its mismatches with the clips when they
    were not raised (``strict_ground_truth=False``); ``notes`` holds remarks
    that are not errors.
    """

    root: str
    dataset: str
    clips: list[ClipRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    supplemental: list[SupplementalClip] = field(default_factory=list)
    ground_truth: Optional[str] = None
    ground_truth_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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


#: Columns of :func:`count_table` as printed by ``asd-tf index`` and ``asd-tf check-data``.
HEADER = ("dataset", "machine", "section", "domain", "split", "label", "clips")


def format_table(rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> str:
    """Plain-text table with left-aligned text columns and right-aligned numbers."""
    cells = [[str(h) for h in header]] + [[str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(isinstance(row[i], int) for row in rows) and rows != [] for i in range(len(header))]
    lines = []
    for r in cells:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def supplemental_summary(clips: Iterable[SupplementalClip]) -> list[str]:
    """One line per machine with supplemental clips: ``<machine>: N supplemental clips (machine a, noise b)``."""
    per: dict[str, Counter] = {}
    for c in clips:
        per.setdefault(c.machine, Counter())[c.kind] += 1
    lines = []
    for machine, kinds in sorted(per.items()):
        parts = ", ".join(f"{k} {kinds[k]}" for k in ("machine", "noise", "other") if kinds[k])
        lines.append(f"{machine}: {sum(kinds.values())} supplemental clip(s) ({parts}); not training data")
    return lines


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
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in GT_DIRS)
        splits = [d for d in dirnames if d in SPLITS]
        if splits:
            found.append((Path(dirpath), splits))
            dirnames[:] = []  # a machine folder holds only train/test(/supplemental) and attribute tables
    return found


def _supplemental_clips(machine_dir: Path) -> list[SupplementalClip]:
    """The WAV files of ``<machine_dir>/supplemental/`` (DCASE 2025), sorted by name."""
    folder = machine_dir / SUPPLEMENTAL_DIR
    if not folder.is_dir():
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        path = folder / name
        if not name.lower().endswith(".wav") or not path.is_file():
            continue
        match = _RE_SUPPLEMENTAL.fullmatch(name)
        tokens = {t.lower() for t in name[:-4].split("_")}
        kind = "machine" if "machine" in tokens else "noise" if "noise" in tokens else "other"
        out.append(SupplementalClip(str(path), machine_dir.name, match.group(1) if match else None, kind))
    return out


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


# --------------------------------------------------------------------------- scan


@dataclass
class _Entry:
    path: str
    machine: str
    split: str
    hint: Optional[str]
    parsed: ParsedName


_NO_DOMAIN = ("name carries no domain (source/target); DCASE 2021-2025 training clips and labelled test "
              "clips need one (it decides the domain's AUC and, for training, the class)")


def scan_dataset(
    root: str | os.PathLike,
    ground_truth_dir: str | os.PathLike | None = None,
    skip_bad: bool = False,
    dataset: Optional[str] = None,
    strict_ground_truth: bool = True,
) -> DatasetIndex:
    """Index every clip below ``root`` (see the module docstring for the rules).

    Raises :class:`DatasetError` naming the directory when it does not exist or
    holds no ``<machine>/{train,test}`` folders or no clips, and
    :class:`FileNameError` for a clip whose name matches no DCASE pattern (or, in
    the 2021-2025 layouts, carries a label but no domain), unless
    ``skip_bad=True``, which lists such files in ``.skipped`` instead.
    ``dataset`` forces the family of ``section_...`` clips (``dcase2021``..``dcase2025``).
    With ground truth, a mismatch between it and the test clips is a
    :class:`LabelError` listing every problem; ``strict_ground_truth=False``
    lists them in ``.ground_truth_problems`` instead (``asd-tf check-data``).
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
    supplemental: list[SupplementalClip] = []
    for machine_dir, splits in machine_dirs:
        hint = _folder_hint(machine_dir, root_path)
        supplemental.extend(_supplemental_clips(machine_dir))
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
                        raise FileNameError(str(path), "DCASE 2021-2025 name but dataset='dcase2020' was requested")
                except FileNameError as exc:
                    if not skip_bad:
                        raise
                    skipped.append((str(path), exc.problem))
                    continue
                entries.append(_Entry(str(path), machine_dir.name, split, hint, parsed))

    if not entries:
        extra = f" ({len(skipped)} unreadable file names skipped)" if skipped else ""
        raise DatasetError(f"{root_path}: no .wav clips in any <machine>/{{train,test}} folder{extra}")

    family = _assign_families(entries, dataset, {c.machine for c in supplemental})

    # Issue 17: a labelled clip without a domain would make a fake class / enter a domain AUC.
    kept_entries: list[_Entry] = []
    kept_family: list[str] = []
    for e, fam in zip(entries, family):
        p = e.parsed
        if fam != "dcase2020" and p.domain is None and (p.label is not None or e.split == "train"):
            if not skip_bad:
                raise FileNameError(e.path, _NO_DOMAIN)
            skipped.append((e.path, _NO_DOMAIN))
            continue
        kept_entries.append(e)
        kept_family.append(fam)
    if not kept_entries:
        raise DatasetError(f"{root_path}: every clip was skipped ({len(skipped)} bad file names)")

    gt: Optional[GroundTruth] = None
    if ground_truth_dir is not None:
        gt = read_ground_truth(ground_truth_dir)
    elif (root_path / GT_LABEL_DIR).is_dir() or (root_path / GT_DOMAIN_DIR).is_dir():
        gt = read_ground_truth(root_path)

    clips: list[ClipRecord] = []
    conflicts: list[str] = []  # name and ground truth disagree (raised at once when strict)
    for e, fam in zip(kept_entries, kept_family):
        try:
            clips.append(_make_record(e, fam, gt))
        except LabelError as exc:
            if strict_ground_truth:
                raise
            conflicts.append(str(exc))
            clips.append(_make_record(e, fam, None))
    clips.sort(key=lambda c: c.path)
    families = sorted({c.dataset for c in clips})
    index = DatasetIndex(
        root=str(root_path),
        dataset=families[0] if len(families) == 1 else "mixed",
        clips=clips,
        skipped=skipped,
        supplemental=supplemental,
        ground_truth=gt.directory if gt is not None else None,
    )
    if gt is not None:
        problems, notes = ground_truth_problems(clips, gt)
        problems = conflicts + problems
        index.notes.extend(notes)
        if problems and strict_ground_truth:
            raise LabelError(
                f"ground truth in {gt.directory} does not match the test clips below {root_path} "
                f"({len(problems)} problem(s)):\n  - " + "\n  - ".join(problems)
            )
        index.ground_truth_problems = problems
    return index


def _assign_families(entries: Sequence[_Entry], dataset: Optional[str],
                     supplemental_machines: Iterable[str] = ()) -> list[str]:
    """Layout family of each entry (explicit > folder name > inference; module docstring)."""
    unhinted_sections: dict[str, set[str]] = {}
    for e in entries:
        if e.parsed.style == "section" and dataset is None and e.hint in (None, "dcase2020"):
            unhinted_sections.setdefault(e.machine, set()).add(e.parsed.section)
    if all(secs == {"00"} for secs in unhinted_sections.values()):
        # One section per machine type: 2023, 2024 or 2025. Eval-only machine types
        # and the 2025 supplemental folder name a year; none or several -> 2023.
        named = {year for year, machines in _YEAR_MACHINES.items() for m in unhinted_sections if m in machines}
        if set(supplemental_machines) & set(unhinted_sections):
            named.add("dcase2025")
        inferred = named.pop() if len(named) == 1 else "dcase2023"
    else:
        inferred = "dcase2022"  # 2021/2022 have three or more sections per machine
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


def _make_record(e: _Entry, family: str, gt: Optional[GroundTruth]) -> ClipRecord:
    p = e.parsed
    label = p.label or ("normal" if e.split == "train" else "unknown")
    domain = p.domain or "unknown"
    if gt is not None:
        key = _gt_key(gt, gt.labels, e.machine, p.section, p.name)
        if key is not None:
            if p.label is not None and p.label != gt.labels[key]:
                raise LabelError(f"{e.path}: file name says '{p.label}' but the ground truth says '{gt.labels[key]}'")
            label = gt.labels[key]
        key = _gt_key(gt, gt.domains, e.machine, p.section, p.name)
        if key is not None:
            if p.domain is not None and p.domain != gt.domains[key]:
                raise LabelError(f"{e.path}: file name says '{p.domain}' but the ground truth says '{gt.domains[key]}'")
            domain = gt.domains[key]
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
