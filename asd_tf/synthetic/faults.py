"""Faults of the synthetic machines: what an anomalous clip adds to or changes in the machine sound, and its box.

Fault kinds: ``extra_tone``, ``detune`` (a partial moved), ``rub``
(intermittent band-limited clicks), ``missing_pulse``, ``harmonic_balance``,
``modulation`` (faults of the machine's own tonal structure) and
``attribute_mix`` (the machine partly in the operating state of another
attribute value of its section). Which kinds a clip draws from is its
profile's choice (:mod:`asd_tf.synthetic.profiles`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import ConfigError
from .boxes import AnomalyBox
from .machines import FM_DEPTH, Design, MachineSound, apply_variant, machine_state, synth_machine
from .plan import ClipSpec, section_scheme
from .signals import SAMPLE_RATE, band_noise, window

if TYPE_CHECKING:  # pragma: no cover
    from .profiles import Profile


def _strong_partials(ms: MachineSound, top: int, fmax: float = 6500.0) -> list[int]:
    cand = [i for i, (f, _, _) in enumerate(ms.partials) if 150.0 <= f <= fmax]
    cand.sort(key=lambda i: -ms.partials[i][1])
    return cand[:top]


def _tonal_box(kind: str, ms: MachineSound, t0: float, t1: float, freqs: Sequence[float],
               sidebands: bool = True) -> AnomalyBox:
    """Box of a fault of the tonal partials ``freqs``: their range widened by the speed
    wander, 60 Hz and, with ``sidebands``, the machine's own sidebands (partials of the
    machine carry its AM; an added foreign tone does not)."""
    margin = 60.0 + (ms.am_max_hz if sidebands else 0.0)
    return AnomalyBox(kind, t0, t1, max(min(freqs) * (1 - 1.5 * FM_DEPTH) - margin, 0.0),
                      min(max(freqs) * (1 + 1.5 * FM_DEPTH) + margin, SAMPLE_RATE / 2))


def _fault_span(rng: np.random.Generator, n: int, span: tuple[float, float]) -> tuple[float, float, float]:
    """Start, end (s) and fade length of a fault lasting a fraction ``span`` (uniform) of the clip."""
    duration = n / SAMPLE_RATE
    dur = rng.uniform(*span) * duration
    t0 = rng.uniform(0.0, duration - dur)
    return t0, t0 + dur, min(0.06, dur / 4)


def synth_anomaly(kind: str, ms: MachineSound, rng: np.random.Generator, n: int,
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
        w = window(n, t0, t1, fade)
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
        w = window(n, t0, t1, fade)
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
        carrier = band_noise(rng, n, lo, hi)
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


def other_combos(spec: ClipSpec) -> list[tuple[tuple[str, str], ...]]:
    """Attribute values (as key/value pairs) of the clip's section and domain other than its
    own, on the same microphone (a microphone is not an operating state)."""
    if spec.layout == "dcase2020":
        return []
    scheme = section_scheme(spec.layout, spec.kind, int(spec.section), spec.machine)
    own = dict(spec.attr_pairs)
    out = []
    for combo in (scheme.source if spec.domain == "source" else scheme.target):
        pairs = tuple(zip(scheme.keys, combo))
        if pairs != spec.attr_pairs and all(v == own.get(k) for k, v in pairs if k == "mic"):
            out.append(pairs)
    return out


def attribute_mix(spec: ClipSpec, other: tuple[tuple[str, str], ...], base: Design, design_key: str,
                   ms: MachineSound, rng: np.random.Generator, n: int,
                   profile: Profile) -> tuple[np.ndarray, list[AnomalyBox], float]:
    """An ``attribute_mix`` fault: for 60-100 % of the clip the machine sounds as
    ``(1 - lam) * own + lam * other``, ``other`` being the same machine in the operating state
    of the attribute value ``other`` (rendered with its own random details, scaled to the
    clip's machine RMS). Returns what it adds to the machine signal, its box (all
    frequencies: both states' partials and broadband parts move) and ``lam``."""
    state2 = machine_state(replace(spec, attr_pairs=other), profile.load_slip)
    design2 = apply_variant(base, spec.layout, design_key, state2.variant)
    ms2 = synth_machine(design2, state2, rng, n)
    rms = np.sqrt(np.mean(ms.signal ** 2)) + 1e-12
    other_sig = ms2.signal * (rms / (np.sqrt(np.mean(ms2.signal ** 2)) + 1e-12))
    lam = float(rng.uniform(*profile.mix_fraction))
    t0, t1, fade = _fault_span(rng, n, profile.anomaly_span)
    w = window(n, t0, t1, fade)
    return lam * w * (other_sig - ms.signal), [AnomalyBox("attribute_mix", t0, t1, 0.0, SAMPLE_RATE / 2)], lam
