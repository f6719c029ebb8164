"""Background noise of the synthetic recordings: stationary tilted noise and non-stationary factory noise.

Both are class-agnostic (drawn from the same distribution for every machine,
section and label) and have unit RMS.
"""

from __future__ import annotations

import numpy as np

from .signals import SAMPLE_RATE, band_noise, harmonic_sum, resonant_burst, smooth_random


def stationary_noise(rng: np.random.Generator, n: int, tilt_db: float = 0.0) -> np.ndarray:
    """Stationary Gaussian noise band-limited to 50-7900 Hz, tilted by a slope drawn uniformly
    from +-``tilt_db`` dB per octave (0 dB at 1 kHz), unit RMS."""
    x = band_noise(rng, n, 50.0, 7900.0)
    if tilt_db <= 0.0:
        return x
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    octaves = np.log2(np.maximum(freqs, 50.0) / 1000.0)
    gain = 10.0 ** (rng.uniform(-tilt_db, tilt_db) * octaves / 20.0)
    y = np.fft.irfft(np.fft.rfft(x) * gain, n)
    return y / np.sqrt(np.mean(y ** 2))


def factory_noise(rng: np.random.Generator, n: int) -> np.ndarray:
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
    floor *= smooth_random(rng, n, rng.uniform(0.2, 1.0), rng.uniform(1.0, 3.0))
    noise = floor
    # babble-like bands with syllable-rate envelopes
    for _ in range(int(rng.integers(2, 6))):
        fc = float(np.exp(rng.uniform(np.log(250.0), np.log(4000.0))))
        bw = fc * rng.uniform(0.25, 0.7)
        band = band_noise(rng, n, fc - bw / 2, fc + bw / 2, taper=0.4)
        band *= smooth_random(rng, n, rng.uniform(3.0, 7.0), rng.uniform(4.0, 8.0))
        noise = noise + band * 10.0 ** (rng.uniform(-12.0, 0.0) / 20.0)
    t = np.arange(n) / SAMPLE_RATE
    # electrical hum
    if rng.random() < 0.7:
        f_hum = (50.0 if rng.random() < 0.5 else 60.0) * (1 + rng.normal(0, 0.001))
        ks = np.arange(1, 9)
        hum = harmonic_sum(2 * np.pi * t, f_hum, ks, rng.uniform(0.2, 1.0, size=8) / ks,
                            rng.uniform(0, 2 * np.pi, size=8))
        hum /= np.sqrt(np.mean(hum ** 2)) + 1e-12
        noise = noise + hum * 10.0 ** (rng.uniform(-18.0, -6.0) / 20.0)
    # a foreign machine somewhere in the hall (tonal, unrelated to any class)
    if rng.random() < 0.5:
        f0 = float(np.exp(rng.uniform(np.log(40.0), np.log(400.0))))
        phi = 2 * np.pi * f0 * np.cumsum(1 + 0.003 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t)) / SAMPLE_RATE
        ks = np.arange(1, int(3000 // f0) + 1)
        other = harmonic_sum(phi, 1.0, ks, 10.0 ** (rng.normal(0, 6, len(ks)) / 20.0) / ks ** 0.5,
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
        burst = resonant_burst(rng, fr, dec, np.ones(k), attack_s=0.0005)
        burst *= 10.0 ** (rng.uniform(3.0, 15.0) / 20.0) / (np.max(np.abs(burst)) + 1e-12)
        i0 = int(rng.integers(0, n))
        m = min(len(burst), n - i0)
        noise[i0:i0 + m] += burst[:m]
    return noise
