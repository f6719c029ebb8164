"""A fast check of every clip before anything is built: nothing reaches the graph that would fail there.

:func:`audit_clips` reads each file's header (and, for floating-point files,
the samples, to check they are finite) and reports every clip that training or
scoring would choke on, with its problem:

- ``empty file (0 bytes)``;
- ``not an audio file`` (soundfile cannot read the header: a text file, a
  broken header);
- ``truncated``: a WAV whose ``data`` chunk declares more bytes than the file
  holds (``tf.audio.decode_wav`` fails on it mid-epoch with "Data too short");
- ``holds no samples``;
- ``NaN or infinite samples`` (float WAV/FLAC/...);
- ``too short``: less than :data:`MIN_FRACTION` of the input length, i.e. an
  input that would be over 90 % zero padding (only with an ``AudioConfig``).

It also collects one-line warnings for what is legal but worth knowing: clips
shorter than the input length are zero-padded; an input length longer than
every clip pads every input; clips at another sample rate are resampled.

:func:`check_clips` applies the audit: with bad clips it raises
:class:`~asd_tf.errors.AudioError` listing all of them, or, with
``skip_bad``, returns the good ones and the bad ones (callers record them,
e.g. in ``skipped_clips.json`` of a run directory).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, TypeVar

import numpy as np

from ..errors import AudioError
from .audio import AudioConfig

#: a clip shorter than this fraction of the input length is an error ("too short"), not padding
MIN_FRACTION = 0.1

_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
T = TypeVar("T")


@dataclass(frozen=True)
class BadClip:
    """One clip that cannot be used, and why."""

    path: str
    problem: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "problem": self.problem}


@dataclass
class AuditReport:
    """Result of :func:`audit_clips`: the bad clips (in input order) and one-line warnings."""

    bad: list[BadClip] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: int = 0


def wav_truncation(path: str) -> Optional[str]:
    """A problem text if ``path`` is a RIFF/WAVE file whose ``data`` chunk runs past the end of the file.

    Not a WAV, or a header that cannot be walked: ``None`` (soundfile judges it).
    A ``data`` size of 0 or 0xFFFFFFFF (streamed WAVs that never patched the
    size) is left to soundfile too.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            while True:
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                cid, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"data":
                    available = size - fh.tell()
                    if 0 < length < 0xFFFFFFFF and length > available:
                        return (f"truncated: the WAV header declares {length} bytes of audio, "
                                f"the file holds {available}")
                    return None
                fh.seek(length + (length & 1), os.SEEK_CUR)
    except OSError:
        return None


def _check_one(path: str, config: Optional[AudioConfig]) -> tuple[Optional[str], Optional[float], int]:
    """(problem or None, duration in target samples or None, sample rate) of one file."""
    import soundfile as sf

    try:
        size = os.path.getsize(path)
    except OSError as exc:
        return f"cannot read the file ({exc.strerror or exc})", None, 0
    if size == 0:
        return "empty file (0 bytes)", None, 0
    truncated = wav_truncation(path)
    if truncated:
        return truncated, None, 0
    try:
        info = sf.info(path)
    except Exception as exc:  # LibsndfileError, RuntimeError: not audio, or a broken header
        detail = str(exc).split(":")[-1].strip() or type(exc).__name__
        return f"not an audio file ({detail})", None, 0
    if info.frames <= 0 or info.samplerate <= 0:
        return "holds no samples", None, int(info.samplerate)
    if info.subtype in _FLOAT_SUBTYPES:
        try:
            data = sf.read(path, dtype="float32", always_2d=True)[0]
        except Exception as exc:
            return f"cannot decode audio ({exc})", None, int(info.samplerate)
        if not np.all(np.isfinite(data)):
            bad = int(np.sum(~np.isfinite(data)))
            return f"{bad} NaN or infinite sample(s) in a float file", None, int(info.samplerate)
    length = None
    if config is not None:
        length = info.frames * config.sample_rate / info.samplerate
        if length < MIN_FRACTION * config.num_samples:
            return (f"too short: {info.frames / info.samplerate:.3f} s, less than {MIN_FRACTION:.0%} of the "
                    f"input length ({config.duration_s:g} s)"), length, int(info.samplerate)
    return None, length, int(info.samplerate)


