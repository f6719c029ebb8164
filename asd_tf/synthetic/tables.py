"""Tables of a synthetic dataset: attribute tables, anonymised test names and the evaluator's ground truth."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import numpy as np

from .plan import ANON_START, ClipSpec
from .seeding import crc


def anonymised_names(specs: list[ClipSpec], seed: int) -> dict[ClipSpec, str]:
    """Eval-style names ``section_XX_NNNN.wav`` in a seeded shuffled order per machine x section."""
    groups: dict[tuple[str, str], list[ClipSpec]] = {}
    for s in specs:
        if s.split == "test":
            groups.setdefault((s.machine, s.section), []).append(s)
    out: dict[ClipSpec, str] = {}
    for (machine, section), members in groups.items():
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, crc(machine), int(section), 99])
        perm = rng.permutation(len(members))
        start = ANON_START.get((members[0].layout, machine), 0)
        for new_index, j in enumerate(perm):
            out[members[j]] = f"section_{section}_{new_index + start:04d}.wav"
    return out


def ground_truth_tables(specs: list[ClipSpec], names: dict[ClipSpec, str]) -> dict[str, str]:
    """Evaluator ground truth of the anonymised test clips: relative path -> CSV text (no header).

    ``ground_truth_data``: ``name,0|1`` (1 = anomaly); ``ground_truth_domain``:
    ``name,0|1`` (1 = target); ``ground_truth_attributes``: ``name,full name
    without .wav`` (the official 2023-2025 evaluators read it, map full names
    in score files to anonymised ones, and stop without it), plus the full
    name with the real attributes for hidden-attribute machines, as the
    published 2024 files do. Rows sorted by anonymised name.
    """
    gt: dict[tuple[str, str], list[ClipSpec]] = {}
    for s in specs:
        if s.split == "test":
            gt.setdefault((s.machine, s.section), []).append(s)
    out: dict[str, str] = {}
    for (machine, section), members in gt.items():
        members.sort(key=lambda m: names[m])
        fname = f"ground_truth_{machine}_section_{section}_test.csv"
        out[f"ground_truth_data/{fname}"] = "".join(f"{names[m]},{int(m.label == 'anomaly')}\n" for m in members)
        out[f"ground_truth_domain/{fname}"] = "".join(f"{names[m]},{int(m.domain == 'target')}\n" for m in members)
        rows = []
        for m in members:
            row = f"{names[m]},{m.name[:-4]}"
            if m.hidden:
                row += "," + m.name.replace("_noAttribute.wav", "_" + replace(m, hidden=False).attr_string + ".wav")
            rows.append(row + "\n")
        out[f"ground_truth_attributes/{fname}"] = "".join(rows)
    return out


def _table_pairs(spec: ClipSpec) -> tuple[tuple[str, str], ...]:
    """Attribute pairs an attribute table shows (hidden attributes: ``noAttribute``)."""
    return (("noAttribute", ""),) if spec.hidden else spec.attr_pairs


def attribute_tables(specs: list[ClipSpec], names: dict[ClipSpec, str], eval_split: bool) -> dict[str, str]:
    tables: dict[str, list[ClipSpec]] = {}
    for s in specs:
        if eval_split and s.split == "test":
            continue  # anonymised test clips carry no attributes
        tables.setdefault(f"{s.machine}/attributes_{s.section}.csv", []).append(s)
    out: dict[str, str] = {}
    for rel, members in tables.items():
        layout = members[0].layout
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if layout == "dcase2022":
            w.writerow(["file_name", "d1p", "d1v", "file_name_with_full_attributes"])
            for s in members:
                fn = f"{s.machine}/{s.split}/{names.get(s, s.name)}"
                k, v = s.attr_pairs[0] if s.attr_pairs else ("noAttribute", "")
                w.writerow([fn, k, v, fn])
        else:
            width = max(len(_table_pairs(s)) for s in members)
            header = ["file_name"]
            for i in range(1, width + 1):
                header += [f"d{i}p", f"d{i}v"]
            w.writerow(header)
            for s in members:
                row = [f"{s.machine}/{s.split}/{names.get(s, s.name)}"]
                for k, v in _table_pairs(s):
                    row += [k, v]
                row += [""] * (len(header) - len(row))
                w.writerow(row)
        out[rel] = buf.getvalue()
    return out
