"""Ensembles of trained members: one configuration trained N times with seeds seed, seed+1, ..., seed+N-1.

The reference system's public code sums the anomaly scores of 5 independently
trained models; later systems sum 10 (docs/design.md, "Later methods"). ``asd-tf train
--members N`` trains the members one after another with :func:`train_members`
and then scores them as one system through the existing run ensemble of
:func:`asd_tf.evaluation.run.evaluate_run` (``ensemble=[...]``, ``combine=``).

Layout: member 0 is the run directory itself (seed ``seed``), so ``RUN_DIR``
stays an ordinary run that every command reads; member ``i >= 1`` is a complete
run directory of its own in ``RUN_DIR/members_ensemble/m<i>/`` (seed
``seed + i``, ``members: 1`` in its ``config.yaml``). ``members/`` stays the
per-section models of ``labels: individual``, which each member may have in
turn. Each member is an ordinary :func:`asd_tf.training.run.train` call, so it
locks, checks and resumes like any run: a rerun of the same command returns the
finished members at once and resumes the unfinished one from its last epoch.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Callable

from .. import runs
from ..settings import TrainConfig

member_dir = runs.ensemble_member_dir  # member 0 is the run directory itself


def member_config(cfg: TrainConfig, index: int) -> TrainConfig:
    """The settings of member ``index``: ``cfg`` with seed ``cfg.seed + index``; members >= 1 are single runs."""
    if index == 0:
        return cfg
    out = member_dir(os.path.abspath(cfg.out), index)
    return dataclasses.replace(cfg, seed=cfg.seed + index, members=1, out=str(out))


def train_members(cfg: TrainConfig, log: Callable[[str], None] | None = None) -> list[Path]:
    """Train the ``cfg.members`` members of ``cfg`` one after another; return their run directories in order.

    ``cfg.members == 1`` is exactly :func:`asd_tf.training.run.train`. A finished
    member is not trained again (``train`` returns it as it is); a member killed
    part-way resumes from its saved state. ``members`` in ``RUN_DIR/config.yaml``
    is brought up to date when a finished run is extended (5 -> 10 members).
    """
    from .run import train

    cfg.validate()
    say = log or (lambda message: print(f"asd-tf train: {message}", file=sys.stderr, flush=True))
    dirs: list[Path] = []
    for index in range(cfg.members):
        member = member_config(cfg, index)
        if cfg.members > 1 and cfg.verbose:
            done = (member_dir(os.path.abspath(cfg.out), index) / runs.COMPLETE_FILE).exists()
            say(f"member {index + 1}/{cfg.members} (seed {member.seed}): "
                f"{'finished earlier, not retrained' if done else 'training'}")
        dirs.append(Path(train(member)))
    _record_members(dirs[0], cfg.members)
    return dirs


def _record_members(run_dir: Path, members: int) -> None:
    """Set ``members`` in ``run_dir/config.yaml`` (a finished member 0 keeps the count it was trained with)."""
    path = run_dir / runs.CONFIG_FILE
    if not path.exists():
        return
    saved = TrainConfig.load(path)
    if saved.members != members:
        dataclasses.replace(saved, members=members).save(path)

