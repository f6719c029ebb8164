"""One audio clip of a DCASE Task 2 dataset, described by its path and file-name fields.

A :class:`ClipRecord` is what every later stage (label sets, input pipeline,
scoring, evaluation) works on. It is built by :func:`asd_tf.data.index.scan_dataset`
from the official folder layout (docs/design.md, "Data layouts").

Allowed values
--------------
- ``dataset``: ``dcase2020`` | ``dcase2021`` | ``dcase2022`` | ``dcase2023`` |
  ``dcase2024`` | ``dcase2025`` (2024 and 2025 use the 2023 naming and metrics).
- ``domain``: ``source`` | ``target`` | ``unknown``. DCASE 2020 has no domains,
  so its clips are ``source``. ``unknown`` is used for anonymised evaluation
  test clips (``section_03_0000.wav``) whose domain is not given by a
  ground-truth CSV.
- ``label``: ``normal`` | ``anomaly`` | ``unknown`` (anonymised test clips
  without ground truth).
- ``split``: ``train`` | ``test`` (the folder the clip lies in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import DatasetError

DATASETS: tuple[str, ...] = ("dcase2020", "dcase2021", "dcase2022", "dcase2023", "dcase2024", "dcase2025")
DOMAINS: tuple[str, ...] = ("source", "target", "unknown")
LABELS: tuple[str, ...] = ("normal", "anomaly", "unknown")
SPLITS: tuple[str, ...] = ("train", "test")


@dataclass(frozen=True)
class ClipRecord:
    """Metadata of one clip; immutable and hashable so it can key dicts and sets."""

    path: str
    dataset: str
    machine: str
    section: str
    domain: str
    split: str
    label: str
    attributes: str = ""
    attribute_pairs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # Checked here so that no stage downstream ever sees a value it does not know.
        for field, value, allowed in (
            ("dataset", self.dataset, DATASETS),
            ("domain", self.domain, DOMAINS),
            ("label", self.label, LABELS),
            ("split", self.split, SPLITS),
        ):
            if value not in allowed:
                raise DatasetError(
                    f"ClipRecord {self.path}: {field}={value!r} is not one of {', '.join(allowed)}"
                )
        if not (len(self.section) == 2 and self.section.isdigit()):
            raise DatasetError(f"ClipRecord {self.path}: section={self.section!r} is not two digits")

    @property
    def name(self) -> str:
        """The file name (last path component)."""
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def attribute_dict(self) -> dict[str, str]:
        """Attribute key/value pairs as a dict (a repeated key keeps its last value)."""
        return dict(self.attribute_pairs)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: path, dataset, machine, section, domain, split, label, attributes (dict)."""
        return {
            "path": self.path,
            "dataset": self.dataset,
            "machine": self.machine,
            "section": self.section,
            "domain": self.domain,
            "split": self.split,
            "label": self.label,
            "attributes": self.attribute_dict,
        }
