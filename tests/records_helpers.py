"""Stand-in clip records for the scoring / evaluation tests (the ClipRecord fields, no file access)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rec:
    """Stand-in with the ClipRecord fields of a test clip (the code under test only reads attributes)."""

    path: str
    dataset: str = "dcase2022"
    machine: str = "fan"
    section: str = "00"
    domain: str = "source"
    split: str = "test"
    label: str = "normal"
    attributes: str = ""
    attribute_pairs: tuple = ()


@dataclass(frozen=True)
class TrainRec(Rec):
    """:class:`Rec` of a training clip (``split`` defaults to ``"train"``)."""

    split: str = "train"
