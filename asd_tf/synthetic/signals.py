"""Signal building blocks of the synthetic recordings: band-limited noise, envelopes, windows, bursts, harmonic sums.

All signals are float64 NumPy arrays at :data:`SAMPLE_RATE` (16 kHz, the DCASE rate).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


SAMPLE_RATE = 16000


def envelope_db(freqs: np.ndarray, resonances: list[tuple[float, float, float]]) -> np.ndarray:
    out = np.zeros_like(freqs, dtype=np.float64)
    for c, b, g in resonances:
        out += g * np.exp(-0.5 * ((freqs - c) / b) ** 2)
    return out


def band_noise(rng: np.random.Generator, n: int, lo: float, hi: float, taper: float = 0.15) -> np.ndarray:
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


def smooth_random(rng: np.random.Generator, n: int, rate_hz: float, depth_db: float) -> np.ndarray:
    """Positive random envelope with fluctuations at about ``rate_hz`` and +-``depth_db`` dB."""
    duration = n / SAMPLE_RATE
    m = max(int(np.ceil(duration * rate_hz)) + 2, 3)
    knots = rng.standard_normal(m)
    xs = np.linspace(0.0, duration, m)
    t = np.arange(n) / SAMPLE_RATE
    env_db = np.interp(t, xs, knots) * depth_db
    return 10.0 ** (env_db / 20.0)


def window(n: int, t0: float, t1: float, fade: float) -> np.ndarray:
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


def resonant_burst(rng: np.random.Generator, freqs: Sequence[float], decays: Sequence[float],
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


def harmonic_sum(phi: np.ndarray, f1: float, ks: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
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
