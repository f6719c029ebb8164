"""Evaluate a training run: embeddings -> scores per section -> submission files and metrics.

``evaluate_run`` is what ``asd-tf evaluate RUN_DIR`` and the end of
``asd-tf train`` call. Output locations inside the run directory:

* ``embeddings/``: cached embeddings (keyed by model file and clip list);
* ``<eval dir>/submission/``: official submission CSVs;
* ``<eval dir>/results.json`` and ``results.md``;

where ``<eval dir>`` is the run directory itself for the default k-means
backend and ``evaluation/<backend>[_ensemble]/`` otherwise; several backends
combined into one system write to ``evaluation/<b1>+<b2>[_ensemble]/``,
``_zscore`` is appended when members are standardised per section before the
sum (``combine="zscore"``), and ``@key=value,...`` when backend options are
given (so ``--option fit=all`` no longer overwrites the paper's results).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DatasetError
from ..runs import SKIPPED_FILE, Member, Run, evaluation_dir  # noqa: F401  (evaluation_dir: where each evaluation writes)


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
    """Scores ``(test [N_test], train [N_train])`` of one run's model(s) for the given clips.

    Each model scores the clips it covers with :func:`asd_tf.scoring.driver.score_member`,
    which takes from the run what the backend declares it needs (seed, logits, class encoder).
    """
    from ..data.audio import AudioConfig
    from ..scoring.base import RunContext
    from ..scoring.driver import score_member
    from ..scoring.embeddings import cached_embeddings

    run = Run.open(run_dir)
    cfg = run.config
    if cfg.system != "embedding":  # the DCASE autoencoder / log-mel kNN baselines
        from .baselines import score_baseline_run

        return score_baseline_run(run, train_clips, test_clips, backend)
    audio = AudioConfig(sample_rate=cfg.sample_rate, num_samples=cfg.num_samples)
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
        context = RunContext(seed=cfg.seed, load_head=member.load_head, load_label_set=member.label_set)
        te_scores, tr_scores = score_member(backend, context, train_emb, tr, test_emb, te, backend_options)
        test_scores[te_idx] = te_scores
        train_scores[tr_idx] = tr_scores
    return test_scores, train_scores


def options_per_backend(backends: Sequence[str], options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Split ``KEY=VALUE`` options among backends.

    ``NAME.KEY`` goes to backend ``NAME`` only and wins over a plain ``KEY``,
    which goes to every listed backend that takes it (e.g. ``seed``). An option
    no listed backend takes is a ConfigError naming the option and what the
    backends accept.
    """
    from ..scoring.backends import backend_options

    out: dict[str, dict[str, Any]] = {b: {} for b in backends}
    # plain keys first, so that a scoped NAME.KEY overrides them whatever the order given
    for key, value in sorted(options.items(), key=lambda item: "." in item[0]):
        name, dot, opt = key.rpartition(".")
        if dot:
            if name not in out:
                raise ConfigError(f"option {key!r}: backend {name!r} is not among the evaluated backends {list(backends)}")
            if opt not in backend_options(name):
                raise ConfigError(f"option {key!r}: unknown option {opt!r} of backend {name!r}; "
                                  f"allowed: {sorted(backend_options(name))}")
            out[name][opt] = value
            continue
        takers = [b for b in backends if key in backend_options(b)]
        if not takers:
            allowed = {b: sorted(backend_options(b)) for b in backends}
            raise ConfigError(f"option {key!r}: unknown option for backend(s) {list(backends)}; allowed: {allowed}")
        for b in takers:
            out[b][key] = value
    return out


def evaluate_run(
    run_dir: str | Path,
    backend: str | Sequence[str] = "kmeans",
    data: str | None = None,
    ensemble: Sequence[str | Path] = (),
    backend_options: dict[str, Any] | None = None,
    ground_truth_dir: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
    combine: str = "sum",
    skip_bad: bool = False,
) -> dict[str, Any]:
    """Score the test split of a run's dataset, write submission files and metrics, return the results.

    Args:
        run_dir: a finished training run.
        backend: scoring backend name (``kmeans`` = the paper, ``knn``, ``knn_smote``,
            ``density``, ``class_posterior``, ``class_loss`` = the own-class ArcFace loss
            of Neri & Carli), or several names whose scores are combined into one system.
        data: dataset root; defaults to the run's training data.
        ensemble: further run directories whose scores are combined with this run's
            (the public code sums five models).
        backend_options: ``KEY`` (every backend that takes it) or ``BACKEND.KEY`` options.
        ground_truth_dir: evaluator ground-truth CSVs for anonymised test files.
        combine: how the members (every run x every backend) are combined:
            ``"sum"`` (plain sum, the reference code) or ``"zscore"`` (each member
            standardised per section on its training scores, then summed).
        skip_bad: leave out clips with unusable audio (listed in ``skipped_clips.json``
            of the evaluation folder) instead of stopping (:mod:`asd_tf.data.audit`).
    """
    from ..data.index import scan_dataset
    from ..evaluation.report import evaluate_scores, write_results
    from ..evaluation.submission import write_submissions
    from ..scoring.ensemble import COMBINE_METHODS, combine_scores

    backends = [backend] if isinstance(backend, str) else list(backend)
    if not backends:
        raise ConfigError("evaluate: no scoring backend given")
    if combine not in COMBINE_METHODS:
        raise ConfigError(f"unknown score combination {combine!r}; choose one of {list(COMBINE_METHODS)}")
    per_backend = options_per_backend(backends, backend_options or {})  # also checks the names
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

    # The baselines read whole clips (num_samples only caps them): no input-length checks for them.
    audio = AudioConfig(sample_rate=cfg.sample_rate, num_samples=cfg.num_samples) if cfg.system == "embedding" else None
    checked, skipped = check_clips(train_clips + test_clips, audio, skip_bad=skip_bad or cfg.skip_bad,
                                   progress=progress, warn=None)
    if skipped:
        keep = {id(c) for c in checked}
        train_clips = [c for c in train_clips if id(c) in keep]
        test_clips = [c for c in test_clips if id(c) in keep]

    runs = [run.directory, *[Path(r) for r in ensemble]]
    members = []  # (test, train) scores of every run x backend
    for r in runs:
        for b in backends:
            members.append(score_run(r, train_clips, test_clips, b, per_backend[b], batch_size, progress))
    if len(members) == 1 and combine == "sum":
        test_scores, train_scores = members[0]
    else:
        test_scores, train_scores = combine_scores(members, test_clips, train_clips, combine)

    out_dir = evaluation_dir(run.directory, backends, len(runs) > 1, combine, backend_options)
    if skipped:
        from ..io_utils import atomic_write_json

        atomic_write_json(out_dir / SKIPPED_FILE, {"skipped": [b.to_json() for b in skipped]})
    write_submissions(out_dir / "submission", test_clips, test_scores, train_clips, train_scores)
    results = evaluate_scores(test_clips, test_scores, train_clips, train_scores)
    results["backend"] = "+".join(backends)
    if len(members) > 1 or combine != "sum":
        results["combine"] = combine
    if backend_options:
        results["backend_options"] = dict(backend_options)
    results["runs"] = [str(r) for r in runs]
    write_results(out_dir, results)
    return results
