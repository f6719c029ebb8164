"""``asd-tf check-data DIR``: what a DCASE dataset folder holds and what in it is inconsistent.

Exit status: 0 when nothing would make a run fail or wrong (warnings allowed;
``--strict`` fails on warnings too), 1 when there are errors, 2 when there is
no dataset to check (the CLI's ASDError handler). ``--json`` prints the whole
report as one JSON object.
"""

from __future__ import annotations

import argparse
import json


def _run(args: argparse.Namespace) -> int:
    from ..data.check import check_dataset, format_report

    report = check_dataset(args.directory, ground_truth_dir=args.ground_truth, dataset=args.dataset,
                           progress=not args.json)
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        print(format_report(report))
    if report.errors or (args.strict and report.warnings):
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``check-data`` sub-command."""
    from ..data.records import DATASETS

    p = subparsers.add_parser(
        "check-data",
        help="report what a DCASE dataset folder holds and every inconsistency (exit 1 on errors)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("directory", metavar="DIR", help="dataset root (searched for <machine>/{train,test})")
    p.add_argument("--ground-truth", metavar="DIR", default=None,
                   help="folder with ground_truth_data/, ground_truth_domain/ (and ground_truth_attributes/)")
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help="force the layout family of section_XX names (default: from folder names)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    p.set_defaults(func=_run)
