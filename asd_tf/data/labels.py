"""Auxiliary-task label sets: which class each training clip belongs to (docs/design.md, "Data layouts").

The reference system learns embeddings by classifying clips into auxiliary
classes built from file-name metadata (paper Sec. IV-B):

=============  ===========================================  ====================
name           class of a clip                              example class name
=============  ===========================================  ====================
``none``       one class for everything (one-class loss)    ``all``
``machine``    machine type                                 ``fan``
``section``    machine type x section (2020: x machine ID)  ``fan/00``
``attribute``  machine x section x attribute string x       ``fan/00/m-n_W/source``
               domain (342 classes on DCASE 2022)
``individual`` one model per machine x section; each        ``fan/00``
               model is one-class
=============  ===========================================  ====================

Class ids are the positions of the class names in sorted order, so the same
clips always give the same ids. In ``attribute`` names an empty attribute
string (DCASE 2020, 2021 test names) is written ``-``.

For ``individual`` the label set enumerates the (machine, section) groups;
``encode`` returns the group id of each clip, which routes the clip to its
group's model. ``per_model`` is then True: each model sees a single class
(id 0). :func:`individual_groups` splits clips by group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..errors import ConfigError, LabelError
from .records import ClipRecord

LABEL_SETS: tuple[str, ...] = ("none", "machine", "section", "attribute", "individual")
EMPTY_ATTRIBUTE = "-"


def _key_none(c: ClipRecord) -> str:
    return "all"


def _key_machine(c: ClipRecord) -> str:
    return c.machine


def _key_section(c: ClipRecord) -> str:
    return f"{c.machine}/{c.section}"


def _key_attribute(c: ClipRecord) -> str:
    return f"{c.machine}/{c.section}/{c.attributes or EMPTY_ATTRIBUTE}/{c.domain}"


def _key_attribute_no_domain(c: ClipRecord) -> str:
    return f"{c.machine}/{c.section}/{c.attributes or EMPTY_ATTRIBUTE}"


_KEYS: dict[str, Callable[[ClipRecord], str]] = {
    "none": _key_none,
    "machine": _key_machine,
    "section": _key_section,
    "attribute": _key_attribute,
    "individual": _key_section,
}


def class_name(clip: ClipRecord, name: str) -> str:
    """The class name of ``clip`` under label set ``name``."""
    if name not in _KEYS:
        raise ConfigError(f"unknown label set {name!r}; choose one of {', '.join(LABEL_SETS)}")
    return _KEYS[name](clip)


@dataclass(frozen=True)
class LabelSet:
    """A fixed mapping class name -> integer id (ids follow sorted names)."""

    name: str
    names: list[str]
    #: False: the domain is left out of ``attribute`` class names (docs/design.md, "Later methods").
    domain_in_label: bool = True
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.name not in _KEYS:
            raise ConfigError(f"unknown label set {self.name!r}; choose one of {', '.join(LABEL_SETS)}")
        if list(self.names) != sorted(set(self.names)):
            raise LabelError(f"label set {self.name!r}: class names must be sorted and unique")
        object.__setattr__(self, "names", list(self.names))
        object.__setattr__(self, "_ids", {n: i for i, n in enumerate(self.names)})

    @property
    def num_classes(self) -> int:
        """Number of classes (for ``individual``: number of machine x section groups)."""
        return len(self.names)

    @property
    def per_model(self) -> bool:
        """True for ``individual``: one one-class model per class id."""
        return self.name == "individual"

    def class_of(self, clip: ClipRecord) -> str:
        """Class name of one clip (whether or not it is in this set)."""
        if not self.domain_in_label and self.name == "attribute":
            return _key_attribute_no_domain(clip)
        return _KEYS[self.name](clip)

    def encode(self, clips: Iterable[ClipRecord]) -> np.ndarray:
        """Class ids (int32) of ``clips``; LabelError naming the first clip whose class is unknown."""
        ids = []
        for clip in clips:
            key = self.class_of(clip)
            try:
                ids.append(self._ids[key])
            except KeyError:
                raise LabelError(
                    f"{clip.path}: class {key!r} is not in label set {self.name!r} "
                    f"({self.num_classes} classes built from other clips)"
                ) from None
        return np.asarray(ids, dtype=np.int32)

    def to_json(self) -> dict[str, Any]:
        """``{"name": ..., "names": [...]}``."""
        obj: dict[str, Any] = {"name": self.name, "names": list(self.names)}
        if not self.domain_in_label:  # written only when set: default label sets keep their JSON
            obj["domain_in_label"] = False
        return obj

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "LabelSet":
        """Inverse of :meth:`to_json`."""
        try:
            return cls(
                name=str(obj["name"]), names=[str(n) for n in obj["names"]],
                domain_in_label=bool(obj.get("domain_in_label", True)),
            )
        except (KeyError, TypeError) as exc:
            raise LabelError(f"label set JSON must have 'name' and 'names': {exc}") from exc


def build_label_set(clips: Sequence[ClipRecord], name: str, domain_in_label: bool = True) -> LabelSet:
    """Label set ``name`` over the classes present in ``clips`` (usually the training clips).

    ``domain_in_label=False`` leaves the domain out of ``attribute`` class names
    (the other label sets never hold it).
    """
    if name not in _KEYS:
        raise ConfigError(f"unknown label set {name!r}; choose one of {', '.join(LABEL_SETS)}")
    clips = list(clips)
    if not clips:
        raise LabelError(f"cannot build label set {name!r} from an empty clip list")
    key = _key_attribute_no_domain if (name == "attribute" and not domain_in_label) else _KEYS[name]
    return LabelSet(name=name, names=sorted({key(c) for c in clips}), domain_in_label=domain_in_label)


def encode_labels(clips: Sequence[ClipRecord], labels: "LabelSet | Sequence[int] | np.ndarray | None") -> np.ndarray | None:
    """Class ids ``[N]`` (int32) of ``clips`` from what the data pipelines accept as labels.

    A :class:`LabelSet` encodes the clips (:meth:`LabelSet.encode`); an array of
    one integer per clip is taken as given; ``None`` gives ``None`` (no labels).
    Anything else is a LabelError.
    """
    if labels is None:
        return None
    if isinstance(labels, LabelSet):
        return labels.encode(clips)
    arr = np.asarray(labels)
    if arr.shape != (len(clips),) or not np.issubdtype(arr.dtype, np.integer):
        raise LabelError(f"labels must be a LabelSet or {len(clips)} integers, got shape {arr.shape} {arr.dtype}")
    return arr.astype(np.int32)


#: Class id of a training clip that carries no class target (an all-zero target row).
NO_CLASS = -1


def label_array(clips: Sequence[ClipRecord], labels: "LabelSet | Sequence[int] | np.ndarray | None") -> np.ndarray:
    """:func:`encode_labels` with ``None`` as :data:`NO_CLASS` for every clip: ``[N]`` int32."""
    ids = encode_labels(clips, labels)
    return np.full(len(clips), NO_CLASS, dtype=np.int32) if ids is None else ids


def training_class_ids(label_set: LabelSet, clips: Sequence[ClipRecord]) -> np.ndarray:
    """Class ids of training ``clips``; with ``domain_in_label=False`` target clips get :data:`NO_CLASS`.

    Label/domain variant of docs/design.md, "Later methods": target-domain training clips carry an
    all-zero label (no class gradient); they stay scoring references.
    """
    ids = label_set.encode(clips)
    if not label_set.domain_in_label:
        target = np.array([c.domain == "target" for c in clips], dtype=bool)
        ids = np.where(target, NO_CLASS, ids).astype(np.int32)
    return ids


def source_count_weights(label_set: LabelSet, clips: Sequence[ClipRecord]) -> np.ndarray:
    """Class weights from source counts within the machine type (docs/design.md, "Later methods"), float64 ``[C]``.

    Class ``c`` of machine type ``m`` gets ``r_c = S_m - s_c``: the number of source
    training clips of ``m`` outside ``c`` (``S_m`` source clips of ``m``, ``s_c`` of them
    in ``c``), so rare classes weigh more. Weights are scaled so that they average 1
    over the classes of each machine type (machine types keep their share of the
    loss); a machine type with one class, or whose classes hold no source clip, gets
    weight 1.
    """
    clips = list(clips)
    machine_of: dict[int, str] = {}
    source_in: np.ndarray = np.zeros(label_set.num_classes, dtype=np.float64)
    for clip, cid in zip(clips, label_set.encode(clips)):
        machine_of[int(cid)] = clip.machine
        if clip.domain != "target":  # 'source' (and 'unknown': DCASE 2020 has only source-like clips)
            source_in[cid] += 1
    weights = np.ones(label_set.num_classes, dtype=np.float64)
    for machine in sorted(set(machine_of.values())):
        members = np.array([c for c, m in machine_of.items() if m == machine], dtype=int)
        raw = source_in[members].sum() - source_in[members]
        if raw.sum() > 0:
            weights[members] = raw / raw.mean()
    return weights


def individual_groups(clips: Iterable[ClipRecord]) -> dict[tuple[str, str], list[ClipRecord]]:
    """Clips grouped by (machine, section), keys sorted, clip order kept within a group."""
    groups: dict[tuple[str, str], list[ClipRecord]] = {}
    for clip in clips:
        groups.setdefault((clip.machine, clip.section), []).append(clip)
    return {k: groups[k] for k in sorted(groups)}
