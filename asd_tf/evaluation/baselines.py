"""Scoring of the baseline systems' runs (``asd-tf evaluate RUN --backend ae_mse|ae_mahala|logmel_knn``).

:func:`score_baseline_run` is what :func:`asd_tf.evaluation.run.score_run` calls
for a run whose ``system`` is not ``embedding``; the rest of the evaluation
(thresholds, submission files, ``results.json``) is the common code.

* ``ae_mse`` / ``ae_mahala`` (``dcase_ae`` runs): each machine type's
  autoencoder reconstructs the 5-frame log-mel windows of its clips; the
  scores are those of :mod:`asd_tf.scoring.reconstruction`, the MAHALA
  covariances estimated on the machine type's training clips (source and
  target separately). Per clip only the MSE, the mean error row and (training
  clips) the error-row moments are kept, cached in
  ``RUN_DIR/embeddings/dcase_ae_<key>.npz`` (key: model file, clip list,
  audio and feature settings), so MSE and MAHALA share one pass.
* ``logmel_knn`` (``logmel_knn`` runs): per section, nearest-neighbour
  distance of the clip's log-mel mean/std statistics
  (:mod:`asd_tf.scoring.clip_statistics`, whole clips, as the synthetic calibration).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DatasetError, RunError
from ..io_utils import atomic_write
from ..runs import Member, Run

_DOMAINS = ("source", "target")


def _cache_key(member: Member, clips: Sequence, cfg, options: dict[str, Any]) -> str:
    from ..data.audio import AudioConfig
    from ..data.pipeline import clips_fingerprint
    from ..scoring.embeddings import file_digest

    audio = AudioConfig(sample_rate=cfg.sample_rate, num_samples=cfg.num_samples)
    text = f"dcase_ae-v1;{file_digest(member.model_path)};{clips_fingerprint(clips, audio)};" \
           f"{options['frames']};{options['n_mels']}"
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def reconstruction_statistics(model, clips: Sequence, cfg, options: dict[str, Any],
                              clips_per_batch: int = 32) -> dict[str, np.ndarray]:
    """Per clip: ``mse`` [N], ``mean_error`` [N, n_mels]; per domain ``<d>_n``, ``<d>_sum``, ``<d>_outer``.

    The domain moments (count, sum, sum of outer products of the 128-d error
    rows, :class:`asd_tf.scoring.reconstruction.RowMoments`) give the MAHALA
    covariances without keeping every error row in memory.
    """
    from ..features.frames import clip_logmel_windows
    from ..scoring.reconstruction import RowMoments, error_rows, mse_score

    n_mels = int(options["n_mels"])
    mse = np.full(len(clips), np.nan)
    mean_error = np.full((len(clips), n_mels), np.nan)
    moments = {d: RowMoments(n_mels) for d in _DOMAINS}
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        x = np.concatenate([w for _, w in pending]).astype(np.float32)
        recon = np.asarray(model(x, training=False), dtype=np.float32)
        start = 0
        for i, windows in pending:
            stop = start + windows.shape[0]
            rows = error_rows(windows, recon[start:stop], n_mels)
            mse[i] = mse_score(windows, recon[start:stop])
            mean_error[i] = rows.mean(axis=0)
            if clips[i].domain in moments:
                moments[clips[i].domain].add(rows)
            start = stop
        pending.clear()

    for i, windows in clip_logmel_windows(clips, cfg.sample_rate, cfg.num_samples, options["frames"], n_mels):
        if windows.shape[0] == 0:
            raise RunError(f"{clips[i].path}: shorter than {options['frames']} log-mel frames; cannot score it")
        pending.append((i, windows))
        if len(pending) >= clips_per_batch:
            flush()
    flush()
    out = {"mse": mse, "mean_error": mean_error}
    for d, m in moments.items():
        out.update({f"{d}_n": np.array(m.n), f"{d}_sum": m.total, f"{d}_outer": m.outer})
    return out


def _cached_statistics(run: Run, member: Member, model, clips: Sequence, cfg, options) -> dict[str, np.ndarray]:
    path = run.directory / "embeddings" / f"dcase_ae_{_cache_key(member, clips, cfg, options)}.npz"
    if path.exists():
        with np.load(path) as data:
            stats = {k: data[k] for k in data.files}
        if stats["mse"].shape[0] == len(clips):
            return stats
    stats = reconstruction_statistics(model, clips, cfg, options)

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **stats)

    atomic_write(path, _write)
    return stats


def _moments(stats: dict[str, np.ndarray], domain: str, n_mels: int):
    from ..scoring.reconstruction import RowMoments

    m = RowMoments(n_mels)
    m.n, m.total, m.outer = int(stats[f"{domain}_n"]), stats[f"{domain}_sum"], stats[f"{domain}_outer"]
    return m


def _mse(member: Member, tr: dict[str, np.ndarray], te: dict[str, np.ndarray],
         n_mels: int) -> tuple[np.ndarray, np.ndarray]:
    """``MSE`` scores ``(train, test)`` of one autoencoder's clips."""
    return tr["mse"], te["mse"]


