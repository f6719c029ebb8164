"""Exact resumption of a killed training run: the saved state is the whole state.

A run killed at any moment and restarted with the same command ends with the
same weights and results as an uninterrupted run (bit-identical on a single CPU
device, where two uninterrupted runs are). What "the whole state" is, after
epoch ``e`` (``e`` epochs done):

- the trainer's weights and the optimizer's variables (Adam moments, step
  count), in ``backup/epoch_<e>.weights.h5``;
- every random stream not held in a Keras variable: the mixup
  ``tf.random.Generator`` of the trainer (TensorFlow) and the state of each
  ``keras.random.SeedGenerator`` (dropout, noisy losses, the trainer's mixup
  stream on the other backends);
- the per-epoch logs so far (``logs/training.csv`` is rewritten from them, so a
  resumed run never repeats or loses a row).

These go to ``backup/state.json`` (written after its weights file, atomically,
so it always names a complete file). The data order needs no saved state: each
epoch's shuffle is seeded by ``(seed, epoch)`` (``make_dataset(epochs=...)``),
so a resumed epoch sees the order the uninterrupted run saw. A kill mid-epoch
loses only that epoch's partial progress; it is recomputed identically.

The same state is mirrored to ``checkpoints/last.weights.h5`` +
``checkpoints/last.json`` (with the weights file's SHA-1): a corrupt or
truncated backup falls back to it with a message. The backup is removed only
after ``.complete`` is written.

:func:`fault_point` is the test hook that kills the process (SIGKILL) at a
named moment when ``$ASD_TF_FAULT_AT`` names it (``tests/test_faults.py``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from ..io_utils import atomic_write_json, atomic_write_text

BACKUP_DIR = "backup"
STATE_FILE = "state.json"
LAST_WEIGHTS = "last.weights.h5"
LAST_STATE = "last.json"
FAULT_ENV = "ASD_TF_FAULT_AT"
STATE_VERSION = 1


class InjectedFault(RuntimeError):
    """Raised by :func:`fault_point` in ``raise:`` mode (tests that need no subprocess)."""


def fault_point(name: str) -> None:
    """Test hook, a no-op unless ``$ASD_TF_FAULT_AT`` names this moment.

    ``$ASD_TF_FAULT_AT == name``: SIGKILL this process (nothing runs after it);
    ``== "raise:" + name``: raise :class:`InjectedFault` instead.
    """
    wanted = os.environ.get(FAULT_ENV)
    if wanted == name:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    elif wanted == "raise:" + name:
        raise InjectedFault(f"injected fault at {name}")


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _seed_generators(model) -> list:
    """Every ``keras.random.SeedGenerator`` of ``model``'s layers, in a fixed order."""
    out = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        out.extend(getattr(layer, "_seed_generators", []))
    return out


def random_state(trainer) -> dict[str, Any]:
    """The random streams of ``trainer`` that ``save_weights`` does not hold, as JSON-able lists."""
    import numpy as np

    state: dict[str, Any] = {"seed_generators": [np.asarray(g.state.value).tolist() for g in _seed_generators(trainer)]}
    rng = getattr(trainer, "mixup_rng", None)
    if rng is not None and not isinstance(rng, keras.random.SeedGenerator):  # a SeedGenerator is in the list above
        state["mixup_rng"] = np.asarray(rng.state.numpy()).tolist()
    return state


def set_random_state(trainer, state: dict[str, Any]) -> None:
    """Restore what :func:`random_state` returned."""
    import numpy as np

    generators = _seed_generators(trainer)
    saved = state.get("seed_generators", [])
    if len(saved) != len(generators):
        raise ValueError(f"{len(saved)} saved seed generator states for {len(generators)} generators")
    for g, value in zip(generators, saved):
        g.state.assign(np.asarray(value, dtype=g.state.dtype))
    rng = getattr(trainer, "mixup_rng", None)
    if rng is not None and "mixup_rng" in state and not isinstance(rng, keras.random.SeedGenerator):
        rng.state.assign(np.asarray(state["mixup_rng"], dtype=rng.state.dtype.as_numpy_dtype))