def audit_clips(
    clips: Sequence, config: Optional[AudioConfig] = None, progress: bool = False, description: str = "checking audio"
) -> AuditReport:
    """Check every clip (``ClipRecord`` or path) before use; see the module docstring for what is checked.

    ``config``: the input length and rate, for the length checks and warnings (none without it).
    """
    paths = [os.fspath(getattr(c, "path", c)) for c in clips]
    report = AuditReport(checked=len(paths))
    iterator = paths
    if progress and len(paths) > 200:
        from tqdm.auto import tqdm

        iterator = tqdm(paths, desc=description, unit="clip", leave=False)
    lengths: list[tuple[float, str]] = []
    other_rates: dict[int, int] = {}
    for path in iterator:
        problem, length, rate = _check_one(path, config)
        if problem:
            report.bad.append(BadClip(path, problem))
            continue
        if length is not None:
            lengths.append((length, path))
        if config is not None and rate != config.sample_rate:
            other_rates[rate] = other_rates.get(rate, 0) + 1
    if config is not None and lengths:
        short = [(n, p) for n, p in lengths if n < config.num_samples]
        longest = max(n for n, _ in lengths)
        if len(short) == len(lengths):
            report.warnings.append(
                f"the input length ({config.num_samples} samples, {config.duration_s:g} s) is longer than every clip "
                f"(longest {longest / config.sample_rate:.2f} s): every input is zero-padded; "
                f"consider --num-samples {int(longest)}"
            )
        elif short:
            n, p = min(short)
            report.warnings.append(
                f"{len(short)} clip(s) shorter than the input length ({config.duration_s:g} s) are zero-padded, "
                f"e.g. {p} ({n / config.sample_rate:.2f} s)"
            )
    if other_rates:
        rates = ", ".join(f"{count} at {rate} Hz" for rate, count in sorted(other_rates.items()))
        report.warnings.append(f"clips not at {config.sample_rate} Hz are resampled ({rates})")
    return report


def format_bad(bad: Sequence[BadClip], limit: int = 50) -> str:
    """One line per bad clip ``path: problem`` (at most ``limit``, then a count)."""
    lines = [f"  {b.path}: {b.problem}" for b in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"  ... and {len(bad) - limit} more")
    return "\n".join(lines)


def check_clips(
    clips: Sequence[T],
    config: Optional[AudioConfig] = None,
    skip_bad: bool = False,
    progress: bool = False,
    warn: Optional[Callable[[str], None]] = None,
    what: str = "clips",
) -> tuple[list[T], list[BadClip]]:
    """``(good clips, bad clips)``; AudioError listing every bad clip unless ``skip_bad``.

    ``warn`` receives each one-line warning of the audit (and, with ``skip_bad``,
    one line saying how many clips were left out).
    """
    clips = list(clips)
    report = audit_clips(clips, config, progress=progress)
    if warn is not None:
        for line in report.warnings:
            warn(line)
    if not report.bad:
        return clips, []
    if not skip_bad:
        first = report.bad[0]
        raise AudioError(
            first.path if len(report.bad) == 1 else f"{len(report.bad)} of {len(clips)} {what}",
            (first.problem if len(report.bad) == 1 else "unusable audio:\n" + format_bad(report.bad))
            + "\nfix or remove the file(s), or rerun with --skip-bad to leave them out",
        )
    bad_paths = {b.path for b in report.bad}
    good = [c for c in clips if os.fspath(getattr(c, "path", c)) not in bad_paths]
    if warn is not None:
        warn(f"left out {len(report.bad)} unusable clip(s) (--skip-bad):\n" + format_bad(report.bad, limit=10))
    return good, report.bad
