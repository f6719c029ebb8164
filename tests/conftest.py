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


# ---------------------------------------------------------------------------
# Tiny synthetic data and tiny trained runs (shared by training, evaluation and figure tests)

TINY_MODEL = {"stage_channels": [4, 8, 8, 16], "spectrum_filters": 8, "dense_units": 16, "branch_dim": 16}
TINY_SAMPLES = 16000


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """The synthetic ``tiny`` DCASE 2022-layout set (seed 0), generated once per test session."""
    from asd_tf.synthetic import generate

    out = tmp_path_factory.mktemp("synth") / "dcase2022_tiny"
    generate(out, "dcase2022", "tiny", 0)
    return out


def train_tiny_run(data: Path, out: Path, **overrides):
    """Train a tiny reference model (1 s input, narrow layers) on ``data`` into ``out``."""
    from asd_tf.settings import TrainConfig
    from asd_tf.training.run import train

    values = dict(
        data=str(data), out=str(out), epochs=2, batch_size=16, num_samples=TINY_SAMPLES,
        backbone_options=dict(TINY_MODEL), verbose=0,
    )
    values.update(overrides)
    return train(TrainConfig(**values))


@pytest.fixture(scope="session")
def tiny_run_factory(tiny_data, tmp_path_factory):
    """``factory(**overrides) -> run_dir``: trains (once per distinct settings) a tiny run on ``tiny_data``."""
    cache: dict = {}

    def factory(**overrides):
        key = repr(sorted(overrides.items()))
        if key not in cache:
            out = tmp_path_factory.mktemp("run")
            cache[key] = train_tiny_run(tiny_data, out, **overrides)
        return cache[key]

    return factory


def touch_wav(path: Path) -> Path:
    """A valid 2-sample 16-bit WAV at ``path`` (parents made): index tests need a file name that is also audio,
    since `asd-tf index` checks the audio as well as the name."""
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(16000)
        fh.writeframes(b"\0\0\0\0")
    return path
