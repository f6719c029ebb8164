"""Deterministic synthetic DCASE-style dataset (the toolkit's embedded default data and test fixture).

What it writes (DESIGN.md section 1, "Synthetic data"): the official DCASE
layouts (2020 ``normal_id_XX_NNNNNNNN.wav``; 2022-2025
``section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN_<attrs>.wav``
with attribute tables), 16 kHz mono 16-bit PCM, plus for every anomalous clip a
sidecar ``<stem>.anomaly.csv`` holding the time-frequency box(es) of the
anomaly, and ``<out>/.complete`` written last.

The 2024 and 2025 layouts (DESIGN.md section 8) follow 2023 (one section per
machine) with their quirks: 2024 numbers clips from 0001, hides the gearbox
attributes (``noAttribute`` in names and tables; the sound still depends on
them), and its ``RoboticArm`` writes attributes run together
(``weight15_BckgF``) and test names without ``_test_``; with ``eval_split`` the
anonymised gearbox names start at ``section_00_0001.wav`` (as the 2024 Scanner).
2025 numbers from 0000, hides the bearing attributes and writes
``<machine>/supplemental/`` with clean machine clips
(``section_00_machine_NNNN_.wav``) and noise-only clips
(``section_00_noise_NNNN_.wav``; the official noise names are not confirmed).
``eval_split`` also writes ``ground_truth_attributes/`` (anonymised name -> full
name without ``.wav``; a third column with the real attributes for hidden
machines), which the official 2023-2025 evaluators need.

Sound design follows the argument of Wilkinghoff & Kurth (TASLP 2024, Sec. IV-C):
recordings hold (1) a machine sound whose fine structure (harmonic positions,
harmonic balance, sidebands, pulse pattern) depends on machine type, section
and attributes, (2) LOUD, non-stationary factory noise drawn from the same
distribution for every class (spectral tilt and colour, babble-like bands,
hum, impacts, a foreign machine, random gain) whose variance dominates
clip-level statistics, and (3) SUBTLE anomalies localised in time and
frequency (extra tone, detuned harmonic, intermittent rubbing, missing pulses).
A one-class model describing the whole clip therefore mostly learns noise,
while a classifier that must separate sections/attributes learns the machine's
fine structure and can see the anomalies.

That is the ``factory`` profile (the default). Within a CPU budget it did not
show the paper's central claim: every component of noise complexity cost the
small classifier more than the one-class model (docs/synthetic_claim_study.md).
The ``structural`` profile keeps the machine sounds and file layout and changes
the noise and the faults: stationary broadband noise whose spectral tilt
varies by +-6 dB/octave and whose level relative to the machine varies over
15 dB, and faults of the machine's own tonal structure
(harmonic balance, a detuned partial, an extra tone, a new modulation; missing
pulses for pulse machines) lasting most of the clip. On it the one-class model
stays near chance, but compactness with machine-type or section labels detects
those faults as well as the attribute classifiers do. The ``mixed_state``
profile (the quick comparison's) keeps that noise (level -6..+6 dB) and makes
every fault a mixture of the clip's operating state with another attribute
value of its section (``attribute_mix``): a section classifier is trained to
map all of a section's attribute values, and mixup's mixtures of them, to one
point and so cannot see it, an attribute classifier maps it between two of its
clusters. The ``domain_shift`` profile (the target-domain study, docs/target_domain.md)
records the target domain elsewhere (another microphone, a reverberant room, factory
noise) in operating states outside the source range. ``PROFILES`` holds all four.

Determinism: every clip draws from ``numpy.random.Generator`` objects seeded by
``(seed, machine, section, domain, split, label, index)`` only, so the output is
byte-identical for a given seed whatever the generation order or process count.
The machine *design* of a section (its base frequency, resonances, ...) depends
only on layout, machine type and section, not on the seed: different seeds are
different recordings of the same factory.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import wave
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError, DatasetError
from ..io_utils import atomic_write, atomic_write_json, atomic_write_text

GENERATOR_VERSION = "1"
SAMPLE_RATE = 16000
LAYOUTS = ("dcase2020", "dcase2022", "dcase2023", "dcase2024", "dcase2025")
ANOMALY_CSV_HEADER = "kind,t_start_s,t_end_s,f_low_hz,f_high_hz"

# Machine-to-noise ratio (RMS, dB) per clip; class-agnostic (brief: -6 to -12 dB).
_MNR_DB = (-12.0, -6.0)
# Overall recording level of the mixture (dBFS RMS): a random gain, class-agnostic.
_LEVEL_DBFS = (-34.0, -24.0)
# Slow speed wander of a machine within one clip (relative frequency deviation bound).
_FM_DEPTH = 0.002


# --------------------------------------------------------------------------- sizes and layouts
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
_MACHINES: dict[str, tuple[tuple[str, str], ...]] = {
    "dcase2020": (("pump", "rotor"), ("fan", "fan"), ("slider", "pulse"), ("ToyConveyor", "gear")),
    "dcase2022": (("bearing", "rotor"), ("fan", "fan"), ("valve", "pulse"), ("gearbox", "gear")),
    "dcase2023": (("bearing", "rotor"), ("fan", "fan"), ("valve", "pulse"), ("gearbox", "gear")),
    # tiny (first 3) holds every quirk: hidden attributes, run-together attributes, test names without split
    "dcase2024": (("bearing", "rotor"), ("gearbox", "gear"), ("RoboticArm", "pulse"), ("fan", "fan")),
    "dcase2025": (("bearing", "rotor"), ("fan", "fan"), ("valve", "pulse"), ("gearbox", "gear")),
}
# DCASE 2024/2025 quirks (DESIGN.md section 8)
_FIRST_INDEX = {"dcase2024": 1, "dcase2025": 0}           # file numbering starts at 0001 / 0000
_HIDDEN = {("dcase2024", "gearbox"), ("dcase2025", "bearing")}  # attributes written as noAttribute
_FUSED = {("dcase2024", "RoboticArm")}                     # weight15_BckgF, test names without _test_
_ANON_START = {("dcase2024", "gearbox"): 1}                # anonymised names from section_00_0001.wav
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


@dataclass(frozen=True)
class AnomalyBox:
    """Time-frequency region of an anomaly (sidecar CSV row)."""

    kind: str
    t_start_s: float
    t_end_s: float
    f_low_hz: float
    f_high_hz: float


def _official_name(layout: str, section: str, domain: str, split: str, label: str, index: int,
                   attr_string: str) -> str:
    if layout == "dcase2020":
        return f"{label}_id_{section}_{index:08d}.wav"
    return f"section_{section}_{domain}_{split}_{label}_{index:04d}_{attr_string}.wav"


def _section_scheme(layout: str, kind: str, section: int, machine: str = "") -> AttrScheme:
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
    for machine, kind in _MACHINES[layout][: sz.n_machines]:
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
            sections = [(f"{s:02d}", _section_scheme(layout, kind, s), (kind, s) in _NO_SHIFT_TARGET_MIC)
                        for s in range(sz.n_sections)]
            n_source = sz.source_train
        else:
            sections = [("00", _section_scheme(layout, kind, 0, machine), False)]
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


# --------------------------------------------------------------------------- seeding
def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF


def _clip_seed(seed: int, spec: ClipSpec) -> np.random.SeedSequence:
    # Only the clip's identity enters the seed, so generation order does not matter.
    return np.random.SeedSequence([
        int(seed) & 0xFFFFFFFF, _crc(spec.layout), _crc(spec.machine), int(spec.section),
        _crc(spec.domain), _crc(spec.split), _crc(spec.label), spec.index,
    ])


def _design_rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(_crc("/".join(str(p) for p in parts)))


# --------------------------------------------------------------------------- machine design
@dataclass
class _Design:
    """Fixed character of one machine section (independent of the dataset seed)."""

    kind: str
    f_base: float                       # fundamental of the tonal series (Hz, at speed 1)
    resonances: list[tuple[float, float, float]]   # (centre Hz, bandwidth Hz, gain dB) of the harmonic envelope
    fingerprint_db: np.ndarray          # per-harmonic fixed level offsets (fine structure)
    tilt: float                         # harmonic roll-off exponent
    am_ratio: float                     # modulation frequency / f_base (sidebands)
    am_depth: float
    band: tuple[float, float]           # machine broadband component band (Hz)
    band_db: float                      # level of the broadband component re tonal part
    extra: dict = field(default_factory=dict)
    mic_eq: list[tuple[float, float, float]] = field(default_factory=list)  # target microphone colouration


def _section_design(layout: str, kind: str, section: str) -> _Design:
    rng = _design_rng("design", layout if layout != "dcase2020" else "2020", kind, section)
    nres = int(rng.integers(2, 4))
    resonances = [(float(np.exp(rng.uniform(np.log(300.0), np.log(4500.0)))), float(rng.uniform(150, 600)),
                   float(rng.uniform(6.0, 14.0))) for _ in range(nres)]
    fingerprint = rng.normal(0.0, 4.0, size=256)
    mic_eq = [(float(np.exp(rng.uniform(np.log(200.0), np.log(6000.0)))), float(rng.uniform(300, 1500)),
               float(rng.choice([-1, 1]) * rng.uniform(4.0, 9.0))) for _ in range(3)]
    if kind == "rotor":
        return _Design(kind, float(rng.uniform(70, 160)), resonances, fingerprint, float(rng.uniform(0.3, 0.8)),
                       float(rng.uniform(0.33, 0.45)), float(rng.uniform(0.3, 0.6)),
                       (float(rng.uniform(2500, 3500)), float(rng.uniform(4500, 6000))), -12.0, {}, mic_eq)
    if kind == "fan":
        blades = int(rng.integers(5, 12))
        hump = float(np.exp(rng.uniform(np.log(500.0), np.log(2000.0))))
        return _Design(kind, float(rng.uniform(18, 32)), resonances, fingerprint, float(rng.uniform(0.6, 1.2)),
                       float(blades), float(rng.uniform(0.2, 0.4)), (hump / 2.0, hump * 2.0), -3.0,
                       {"blades": blades}, mic_eq)
    if kind == "pulse":
        f_lo = float(np.exp(rng.uniform(np.log(700.0), np.log(2000.0))))
        res = sorted(float(f_lo * r) for r in (1.0, rng.uniform(1.3, 1.7), rng.uniform(1.8, 2.4)))
        decays = [float(rng.uniform(0.015, 0.04)) for _ in res]
        return _Design(kind, float(rng.uniform(90, 180)), resonances, fingerprint, float(rng.uniform(0.8, 1.4)),
                       0.0, 0.0, (200.0, 1200.0), -18.0,
                       {"pulse_res": res, "pulse_decay": decays, "period": float(rng.uniform(0.3, 0.5)),
                        "pulse_db": 6.0}, mic_eq)
    if kind == "gear":
        teeth = int(rng.integers(19, 38))
        return _Design(kind, float(rng.uniform(12, 24)), resonances, fingerprint, float(rng.uniform(0.8, 1.5)),
                       1.0, float(rng.uniform(0.2, 0.35)), (100.0, 900.0), -15.0, {"teeth": teeth}, mic_eq)
    raise ConfigError(f"unknown machine kind {kind!r}")


_PULSE_PATTERNS = ([1.0], [0.6, 1.4], [0.5, 0.5, 1.0], [1.5, 0.5, 1.0], [0.4, 0.8, 0.8])


@dataclass
class _State:
    """Operating state of a machine in one clip, derived from attributes and domain."""

    speed: float = 1.0
    load: float = 0.3
    variant: str = ""
    pattern: int = 0
    mic: bool = False


def _machine_state(spec: ClipSpec, load_slip: float = 0.0) -> _State:
    """Operating state from the clip's attributes. ``load_slip``: relative speed drop at full
    load (``wt`` attribute: an induction motor slows under load), 0 = speed independent of load."""
    st = _State()
    for key, value in spec.attr_pairs:
        if key == "vel":
            st.speed *= 1.0 + 0.02 * (float(value) - 10.0)
        elif key == "spd":
            st.speed *= float(value) / 70.0
        elif key == "volt":
            st.speed *= float(value) ** 0.5
        elif key == "wt":
            st.load = float(value) / 200.0
        elif key == "pat":
            st.pattern = int(value) % len(_PULSE_PATTERNS)
        elif key in ("loc", "m-n", "panel", "Bckg"):
            st.variant += f"{key}={value};"
        elif key == "weight":  # DCASE 2024 RoboticArm: a heavier load slows the arm
            st.speed *= 1.0 - 0.01 * (float(value) - 20.0)
        elif key == "mic":
            st.mic = value != "1"
    if spec.target_mic:
        st.mic = True
    if load_slip and any(key == "wt" for key, _ in spec.attr_pairs):
        st.speed *= 1.0 - load_slip * st.load
    return st


def _apply_variant(design: _Design, layout: str, section: str, variant: str) -> _Design:
    """A machine variant (attribute letters): moved resonances and altered fine structure."""
    if not variant:
        return design
    rng = _design_rng("variant", layout, design.kind, section, variant)
    res = [(c * float(rng.uniform(0.75, 1.33)), b, g) for c, b, g in design.resonances]
    fp = design.fingerprint_db + rng.normal(0.0, 3.0, size=design.fingerprint_db.shape)
    extra = dict(design.extra)
    if design.kind == "pulse":
        extra["pulse_res"] = [f * float(rng.uniform(0.85, 1.18)) for f in design.extra["pulse_res"]]
    if design.kind == "fan":
        lo, hi = design.band
        s = float(rng.uniform(0.8, 1.25))
        return _Design(design.kind, design.f_base, res, fp, design.tilt * float(rng.uniform(0.8, 1.25)),
                       design.am_ratio, design.am_depth, (lo * s, hi * s), design.band_db, extra, design.mic_eq)
    return _Design(design.kind, design.f_base, res, fp, design.tilt, design.am_ratio,
                   design.am_depth * float(rng.uniform(0.7, 1.4)), design.band, design.band_db, extra, design.mic_eq)


# --------------------------------------------------------------------------- signal helpers
def _envelope_db(freqs: np.ndarray, resonances: list[tuple[float, float, float]]) -> np.ndarray:
    out = np.zeros_like(freqs, dtype=np.float64)
    for c, b, g in resonances:
        out += g * np.exp(-0.5 * ((freqs - c) / b) ** 2)
    return out


def _band_noise(rng: np.random.Generator, n: int, lo: float, hi: float, taper: float = 0.15) -> np.ndarray:
    """Gaussian noise band-limited to [lo, hi] Hz (raised-cosine edges inside the band), unit RMS."""
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    width = max(hi - lo, 1.0)
    pos = (freqs - lo) / width
    mask = np.where((pos >= 0) & (pos <= 1), 1.0, 0.0)
    edge = taper
    ramp_up = (pos >= 0) & (pos < edge)
    ramp_dn = (pos > 1 - edge) & (pos <= 1)
    mask[ramp_up] = 0.5 - 0.5 * np.cos(np.pi * pos[ramp_up] / edge)
    mask[ramp_dn] = 0.5 - 0.5 * np.cos(np.pi * (1 - pos[ramp_dn]) / edge)
    spec = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))) * mask
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def _smooth_random(rng: np.random.Generator, n: int, rate_hz: float, depth_db: float) -> np.ndarray:
    """Positive random envelope with fluctuations at about ``rate_hz`` and +-``depth_db`` dB."""
    duration = n / SAMPLE_RATE
    m = max(int(np.ceil(duration * rate_hz)) + 2, 3)
    knots = rng.standard_normal(m)
    xs = np.linspace(0.0, duration, m)
    t = np.arange(n) / SAMPLE_RATE
    env_db = np.interp(t, xs, knots) * depth_db
    return 10.0 ** (env_db / 20.0)


def _window(n: int, t0: float, t1: float, fade: float) -> np.ndarray:
    """1 inside [t0+fade, t1-fade], raised-cosine fades, 0 outside [t0, t1]."""
    t = np.arange(n) / SAMPLE_RATE
    w = np.zeros(n)
    inside = (t >= t0) & (t <= t1)
    w[inside] = 1.0
    up = (t >= t0) & (t < t0 + fade)
    dn = (t > t1 - fade) & (t <= t1)
    w[up] = 0.5 - 0.5 * np.cos(np.pi * (t[up] - t0) / fade)
    w[dn] = 0.5 - 0.5 * np.cos(np.pi * (t1 - t[dn]) / fade)
    return w


def _resonant_burst(rng: np.random.Generator, freqs: Sequence[float], decays: Sequence[float],
                    amps: Sequence[float], attack_s: float = 0.002) -> np.ndarray:
    """Sum of damped sinusoids with a smooth (raised-cosine) attack; ~6 decay constants long."""
    length = int(6 * max(decays) * SAMPLE_RATE) + 1
    t = np.arange(length) / SAMPLE_RATE
    out = np.zeros(length)
    for f, d, a in zip(freqs, decays, amps):
        out += a * np.exp(-t / d) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    na = max(int(attack_s * SAMPLE_RATE), 1)
    out[:na] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(na) / na)
    # fade the tail to zero so the burst has compact support
    nt = length // 6
    out[-nt:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(nt) / nt)
    return out


# --------------------------------------------------------------------------- machine sound
@dataclass
class _MachineSound:
    signal: np.ndarray                  # unnormalised machine waveform
    phi: np.ndarray                     # 2*pi*integral of (1 + wander): phase per Hz of absolute frequency
    partials: list[tuple[float, float, float]]   # (nominal freq Hz, amplitude, phase) of tonal partials
    am: np.ndarray | None               # amplitude modulation applied to the tonal partials (None = 1)
    am_max_hz: float                    # highest modulation frequency in ``am`` (sideband offset)
    pulses: list[tuple[int, np.ndarray]] = field(default_factory=list)
    pulse_band: tuple[float, float] = (0.0, 0.0)


def _harmonic_sum(phi: np.ndarray, f1: float, ks: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """sum_k a_k cos(k*f1*phi + p_k) via the recurrence z^k (complex64: error < 1e-5 re a_k)."""
    z = np.exp(1j * (f1 * phi)).astype(np.complex64)
    zk = np.ones_like(z)
    acc = np.zeros_like(z)
    k_prev = 0
    for k, a, p in zip(ks, amps, phases):
        for _ in range(int(k) - k_prev):
            zk *= z
        k_prev = int(k)
        acc += np.complex64(a * np.exp(1j * p)) * zk
    return acc.real.astype(np.float64)


def _synth_machine(design: _Design, state: _State, rng: np.random.Generator, n: int) -> _MachineSound:
    t = np.arange(n) / SAMPLE_RATE
    # per-clip operating point: small normal spread around the attribute's speed
    speed = state.speed * (1.0 + rng.normal(0.0, 0.003))
    wander = _FM_DEPTH * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 2 * np.pi))
    # phase per Hz of (absolute, speed-scaled) frequency; the wander is common to all partials
    phi = 2 * np.pi * np.cumsum(1.0 + wander) / SAMPLE_RATE
    f1 = design.f_base
    fmax = 6000.0 / speed
    kind = design.kind

    if kind == "fan":
        blades = design.extra["blades"]
        ks = [k for k in range(1, 5)] + [blades * m for m in range(1, 9) if blades * m * f1 < fmax]
        ks = np.array(sorted(set(ks)))
    elif kind == "gear":
        teeth = design.extra["teeth"]
        ks = np.array([1, 2, 3] + [teeth * m for m in range(1, 7) if teeth * m * f1 < fmax])
    else:
        ks = np.arange(1, int(fmax // f1) + 1)
    fk = ks * f1 * speed
    level_db = (-20 * design.tilt * np.log10(ks) + _envelope_db(fk, design.resonances)
                + design.fingerprint_db[np.arange(len(ks)) % len(design.fingerprint_db)]
                + rng.normal(0.0, 1.0, size=len(ks)))
    if kind == "fan":
        is_bpf = (ks % design.extra["blades"]) == 0
        level_db = level_db + np.where(is_bpf, 10.0, -6.0)
    if kind == "gear":
        is_mesh = (ks % design.extra["teeth"]) == 0
        harm = ks // design.extra["teeth"]
        # load shifts energy from the mesh fundamental to its upper harmonics
        level_db = level_db + np.where(is_mesh, 12.0 + 14.0 * state.load * np.log2(np.maximum(harm, 1)), -8.0)
    if kind == "pulse":
        level_db = level_db - 3.0
    amps = 10.0 ** (level_db / 20.0)
    phases = rng.uniform(0, 2 * np.pi, size=len(ks))
    tonal = _harmonic_sum(phi, f1 * speed, ks, amps, phases)

    am = None
    am_max = 0.0
    if design.am_depth > 0 and kind != "fan":
        # sidebands: bearing cage modulation (rotor) or shaft-rate modulation of the mesh (gear)
        f_am = design.am_ratio * f1 * speed
        depth = design.am_depth * ((0.7 + state.load) if kind == "gear" else 1.0)
        am = 1.0 + depth * np.cos(f_am * phi + rng.uniform(0, 2 * np.pi))
        am_max = f_am
        if kind == "gear":
            am += 0.5 * depth * np.cos(2 * f_am * phi + rng.uniform(0, 2 * np.pi))
            am_max = 2 * f_am
        tonal = tonal * am
    partials = [(float(f), float(a), float(p)) for f, a, p in zip(fk, amps, phases)]
    tonal_rms = float(np.sqrt(np.mean(tonal ** 2)) + 1e-12)

    # machine-specific broadband component
    bb = _band_noise(rng, n, design.band[0], design.band[1])
    if kind == "fan":
        bpf = design.extra["blades"] * f1 * speed
        bb *= 1.0 + design.am_depth * np.cos(bpf * phi)
    signal = tonal + bb * tonal_rms * 10.0 ** ((design.band_db + rng.normal(0, 1.0)) / 20.0)

    pulses: list[tuple[int, np.ndarray]] = []
    band = (0.0, 0.0)
    if kind == "pulse":
        res = design.extra["pulse_res"]
        decays = design.extra["pulse_decay"]
        pattern = _PULSE_PATTERNS[state.pattern]
        period = design.extra["period"] / state.speed
        pulse_amp = tonal_rms * 10.0 ** (design.extra["pulse_db"] / 20.0) * 6.0
        time = rng.uniform(0.0, period)
        j = 0
        while time < n / SAMPLE_RATE:
            onset = time + rng.normal(0.0, 0.004)
            gains = pulse_amp * 10.0 ** (rng.normal(0.0, 1.5, size=len(res)) / 20.0)
            burst = _resonant_burst(rng, res, decays, gains)
            i0 = int(round(onset * SAMPLE_RATE))
            if i0 >= 0 and i0 + len(burst) <= n:
                pulses.append((i0, burst))
                signal[i0:i0 + len(burst)] += burst
            time += pattern[j % len(pattern)] * period
            j += 1
        band = (min(res), max(res))
    return _MachineSound(signal, phi, partials, am, am_max, pulses, band)


# --------------------------------------------------------------------------- anomalies
# Fault kinds each machine kind can show (one per anomalous clip, drawn uniformly).
_ANOMALY_KINDS = {
    "rotor": ("extra_tone", "detune", "rub"),
    "fan": ("extra_tone", "detune", "rub"),
    "pulse": ("missing_pulse", "extra_tone", "rub"),
    "gear": ("extra_tone", "detune", "rub"),
}
# Local level of an anomaly: its energy inside its own time-frequency box relative to
# the energy of the normal recording (noise + machine) in that box. Audible in the
# box, yet the box is a small part of the clip, so clip-level statistics barely move.
# Calibrated so that the clip-statistics baseline (asd_tf.data.baseline) gives a
# harmonic-mean AUC of ~0.63 (2022) / ~0.67 (2023) on `small`, seed 0; in-box SNRs of
# 0 +- 4 dB left it at chance (0.52). Missing pulses are not levelled (they remove sound).
_BOX_SNR_DB = (4.0, 12.0)
_LEVEL_OFFSET_DB = 0.0     # common offset of the range above (calibration knob)


def _strong_partials(ms: _MachineSound, top: int, fmax: float = 6500.0) -> list[int]:
    cand = [i for i, (f, _, _) in enumerate(ms.partials) if 150.0 <= f <= fmax]
    cand.sort(key=lambda i: -ms.partials[i][1])
    return cand[:top]


def _tonal_box(kind: str, ms: _MachineSound, t0: float, t1: float, freqs: Sequence[float],
               sidebands: bool = True) -> AnomalyBox:
    """Box of a fault of the tonal partials ``freqs``: their range widened by the speed
    wander, 60 Hz and, with ``sidebands``, the machine's own sidebands (partials of the
    machine carry its AM; an added foreign tone does not)."""
    margin = 60.0 + (ms.am_max_hz if sidebands else 0.0)
    return AnomalyBox(kind, t0, t1, max(min(freqs) * (1 - 1.5 * _FM_DEPTH) - margin, 0.0),
                      min(max(freqs) * (1 + 1.5 * _FM_DEPTH) + margin, SAMPLE_RATE / 2))


def _fault_span(rng: np.random.Generator, n: int, span: tuple[float, float]) -> tuple[float, float, float]:
    """Start, end (s) and fade length of a fault lasting a fraction ``span`` (uniform) of the clip."""
    duration = n / SAMPLE_RATE
    dur = rng.uniform(*span) * duration
    t0 = rng.uniform(0.0, duration - dur)
    return t0, t0 + dur, min(0.06, dur / 4)


def _synth_anomaly(kind: str, ms: _MachineSound, rng: np.random.Generator, n: int,
                   span: tuple[float, float]) -> tuple[np.ndarray, np.ndarray | None, list[AnomalyBox]]:
    """An anomaly as ``fixed + c * scalable`` (machine's unnormalised units) and its box.

    ``fixed`` is what the fault removes from or changes in the normal sound (a
    detuned partial, missing pulses, a new harmonic balance or modulation);
    ``scalable`` is what it adds, whose level ``c`` the caller sets from the
    local in-box SNR (None when nothing is added). ``span``: the fraction of
    the clip the fault lasts (uniform).
    """
    duration = n / SAMPLE_RATE
    t0, t1, fade = _fault_span(rng, n, span)
    nyq = SAMPLE_RATE / 2
    if kind in ("extra_tone", "detune"):
        idx = _strong_partials(ms, 8 if kind == "extra_tone" else 6)
        i = idx[int(rng.integers(len(idx)))]
        f_k, a_k, p_k = ms.partials[i]
        w = _window(n, t0, t1, fade)
        spacing = min(abs(f_k - f) for j, (f, _, _) in enumerate(ms.partials) if j != i) if len(ms.partials) > 1 else f_k
        if kind == "extra_tone":
            f_new = f_k + rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.45) * max(spacing, 20.0)
            fixed = np.zeros(n)
            scalable = w * np.cos(f_new * ms.phi + rng.uniform(0, 2 * np.pi))
            lo_f, hi_f = f_new, f_new
        else:
            delta = rng.choice([-1.0, 1.0]) * max(rng.uniform(0.02, 0.05) * f_k, 12.0)
            delta = float(np.clip(delta, -0.45 * max(spacing, 20.0), 0.45 * max(spacing, 20.0)))
            f_new = f_k + delta
            am = ms.am if ms.am is not None else 1.0
            fixed = -w * am * a_k * np.cos(f_k * ms.phi + p_k)
            scalable = w * am * np.cos(f_new * ms.phi + p_k)
            lo_f, hi_f = min(f_k, f_new), max(f_k, f_new)
        # the replaced partial of a detune carries the machine's AM sidebands
        return fixed, scalable, [_tonal_box(kind, ms, t0, t1, (lo_f, hi_f), sidebands=kind == "detune")]
    if kind in ("harmonic_balance", "modulation"):
        # Faults of the machine's own tonal structure, the fine structure a classifier of
        # sections and attributes has to learn: worn parts change the harmonic balance
        # (each of the 12 strongest partials by +-12..18 dB), bearing damage adds a new
        # amplitude modulation (7-23 Hz, depth 0.6-0.9) to the 6 strongest partials.
        w = _window(n, t0, t1, fade)
        am = ms.am if ms.am is not None else 1.0
        fixed = np.zeros(n)
        freqs: list[float] = []
        if kind == "harmonic_balance":
            for i in _strong_partials(ms, 12):
                f_k, a_k, p_k = ms.partials[i]
                gain_db = float(rng.choice([-1.0, 1.0]) * rng.uniform(12.0, 18.0))
                fixed += a_k * (10.0 ** (gain_db / 20.0) - 1.0) * np.cos(f_k * ms.phi + p_k)
                freqs.append(f_k)
        else:
            rate = float(rng.uniform(7.0, 23.0))
            depth = float(rng.uniform(0.6, 0.9))
            mod = depth * np.cos(2 * np.pi * rate * np.arange(n) / SAMPLE_RATE + rng.uniform(0, 2 * np.pi))
            for i in _strong_partials(ms, 12)[:6]:
                f_k, a_k, p_k = ms.partials[i]
                fixed += a_k * mod * np.cos(f_k * ms.phi + p_k)
                freqs += [f_k - rate, f_k + rate]
        return w * am * fixed, None, [_tonal_box(kind, ms, t0, t1, freqs)]
    if kind == "rub":
        fc = float(np.exp(rng.uniform(np.log(1000.0), np.log(5000.0))))
        width = rng.uniform(250.0, 800.0)
        lo, hi = fc - width / 2, fc + width / 2
        carrier = _band_noise(rng, n, lo, hi)
        env = np.zeros(n)
        sigma = rng.uniform(0.003, 0.006)
        rate = rng.uniform(8.0, 25.0)
        half = int(4 * sigma * SAMPLE_RATE)
        g = np.exp(-0.5 * (np.arange(-half, half + 1) / (sigma * SAMPLE_RATE)) ** 2)
        centres: list[int] = []
        time = t0 + rng.exponential(1.0 / rate)
        while time < t1:
            centres.append(int(round(time * SAMPLE_RATE)))
            time += rng.exponential(1.0 / rate)
        lo_c, hi_c = int(t0 * SAMPLE_RATE) + half, int(t1 * SAMPLE_RATE) - half - 1
        centres = [c for c in centres if lo_c <= c <= hi_c] or [(lo_c + hi_c) // 2]
        for c in centres:  # intermittent contact clicks, Gaussian so the band stays narrow
            env[c - half:c + half + 1] += g * 10.0 ** (rng.normal(0.0, 3.0) / 20.0)
        margin = 150.0
        return np.zeros(n), carrier * env, [AnomalyBox(kind, t0, t1, max(lo - margin, 0.0), min(hi + margin, nyq))]
    if kind == "missing_pulse":
        pulses = ms.pulses
        n_miss = int(rng.integers(1, 4))
        start = int(rng.integers(0, max(len(pulses) - n_miss, 0) + 1))
        chosen = pulses[start:start + n_miss]
        sig = np.zeros(n)
        for i0, burst in chosen:
            sig[i0:i0 + len(burst)] -= burst
        ta = chosen[0][0] / SAMPLE_RATE
        tb = (chosen[-1][0] + len(chosen[-1][1])) / SAMPLE_RATE
        lo, hi = ms.pulse_band
        margin = 300.0
        return sig, None, [AnomalyBox(kind, ta, min(tb, duration), max(lo - margin, 0.0), min(hi + margin, nyq))]
    raise ConfigError(f"unknown anomaly kind {kind!r}")


# --------------------------------------------------------------------------- sound profiles
@dataclass(frozen=True)
class Profile:
    """Noise and fault design of a synthetic dataset (``generate(profile=...)``).

    Attributes:
        noise: ``"factory"`` (loud non-stationary factory noise, ``_factory_noise``) or
            ``"stationary"`` (Gaussian noise band-limited to 50-7900 Hz with a random
            spectral tilt, ``_stationary_noise``).
        noise_tilt_db: bound of that tilt in dB per octave (drawn uniformly per clip).
        mnr_db: range of the per-clip machine-to-noise ratio (RMS, dB), drawn uniformly.
        anomaly_kinds: per machine kind, the fault kinds an anomalous clip draws from.
        anomaly_span: range of the fraction of the clip a fault lasts.
        box_snr_db: range of the in-box level of what a fault adds (extra tone, detuned
            partial, rub), relative to the normal recording inside its box.
        description: one line for ``asd-tf synth --help`` and the README.
        mix_fraction: range of the share ``lam`` of the other operating state in an
            ``attribute_mix`` fault (machine = (1 - lam) * own + lam * other).
        fallback_kind: the fault drawn instead of ``attribute_mix`` where the clip's domain
            of its section has no other attribute value (noAttribute sections, DCASE 2020).
        load_slip: relative speed drop at full load for the ``wt`` attribute (0: none).
        target_noise: noise kind of the target-domain clips (``""``: the profile's ``noise``),
            a background the source domain never has.
        target_rt60_s: range of the reverberation time (s) of a room response every
            target-domain clip is recorded through (one room per section, drawn from the
            section's design; None: no room, as in the source domain).
        target_mic: every target-domain clip through the section's other microphone
            (``_Design.mic_eq``), with or without a ``mic`` attribute.
    """

    noise: str
    noise_tilt_db: float
    mnr_db: tuple[float, float]
    anomaly_kinds: dict[str, tuple[str, ...]]
    anomaly_span: tuple[float, float]
    box_snr_db: tuple[float, float]
    description: str
    mix_fraction: tuple[float, float] = (0.4, 0.6)
    fallback_kind: str = "harmonic_balance"
    load_slip: float = 0.0
    target_noise: str = ""
    target_rt60_s: tuple[float, float] | None = None
    target_mic: bool = False


PROFILES: dict[str, Profile] = {
    # Generator version 1's only design: noise dominates the clip statistics, faults are
    # short and local.
    "factory": Profile("factory", 0.0, _MNR_DB, _ANOMALY_KINDS, (0.25, 0.6), _BOX_SNR_DB,
                       "loud non-stationary factory noise (-12..-6 dB machine-to-noise), short local faults"),
    # The design on which the classifier-versus-one-class contrast shows within a CPU budget
    # (docs/synthetic_claim_study.md, variant vX): every component of noise complexity cost
    # the small classifier far more than the one-class model, so the noise is stationary;
    # only its level (15 dB) and spectral tilt vary, the tilt being the one nuisance found
    # that costs the one-class model more. The faults change the machine's tonal structure
    # for most of the clip. Order of the kinds matters (the draw is an index).
    "structural": Profile(
        "stationary", 6.0, (-12.0, 3.0),
        {"rotor": ("harmonic_balance", "detune", "extra_tone", "modulation"),
         "fan": ("harmonic_balance", "detune", "extra_tone", "modulation"),
         "pulse": ("harmonic_balance", "missing_pulse", "extra_tone", "modulation"),
         "gear": ("harmonic_balance", "detune", "extra_tone", "modulation")},
        (0.6, 1.0), (8.0, 16.0),
        "stationary broadband noise with a random tilt (+-6 dB/octave) and level (-12..+3 dB), "
        "long faults of the machine's tonal structure"),
    # The design on which the paper's ordering shows (docs/synthetic_claim_study.md, session 4):
    # every fault is a mixture of the clip's operating state with another attribute value of
    # its own section and domain (one component running in another state). A classifier of
    # sections is trained to map all attribute values of a section, and mixup's mixtures of
    # them, to one point, so it is blind to such a mixture; a classifier of attributes maps it
    # between two of its clusters. Load also slows the machine (load_slip), so that every
    # attribute changes frequencies and a mixture of two loads is not an in-between load.
    "mixed_state": Profile(
        "stationary", 6.0, (-6.0, 6.0),
        {kind: ("attribute_mix",) for kind in ("rotor", "fan", "pulse", "gear")},
        (0.6, 1.0), (8.0, 16.0),
        "stationary broadband noise with a random tilt (+-6 dB/octave) and level (-6..+6 dB), "
        "faults mixing in another attribute value's operating state",
        mix_fraction=(0.4, 0.6), fallback_kind="harmonic_balance", load_slip=0.12),
    # The target-domain study (docs/target_domain.md): a domain shift the source data do not
    # cover, as in DCASE 2023. The target operating states lie outside the source range (the
    # layouts' target attribute values; load slows the machine), and the target is recorded
    # elsewhere: another microphone, a reverberant room and non-stationary factory noise,
    # where the source is dry, on its own microphone, in stationary noise. Faults are
    # ordinary mechanical ones (no attribute mixtures), each lasting 40-100 % of the clip.
    "domain_shift": Profile(
        "stationary", 6.0, (-6.0, 6.0),
        {"rotor": ("extra_tone", "detune", "modulation", "rub"),
         "fan": ("extra_tone", "detune", "modulation", "rub"),
         "pulse": ("missing_pulse", "extra_tone", "modulation", "rub"),
         "gear": ("extra_tone", "detune", "modulation", "rub")},
        (0.4, 1.0), (4.0, 12.0),
        "source: stationary tilted noise (-6..+6 dB), dry, own microphone; target: operating "
        "states outside the source range, another microphone, a reverberant room, factory noise",
        load_slip=0.12, target_noise="factory", target_rt60_s=(0.4, 1.0), target_mic=True),
}
# A profile's settings are part of what its name promises: a change to one changes the
# output of existing (layout, size, seed, profile) combinations and needs a new
# GENERATOR_VERSION, or .complete markers would reuse stale data.


def get_profile(name: str) -> Profile:
    """The sound profile called ``name``; ConfigError for unknown names."""
    if name not in PROFILES:
        raise ConfigError(f"unknown synthetic profile {name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[name]


def _stationary_noise(rng: np.random.Generator, n: int, tilt_db: float = 0.0) -> np.ndarray:
    """Stationary Gaussian noise band-limited to 50-7900 Hz, tilted by a slope drawn uniformly
    from +-``tilt_db`` dB per octave (0 dB at 1 kHz), unit RMS."""
    x = _band_noise(rng, n, 50.0, 7900.0)
    if tilt_db <= 0.0:
        return x
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    octaves = np.log2(np.maximum(freqs, 50.0) / 1000.0)
    gain = 10.0 ** (rng.uniform(-tilt_db, tilt_db) * octaves / 20.0)
    y = np.fft.irfft(np.fft.rfft(x) * gain, n)
    return y / np.sqrt(np.mean(y ** 2))


# --------------------------------------------------------------------------- factory noise
def _factory_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Loud, non-stationary, class-agnostic background (unit RMS)."""
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    lf = np.log2(np.maximum(freqs, 30.0) / 1000.0)
    # broadband floor: random spectral tilt and random colour bumps
    shape_db = rng.uniform(-7.0, 1.0) * lf
    for _ in range(int(rng.integers(3, 7))):
        c = rng.uniform(np.log2(60 / 1000), np.log2(7500 / 1000))
        shape_db += rng.uniform(-9.0, 9.0) * np.exp(-0.5 * ((lf - c) / rng.uniform(0.2, 1.0)) ** 2)
    spec = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))) * 10.0 ** (shape_db / 20.0)
    spec[0] = 0.0
    floor = np.fft.irfft(spec, n)
    floor /= np.sqrt(np.mean(floor ** 2)) + 1e-12
    floor *= _smooth_random(rng, n, rng.uniform(0.2, 1.0), rng.uniform(1.0, 3.0))
    noise = floor
    # babble-like bands with syllable-rate envelopes
    for _ in range(int(rng.integers(2, 6))):
        fc = float(np.exp(rng.uniform(np.log(250.0), np.log(4000.0))))
        bw = fc * rng.uniform(0.25, 0.7)
        band = _band_noise(rng, n, fc - bw / 2, fc + bw / 2, taper=0.4)
        band *= _smooth_random(rng, n, rng.uniform(3.0, 7.0), rng.uniform(4.0, 8.0))
        noise = noise + band * 10.0 ** (rng.uniform(-12.0, 0.0) / 20.0)
    t = np.arange(n) / SAMPLE_RATE
    # electrical hum
    if rng.random() < 0.7:
        f_hum = (50.0 if rng.random() < 0.5 else 60.0) * (1 + rng.normal(0, 0.001))
        ks = np.arange(1, 9)
        hum = _harmonic_sum(2 * np.pi * t, f_hum, ks, rng.uniform(0.2, 1.0, size=8) / ks,
                            rng.uniform(0, 2 * np.pi, size=8))
        hum /= np.sqrt(np.mean(hum ** 2)) + 1e-12
        noise = noise + hum * 10.0 ** (rng.uniform(-18.0, -6.0) / 20.0)
    # a foreign machine somewhere in the hall (tonal, unrelated to any class)
    if rng.random() < 0.5:
        f0 = float(np.exp(rng.uniform(np.log(40.0), np.log(400.0))))
        phi = 2 * np.pi * f0 * np.cumsum(1 + 0.003 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t)) / SAMPLE_RATE
        ks = np.arange(1, int(3000 // f0) + 1)
        other = _harmonic_sum(phi, 1.0, ks, 10.0 ** (rng.normal(0, 6, len(ks)) / 20.0) / ks ** 0.5,
                              rng.uniform(0, 2 * np.pi, len(ks)))
        other /= np.sqrt(np.mean(other ** 2)) + 1e-12
        noise = noise + other * 10.0 ** (rng.uniform(-16.0, -6.0) / 20.0)
    noise /= np.sqrt(np.mean(noise ** 2)) + 1e-12
    # impacts and clanks
    n_imp = int(rng.poisson(0.4 * n / SAMPLE_RATE))
    for _ in range(n_imp):
        k = int(rng.integers(2, 5))
        fr = np.exp(rng.uniform(np.log(200.0), np.log(6000.0), size=k))
        dec = rng.uniform(0.01, 0.15, size=k)
        burst = _resonant_burst(rng, fr, dec, np.ones(k), attack_s=0.0005)
        burst *= 10.0 ** (rng.uniform(3.0, 15.0) / 20.0) / (np.max(np.abs(burst)) + 1e-12)
        i0 = int(rng.integers(0, n))
        m = min(len(burst), n - i0)
        noise[i0:i0 + m] += burst[:m]
    return noise


def _apply_eq(x: np.ndarray, eq: list[tuple[float, float, float]]) -> np.ndarray:
    freqs = np.fft.rfftfreq(len(x), 1.0 / SAMPLE_RATE)
    gain = 10.0 ** (_envelope_db(freqs, eq) / 20.0)
    return np.fft.irfft(np.fft.rfft(x) * gain, len(x))


def _room_response(layout: str, kind: str, section: str, rt60_s: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Impulse response of a section's target-domain room and its reverberation time (s).

    A direct path followed 5 ms later by exponentially decaying Gaussian noise (energy
    decay 60 dB in ``rt60``, drawn from ``rt60_s``), direct-to-reverberant energy ratio
    -3..+3 dB, unit energy; fixed per section (seeded by the design, not the dataset
    seed): the target domain is one room.
    """
    rng = _design_rng("room", layout if layout != "dcase2020" else "2020", kind, section)
    rt60 = float(rng.uniform(*rt60_s))
    drr_db = float(rng.uniform(-3.0, 3.0))
    t = np.arange(int(1.2 * rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    tail = rng.standard_normal(len(t)) * 10.0 ** (-3.0 * t / rt60)  # amplitude: -60 dB at rt60
    tail[t < 0.005] = 0.0
    tail *= 10.0 ** (-drr_db / 20.0) / np.sqrt(np.sum(tail ** 2))
    tail[0] = 1.0
    return tail / np.sqrt(np.sum(tail ** 2)), rt60


def _apply_room(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """``x`` through the room ``ir`` by circular convolution: the machine runs before and
    after the clip, so the reverberant tail is in steady state from the first sample."""
    n = len(x)
    if len(ir) > n:
        ir = ir[:n]
    return np.fft.irfft(np.fft.rfft(x) * np.fft.rfft(ir, n), n)


# --------------------------------------------------------------------------- clip rendering
def _box_energy(x: np.ndarray, box: AnomalyBox) -> float:
    """Energy of ``x`` inside a time-frequency box (FFT of the time segment, band sum)."""
    i0, i1 = int(box.t_start_s * SAMPLE_RATE), int(np.ceil(box.t_end_s * SAMPLE_RATE))
    seg = x[i0:i1]
    spec = np.abs(np.fft.rfft(seg)) ** 2
    freqs = np.fft.rfftfreq(len(seg), 1.0 / SAMPLE_RATE)
    return float(spec[(freqs >= box.f_low_hz) & (freqs <= box.f_high_hz)].sum())


def _other_combos(spec: ClipSpec) -> list[tuple[tuple[str, str], ...]]:
    """Attribute values (as key/value pairs) of the clip's section and domain other than its
    own, on the same microphone (a microphone is not an operating state)."""
    if spec.layout == "dcase2020":
        return []
    scheme = _section_scheme(spec.layout, spec.kind, int(spec.section), spec.machine)
    own = dict(spec.attr_pairs)
    out = []
    for combo in (scheme.source if spec.domain == "source" else scheme.target):
        pairs = tuple(zip(scheme.keys, combo))
        if pairs != spec.attr_pairs and all(v == own.get(k) for k, v in pairs if k == "mic"):
            out.append(pairs)
    return out


def _attribute_mix(spec: ClipSpec, other: tuple[tuple[str, str], ...], base: _Design, design_key: str,
                   ms: _MachineSound, rng: np.random.Generator, n: int,
                   profile: Profile) -> tuple[np.ndarray, list[AnomalyBox], float]:
    """An ``attribute_mix`` fault: for 60-100 % of the clip the machine sounds as
    ``(1 - lam) * own + lam * other``, ``other`` being the same machine in the operating state
    of the attribute value ``other`` (rendered with its own random details, scaled to the
    clip's machine RMS). Returns what it adds to the machine signal, its box (all
    frequencies: both states' partials and broadband parts move) and ``lam``."""
    state2 = _machine_state(replace(spec, attr_pairs=other), profile.load_slip)
    design2 = _apply_variant(base, spec.layout, design_key, state2.variant)
    ms2 = _synth_machine(design2, state2, rng, n)
    rms = np.sqrt(np.mean(ms.signal ** 2)) + 1e-12
    other_sig = ms2.signal * (rms / (np.sqrt(np.mean(ms2.signal ** 2)) + 1e-12))
    lam = float(rng.uniform(*profile.mix_fraction))
    t0, t1, fade = _fault_span(rng, n, profile.anomaly_span)
    w = _window(n, t0, t1, fade)
    return lam * w * (other_sig - ms.signal), [AnomalyBox("attribute_mix", t0, t1, 0.0, SAMPLE_RATE / 2)], lam


def _render_clip(spec: ClipSpec, seed: int, with_anomaly: bool = True) -> tuple[np.ndarray, list[AnomalyBox]]:
    """Render one clip as float64 in [-1, 1] and its anomaly boxes.

    ``with_anomaly=False`` renders the very same recording without the anomaly
    (private hook for tests: the difference is exactly the anomaly signal).
    """
    n = int(round(spec.duration_s * SAMPLE_RATE))
    ss = _clip_seed(seed, spec)
    rng_machine, rng_noise, rng_anom, rng_mix = (np.random.default_rng(s) for s in ss.spawn(4))
    design_key = spec.section if spec.layout != "dcase2020" else "id" + spec.section
    profile = get_profile(spec.profile)
    base = _section_design(spec.layout, spec.kind, design_key)
    state = _machine_state(spec, profile.load_slip)
    design = _apply_variant(base, spec.layout, design_key, state.variant)
    ms = _synth_machine(design, state, rng_machine, n)
    machine_rms = float(np.sqrt(np.mean(ms.signal ** 2)) + 1e-12)
    shifted = spec.domain == "target"  # the profile's target-domain recording conditions apply
    noise_kind = profile.target_noise if shifted and profile.target_noise else profile.noise
    if noise_kind == "factory":
        noise = _factory_noise(rng_noise, n)
    else:
        noise = _stationary_noise(rng_noise, n, profile.noise_tilt_db)
    mnr = rng_mix.uniform(*profile.mnr_db)
    machine_gain = 10.0 ** (mnr / 20.0) / machine_rms
    mix = noise + ms.signal * machine_gain
    boxes: list[AnomalyBox] = []
    if spec.label == "anomaly":
        others = _other_combos(spec)
        kinds = tuple(profile.fallback_kind if k == "attribute_mix" and not others else k
                      for k in profile.anomaly_kinds[spec.kind])
        akind = kinds[int(rng_anom.integers(len(kinds)))]
        if akind == "attribute_mix":
            other = others[int(rng_anom.integers(len(others)))]
            fixed, boxes, _ = _attribute_mix(spec, other, base, design_key, ms, rng_anom, n, profile)
            scalable = None
        else:
            fixed, scalable, boxes = _synth_anomaly(akind, ms, rng_anom, n, profile.anomaly_span)
        snr_db = rng_anom.uniform(*profile.box_snr_db) + _LEVEL_OFFSET_DB
        anomaly = fixed * machine_gain
        if scalable is not None:
            # level the added part against the normal recording inside the box
            ref = _box_energy(mix, boxes[0])
            own = _box_energy(scalable, boxes[0])
            anomaly = anomaly + scalable * np.sqrt(10.0 ** (snr_db / 10.0) * ref / max(own, 1e-30))
        if with_anomaly:
            mix = mix + anomaly
    if shifted and profile.target_rt60_s is not None:
        mix = _apply_room(mix, _room_response(spec.layout, spec.kind, design_key, profile.target_rt60_s)[0])
    if state.mic or (shifted and profile.target_mic):
        mix = _apply_eq(mix, design.mic_eq)
    # random recording gain; the normalisation ignores the anomaly so that adding it
    # changes nothing outside its box (noise has unit RMS by construction)
    level = 10.0 ** (rng_mix.uniform(*_LEVEL_DBFS) / 20.0)
    mix = mix * (level / np.sqrt(1.0 + 10.0 ** (mnr / 10.0)))
    return np.clip(mix, -1.0, 32767.0 / 32768.0), boxes


def _to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")


def _write_wav(path: Path, pcm: np.ndarray) -> None:
    def _w(tmp: str) -> None:
        with wave.open(tmp, "wb") as fh:
            fh.setnchannels(1)
            fh.setsampwidth(2)
            fh.setframerate(SAMPLE_RATE)
            fh.writeframes(pcm.tobytes())

    atomic_write(path, _w)


def _boxes_csv(boxes: Sequence[AnomalyBox]) -> str:
    lines = [ANOMALY_CSV_HEADER]
    for b in boxes:
        lines.append(f"{b.kind},{b.t_start_s:.4f},{b.t_end_s:.4f},{b.f_low_hz:.1f},{b.f_high_hz:.1f}")
    return "\n".join(lines) + "\n"


def _generate_one(args: tuple[str, ClipSpec, int, str]) -> None:
    root, spec, seed, name = args
    if spec.split == "supplemental":
        _write_wav(Path(root) / spec.machine / spec.split / name, _to_pcm16(_render_supplemental(spec, seed)))
        return
    x, boxes = _render_clip(spec, seed)
    path = Path(root) / spec.machine / spec.split / name
    _write_wav(path, _to_pcm16(x))
    if boxes:
        atomic_write_text(path.with_suffix(".anomaly.csv"), _boxes_csv(boxes))


def _generate_many(jobs: list[tuple[str, ClipSpec, int, str]]) -> None:
    for job in jobs:
        _generate_one(job)


def _mp_start_methods() -> list[str]:
    import multiprocessing as mp

    return mp.get_all_start_methods()


# --------------------------------------------------------------------------- public API
def read_anomaly_boxes(wav_path: str | os.PathLike) -> list[AnomalyBox]:
    """Anomaly boxes of a clip from its sidecar ``<stem>.anomaly.csv`` ([] when there is none)."""
    sidecar = Path(wav_path).with_suffix(".anomaly.csv")
    if not sidecar.exists():
        return []
    with open(sidecar, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != ANOMALY_CSV_HEADER.split(","):
            raise DatasetError(f"{sidecar}: header must be {ANOMALY_CSV_HEADER!r}, got {reader.fieldnames!r}")
        try:
            return [AnomalyBox(r["kind"], float(r["t_start_s"]), float(r["t_end_s"]), float(r["f_low_hz"]),
                               float(r["f_high_hz"])) for r in reader]
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"{sidecar}: malformed anomaly row ({exc})") from exc


def _anonymised_names(specs: list[ClipSpec], seed: int) -> dict[ClipSpec, str]:
    """Eval-style names ``section_XX_NNNN.wav`` in a seeded shuffled order per machine x section."""
    groups: dict[tuple[str, str], list[ClipSpec]] = {}
    for s in specs:
        if s.split == "test":
            groups.setdefault((s.machine, s.section), []).append(s)
    out: dict[ClipSpec, str] = {}
    for (machine, section), members in groups.items():
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, _crc(machine), int(section), 99])
        perm = rng.permutation(len(members))
        start = _ANON_START.get((members[0].layout, machine), 0)
        for new_index, j in enumerate(perm):
            out[members[j]] = f"section_{section}_{new_index + start:04d}.wav"
    return out


def _ground_truth_tables(specs: list[ClipSpec], names: dict[ClipSpec, str]) -> dict[str, str]:
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


def plan_supplemental(layout: str, size: str, profile: str = "factory") -> list[ClipSpec]:
    """The DCASE 2025 ``supplemental/`` clips (``[]`` for other layouts): per machine,
    ``SizeSpec.supplemental`` clean machine clips (``split="supplemental"``, ``label="machine"``,
    source-domain states) and as many noise-only clips (``label="noise"``)."""
    if layout != "dcase2025":
        return []
    sz = SIZES[size]
    out = []
    for machine, kind in _MACHINES[layout][: sz.n_machines]:
        scheme = _section_scheme(layout, kind, 0, machine)
        for what in ("machine", "noise"):
            for i in range(sz.supplemental):
                pairs = tuple(zip(scheme.keys, scheme.source[i % len(scheme.source)])) if what == "machine" else ()
                name = f"section_00_{what}_{i + _FIRST_INDEX[layout]:04d}_.wav"
                out.append(ClipSpec(layout, machine, kind, "00", "source", "supplemental", what, i, pairs, False,
                                    sz.duration_s, name, profile, (layout, machine) in _HIDDEN))
    return out


def _render_supplemental(spec: ClipSpec, seed: int) -> np.ndarray:
    """A supplemental clip: the machine alone (``label="machine"``) or the profile's noise alone
    (``label="noise"``), at a random recording level as in :func:`_render_clip`."""
    n = int(round(spec.duration_s * SAMPLE_RATE))
    rng_machine, rng_noise, rng_mix = (np.random.default_rng(s) for s in _clip_seed(seed, spec).spawn(3))
    profile = get_profile(spec.profile)
    if spec.label == "machine":
        base = _section_design(spec.layout, spec.kind, spec.section)
        state = _machine_state(spec, profile.load_slip)
        x = _synth_machine(_apply_variant(base, spec.layout, spec.section, state.variant), state, rng_machine, n).signal
    elif profile.noise == "factory":
        x = _factory_noise(rng_noise, n)
    else:
        x = _stationary_noise(rng_noise, n, profile.noise_tilt_db)
    level = 10.0 ** (rng_mix.uniform(*_LEVEL_DBFS) / 20.0)
    x = x * (level / (np.sqrt(np.mean(x ** 2)) + 1e-12))
    return np.clip(x, -1.0, 32767.0 / 32768.0)


def _table_pairs(spec: ClipSpec) -> tuple[tuple[str, str], ...]:
    """Attribute pairs an attribute table shows (hidden attributes: ``noAttribute``)."""
    return (("noAttribute", ""),) if spec.hidden else spec.attr_pairs


def _attribute_tables(specs: list[ClipSpec], names: dict[ClipSpec, str], eval_split: bool) -> dict[str, str]:
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


def generate(out_dir: str | os.PathLike, layout: str = "dcase2022", size: str = "small", seed: int = 0,
             eval_split: bool = False, n_jobs: int | None = None, profile: str = "factory") -> Path:
    """Write a synthetic dataset to ``out_dir`` and return its path.

    ``profile`` names the noise and fault design (PROFILES: ``factory``, the
    default, ``structural``, ``mixed_state`` or ``domain_shift``). If ``out_dir/.complete`` already describes the
    same (layout, size, seed, eval_split, profile, generator version), nothing
    is regenerated. ``n_jobs`` worker
    processes render clips in parallel (default: up to 2 for small/medium, 1 for
    tiny); the result is byte-identical whatever ``n_jobs`` is.
    """
    if eval_split and layout == "dcase2020":
        raise ConfigError("eval_split is defined for the dcase2022-dcase2025 layouts only "
                          "(2020 has no anonymised test set)")
    specs = plan_dataset(layout, size, profile)
    root = Path(out_dir)
    marker = root / ".complete"
    meta = {"layout": layout, "size": size, "seed": int(seed), "eval_split": bool(eval_split),
            "profile": profile, "generator_version": GENERATOR_VERSION}
    if marker.exists():
        try:
            old = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        old.setdefault("profile", "factory")  # markers written before profiles existed
        if all(old.get(k) == v for k, v in meta.items()):
            if eval_split and not (root / "ground_truth_attributes").is_dir():
                # sets written before ground_truth_attributes existed: add it (names only, no audio)
                tables = _ground_truth_tables(specs, _anonymised_names(specs, seed))
                for rel, text in tables.items():
                    if rel.startswith("ground_truth_attributes/"):
                        atomic_write_text(root / rel, text)
            return root
        raise DatasetError(f"{root}: already holds a different synthetic dataset "
                           f"({ {k: old.get(k) for k in meta} }); choose another directory or delete it")
    root.mkdir(parents=True, exist_ok=True)
    names = _anonymised_names(specs, seed) if eval_split else {}
    jobs = [(str(root), s, int(seed), names.get(s, s.name)) for s in specs]
    supplemental = plan_supplemental(layout, size, profile)
    jobs += [(str(root), s, int(seed), s.name) for s in supplemental]
    if n_jobs is None:
        n_jobs = 1 if size == "tiny" else min(2, os.cpu_count() or 1)
    # Worker processes are forked (no __main__ guard needed by callers); forking a process
    # that already runs TensorFlow's thread pools can deadlock, so then render serially.
    if n_jobs > 1 and "tensorflow" not in sys.modules and "fork" in _mp_start_methods():
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        chunks = [jobs[i::n_jobs * 8] for i in range(n_jobs * 8)]
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=mp.get_context("fork")) as pool:
            list(pool.map(_generate_many, chunks))
    else:
        _generate_many(jobs)

    if layout != "dcase2020":
        for rel, text in _attribute_tables(specs, names, eval_split).items():
            atomic_write_text(root / rel, text)
    if eval_split:
        for rel, text in _ground_truth_tables(specs, names).items():
            atomic_write_text(root / rel, text)

    counts: dict[str, dict[str, dict[str, int]]] = {}
    for s in specs:
        cell = f"{s.domain}_{s.split}_{s.label}"
        sec = counts.setdefault(s.machine, {}).setdefault(s.section, {})
        sec[cell] = sec.get(cell, 0) + 1
    meta.update({"sample_rate": SAMPLE_RATE, "duration_s": SIZES[size].duration_s, "n_clips": len(specs),
                 "counts": counts})
    if supplemental:
        meta["n_supplemental"] = len(supplemental)
    atomic_write_json(marker, meta)
    return root
