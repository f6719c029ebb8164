"""Rendering of one synthetic clip: machine + noise + fault, recording conditions and level.

:func:`render_clip` mixes the machine sound (:mod:`.machines`) with the
profile's noise (:mod:`.noise`) at a random machine-to-noise ratio, adds the
fault of an anomalous clip (:mod:`.faults`), applies the target domain's room
and microphone where the profile says so, and scales the mixture to a random
recording level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .boxes import AnomalyBox
from .faults import attribute_mix, other_combos, synth_anomaly
from .machines import apply_variant, machine_state, section_design, synth_machine
from .noise import factory_noise, stationary_noise
from .profiles import LEVEL_OFFSET_DB, get_profile
from .seeding import clip_seed, design_rng
from .signals import SAMPLE_RATE, envelope_db

if TYPE_CHECKING:  # pragma: no cover
    from .plan import ClipSpec

# Overall recording level of the mixture (dBFS RMS): a random gain, class-agnostic.
_LEVEL_DBFS = (-34.0, -24.0)


def _apply_eq(x: np.ndarray, eq: list[tuple[float, float, float]]) -> np.ndarray:
    freqs = np.fft.rfftfreq(len(x), 1.0 / SAMPLE_RATE)
    gain = 10.0 ** (envelope_db(freqs, eq) / 20.0)
    return np.fft.irfft(np.fft.rfft(x) * gain, len(x))


def room_response(layout: str, kind: str, section: str, rt60_s: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Impulse response of a section's target-domain room and its reverberation time (s).

    A direct path followed 5 ms later by exponentially decaying Gaussian noise (energy
    decay 60 dB in ``rt60``, drawn from ``rt60_s``), direct-to-reverberant energy ratio
    -3..+3 dB, unit energy; fixed per section (seeded by the design, not the dataset
    seed): the target domain is one room.
    """
    rng = design_rng("room", layout if layout != "dcase2020" else "2020", kind, section)
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


def _box_energy(x: np.ndarray, box: AnomalyBox) -> float:
    """Energy of ``x`` inside a time-frequency box (FFT of the time segment, band sum)."""
    i0, i1 = int(box.t_start_s * SAMPLE_RATE), int(np.ceil(box.t_end_s * SAMPLE_RATE))
    seg = x[i0:i1]
    spec = np.abs(np.fft.rfft(seg)) ** 2
    freqs = np.fft.rfftfreq(len(seg), 1.0 / SAMPLE_RATE)
    return float(spec[(freqs >= box.f_low_hz) & (freqs <= box.f_high_hz)].sum())


def render_clip(spec: ClipSpec, seed: int, with_anomaly: bool = True) -> tuple[np.ndarray, list[AnomalyBox]]:
    """Render one clip as float64 in [-1, 1] and its anomaly boxes.

    ``with_anomaly=False`` renders the very same recording without the anomaly
    (private hook for tests: the difference is exactly the anomaly signal).
    """
    n = int(round(spec.duration_s * SAMPLE_RATE))
    ss = clip_seed(seed, spec)
    rng_machine, rng_noise, rng_anom, rng_mix = (np.random.default_rng(s) for s in ss.spawn(4))
    design_key = spec.section if spec.layout != "dcase2020" else "id" + spec.section
    profile = get_profile(spec.profile)
    base = section_design(spec.layout, spec.kind, design_key)
    state = machine_state(spec, profile.load_slip)
    design = apply_variant(base, spec.layout, design_key, state.variant)
    ms = synth_machine(design, state, rng_machine, n)
    machine_rms = float(np.sqrt(np.mean(ms.signal ** 2)) + 1e-12)
    shifted = spec.domain == "target"  # the profile's target-domain recording conditions apply
    noise_kind = profile.target_noise if shifted and profile.target_noise else profile.noise
    if noise_kind == "factory":
        noise = factory_noise(rng_noise, n)
    else:
        noise = stationary_noise(rng_noise, n, profile.noise_tilt_db)
    mnr = rng_mix.uniform(*profile.mnr_db)
    machine_gain = 10.0 ** (mnr / 20.0) / machine_rms
    mix = noise + ms.signal * machine_gain
    boxes: list[AnomalyBox] = []
    if spec.label == "anomaly":
        others = other_combos(spec)
        kinds = tuple(profile.fallback_kind if k == "attribute_mix" and not others else k
                      for k in profile.anomaly_kinds[spec.kind])
        akind = kinds[int(rng_anom.integers(len(kinds)))]
        if akind == "attribute_mix":
            other = others[int(rng_anom.integers(len(others)))]
            fixed, boxes, _ = attribute_mix(spec, other, base, design_key, ms, rng_anom, n, profile)
            scalable = None
        else:
            fixed, scalable, boxes = synth_anomaly(akind, ms, rng_anom, n, profile.anomaly_span)
        snr_db = rng_anom.uniform(*profile.box_snr_db) + LEVEL_OFFSET_DB
        anomaly = fixed * machine_gain
        if scalable is not None:
            # level the added part against the normal recording inside the box
            ref = _box_energy(mix, boxes[0])
            own = _box_energy(scalable, boxes[0])
            anomaly = anomaly + scalable * np.sqrt(10.0 ** (snr_db / 10.0) * ref / max(own, 1e-30))
        if with_anomaly:
            mix = mix + anomaly
    if shifted and profile.target_rt60_s is not None:
        mix = _apply_room(mix, room_response(spec.layout, spec.kind, design_key, profile.target_rt60_s)[0])
    if state.mic or (shifted and profile.target_mic):
        mix = _apply_eq(mix, design.mic_eq)
    # random recording gain; the normalisation ignores the anomaly so that adding it
    # changes nothing outside its box (noise has unit RMS by construction)
    level = 10.0 ** (rng_mix.uniform(*_LEVEL_DBFS) / 20.0)
    mix = mix * (level / np.sqrt(1.0 + 10.0 ** (mnr / 10.0)))
    return np.clip(mix, -1.0, 32767.0 / 32768.0), boxes


def render_supplemental(spec: ClipSpec, seed: int) -> np.ndarray:
    """A supplemental clip: the machine alone (``label="machine"``) or the profile's noise alone
    (``label="noise"``), at a random recording level as in :func:`render_clip`."""
    n = int(round(spec.duration_s * SAMPLE_RATE))
    rng_machine, rng_noise, rng_mix = (np.random.default_rng(s) for s in clip_seed(seed, spec).spawn(3))
    profile = get_profile(spec.profile)
    if spec.label == "machine":
        base = section_design(spec.layout, spec.kind, spec.section)
        state = machine_state(spec, profile.load_slip)
        x = synth_machine(apply_variant(base, spec.layout, spec.section, state.variant), state, rng_machine, n).signal
    elif profile.noise == "factory":
        x = factory_noise(rng_noise, n)
    else:
        x = stationary_noise(rng_noise, n, profile.noise_tilt_db)
    level = 10.0 ** (rng_mix.uniform(*_LEVEL_DBFS) / 20.0)
    x = x * (level / (np.sqrt(np.mean(x ** 2)) + 1e-12))
    return np.clip(x, -1.0, 32767.0 / 32768.0)
