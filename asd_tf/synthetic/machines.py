"""Sound design of the synthetic machines: a section's fixed design, a clip's operating state, the machine signal.

Recordings hold a machine sound whose fine structure (harmonic positions,
harmonic balance, sidebands, pulse pattern) depends on machine type, section
and attributes (Wilkinghoff & Kurth, TASLP 2024, Sec. IV-C: a classifier that
must separate sections/attributes learns this fine structure). Four sound
kinds: ``rotor`` (harmonic series with bearing-cage sidebands), ``fan``
(blade-pass harmonics over a broadband hump), ``pulse`` (resonant bursts in a
pattern) and ``gear`` (mesh harmonics whose balance follows the load).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from .seeding import design_rng
from .signals import SAMPLE_RATE, band_noise, envelope_db, harmonic_sum, resonant_burst

if TYPE_CHECKING:  # pragma: no cover
    from .plan import ClipSpec

# Slow speed wander of a machine within one clip (relative frequency deviation bound).
FM_DEPTH = 0.002


@dataclass
class Design:
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


def section_design(layout: str, kind: str, section: str) -> Design:
    rng = design_rng("design", layout if layout != "dcase2020" else "2020", kind, section)
    nres = int(rng.integers(2, 4))
    resonances = [(float(np.exp(rng.uniform(np.log(300.0), np.log(4500.0)))), float(rng.uniform(150, 600)),
                   float(rng.uniform(6.0, 14.0))) for _ in range(nres)]
    fingerprint = rng.normal(0.0, 4.0, size=256)
    mic_eq = [(float(np.exp(rng.uniform(np.log(200.0), np.log(6000.0)))), float(rng.uniform(300, 1500)),
               float(rng.choice([-1, 1]) * rng.uniform(4.0, 9.0))) for _ in range(3)]
    if kind == "rotor":
        return Design(kind, float(rng.uniform(70, 160)), resonances, fingerprint, float(rng.uniform(0.3, 0.8)),
                       float(rng.uniform(0.33, 0.45)), float(rng.uniform(0.3, 0.6)),
                       (float(rng.uniform(2500, 3500)), float(rng.uniform(4500, 6000))), -12.0, {}, mic_eq)
    if kind == "fan":
        blades = int(rng.integers(5, 12))
        hump = float(np.exp(rng.uniform(np.log(500.0), np.log(2000.0))))
        return Design(kind, float(rng.uniform(18, 32)), resonances, fingerprint, float(rng.uniform(0.6, 1.2)),
                       float(blades), float(rng.uniform(0.2, 0.4)), (hump / 2.0, hump * 2.0), -3.0,
                       {"blades": blades}, mic_eq)
    if kind == "pulse":
        f_lo = float(np.exp(rng.uniform(np.log(700.0), np.log(2000.0))))
        res = sorted(float(f_lo * r) for r in (1.0, rng.uniform(1.3, 1.7), rng.uniform(1.8, 2.4)))
        decays = [float(rng.uniform(0.015, 0.04)) for _ in res]
        return Design(kind, float(rng.uniform(90, 180)), resonances, fingerprint, float(rng.uniform(0.8, 1.4)),
                       0.0, 0.0, (200.0, 1200.0), -18.0,
                       {"pulse_res": res, "pulse_decay": decays, "period": float(rng.uniform(0.3, 0.5)),
                        "pulse_db": 6.0}, mic_eq)
    if kind == "gear":
        teeth = int(rng.integers(19, 38))
        return Design(kind, float(rng.uniform(12, 24)), resonances, fingerprint, float(rng.uniform(0.8, 1.5)),
                       1.0, float(rng.uniform(0.2, 0.35)), (100.0, 900.0), -15.0, {"teeth": teeth}, mic_eq)
    raise ConfigError(f"unknown machine kind {kind!r}")


PULSE_PATTERNS = ([1.0], [0.6, 1.4], [0.5, 0.5, 1.0], [1.5, 0.5, 1.0], [0.4, 0.8, 0.8])


@dataclass
class State:
    """Operating state of a machine in one clip, derived from attributes and domain."""

    speed: float = 1.0
    load: float = 0.3
    variant: str = ""
    pattern: int = 0
    mic: bool = False


def machine_state(spec: ClipSpec, load_slip: float = 0.0) -> State:
    """Operating state from the clip's attributes. ``load_slip``: relative speed drop at full
    load (``wt`` attribute: an induction motor slows under load), 0 = speed independent of load."""
    st = State()
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
            st.pattern = int(value) % len(PULSE_PATTERNS)
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


def apply_variant(design: Design, layout: str, section: str, variant: str) -> Design:
    """A machine variant (attribute letters): moved resonances and altered fine structure."""
    if not variant:
        return design
    rng = design_rng("variant", layout, design.kind, section, variant)
    res = [(c * float(rng.uniform(0.75, 1.33)), b, g) for c, b, g in design.resonances]
    fp = design.fingerprint_db + rng.normal(0.0, 3.0, size=design.fingerprint_db.shape)
    extra = dict(design.extra)
    if design.kind == "pulse":
        extra["pulse_res"] = [f * float(rng.uniform(0.85, 1.18)) for f in design.extra["pulse_res"]]
    if design.kind == "fan":
        lo, hi = design.band
        s = float(rng.uniform(0.8, 1.25))
        return Design(design.kind, design.f_base, res, fp, design.tilt * float(rng.uniform(0.8, 1.25)),
                       design.am_ratio, design.am_depth, (lo * s, hi * s), design.band_db, extra, design.mic_eq)
    return Design(design.kind, design.f_base, res, fp, design.tilt, design.am_ratio,
                   design.am_depth * float(rng.uniform(0.7, 1.4)), design.band, design.band_db, extra, design.mic_eq)


@dataclass
class MachineSound:
    signal: np.ndarray                  # unnormalised machine waveform
    phi: np.ndarray                     # 2*pi*integral of (1 + wander): phase per Hz of absolute frequency
    partials: list[tuple[float, float, float]]   # (nominal freq Hz, amplitude, phase) of tonal partials
    am: np.ndarray | None               # amplitude modulation applied to the tonal partials (None = 1)
    am_max_hz: float                    # highest modulation frequency in ``am`` (sideband offset)
    pulses: list[tuple[int, np.ndarray]] = field(default_factory=list)
    pulse_band: tuple[float, float] = (0.0, 0.0)


def synth_machine(design: Design, state: State, rng: np.random.Generator, n: int) -> MachineSound:
    t = np.arange(n) / SAMPLE_RATE
    # per-clip operating point: small normal spread around the attribute's speed
    speed = state.speed * (1.0 + rng.normal(0.0, 0.003))
    wander = FM_DEPTH * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 2 * np.pi))
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
    level_db = (-20 * design.tilt * np.log10(ks) + envelope_db(fk, design.resonances)
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
    tonal = harmonic_sum(phi, f1 * speed, ks, amps, phases)

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
    bb = band_noise(rng, n, design.band[0], design.band[1])
    if kind == "fan":
        bpf = design.extra["blades"] * f1 * speed
        bb *= 1.0 + design.am_depth * np.cos(bpf * phi)
    signal = tonal + bb * tonal_rms * 10.0 ** ((design.band_db + rng.normal(0, 1.0)) / 20.0)

    pulses: list[tuple[int, np.ndarray]] = []
    band = (0.0, 0.0)
    if kind == "pulse":
        res = design.extra["pulse_res"]
        decays = design.extra["pulse_decay"]
        pattern = PULSE_PATTERNS[state.pattern]
        period = design.extra["period"] / state.speed
        pulse_amp = tonal_rms * 10.0 ** (design.extra["pulse_db"] / 20.0) * 6.0
        time = rng.uniform(0.0, period)
        j = 0
        while time < n / SAMPLE_RATE:
            onset = time + rng.normal(0.0, 0.004)
            gains = pulse_amp * 10.0 ** (rng.normal(0.0, 1.5, size=len(res)) / 20.0)
            burst = resonant_burst(rng, res, decays, gains)
            i0 = int(round(onset * SAMPLE_RATE))
            if i0 >= 0 and i0 + len(burst) <= n:
                pulses.append((i0, burst))
                signal[i0:i0 + len(burst)] += burst
            time += pattern[j % len(pattern)] * period
            j += 1
        band = (min(res), max(res))
    return MachineSound(signal, phi, partials, am, am_max, pulses, band)
