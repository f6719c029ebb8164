"""Writing synthetic clips: 16-bit PCM mono WAV files and the anomaly sidecars beside them."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from ..io_utils import atomic_write, atomic_write_text
from .boxes import boxes_csv
from .plan import ClipSpec
from .render import render_clip, render_supplemental
from .signals import SAMPLE_RATE


def to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")


def write_wav(path: Path, pcm: np.ndarray) -> None:
    def _w(tmp: str) -> None:
        with wave.open(tmp, "wb") as fh:
            fh.setnchannels(1)
            fh.setsampwidth(2)
            fh.setframerate(SAMPLE_RATE)
            fh.writeframes(pcm.tobytes())

    atomic_write(path, _w)


def write_clip(args: tuple[str, ClipSpec, int, str]) -> None:
    root, spec, seed, name = args
    if spec.split == "supplemental":
        write_wav(Path(root) / spec.machine / spec.split / name, to_pcm16(render_supplemental(spec, seed)))
        return
    x, boxes = render_clip(spec, seed)
    path = Path(root) / spec.machine / spec.split / name
    write_wav(path, to_pcm16(x))
    if boxes:
        atomic_write_text(path.with_suffix(".anomaly.csv"), boxes_csv(boxes))


def write_clips(jobs: list[tuple[str, ClipSpec, int, str]]) -> None:
    for job in jobs:
        write_clip(job)