@dataclass
class Resumed:
    """What a run resumes from: ``epoch`` epochs done, their ``history`` (one log dict per epoch)."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    source: str = "none"  # "backup", "checkpoint" or "none"


def _read_state(state_path: Path, weights_path_of) -> tuple[dict, Path]:
    state = json.loads(state_path.read_text())
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"unknown state version {state.get('version')!r}")
    weights = weights_path_of(state)
    if "sha1" in state and _sha1(weights) != state["sha1"]:
        raise ValueError(f"{weights.name} does not match its record (SHA-1 differs)")
    return state, weights


def restore(trainer, member_dir: Path, log=print) -> Resumed:
    """Load the latest saved state of ``member_dir`` into ``trainer`` (built); what was restored.

    The backup is tried first, then ``checkpoints/last.*``; a corrupt one is
    reported through ``log`` and skipped. Nothing saved: a fresh start.
    """
    backup = member_dir / BACKUP_DIR
    candidates = [
        ("backup", backup / STATE_FILE, lambda s: backup / s["weights"]),
        ("checkpoint", member_dir / "checkpoints" / LAST_STATE, lambda s: member_dir / "checkpoints" / LAST_WEIGHTS),
    ]
    for source, state_path, weights_of in candidates:
        if not state_path.exists():
            continue
        try:
            state, weights = _read_state(state_path, weights_of)
            trainer.load_weights(str(weights))
            set_random_state(trainer, state["random"])
        except Exception as exc:  # truncated HDF5 (OSError), bad JSON, mismatched structure
            log(f"{state_path.parent}: the saved training state is unreadable ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'corrupt'}); trying the next one")
            continue
        if source != "backup" and backup.exists():
            log(f"{backup}: corrupt backup; resumed from {weights} (epoch {state['epoch']})")
        return Resumed(int(state["epoch"]), list(state["history"]), source)
    if (backup / STATE_FILE).exists() or (member_dir / "checkpoints" / LAST_STATE).exists():
        log(f"{member_dir}: no readable saved state; training starts again from epoch 1")
    return Resumed()


def write_training_csv(path: Path, history: list[dict[str, float]]) -> None:
    """``logs/training.csv``: one row per finished epoch (``epoch`` then the sorted log keys), atomically."""
    keys = sorted({k for row in history for k in row})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for epoch, row in enumerate(history):
        writer.writerow([epoch, *(repr(row[k]) if k in row else "" for k in keys)])
    atomic_write_text(path, buf.getvalue())


class SaveTrainingState(keras.callbacks.Callback):
    """After every epoch: save the whole training state (see the module docstring), then the CSV log.

    Order (each step atomic): backup weights -> ``backup/state.json`` -> drop the
    previous backup weights -> ``checkpoints/last.*`` -> ``logs/training.csv``.
    """

    def __init__(self, member_dir: Path, resumed: Resumed) -> None:
        super().__init__()
        self.member_dir = Path(member_dir)
        self.history = list(resumed.history)
        self._epoch = resumed.epoch

    def on_train_batch_end(self, batch, logs=None):
        fault_point(f"batch:{self._epoch}:{batch}")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        import shutil

        del self.history[epoch:]
        self.history.append({k: float(v) for k, v in sorted((logs or {}).items())})
        done = epoch + 1
        backup = self.member_dir / BACKUP_DIR
        backup.mkdir(parents=True, exist_ok=True)
        name = f"epoch_{done}.weights.h5"
        tmp = backup / f"epoch_{done}.tmp.weights.h5"
        self.model.save_weights(str(tmp), overwrite=True)
        os.replace(tmp, backup / name)
        state = {
            "version": STATE_VERSION, "epoch": done, "weights": name, "sha1": _sha1(backup / name),
            "random": random_state(self.model), "history": self.history,
        }
        atomic_write_json(backup / STATE_FILE, state)
        fault_point(f"epoch_end:{epoch}")
        for old in backup.glob("epoch_*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)
        checkpoints = self.member_dir / "checkpoints"
        checkpoints.mkdir(exist_ok=True)
        tmp = checkpoints / "last.tmp.weights.h5"
        shutil.copyfile(backup / name, tmp)
        os.replace(tmp, checkpoints / LAST_WEIGHTS)
        atomic_write_json(checkpoints / LAST_STATE, {**state, "weights": LAST_WEIGHTS})
        write_training_csv(self.member_dir / "logs" / "training.csv", self.history)


def final_logs(history: list[dict[str, float]]) -> dict[str, float]:
    """The last finished epoch's logs (empty before the first)."""
    return {k: float(v) for k, v in history[-1].items()} if history else {}
