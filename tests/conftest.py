"""Shared pytest fixtures: the real DCASE clips (skipped when absent) and a WAV writer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import pytest


def real_data_root() -> Path:
    """``$ASD_TF_REAL_DATA`` or ``<repo>/../shared/data/real``."""
    env = os.environ.get("ASD_TF_REAL_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Folder with the 108 real DCASE clips and PROVENANCE.md; skips the test if absent."""
    root = real_data_root()
    if not (root / "PROVENANCE.md").is_file():
        pytest.skip(f"real DCASE clips not found at {root} (set ASD_TF_REAL_DATA)")
    return root


@pytest.fixture
def make_wav() -> Callable[..., Path]:
    """``make_wav(path, samples, sr=16000, subtype="PCM_16") -> Path``.

    ``samples``: float array ``[n]`` or ``[n, channels]`` in [-1, 1]; parent
    folders are created.
    """
    import soundfile as sf

    def _make(path, samples, sr: int = 16000, subtype: str = "PCM_16") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), np.asarray(samples), int(sr), subtype=subtype, format="WAV")
        return path

    return _make
