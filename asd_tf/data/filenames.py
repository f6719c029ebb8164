"""Parse DCASE Task 2 clip file names into their fields (docs/design.md, "Data layouts" and "Later methods").

Two naming families exist:

- DCASE 2020: ``{normal,anomaly}_id_XX_NNNNNNNN.wav`` (evaluation test files:
  ``id_XX_NNNNNNNN.wav``, no label). The machine ID plays the role of the
  section; there are no domains (reported as ``source``).
- DCASE 2021-2025: ``section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN[_<attrs>].wav``.
  Anonymised evaluation test files drop the label and (from 2022 on) the
  domain and split too (``section_03_0000.wav``; the 2024 baseline's listing
  also shows ``section_00_test_0000.wav``); the missing fields are
  reported as ``None`` here and become ``unknown`` in a ClipRecord unless a
  ground-truth CSV supplies them. Numbering starts at 0000 or 0001 depending
  on year and split; the index is kept verbatim.

Known quirks that parse with the same rule: the 2024 RoboticArm evaluation
test names lack the split (``section_00_source_normal_0035_weight15_BckgF.wav``;
the folder tells the split), and 2025 templates end the index with an empty
attribute string (``section_00_source_train_normal_0000_.wav``).

``<attrs>`` is everything after the index: ``_``-joined key/value pairs such as
``m-n_W``, ``car_C2_spd_34V_mic_1``, ``volt_1.5_wt_130`` or the literal
``noAttribute`` (no attributes, or attributes hidden by the organisers: DCASE
2024/2025 hide them for some machine types). The string is always kept
verbatim; the pairs are best effort (:func:`parse_attributes`).

:func:`parse_filename` accepts any string and either returns a
:class:`ParsedName` or raises :class:`~asd_tf.errors.FileNameError`; it never
raises anything else (checked by a hypothesis fuzz test).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..errors import FileNameError

NO_ATTRIBUTE = "noAttribute"

# DCASE 2020: machine ID is two digits in the official data; the index is 8 digits
# there but any digit run is accepted. Evaluation test files drop the label
# (``id_05_00000000.wav``).
_RE_2020 = re.compile(r"(?:(normal|anomaly)_)?id_(\d{2})_(\d+)\.wav", re.IGNORECASE | re.ASCII)

# DCASE 2021-2025: every field between section and index is optional so that the
# anonymised evaluation names (``section_03_0000.wav``), 2021's
# ``section_03_source_test_0000.wav`` and the 2024 RoboticArm test names without
# a split parse with the same rule. ``(.*)`` (not ``.+``) accepts an empty
# attribute string after a trailing underscore (``..._0000_.wav``).
_RE_SECTION = re.compile(
    r"section_(\d{2})"
    r"(?:_(source|target))?"
    r"(?:_(train|test))?"
    r"(?:_(normal|anomaly))?"
    r"_(\d+)"
    r"(?:_(.*))?"
    r"\.wav",
    re.IGNORECASE | re.ASCII,
)


@dataclass(frozen=True)
class ParsedName:
    """Fields encoded in one clip file name.

    ``style`` is ``"dcase2020"`` (``normal_id_..``) or ``"section"`` (2021-2025).
    ``domain``, ``split`` and ``label`` are ``None`` when the name does not carry them.
    """

    name: str
    style: str
    section: str
    domain: Optional[str]
    split: Optional[str]
    label: Optional[str]
    index: str
    attributes: str
    attribute_pairs: tuple[tuple[str, str], ...]


# A run-together key/value token (DCASE 2024 RoboticArm ``weight15``, ``BckgF``;
# BrushlessMotor ``spd1000``): a letter key ending in a lower-case letter, then a
# value starting with a digit or an upper-case letter. Keys in the ``key_value``
# form are lower-case words (``car``, ``m-n``, ``volt``), never of this shape.
_RE_FUSED = re.compile(r"([A-Za-z][A-Za-z-]*?[a-z])([0-9][0-9A-Za-z.+-]*|[A-Z][0-9A-Za-z.+-]*)", re.ASCII)


def parse_attributes(text: str) -> tuple[tuple[str, str], ...]:
    """Split an attribute string into key/value pairs (best effort; never fails).

    ``""`` and ``"noAttribute"`` give ``()``. Tokens are read left to right: a
    token in key position that is a run-together key and value
    (``weight15`` -> ``("weight", "15")``, ``BckgF`` -> ``("Bckg", "F")``) is one
    pair; any other key token takes the next token as its value
    (``vel_8_loc_G`` -> ``(("vel", "8"), ("loc", "G"))``); a key token without a
    following token becomes ``(token, "")``. One trailing empty token (a name
    ending in ``_``, e.g. ``ac_0.03_``) is dropped; other empty tokens
    (``a__b``) are kept as empty strings.
    """
    if not text or text == NO_ATTRIBUTE:
        return ()
    tokens = text.split("_")
    if len(tokens) > 1 and tokens[-1] == "":
        tokens.pop()
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        fused = _RE_FUSED.fullmatch(tokens[i])
        if fused:
            pairs.append((fused.group(1), fused.group(2)))
            i += 1
        elif i + 1 < len(tokens):
            pairs.append((tokens[i], tokens[i + 1]))
            i += 2
        else:
            pairs.append((tokens[i], ""))
            i += 1
    return tuple(pairs)


def _lower(value: Optional[str]) -> Optional[str]:
    return value.lower() if value is not None else None


def parse_filename(name: str) -> ParsedName:
    """Parse a clip file name (a bare name or a path; only the last component is used).

    Raises :class:`FileNameError` (path, problem) for any name that matches no
    DCASE naming pattern.
    """
    if not isinstance(name, str):
        raise FileNameError(repr(name), "file name is not a string")
    base = re.split(r"[\\/]", name)[-1]
    if not base.lower().endswith(".wav"):
        raise FileNameError(name, "not a .wav file")

    match = _RE_2020.fullmatch(base)
    if match:
        label, section, index = match.groups()
        return ParsedName(
            name=base,
            style="dcase2020",
            section=section,
            domain="source",  # DCASE 2020 has no domain shift; treat all as source
            split=None,  # the folder (train/test) tells the split
            label=_lower(label),
            index=index,
            attributes="",
            attribute_pairs=(),
        )

    match = _RE_SECTION.fullmatch(base)
    if match:
        section, domain, split, label, index, attributes = match.groups()
        attributes = attributes or ""
        return ParsedName(
            name=base,
            style="section",
            section=section,
            domain=_lower(domain),
            split=_lower(split),
            label=_lower(label),
            index=index,
            attributes=attributes,
            attribute_pairs=parse_attributes(attributes),
        )

    if base.lower().startswith("section_"):
        problem = (
            "looks like a DCASE 2021-2025 name but does not match "
            "section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN[_<attrs>].wav"
        )
    elif "_id_" in base.lower():
        problem = "looks like a DCASE 2020 name but does not match {normal,anomaly}_id_XX_NNNNNNNN.wav"
    else:
        problem = (
            "unknown file-name pattern; expected {normal,anomaly}_id_XX_NNNNNNNN.wav (DCASE 2020) or "
            "section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN[_<attrs>].wav (DCASE 2021-2025)"
        )
    raise FileNameError(name, problem)
