"""Evaluate a training run: embeddings -> scores per section -> submission files and metrics.

``evaluate_run`` is what ``asd-tf evaluate RUN_DIR`` and the end of
``asd-tf train`` call. Output locations inside the run directory:

* ``embeddings/``: cached embeddings (keyed by model file and clip list);
* ``<eval dir>/submission/``: official submission CSVs;
* ``<eval dir>/results.json`` and ``results.md``;

where ``<eval dir>`` is the run directory itself for the default k-means
backend and ``evaluation/<backend>[_ensemble]/`` otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DatasetError
from ..training.artifacts import Member, Run


def _member_scope(member: Member, clips: Sequence) -> list[int]:
    return [i for i, c in enumerate(clips) if member.covers(c.machine, c.section)]


def score_run(
    run_dir: str | Path,
    train_clips: Sequence,
    test_clips: Sequence,
    backend: str = "kmeans",
    backend_options: dict[str, Any] | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(test [N_test], train [N_train])`` of one run's model(s) for the given clips."""
    from ..data.audio import AudioConfig
    from ..scoring.backends import score_dataset
    from ..scoring.class_loss import class_loss_options
    from ..scoring.embeddings import cached_embeddings

    run = Run.open(run_dir)
    cfg = run.config
    audio = AudioConfig(sample_rate=cfg.sample_rate, num_samples=cfg.num_samples)
    options = dict(backend_options or {})
    if backend == "kmeans":
        options.setdefault("seed", cfg.seed)
    test_scores = np.full(len(test_clips), np.nan)
    train_scores = np.full(len(train_clips), np.nan)
    for member in run.members():
        tr_idx = _member_scope(member, train_clips)
        te_idx = _member_scope(member, test_clips)
        if not te_idx and not tr_idx:
            continue
        model = member.load_model()
        tr = [train_clips[i] for i in tr_idx]
        te = [test_clips[i] for i in te_idx]
        cache = run.directory / "embeddings"
        train_emb = cached_embeddings(model, member.model_path, tr, audio, cache, batch_size, progress, "train")
        test_emb = cached_embeddings(model, member.model_path, te, audio, cache, batch_size, progress, "test")
        member_options = dict(options)
        if backend in ("class_posterior", "class_loss"):
            # Both score the head's margin-free class logits [N, C] (load_head gives the loss layer).
            head = member.load_head()
            if backend == "class_loss":
                for key, value in class_loss_options(head).items():  # s and m of this run's loss
                    member_options.setdefault(key, value)
            train_emb = np.asarray(head.logits(train_emb))
            test_emb = np.asarray(head.logits(test_emb))
            member_options.setdefault("encode", member.label_set().encode)
        te_scores, tr_scores = score_dataset(backend, train_emb, tr, test_emb, te, **member_options)
        test_scores[te_idx] = te_scores
        train_scores[tr_idx] = tr_scores
    return test_scores, train_scores


def evaluation_dir(run_dir: Path, backend: str, ensemble: bool) -> Path:
    if backend == "kmeans" and not ensemble:
        return run_dir
    return run_dir / "evaluation" / (backend + ("_ensemble" if ensemble else ""))


def evaluate_run(
    run_dir: str | Path,
    backend: str = "kmeans",
    data: str | None = None,
    ensemble: Sequence[str | Path] = (),
    backend_options: dict[str, Any] | None = None,
    ground_truth_dir: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
    skip_bad: bool = False,
) -> dict[str, Any]:
    """Score the test split of a run's dataset, write submission files and metrics, return the results.

    Args:
        run_dir: a finished training run.
        backend: scoring backend name (``kmeans`` = the paper, ``knn``, ``class_posterior``,
            ``class_loss`` = the own-class ArcFace loss of Neri & Carli).
        data: dataset root; defaults to the run's training data.
        ensemble: further run directories whose scores are summed with this run's
            (the public code sums five models).
        ground_truth_dir: evaluator ground-truth CSVs for anonymised test files.
        skip_bad: leave out clips with unusable audio (listed in ``skipped_clips.json``
            of the evaluation folder) instead of stopping (:mod:`asd_tf.data.audit`).
    """
    from ..data.index import scan_dataset
    from ..evaluation.report import evaluate_scores, write_results
    from ..evaluation.submission import write_submissions
    from ..scoring.backends import ensemble_scores

    run = Run.open(run_dir)
    if not run.complete:
        raise ConfigError(f"{run.directory}: training has not finished; rerun `asd-tf train` with the same --out")
    cfg = run.config
    root = data or cfg.data
    kwargs = {"ground_truth_dir": ground_truth_dir} if ground_truth_dir else {}
    if cfg.dataset:
        kwargs["dataset"] = cfg.dataset
    index = scan_dataset(root, **kwargs)
    train_clips = [c for c in index.clips if c.split == "train"]
    test_clips = [c for c in index.clips if c.split == "test"]
    if not test_clips:
        raise DatasetError(f"{root}: no test clips to score (expected <machine>/test/*.wav)")
    test_sections = {(c.machine, c.section) for c in test_clips}
    train_clips = [c for c in train_clips if (c.machine, c.section) in test_sections]
    from ..data.audio import AudioConfig
    from ..data.audit import check_clips

    audio = AudioConfig(sample_rate=cfg.sample_rate, num_samples=cfg.num_samples)
    checked, skipped = check_clips(train_clips + test_clips, audio, skip_bad=skip_bad or cfg.skip_bad,
                                   progress=progress, warn=None)
    if skipped:
        keep = {id(c) for c in checked}
        train_clips = [c for c in train_clips if id(c) in keep]
        test_clips = [c for c in test_clips if id(c) in keep]

    runs = [run.directory, *[Path(r) for r in ensemble]]
    all_test, all_train = [], []
    for r in runs:
        te, tr = score_run(r, train_clips, test_clips, backend, backend_options, batch_size, progress)
        all_test.append(te)
        all_train.append(tr)
    test_scores = ensemble_scores(all_test) if len(runs) > 1 else all_test[0]
    train_scores = ensemble_scores(all_train) if len(runs) > 1 else all_train[0]

    out_dir = evaluation_dir(run.directory, backend, len(runs) > 1)
    if skipped:
        from ..io_utils import atomic_write_json

        atomic_write_json(out_dir / "skipped_clips.json", {"skipped": [b.to_json() for b in skipped]})
    write_submissions(out_dir / "submission", test_clips, test_scores, train_clips, train_scores)
    results = evaluate_scores(test_clips, test_scores, train_clips, train_scores)
    results["backend"] = backend
    results["runs"] = [str(r) for r in runs]
    write_results(out_dir, results)
    return results