def _mahala(member: Member, tr: dict[str, np.ndarray], te: dict[str, np.ndarray],
            n_mels: int) -> tuple[np.ndarray, np.ndarray]:
    """``MAHALA`` scores ``(train, test)``: covariances of the autoencoder's source and target training rows."""
    from ..scoring.reconstruction import mahala_scores

    source = _moments(tr, "source", n_mels)
    if source.n < 2:
        raise RunError(f"{member.directory}: MAHALA needs source-domain training clips of {member.scope[0]}")
    target = _moments(tr, "target", n_mels)
    # no target training clip (DCASE 2020): the target covariance is the source one, as the public code does
    covs = [source.covariance(), target.covariance() if target.n >= 2 else source.covariance()]
    return mahala_scores(tr["mean_error"], covs), mahala_scores(te["mean_error"], covs)


#: Scoring name of a ``dcase_ae`` run -> scores from one autoencoder's reconstruction statistics.
#: (Not per-section backends: MAHALA's covariances span the autoencoder's machine type.)
AE_SCORES = {"ae_mse": _mse, "ae_mahala": _mahala}


def _score_dcase_ae(run: Run, cfg, train_clips: Sequence, test_clips: Sequence,
                    backend: str) -> tuple[np.ndarray, np.ndarray]:
    from ..runs import ae_options

    options = ae_options(cfg)
    test_scores = np.full(len(test_clips), np.nan)
    train_scores = np.full(len(train_clips), np.nan)
    for member in run.members():
        tr_idx = [i for i, c in enumerate(train_clips) if member.covers(c.machine, c.section)]
        te_idx = [i for i, c in enumerate(test_clips) if member.covers(c.machine, c.section)]
        if not te_idx and not tr_idx:
            continue
        model = member.load_model()
        tr = _cached_statistics(run, member, model, [train_clips[i] for i in tr_idx], cfg, options)
        te = _cached_statistics(run, member, model, [test_clips[i] for i in te_idx], cfg, options)
        train_scores[tr_idx], test_scores[te_idx] = AE_SCORES[backend](member, tr, te, int(options["n_mels"]))
    missing = [c for c, s in zip(test_clips, test_scores) if np.isnan(s)]
    if missing:
        raise RunError(f"{run.directory}: no autoencoder covers {missing[0].machine} (e.g. {missing[0].path})")
    return test_scores, train_scores


def _score_logmel_knn(cfg, train_clips: Sequence, test_clips: Sequence) -> tuple[np.ndarray, np.ndarray]:
    from ..scoring.backends import score_dataset
    from ..scoring.clip_statistics import LogmelKNNBackend, clip_statistics

    missing = sorted({(c.machine, c.section) for c in test_clips} - {(c.machine, c.section) for c in train_clips})
    if missing:
        machine, section = missing[0]
        raise DatasetError(f"{machine} section {section}: no training clips to compare the test clips with")

    def features(clips: Sequence) -> np.ndarray:  # [N, 256]
        rows = [clip_statistics(c.path, cfg.sample_rate) for c in clips]
        return np.stack(rows) if rows else np.zeros((0, 256))

    # per section, like every backend (the driver's sections; training clips are all of scored sections)
    return score_dataset(LogmelKNNBackend, features(train_clips), train_clips, features(test_clips), test_clips)


def score_baseline_run(run: Run, train_clips: Sequence, test_clips: Sequence,
                       backend: str) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(test [N_test], train [N_train])`` of a baseline run (``dcase_ae`` or ``logmel_knn``)."""
    from ..runs import check_backends

    cfg = run.config
    check_backends(cfg.system, [backend])
    if cfg.system == "logmel_knn":
        return _score_logmel_knn(cfg, train_clips, test_clips)
    return _score_dcase_ae(run, cfg, train_clips, test_clips, backend)


def run_system(run_dir: str | Path) -> str:
    """The ``system`` of the run in ``run_dir`` (``embedding`` for runs made before systems existed)."""
    return Run.open(run_dir).config.system
