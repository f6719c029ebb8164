"""Layout plan of a synthetic dataset: sizes, machines, attribute schemes and the official file name of every clip.

The official DCASE layouts: 2020 ``normal_id_XX_NNNNNNNN.wav``; 2022-2025
``section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN_<attrs>.wav``.
The 2024 and 2025 layouts (docs/datasets.md) follow 2023 (one
section per machine) with their quirks: 2024 numbers clips from 0001, hides
the gearbox attributes (``noAttribute`` in names and tables; the sound still
depends on them), and its ``RoboticArm`` writes attributes run together
(``weight15_BckgF``) and test names without ``_test_``; with ``eval_split`` the
anonymised gearbox names start at ``section_00_0001.wav`` (as the 2024
Scanner). 2025 numbers from 0000, hides the bearing attributes and has
``<machine>/supplemental/`` clips (:func:`plan_supplemental`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from ..errors import ConfigError
from .profiles import get_profile


LAYOUTS = ("dcase2020", "dcase2022", "dcase2023", "dcase2024", "dcase2025")


@dataclass(frozen=True)
class SizeSpec:
    """Number of machines/sections/clips of one dataset size."""

    n_machines: int
    n_sections: int          # 2022 sections per machine; 2020 machine IDs per machine
    source_train: int        # per section (2022) / per machine ID (2020: source_train + target_train)
    source_train_2023: int   # per machine (2023 has one section)
    target_train: int        # per section
    test_per_cell: int       # test clips per domain x label per section
    duration_s: float
    supplemental: int = 5    # 2025 supplemental clips per kind (machine, noise) per machine


SIZES: dict[str, SizeSpec] = {
    "tiny": SizeSpec(3, 2, 12, 12, 4, 4, 2.0, 2),
    "small": SizeSpec(4, 2, 100, 200, 10, 20, 10.0),
    "medium": SizeSpec(4, 3, 290, 830, 10, 50, 10.0),
    # 2-s clips (the input of the quick comparison preset), more clips per class than `small`
    "quick": SizeSpec(4, 2, 150, 300, 15, 25, 2.0),
    # `quick` with 60 target training clips per section: with DCASE's 10 (7-8 per target
    # attribute at this scale) the classifier overfits the source domain within 20 epochs
    # (docs/synthetic_claim_study.md, vL -> vM). The quick comparison preset's data.
    "compare": SizeSpec(4, 2, 150, 300, 60, 25, 2.0),
    # DCASE 2023's 990 source + 10 target training clips per section scaled down for a CPU
    # (100 + 10, the 10 kept), its 50 test clips per domain x label, 2-s clips (the quick
    # preset's input); the data of the target-domain study (docs/target_domain.md)
    "target": SizeSpec(4, 2, 100, 100, 10, 50, 2.0),
}

# machine folder name -> sound kind, per layout (order matters: tiny takes the first 3)
MACHINES: dict[str, tuple[tuple[str, str], ...]] = {
    "dcase2020": (("pump", "rotor"), ("fan", "fan"), ("slider", "pulse"), ("ToyConveyor", "gear")),
    "dcase2022": (("bearing", "rotor"), ("fan", "fan"), ("valve", "pulse"), ("gearbox", "gear")),
    "dcase2023": (("bearing", "rotor"), ("fan", "fan"), ("valve", "pulse"), ("gearbox", "gear")),
    # tiny (first 3) holds every quirk: hidden attributes, run-together attributes, test names without split
    "dcase2024": (("bearing", "rotor"), ("gearbox", "gear"), ("RoboticArm", "pulse"), ("fan", "fan")),
    "dcase2025": (("bearing", "rotor"), ("fan", "fan"), ("valve", "pulse"), ("gearbox", "gear")),
}
# DCASE 2024/2025 quirks (docs/datasets.md)
_FIRST_INDEX = {"dcase2024": 1, "dcase2025": 0}           # file numbering starts at 0001 / 0000
_HIDDEN = {("dcase2024", "gearbox"), ("dcase2025", "bearing")}  # attributes written as noAttribute
_FUSED = {("dcase2024", "RoboticArm")}                     # weight15_BckgF, test names without _test_
ANON_START = {("dcase2024", "gearbox"): 1}                # anonymised names from section_00_0001.wav
_IDS_2020 = ("00", "02", "04", "06")


@dataclass(frozen=True)
class AttrScheme:
    """Attribute keys and the value combinations of the source and target domains of a section."""

    keys: tuple[str, ...]
    source: tuple[tuple[str, ...], ...]
    target: tuple[tuple[str, ...], ...]


def _combos(*axes: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    out: list[tuple[str, ...]] = [()]
    for axis in axes:
        out = [c + (v,) for c in out for v in axis]
    return tuple(out)


# 2022: three section slots per machine, each with its own kind of domain shift
# (speed / machine variant / microphone), attribute strings shaped like the real ones.
_SCHEMES_2022: dict[str, tuple[AttrScheme, ...]] = {
    "rotor": (
        AttrScheme(("vel", "loc"), _combos(("6", "10", "14"), ("A",)), _combos(("18", "22"), ("A",))),
        AttrScheme(("vel", "loc"), _combos(("10",), ("A", "B", "C")), _combos(("10",), ("E", "F"))),
        AttrScheme(("vel", "mic"), _combos(("6", "10", "14"), ("1",)), _combos(("10", "14"), ("2",))),
    ),
    "fan": (
        AttrScheme(("m-n",), _combos(("W", "X", "Y")), _combos(("Z", "V"))),
        AttrScheme(("spd",), _combos(("60", "70", "80")), _combos(("95", "105"))),
        AttrScheme(("m-n", "mic"), _combos(("W", "X", "Y"), ("1",)), _combos(("W", "X"), ("2",))),
    ),
    "pulse": (
        AttrScheme(("pat",), _combos(("00", "01", "02")), _combos(("03", "04"))),
        AttrScheme((), ((),), ((),)),  # noAttribute section; target = microphone shift
        AttrScheme(("pat", "panel"), _combos(("00", "01", "02"), ("open",)), _combos(("00", "01"), ("b-c",))),
    ),
    "gear": (
        AttrScheme(("volt", "wt"), _combos(("1.0", "1.5", "2.0"), ("30",)), _combos(("2.5", "3.0"), ("30",))),
        AttrScheme(("volt", "wt"), _combos(("1.5",), ("0", "50", "100")), _combos(("1.5",), ("150", "200"))),
        AttrScheme(("volt", "wt", "mic"), _combos(("1.0", "1.5", "2.0"), ("30",), ("1",)),
                   _combos(("1.5", "2.0"), ("30",), ("2",))),
    ),
}
# 2023: one section per machine, more attribute combinations.
_SCHEMES_2023: dict[str, AttrScheme] = {
    "rotor": AttrScheme(("vel", "loc"), _combos(("6", "10", "14"), ("A", "B")), (("18", "C"), ("22", "D"))),
    "fan": AttrScheme(("m-n", "spd"), _combos(("W", "X", "Y"), ("60", "80")), (("Z", "70"), ("Z", "95"))),
    "pulse": AttrScheme(("pat", "panel"), _combos(("00", "01", "02"), ("open", "s-c")), (("03", "b-c"), ("04", "b-c"))),
    "gear": AttrScheme(("volt", "wt"), _combos(("1.0", "1.5", "2.0"), ("30", "80")), (("2.5", "130"), ("3.0", "150"))),
}
# 2024 RoboticArm: arm load (weight, slows the motion) and background letter (a variant)
_SCHEMES_BY_MACHINE: dict[str, AttrScheme] = {
    "RoboticArm": AttrScheme(("weight", "Bckg"), _combos(("15", "20", "25"), ("C", "F")),
                             (("30", "E"), ("35", "E"))),
}
_NO_SHIFT_TARGET_MIC = {("pulse", 1)}  # 2022 valve section 01: noAttribute, the target differs by microphone


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to render and name one clip (the seed is passed separately)."""

    layout: str
    machine: str
    kind: str
    section: str
    domain: str
    split: str
    label: str
    index: int
    attr_pairs: tuple[tuple[str, str], ...]
    target_mic: bool          # target-domain microphone colouration without an attribute for it
    duration_s: float
    name: str                 # official file name (without directory)
    profile: str = "factory"  # sound profile (PROFILES): noise and fault kinds
    hidden: bool = False      # attributes hidden in names and tables (noAttribute), DCASE 2024/2025
    fused: bool = False       # attributes written run together (weight15_BckgF), DCASE 2024 RoboticArm

    @property
    def relpath(self) -> str:
        return f"{self.machine}/{self.split}/{self.name}"

    @property
    def attr_string(self) -> str:
        if self.layout == "dcase2020":
            return ""
        if not self.attr_pairs or self.hidden:
            return "noAttribute"
        return "_".join(f"{k}{'' if self.fused else '_'}{v}" for k, v in self.attr_pairs)


