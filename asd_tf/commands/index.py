"""``asd-tf index DIR``: list the clips of a DCASE dataset folder.

Without ``--json``: a table of clip counts per dataset, machine, section,
domain, split and label, then one line per machine with a DCASE 2025
``supplemental/`` folder (clips by kind; never training data). With
``--json``: one JSON object per clip and line (keys path, dataset, machine,
section, domain, split, label, attributes); the supplemental summary goes to
stderr. Errors (no dataset, bad file names without ``--skip-bad``, ground truth
that does not match the test clips) exit with code 2 through the CLI's
ASDError handler.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from ..data.index import count_table, format_table, scan_dataset, supplemental_summary

    out = out or sys.stdout
    err = err or sys.stderr
    index = scan_dataset(
        args.directory, ground_truth_dir=args.ground_truth, skip_bad=args.skip_bad, dataset=args.dataset
    )
    # A zero-byte, text or truncated ".wav" is not a clip: checked like train and evaluate do.
    from ..data.audit import check_clips

    clips, bad = check_clips(index.clips, None, skip_bad=args.skip_bad, progress=not args.json, what="clips")
    skipped = list(index.skipped) + [(b.path, b.problem) for b in bad]
    if args.json:
        for clip in clips:
            out.write(json.dumps(clip.to_json(), ensure_ascii=False) + "\n")
    else:
        rows = count_table(clips)
        out.write(format_table(rows) + "\n")
        out.write(f"{len(clips)} clips in {index.root} (dataset: {index.dataset})\n")
    for line in supplemental_summary(index.supplemental):
        (err if args.json else out).write(line + "\n")
    for note in index.notes:
        err.write(f"asd-tf index: note: {note}\n")
    for path, problem in skipped:
        err.write(f"asd-tf index: skipped {path}: {problem}\n")
    if skipped:
        err.write(f"asd-tf index: {len(skipped)} file(s) skipped\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``index`` sub-command."""
    from ..data.records import DATASETS

    p = subparsers.add_parser(
        "index",
        help="list the clips of a DCASE Task 2 dataset folder",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("directory", metavar="DIR", help="dataset root (searched for <machine>/{train,test})")
    p.add_argument("--json", action="store_true", help="one JSON object per clip and line")
    p.add_argument("--ground-truth", metavar="DIR", default=None,
                   help="folder with ground_truth_data/ and ground_truth_domain/ CSVs")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip files with unknown names or unusable audio instead of failing")
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help="force the layout family of section_XX names (default: from folder names)")
    p.set_defaults(func=run)
