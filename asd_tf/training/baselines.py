"""Training of the baseline systems (``asd-tf train --system dcase_ae|logmel_knn``).

``dcase_ae``: the official DCASE Task 2 autoencoder baseline, one model per
machine type as in the public code (``nttcslab/dcase2023_task2_baseline_ae``),
trained on the 5-frame log-mel windows of all its training clips (both
domains, every section) to reconstruct its input: MSE loss, Adam, batch 256,
100 epochs by default, 10 % of the windows (seeded random choice, as the
public code's ``train_test_split``) held out for ``val_loss``. Run layout::

    RUN_DIR/config.yaml, train_summary.json, .complete
    RUN_DIR/members/<machine>/model.keras          (loads with safe_mode=True)
    RUN_DIR/members/<machine>/scope.json           {"machine": ..., "section": null}
    RUN_DIR/members/<machine>/logs/training.csv    loss, val_loss per epoch
    RUN_DIR/members/<machine>/train_summary.json, .complete

A killed run resumes: finished machines are skipped, the current one resumes
from its last epoch (``backup/``).

``logmel_knn``: nothing to learn; the run directory records the settings and
the training clips, and evaluation scores with :mod:`asd_tf.scoring.clip_statistics`.

Model and feature options (``--model-option KEY=VALUE``, ``backbone_options``):
``frames`` (5), ``n_mels`` (128), ``hidden_units`` (128), ``hidden_layers`` (4),
``bottleneck`` (8), ``validation_split`` (0.1).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DatasetError
from ..io_utils import atomic_write_json
from .. import runs
from ..runs import ae_options

def clip_windows(clips: Sequence, cfg, options: dict[str, Any]) -> list[np.ndarray]:
    """The 5-frame log-mel windows of every clip, in clip order (``asd_tf.features.frames``)."""
    from ..features.frames import clip_logmel_windows

    out: list[np.ndarray | None] = [None] * len(clips)
    for i, windows in clip_logmel_windows(clips, cfg.sample_rate, cfg.num_samples, options["frames"],
                                          options["n_mels"]):
        if windows.shape[0] == 0:
            raise DatasetError(f"{clips[i].path}: shorter than {options['frames']} log-mel frames")
        out[i] = windows
    return out  # type: ignore[return-value]


def _train_ae_member(cfg, options: dict[str, Any], clips: Sequence, member_dir: Path, machine: str) -> dict:
    import keras

    from ..models.dcase_autoencoder import build_dcase_autoencoder
    from .callbacks import StopOnNonFiniteLoss

    member_dir.mkdir(parents=True, exist_ok=True)
    if (member_dir / runs.COMPLETE_FILE).exists() and (member_dir / runs.MODEL_FILE).exists():
        return json.loads((member_dir / runs.SUMMARY_FILE).read_text())
    atomic_write_json(member_dir / runs.SCOPE_FILE, {"machine": machine, "section": None})

    x = np.concatenate(clip_windows(clips, cfg, options)).astype(np.float32)
    n = x.shape[0]
    n_val = int(math.ceil(float(options["validation_split"]) * n))  # sklearn train_test_split rounds up
    if n - n_val < 1:
        raise DatasetError(f"{machine}: {n} frame windows leave nothing to train on after the validation split")
    order = np.random.default_rng(cfg.seed).permutation(n)
    x_val, x_train = x[order[:n_val]], x[order[n_val:]]
    del x  # the split copies; keep one copy of the windows in memory

    keras.utils.set_random_seed(cfg.seed)
    model = build_dcase_autoencoder(
        input_dim=options["frames"] * options["n_mels"], hidden_units=options["hidden_units"],
        hidden_layers=options["hidden_layers"], bottleneck=options["bottleneck"], seed=cfg.seed,
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate), loss="mse",
                  jit_compile=bool(cfg.jit))
    logs_dir = member_dir / "logs"
    logs_dir.mkdir(exist_ok=True)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(member_dir / "backup"), delete_checkpoint=True),
        StopOnNonFiniteLoss(str(member_dir)),
        keras.callbacks.CSVLogger(str(logs_dir / "training.csv"), append=True),
    ]
    started = time.time()
    history = model.fit(
        x_train, x_train, validation_data=(x_val, x_val) if n_val else None,
        batch_size=min(cfg.batch_size, len(x_train)), epochs=cfg.epochs, shuffle=True,
        callbacks=callbacks, verbose=cfg.verbose,
    )
    elapsed = time.time() - started
    runs.save_keras_atomic(model, member_dir / runs.MODEL_FILE)
    summary = {
        "machine": machine,
        "clips": len(clips),
        "windows": int(n),
        "train_windows": int(len(x_train)),
        "validation_windows": int(n_val),
        "batch_size": min(cfg.batch_size, len(x_train)),
        "epochs": cfg.epochs,
        "epochs_run_this_call": len(history.history.get("loss", [])),
        "seconds_this_call": round(elapsed, 2),
        "parameters": int(model.count_params()),
        "final": {k: float(v[-1]) for k, v in history.history.items() if v},
        "options": options,
    }
    atomic_write_json(member_dir / runs.SUMMARY_FILE, summary)
    runs.mark_complete(member_dir)
    shutil.rmtree(member_dir / "backup", ignore_errors=True)
    return summary


def train_baseline(cfg, index, clips: Sequence, run_dir: Path) -> Path:
    """Train (``dcase_ae``) or record (``logmel_knn``) a baseline run into ``run_dir``; returns ``run_dir``."""
    if cfg.system == "dcase_ae":
        options = ae_options(cfg)
        members = {}
        for machine in sorted({c.machine for c in clips}):
            group = [c for c in clips if c.machine == machine]
            if cfg.verbose:
                print(f"[dcase_ae] training {machine} on {len(group)} clips")
            members[machine] = _train_ae_member(
                cfg, options, group, run_dir / runs.MEMBERS_DIR / machine, machine)
        summary: dict[str, Any] = {"members": members}
    elif cfg.system == "logmel_knn":
        summary = {"clips": len(clips), "note": "no training: scored by nearest log-mel statistics"}
    else:
        raise ConfigError(f"train_baseline: {cfg.system!r} is not a baseline system")
    summary.update(system=cfg.system, dataset=index.dataset)
    atomic_write_json(run_dir / runs.SUMMARY_FILE, summary)
    runs.mark_complete(run_dir)
    return run_dir


def format_baseline_summary(run_dir: Path) -> str:
    """One-screen summary of a finished baseline run."""
    run = runs.Run.open(run_dir)
    cfg = run.config
    summary = run.summary()
    lines = [f"run:       {run_dir}", f"data:      {cfg.data} ({summary.get('dataset', '?')})",
             f"system:    {cfg.system}"]
    if cfg.system == "logmel_knn":
        lines.append(f"{summary.get('clips')} training clips; no training (log-mel statistics, nearest neighbour)")
    for name, s in (summary.get("members") or {}).items():
        final = s.get("final", {})
        lines.append(
            f"{name}: {s.get('clips')} clips, {s.get('windows')} windows, {s.get('epochs')} epochs, "
            f"loss {final.get('loss', float('nan')):.4f}, val_loss {final.get('val_loss', float('nan')):.4f}, "
            f"{s.get('seconds_this_call', 0):.0f} s"
        )
    return "\n".join(lines)
