"""Train a model into a run directory, resumably, on any Keras backend.

TensorFlow (the default): ``tf.data`` input under any ``tf.distribute`` strategy. JAX:
``WaveformBatches`` input, one device or ``keras.distribution.DataParallel``. What differs
per backend comes from ``asd_tf.training.steps`` (one module per backend).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DatasetError, RunError
from ..io_utils import atomic_write_json
from .. import runs
from ..settings import IDENTITY_KEYS, TrainConfig


SKIPPED_FILE = runs.SKIPPED_FILE


def _check_resumable(cfg: TrainConfig, run_dir: Path) -> None:
    """A run directory may only be resumed with the same identity settings."""
    path = run_dir / runs.CONFIG_FILE
    if not path.exists():
        return
    old = TrainConfig.load(path).to_dict()
    new = cfg.to_dict()
    diff = [k for k in IDENTITY_KEYS if old.get(k) != new.get(k)]
    if diff:
        details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff)
        raise RunError(
            f"{run_dir}: holds a run with different settings ({details}); "
            "choose another --out directory or delete this one"
        )


def select_training_clips(cfg: TrainConfig, skipped: list | None = None):
    """Index ``cfg.data`` and return (index, training clips); test clips are never returned.

    Every training clip's audio is checked first (:func:`asd_tf.data.audit.check_clips`):
    unusable clips stop the run with all of them listed or, with ``cfg.skip_bad``, are
    left out and appended to ``skipped``.
    """
    from ..data.audio import AudioConfig
    from ..data.audit import check_clips
    from ..data.index import scan_dataset

    if not cfg.data:
        raise ConfigError("no training data given (--data DIR)")
    index = scan_dataset(cfg.data, dataset=cfg.dataset) if cfg.dataset else scan_dataset(cfg.data)
    clips = [c for c in index.clips if c.split == "train"]
    if not clips:
        raise DatasetError(f"{cfg.data}: no training clips found (expected <machine>/train/*.wav)")
    # The baselines read whole clips (num_samples only caps them): no input-length checks for them.
    audio = AudioConfig(sample_rate=cfg.sample_rate, num_samples=cfg.num_samples) if cfg.system == "embedding" else None
    clips, bad = check_clips(
        clips, audio, skip_bad=cfg.skip_bad,
        progress=cfg.verbose == 1, warn=_say, what="training clips",
    )
    if skipped is not None:
        skipped.extend(bad)
    if not clips:
        raise DatasetError(f"{cfg.data}: no usable training clips left")
    if cfg.max_train_clips and len(clips) > cfg.max_train_clips:
        rng = np.random.default_rng(cfg.seed)
        keep = np.sort(rng.choice(len(clips), size=cfg.max_train_clips, replace=False))
        clips = [clips[i] for i in keep]
    return index, clips


#: Training settings handed to every backbone builder that takes them (``branches``: the reference system's).
BACKBONE_SETTINGS = ("branches",)


def build_embedding_model(cfg: TrainConfig, synchronized_bn: bool = False):
    """Build the backbone of ``cfg`` (waveform -> embedding) through the backbone registry.

    ``backbone_options`` go to the builder as they are; a training setting of
    :data:`BACKBONE_SETTINGS` and ``synchronized_bn`` are added where the builder takes them.
    """
    from ..models.registry import BACKBONES, build_backbone

    options: dict[str, Any] = dict(cfg.backbone_options)
    for setting in BACKBONE_SETTINGS:
        if BACKBONES.accepts(cfg.backbone, setting):
            options.setdefault(setting, getattr(cfg, setting))
    if synchronized_bn and BACKBONES.accepts(cfg.backbone, "synchronized_bn"):
        options["synchronized_bn"] = True
    return build_backbone(cfg.backbone, num_samples=cfg.num_samples, **options)


def _make_optimizer(cfg: TrainConfig, steps_per_epoch: int):
    import keras

    lr: Any = cfg.learning_rate
    if cfg.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=max(1, steps_per_epoch * cfg.epochs))
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=cfg.weight_decay_optimizer)
    return keras.optimizers.Adam(learning_rate=lr)


def _train_member(cfg: TrainConfig, clips: list, member_dir: Path, strategy, scope: dict | None = None) -> dict:
    """Train one model on ``clips`` into ``member_dir``; resumes from its backup if present."""
    import keras

    from ..data.audio import AudioConfig
    from ..data.labels import build_label_set, training_class_ids
    from ..data.sharding import sharded_steps
    from ..losses.registry import build_loss
    from . import resume
    from .callbacks import ScaleGuardWarning, StopOnNonFiniteLoss
    from ..losses.head import LossHead
    from .steps import backend_steps
    from .trainer import ASDTrainer

    steps = backend_steps()

    member_dir.mkdir(parents=True, exist_ok=True)
    if (member_dir / runs.COMPLETE_FILE).exists() and (member_dir / runs.MODEL_FILE).exists():
        return json.loads((member_dir / runs.SUMMARY_FILE).read_text())
    if scope is not None:
        atomic_write_json(member_dir / runs.SCOPE_FILE, scope)

    label_name = "none" if cfg.labels == "individual" else cfg.labels
    label_set = build_label_set(clips, label_name, domain_in_label=cfg.domain_in_label)
    atomic_write_json(member_dir / runs.LABELS_FILE, label_set.to_json())
    labels = training_class_ids(label_set, clips)
    class_weights = _class_weights(cfg, label_set, clips)

    replicas = strategy.num_replicas_in_sync
    batch_size = min(cfg.batch_size, len(clips))
    batch_size -= batch_size % replicas
    if batch_size < replicas:
        raise DatasetError(f"{cfg.data}: only {len(clips)} training clips, fewer than the {replicas} replicas")
    # Several workers: each reads only its share of the clips (sharding by file,
    # asd_tf.data.sharding); one worker: the unsharded pipeline, as before.
    workers = steps.input_pipelines(strategy)
    steps_per_epoch = sharded_steps(len(clips), batch_size, workers)

    audio = AudioConfig(sample_rate=cfg.sample_rate, num_samples=cfg.num_samples)
    # Every random stream starts from the seed here (model initialisation, the mixup
    # generator, seed generators); the data order depends on (seed, epoch) only.
    keras.utils.set_random_seed(cfg.seed)
    # Layers take their dtype policy when they are built, so the global policy is
    # only needed up to here; it is restored even if building fails. Feature layers,
    # the loss layer and its head stay float32 (their own dtype), see test_precision.py.
    previous_policy = keras.mixed_precision.global_policy()
    if cfg.mixed_precision:
        keras.mixed_precision.set_global_policy(steps.MIXED_POLICY)  # mixed_float16 on TF, mixed_bfloat16 on JAX
    try:
        with strategy.scope():
            embedding_model = build_embedding_model(cfg, synchronized_bn=replicas > 1 and steps.LOCAL_BATCH_STATISTICS)
            embedding_dim = int(embedding_model.output_shape[-1])
            loss_params = dict(cfg.loss_params)
            loss_params.setdefault("seed", cfg.seed)
            if _accepts_label_mix(cfg.loss):
                loss_params.setdefault("label_mix", cfg.label_mix)
            if loss_params.get("featex") is True:  # FeatEx cuts the embedding between the model's branches
                from ..losses.featex import featex_split

                loss_params.setdefault("featex_split", featex_split(embedding_model))
            if loss_params.get("statex") is True:  # StatEx needs the model's frontend and embedder
                from ..losses.statex import check_statex_model

                check_statex_model(embedding_model)
            loss_layer = build_loss(cfg.loss, label_set.num_classes, embedding_dim, dtype="float32", **loss_params)
            trainer = ASDTrainer(
                embedding_model, loss_layer, mixup_prob=cfg.mixup_prob, mixup_alpha=cfg.mixup_alpha, seed=cfg.seed,
                class_weights=class_weights, input_crop=cfg.input_crop,
            )
            trainer.compile(optimizer=_make_optimizer(cfg, steps_per_epoch), jit_compile=steps.jit_compile(cfg.jit))
            trainer.build_for_training(cfg.num_samples)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    logs_dir = member_dir / "logs"
    (member_dir / "checkpoints").mkdir(exist_ok=True)
    logs_dir.mkdir(exist_ok=True)
    # Weights, optimizer, random streams and logs of the last finished epoch (exact resume).
    resumed = resume.restore(trainer, member_dir, log=_say)
    if resumed.source != "none" or (logs_dir / "training.csv").exists():
        resume.write_training_csv(logs_dir / "training.csv", resumed.history)  # drop rows the state does not hold
    first_epoch = min(resumed.epoch, cfg.epochs)
    dataset = steps.training_data(
        strategy, clips, batch_size, audio, labels, seed=cfg.seed, cache_dir=cfg.cache_dir,
        epochs=(first_epoch, cfg.epochs),
    )
    saver = resume.SaveTrainingState(member_dir, resumed)
    callbacks = [
        StopOnNonFiniteLoss(str(member_dir)),
        ScaleGuardWarning(loss_layer),
        saver,
        *steps.extra_callbacks(logs_dir),
    ]
    started = time.time()
    if first_epoch < cfg.epochs:
        with steps.fit_scope(strategy):
            trainer.fit(dataset, epochs=cfg.epochs, initial_epoch=first_epoch, steps_per_epoch=steps_per_epoch,
                        callbacks=callbacks, verbose=cfg.verbose)
    elapsed = time.time() - started

    runs.save_keras_atomic(embedding_model, member_dir / runs.MODEL_FILE)
    resume.fault_point("final_save")
    head = LossHead(loss_layer, embedding_dim)
    head.build((None, embedding_dim))
    runs.save_keras_atomic(head, member_dir / runs.HEAD_FILE)
    final = resume.final_logs(saver.history)
    summary = {
        "clips": len(clips),
        "classes": label_set.num_classes,
        "batch_size": batch_size,
        "replicas": replicas,
        "steps_per_epoch": steps_per_epoch,
        "epochs": cfg.epochs,
        "epochs_run_this_call": cfg.epochs - first_epoch,
        "seconds_this_call": round(elapsed, 2),
        "parameters": int(embedding_model.count_params()),
        "final": final,
        "scope": scope,
    }
    atomic_write_json(member_dir / runs.SUMMARY_FILE, summary)
    runs.mark_complete(member_dir)
    # Only now is the backup redundant: a kill before .complete resumes from it.
    shutil.rmtree(member_dir / resume.BACKUP_DIR, ignore_errors=True)
    return summary


def _class_weights(cfg: TrainConfig, label_set, clips: list) -> list[float] | None:
    """Per-class loss weights of the label/domain variants; None (unweighted, the paper) by default."""
    from ..data.labels import source_count_weights

    if cfg.class_weights == "source_counts":
        return [float(w) for w in source_count_weights(label_set, clips)]
    if not cfg.domain_in_label:  # weights of 1; class id -1 (target clips) weighs 0
        return [1.0] * label_set.num_classes
    return None


def _say(message: str) -> None:
    print(f"asd-tf train: {message}", file=sys.stderr, flush=True)


def _accepts_label_mix(loss_name: str) -> bool:
    from ..losses.registry import LOSSES

    return LOSSES.accepts(loss_name, "label_mix")


def train(cfg: TrainConfig) -> Path:
    """Train the run described by ``cfg`` into ``cfg.out``; rerunning resumes or returns the finished run."""
    from ..distribute import worker_role

    cfg.validate()
    if not cfg.out:
        raise ConfigError("no run directory given (--out RUN_DIR)")
    is_chief, task = worker_role()
    # Multi-worker training: only the chief writes the run directory; every other worker
    # keeps its own (identical) checkpoints and backup, so a killed run resumes on all.
    run_dir = Path(cfg.out) if is_chief else Path(cfg.out) / runs.WORKERS_DIR / task
    # Absolute paths: the run is evaluated and resumed from any working directory.
    cfg = dataclasses.replace(
        cfg, data=os.path.abspath(cfg.data) if cfg.data else cfg.data, out=os.path.abspath(cfg.out),
        cache_dir=os.path.abspath(cfg.cache_dir) if cfg.cache_dir else cfg.cache_dir,
    )
    _check_resumable(cfg, run_dir)
    with runs.run_lock(run_dir):
        return _train_locked(cfg, run_dir)


def _train_locked(cfg: TrainConfig, run_dir: Path) -> Path:
    """:func:`train` while this process holds the run directory's lock."""
    from .steps import backend_steps

    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / runs.COMPLETE_FILE).exists():
        return run_dir
    skipped: list = []
    index, clips = select_training_clips(cfg, skipped)  # before config.yaml: bad data leave no run behind
    if cfg.source_only:  # target training clips stay in the index: scoring still uses them as references
        clips = [c for c in clips if c.domain != "target"]
        if not clips:
            raise DatasetError(f"{cfg.data}: source_only is set but every training clip is a target-domain clip")
    cfg.save(run_dir / runs.CONFIG_FILE)
    if skipped or (run_dir / SKIPPED_FILE).exists():
        atomic_write_json(run_dir / SKIPPED_FILE, {"skipped": [b.to_json() for b in skipped]})
    if cfg.system != "embedding":  # the DCASE autoencoder / log-mel kNN baselines
        from .baselines import train_baseline

        return train_baseline(cfg, index, clips, run_dir)
    strategy = backend_steps().make_strategy(cfg.strategy)
    if cfg.labels == "individual":
        from ..data.labels import individual_groups

        summaries = {}
        for (machine, section), group in sorted(individual_groups(clips).items()):
            name = runs.member_dirname(machine, section)
            if cfg.verbose:
                print(f"[individual] training {name} on {len(group)} clips")
            summaries[name] = _train_member(
                cfg, group, run_dir / runs.MEMBERS_DIR / name, strategy,
                scope={"machine": machine, "section": section},
            )
        summary = {"members": summaries, "dataset": index.dataset}
        atomic_write_json(run_dir / runs.SUMMARY_FILE, summary)
    else:
        summary = _train_member(cfg, clips, run_dir, strategy)
        summary["dataset"] = index.dataset
        atomic_write_json(run_dir / runs.SUMMARY_FILE, summary)
    runs.mark_complete(run_dir)
    backup = run_dir / "backup"
    if backup.exists():
        shutil.rmtree(backup, ignore_errors=True)
    return run_dir


def format_train_summary(run_dir: Path) -> str:
    """One-screen summary of a finished training run."""
    run = runs.Run.open(run_dir)
    cfg = run.config
    if cfg.system != "embedding":
        from .baselines import format_baseline_summary

        return format_baseline_summary(run_dir)
    summary = run.summary()
    lines = [
        f"run:       {run_dir}",
        f"data:      {cfg.data} ({summary.get('dataset', '?')})",
        f"model:     {cfg.backbone} ({cfg.branches}), loss {cfg.loss}, labels {cfg.labels}",
    ]
    members = summary.get("members")
    items = members.items() if members else [("model", summary)]
    for name, s in items:
        final = s.get("final", {})
        lines.append(
            f"{name}: {s.get('clips')} clips, {s.get('classes')} classes, {s.get('epochs')} epochs, "
            f"loss {final.get('loss', float('nan')):.4f}, scale {final.get('scale', float('nan')):.3f}, "
            f"intra {final.get('intra_compactness', float('nan')):.3f}, "
            f"inter {final.get('inter_compactness', float('nan')):.3f}, {s.get('seconds_this_call', 0):.0f} s"
        )
    return "\n".join(lines)