def _official_name(layout: str, section: str, domain: str, split: str, label: str, index: int,
                   attr_string: str) -> str:
    if layout == "dcase2020":
        return f"{label}_id_{section}_{index:08d}.wav"
    return f"section_{section}_{domain}_{split}_{label}_{index:04d}_{attr_string}.wav"


def section_scheme(layout: str, kind: str, section: int, machine: str = "") -> AttrScheme:
    """The attribute scheme of section ``section`` of a ``kind`` machine (DCASE 2022-2025 layouts)."""
    if layout in _FIRST_INDEX and machine in _SCHEMES_BY_MACHINE:
        return _SCHEMES_BY_MACHINE[machine]
    return _SCHEMES_2022[kind][section] if layout == "dcase2022" else _SCHEMES_2023[kind]


def _name_2024(layout: str, machine: str, section: str, domain: str, split: str, label: str, index: int,
               attr_string: str) -> str:
    """DCASE 2024/2025 file name: numbering from ``_FIRST_INDEX``; the 2024 RoboticArm test names
    lack the split."""
    number = index + _FIRST_INDEX[layout]
    if (layout, machine) in _FUSED and split == "test":
        return f"section_{section}_{domain}_{label}_{number:04d}_{attr_string}.wav"
    return f"section_{section}_{domain}_{split}_{label}_{number:04d}_{attr_string}.wav"


