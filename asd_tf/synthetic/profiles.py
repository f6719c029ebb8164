"""Sound profiles of the synthetic data: the noise and fault design a dataset is generated with.

- ``factory`` (the default, generator version 1's only design): LOUD,
  non-stationary factory noise drawn from the same distribution for every
  class (spectral tilt and colour, babble-like bands, hum, impacts, a foreign
  machine, random gain) whose variance dominates clip-level statistics, and
  SUBTLE faults localised in time and frequency (extra tone, detuned
  harmonic, intermittent rubbing, missing pulses), after Wilkinghoff & Kurth
  (TASLP 2024, Sec. IV-C).
- ``structural``: stationary broadband noise whose spectral tilt varies by
  +-6 dB/octave and whose level relative to the machine varies over 15 dB,
  and faults of the machine's own tonal structure (harmonic balance, a
  detuned partial, an extra tone, a new modulation; missing pulses for pulse
  machines) lasting most of the clip.
- ``mixed_state`` (the quick comparison's): that noise at -6..+6 dB, and every
  fault a mixture of the clip's operating state with another attribute value
  of its section (``attribute_mix``).
- ``domain_shift`` (the target-domain study, docs/target_domain.md): the
  target domain recorded elsewhere (another microphone, a reverberant room,
  factory noise) in operating states outside the source range.

Why these designs, and what each showed with the toolkit's models: docs/synthetic_claim_study.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

# Machine-to-noise ratio (RMS, dB) per clip; class-agnostic (brief: -6 to -12 dB).
_MNR_DB = (-12.0, -6.0)


# Fault kinds each machine kind can show (one per anomalous clip, drawn uniformly).
ANOMALY_KINDS = {
    "rotor": ("extra_tone", "detune", "rub"),
    "fan": ("extra_tone", "detune", "rub"),
    "pulse": ("missing_pulse", "extra_tone", "rub"),
    "gear": ("extra_tone", "detune", "rub"),
}
# Local level of an anomaly: its energy inside its own time-frequency box relative to
# the energy of the normal recording (noise + machine) in that box. Audible in the
# box, yet the box is a small part of the clip, so clip-level statistics barely move.
# Calibrated so that the clip-statistics baseline (asd_tf.synthetic.calibration) gives a
# harmonic-mean AUC of ~0.63 (2022) / ~0.67 (2023) on `small`, seed 0; in-box SNRs of
# 0 +- 4 dB left it at chance (0.52). Missing pulses are not levelled (they remove sound).
BOX_SNR_DB = (4.0, 12.0)
LEVEL_OFFSET_DB = 0.0     # common offset of the range above (calibration knob)


@dataclass(frozen=True)
class Profile:
    """Noise and fault design of a synthetic dataset (``generate(profile=...)``).

    Attributes:
        noise: ``"factory"`` (loud non-stationary factory noise, ``factory_noise``) or
            ``"stationary"`` (Gaussian noise band-limited to 50-7900 Hz with a random
            spectral tilt, ``stationary_noise``).
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
            (``Design.mic_eq``), with or without a ``mic`` attribute.
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
    "factory": Profile("factory", 0.0, _MNR_DB, ANOMALY_KINDS, (0.25, 0.6), BOX_SNR_DB,
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
