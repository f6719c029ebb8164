"""Seeds of the synthetic data: every random draw is a pure function of what it is for.

A clip's generators are seeded by ``(seed, layout, machine, section, domain,
split, label, index)`` only, so the output is byte-identical for a given seed
whatever the generation order or process count. The machine *design* of a
section (and its target-domain room) is seeded by names alone, not by the
dataset seed: different seeds are different recordings of the same factory.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .plan import ClipSpec


def crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF


def clip_seed(seed: int, spec: ClipSpec) -> np.random.SeedSequence:
    # Only the clip's identity enters the seed, so generation order does not matter.
    return np.random.SeedSequence([
        int(seed) & 0xFFFFFFFF, crc(spec.layout), crc(spec.machine), int(spec.section),
        crc(spec.domain), crc(spec.split), crc(spec.label), spec.index,
    ])


def design_rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(crc("/".join(str(p) for p in parts)))
