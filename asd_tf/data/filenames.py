"""Parse DCASE Task 2 clip file names into their fields (DESIGN.md section 1).

Two naming families exist:

- DCASE 2020: ``{normal,anomaly}_id_XX_NNNNNNNN.wav`` (evaluation test files:
  ``id_XX_NNNNNNNN.wav``, no label). The machine ID plays the role of the
  section; there are no domains (reported as ``source``).
- DCASE 2021-2023: ``section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN[_<attrs>].wav``.
  Anonymised evaluation test files drop the label and (from 2022 on) the
  domain and split too (``section_03_0000.wav``); the missing fields are
  reported as ``None`` here and become ``unknown`` in a ClipRecord unless a
  ground-truth CSV supplies them.

``<attrs>`` is everything after the index: ``_``-joined key/value pairs such as
``m-n_W``, ``car_C2_spd_34V_mic_1``, ``volt_1.5_wt_130`` or the literal
``noAttribute`` (no attributes). The string is always kept verbatim; the pairs
are best effort: with an odd number of tokens the last token has no value and
becomes ``(token, "")`` (e.g. ``strength_1_ambient`` ->
``(("strength", "1"), ("ambient", ""))``).

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

# DCASE 2021-2023: every field between section and index is optional so that the
# anonymised evaluation names (``section_03_0000.wav``) and 2021's
# ``section_03_source_test_0000.wav`` parse with the same rule.
_RE_SECTION = re.compile(
    r"section_(\d{2})"
    r"(?:_(source|target))?"
    r"(?:_(train|test))?"
    r"(?:_(normal|anomaly))?"
    r"_(\d+)"
    r"(?:_(.+))?"
    r"\.wav",
    re.IGNORECASE | re.ASCII,
)


@dataclass(frozen=True)
class ParsedName:
    """Fields encoded in one clip file name.

    ``style`` is ``"dcase2020"`` (``normal_id_..``) or ``"section"`` (2021-2023).
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


def parse_attributes(text: str) -> tuple[tuple[str, str], ...]:
    """Split an attribute string into key/value pairs.

    ``""`` and ``"noAttribute"`` give ``()``. Tokens are taken two by two;
    an odd last token becomes ``(token, "")``. Empty tokens (``a__b``) are kept as
    empty strings, so the function never fails.
    """
    if not text or text == NO_ATTRIBUTE:
        return ()
    tokens = text.split("_")
    pairs = [(tokens[i], tokens[i + 1]) for i in range(0, len(tokens) - 1, 2)]
    if len(tokens) % 2:
        pairs.append((tokens[-1], ""))
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
            "looks like a DCASE 2021-2023 name but does not match "
            "section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN[_<attrs>].wav"
        )
    elif "_id_" in base.lower():
        problem = "looks like a DCASE 2020 name but does not match {normal,anomaly}_id_XX_NNNNNNNN.wav"
    else:
        problem = (
            "unknown file-name pattern; expected {normal,anomaly}_id_XX_NNNNNNNN.wav (DCASE 2020) or "
            "section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN[_<attrs>].wav (DCASE 2021-2023)"
        )
    raise FileNameError(name, problem)