def plan_dataset(layout: str, size: str, profile: str = "factory") -> list[ClipSpec]:
    """List the clips of a dataset (official names, attributes, labels) in a fixed order."""
    get_profile(profile)
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown synthetic layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if size not in SIZES:
        raise ConfigError(f"unknown synthetic size {size!r}; choose one of {', '.join(SIZES)}")
    sz = SIZES[size]
    specs: list[ClipSpec] = []
    for machine, kind in MACHINES[layout][: sz.n_machines]:
        if layout == "dcase2020":
            for sec in _IDS_2020[: sz.n_sections]:
                cells = [("train", "normal", sz.source_train + sz.target_train),
                         ("test", "normal", 2 * sz.test_per_cell), ("test", "anomaly", 2 * sz.test_per_cell)]
                for split, label, n in cells:
                    for i in range(n):
                        name = _official_name(layout, sec, "source", split, label, i, "")
                        specs.append(ClipSpec(layout, machine, kind, sec, "source", split, label, i, (), False,
                                              sz.duration_s, name, profile))
            continue
        if layout == "dcase2022":
            sections = [(f"{s:02d}", section_scheme(layout, kind, s), (kind, s) in _NO_SHIFT_TARGET_MIC)
                        for s in range(sz.n_sections)]
            n_source = sz.source_train
        else:
            sections = [("00", section_scheme(layout, kind, 0, machine), False)]
            n_source = sz.source_train_2023
        hidden, fused = (layout, machine) in _HIDDEN, (layout, machine) in _FUSED
        for sec, scheme, target_mic in sections:
            cells = [("source", "train", "normal", n_source), ("target", "train", "normal", sz.target_train)]
            for dom in ("source", "target"):
                for lab in ("normal", "anomaly"):
                    cells.append((dom, "test", lab, sz.test_per_cell))
            for dom, split, label, n in cells:
                combos = scheme.source if dom == "source" else scheme.target
                for i in range(n):
                    # offset test combos so normals and anomalies cover all combos evenly
                    values = combos[(i + (label == "anomaly")) % len(combos)]
                    pairs = tuple(zip(scheme.keys, values))
                    if layout in _FIRST_INDEX:
                        spec = ClipSpec(layout, machine, kind, sec, dom, split, label, i, pairs, False,
                                        sz.duration_s, "", profile, hidden, fused)
                        name = _name_2024(layout, machine, sec, dom, split, label, i, spec.attr_string)
                        specs.append(replace(spec, name=name))
                        continue
                    attr = "_".join(f"{k}_{v}" for k, v in pairs) if pairs else "noAttribute"
                    name = _official_name(layout, sec, dom, split, label, i, attr)
                    specs.append(ClipSpec(layout, machine, kind, sec, dom, split, label, i, pairs,
                                          target_mic and dom == "target", sz.duration_s, name, profile))
    return specs


def plan_supplemental(layout: str, size: str, profile: str = "factory") -> list[ClipSpec]:
    """The DCASE 2025 ``supplemental/`` clips (``[]`` for other layouts): per machine,
    ``SizeSpec.supplemental`` clean machine clips (``split="supplemental"``, ``label="machine"``,
    source-domain states) and as many noise-only clips (``label="noise"``)."""
    if layout != "dcase2025":
        return []
    sz = SIZES[size]
    out = []
    for machine, kind in MACHINES[layout][: sz.n_machines]:
        scheme = section_scheme(layout, kind, 0, machine)
        for what in ("machine", "noise"):
            for i in range(sz.supplemental):
                pairs = tuple(zip(scheme.keys, scheme.source[i % len(scheme.source)])) if what == "machine" else ()
                name = f"section_00_{what}_{i + _FIRST_INDEX[layout]:04d}_.wav"
                out.append(ClipSpec(layout, machine, kind, "00", "source", "supplemental", what, i, pairs, False,
                                    sz.duration_s, name, profile, (layout, machine) in _HIDDEN))
    return out
