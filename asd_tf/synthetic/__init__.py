"""Deterministic synthetic DCASE-style datasets (the toolkit's embedded default data and test fixture).

What :func:`generate` writes (``asd-tf synth``): the official DCASE layouts
(2020 ``normal_id_XX_NNNNNNNN.wav``; 2022-2025
``section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN_<attrs>.wav``
with attribute tables), 16 kHz mono 16-bit PCM, plus for every anomalous clip
a sidecar ``<stem>.anomaly.csv`` holding the time-frequency box(es) of the
anomaly, and ``<out>/.complete`` written last. The 2025 layout adds
``<machine>/supplemental/`` with clean machine clips
(``section_00_machine_NNNN_.wav``) and noise-only clips
(``section_00_noise_NNNN_.wav``; the official noise names are not confirmed).
``eval_split`` anonymises the test names and also writes
``ground_truth_{data,domain,attributes}/`` (the last: anonymised name -> full
name without ``.wav``, a third column with the real attributes for hidden
machines), which the official 2023-2025 evaluators need.

Modules, in the order a clip is made:

- :mod:`.plan` — sizes, machines, attribute schemes, the official name of every clip;
- :mod:`.seeding` — seeds (a clip's identity only: byte-identical output for a seed,
  whatever the generation order or process count);
- :mod:`.signals` — signal building blocks;
- :mod:`.machines` — sound design: a section's machine and a clip's operating state;
- :mod:`.faults` — what an anomalous clip changes, and its box;
- :mod:`.profiles` — the noise and fault designs (``PROFILES``);
- :mod:`.noise` — background noise;
- :mod:`.render` — one clip: mixture, recording conditions, level;
- :mod:`.boxes` — anomaly boxes and their sidecar CSV;
- :mod:`.writer` — WAV files; :mod:`.tables` — attribute and ground-truth tables;
- :mod:`.dataset` — :func:`generate`, the whole set;
- :mod:`.calibration` — the clip-statistics baseline the fault levels are calibrated with.

The profiles' design and what each showed (the synthetic claim study):
docs/synthetic_claim_study.md.
"""

from __future__ import annotations

from .boxes import ANOMALY_CSV_HEADER, AnomalyBox, read_anomaly_boxes
from .dataset import GENERATOR_VERSION, generate
from .plan import LAYOUTS, SIZES, AttrScheme, ClipSpec, SizeSpec, plan_dataset, plan_supplemental
from .profiles import PROFILES, Profile, get_profile
from .signals import SAMPLE_RATE

__all__ = [
    "ANOMALY_CSV_HEADER",
    "AnomalyBox",
    "AttrScheme",
    "ClipSpec",
    "GENERATOR_VERSION",
    "LAYOUTS",
    "PROFILES",
    "Profile",
    "SAMPLE_RATE",
    "SIZES",
    "SizeSpec",
    "generate",
    "get_profile",
    "plan_dataset",
    "plan_supplemental",
    "read_anomaly_boxes",
]
