"""Reading a trained run for the figures: its data, its embeddings and the test-split views the scripts plot.

Each function reads a run directory (:class:`asd_tf.runs.Run`),
its data and its cached embeddings (``RUN/embeddings/``, shared with
``asd-tf evaluate``) and returns NumPy results; the figure scripts in
``visualize/`` plot them with :mod:`asd_tf.explain.figures`.

- :func:`open_run_data`, :func:`run_embeddings`, :func:`test_embeddings`: a run's clips and embeddings;
- :func:`tsne_for_run`: t-SNE of the test embeddings and the Table III distance (paper Fig. 5);
- :func:`angles_for_run`: angles of the test embeddings to their class centres (EMM Fig. 2);
- :func:`attention_for_run`: mean and std of the attention map over the test clips (Neri & Carli, Fig. 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from asd_tf.errors import ConfigError, DatasetError, LabelError, RunError

__all__ = [
    "RunData",
    "open_run_data",
    "clip_scope",
    "run_embeddings",
    "test_embeddings",
    "tsne_for_run",
    "angles_for_run",
    "attention_for_run",
]


@dataclass
class RunData:
    """A run with its audio settings and the clips of its data (or of ``data`` when given)."""

    run: Any  # asd_tf.runs.Run
    config: Any  # TrainConfig
    audio: Any  # AudioConfig(sample_rate, num_samples) of the run
    data_root: str
    train: list = field(default_factory=list)
    test: list = field(default_factory=list)


def open_run_data(run_dir: str | Path, data: str | Path | None = None) -> RunData:
    """Open a run and index its dataset (``data`` overrides the run's training data root).

    With ``data`` the layout family is inferred from that folder (the run's
    ``dataset`` override applies only to its own data).
    """
    from asd_tf.data.audio import AudioConfig
    from asd_tf.data.index import scan_dataset
    from asd_tf.runs import Run

    run = Run.open(run_dir)
    cfg = run.config
    root = str(data) if data else cfg.data
    if not root:
        raise RunError(f"{run.directory}: config.yaml names no training data; pass --data")
    kwargs = {"dataset": cfg.dataset} if (cfg.dataset and not data) else {}
    index = scan_dataset(root, **kwargs)
    return RunData(
        run=run,
        config=cfg,
        audio=AudioConfig(sample_rate=cfg.sample_rate, num_samples=cfg.num_samples),
        data_root=index.root,
        train=[c for c in index.clips if c.split == "train"],
        test=[c for c in index.clips if c.split == "test"],
    )


def clip_scope(wav_path: str | Path) -> tuple[str, str | None]:
    """``(machine, section)`` of a clip from its path ``.../<machine>/<train|test>/section_XX_....wav``.

    The machine is the folder above ``train``/``test`` (or the parent folder if
    the clip is not in one); the section comes from the official file name
    (``None`` when the name is not an official DCASE name).
    """
    from asd_tf.data.filenames import parse_filename
    from asd_tf.errors import FileNameError

    path = Path(wav_path)
    parent = path.resolve().parent
    machine = parent.parent.name if parent.name.lower() in ("train", "test") else parent.name
    try:
        section: str | None = parse_filename(str(path)).section
    except FileNameError:
        section = None  # not an official DCASE name: no section to look up
    return machine, section


def run_embeddings(
    rd: RunData, clips: Sequence, batch_size: int = 64, progress: bool = False, description: str = "embeddings"
) -> np.ndarray:
    """Embeddings ``[n, D]`` of ``clips`` by the run's model(s), cached in ``RUN/embeddings/`` like ``evaluate``.

    With individual models each clip goes through the model of its machine/section.
    """
    from asd_tf.scoring.embeddings import cached_embeddings

    clips = list(clips)
    out: np.ndarray | None = None
    done = np.zeros(len(clips), bool)
    for member in rd.run.members():
        idx = [i for i, c in enumerate(clips) if not done[i] and member.covers(c.machine, c.section)]
        if not idx:
            continue
        model = member.load_model()
        emb = cached_embeddings(
            model, member.model_path, [clips[i] for i in idx], rd.audio, rd.run.directory / "embeddings",
            batch_size, progress, description,
        )
        if out is None:
            out = np.zeros((len(clips), emb.shape[1]), np.float32)
        out[idx] = emb
        done[idx] = True
    if not done.all():
        bad = clips[int(np.flatnonzero(~done)[0])]
        raise RunError(f"{rd.run.directory}: no model covers {bad.machine} section {bad.section} ({bad.path})")
    if out is None:
        raise DatasetError(f"{rd.data_root}: no clips to embed")
    return out


def test_embeddings(
    run_dir: str | Path, data: str | Path | None = None, batch_size: int = 64, progress: bool = False
) -> tuple[np.ndarray, list]:
    """``(embeddings [n, D], clip records)`` of the test split of the run's data (or of ``data``)."""
    rd = open_run_data(run_dir, data)
    if not rd.test:
        raise DatasetError(f"{rd.data_root}: no test clips (expected <machine>/test/*.wav)")
    return run_embeddings(rd, rd.test, batch_size, progress, "test"), rd.test


test_embeddings.__test__ = False  # not a pytest test despite its name


def tsne_for_run(
    run_dir: str | Path,
    colour: str = "section",
    seed: int = 0,
    data: str | Path | None = None,
    perplexity: float = 30.0,
    batch_size: int = 64,
    progress: bool = False,
) -> dict[str, Any]:
    """t-SNE of a run's test embeddings and the Table III distance.

    Clips whose label is ``unknown`` (evaluation sets without ground truth) are
    left out. ``colour``: ``"section"`` (``machine/section``) or ``"class"`` (the
    run's label-set class, e.g. machine/section/attributes/domain).

    Returns a dict with ``points`` [n, 2], ``labels`` [n] (colour category),
    ``is_anomaly`` [n] bool, ``paths``, ``distance`` (mean distance of anomalous
    points to the nearest normal point) and ``n_unknown``.
    """
    from asd_tf.explain.tsne import anomaly_to_normal_distance, tsne_embed

    if colour not in ("section", "class"):
        raise ConfigError(f"colour must be 'section' or 'class', got {colour!r}")
    emb, clips = test_embeddings(run_dir, data, batch_size, progress)
    keep = np.array([c.label in ("normal", "anomaly") for c in clips], bool)
    if keep.sum() < 3:
        raise DatasetError(f"{run_dir}: t-SNE needs at least 3 test clips with known labels, got {int(keep.sum())}")
    clips_k = [c for c, k in zip(clips, keep) if k]
    if colour == "section":
        labels = [f"{c.machine}/{c.section}" for c in clips_k]
    else:
        label_set = _label_set(run_dir)
        labels = [label_set.class_of(c) for c in clips_k]
    is_anomaly = np.array([c.label == "anomaly" for c in clips_k], bool)
    from threadpoolctl import threadpool_limits

    # Small sets: one OpenMP thread. On a shared machine, sklearn's multi-threaded t-SNE on a few
    # hundred points spends most of its time spin-waiting (measured 0.3 s vs up to 15 s for 96 points).
    with threadpool_limits(limits=1 if keep.sum() < 2000 else None):
        points = tsne_embed(emb[keep], seed=seed, perplexity=perplexity)
    return {
        "points": points,
        "labels": np.array(labels),
        "is_anomaly": is_anomaly,
        "paths": [c.path for c in clips_k],
        "distance": anomaly_to_normal_distance(points, is_anomaly),
        "n_unknown": int((~keep).sum()),
    }


def _label_set(run_dir: str | Path) -> Any:
    from asd_tf.runs import Run

    return Run.open(run_dir).members()[0].label_set()


def angles_for_run(
    run_dir: str | Path, data: str | Path | None = None, batch_size: int = 64, progress: bool = False
) -> dict[str, Any]:
    """Angles (degrees) between test embeddings and their class centre(s) of the run's loss head (EMM Fig. 2).

    The class of a test clip is its label-set class (attribute/section/...; one
    class per model for ``individual`` runs); with several centres per class
    the nearest one counts (:func:`asd_tf.explain.angles.angles_to_centres`).
    Clips whose class the run never saw, or whose label is ``unknown``, are skipped.

    Returns ``angles`` [n], ``is_anomaly`` [n], ``paths`` [n], ``skipped`` (paths).
    """
    from asd_tf.explain.angles import angles_to_centres

    rd = open_run_data(run_dir, data)
    if not rd.test:
        raise DatasetError(f"{rd.data_root}: no test clips (expected <machine>/test/*.wav)")
    angles, is_anomaly, paths, skipped = [], [], [], []
    covered = np.zeros(len(rd.test), bool)
    for member in rd.run.members():
        label_set = member.label_set()
        rows, ids = [], []
        for i, c in enumerate(rd.test):
            if covered[i] or not member.covers(c.machine, c.section):
                continue
            covered[i] = True
            if c.label not in ("normal", "anomaly"):
                skipped.append(c.path)
            elif label_set.per_model:
                rows.append(i)
                ids.append(0)  # each individual model is one-class
            elif label_set.class_of(c) in label_set.names:
                rows.append(i)
                ids.append(int(label_set.encode([c])[0]))
            else:
                skipped.append(c.path)
        if not rows:
            continue
        head = member.load_head()
        centres = np.asarray(head.centre_matrix(), np.float64)  # [N*M, D], class-major
        n_classes = int(head.num_classes)
        if centres.shape[0] % n_classes:
            raise RunError(f"{member.directory}: {centres.shape[0]} centres do not split into {n_classes} classes")
        centre_class = np.arange(centres.shape[0]) // (centres.shape[0] // n_classes)
        clips = [rd.test[i] for i in rows]
        emb = run_embeddings(rd, clips, batch_size, progress, "test")
        angles.append(angles_to_centres(emb, centres, np.asarray(ids), centre_class))
        is_anomaly.extend(c.label == "anomaly" for c in clips)
        paths.extend(c.path for c in clips)
    skipped.extend(c.path for c, cov in zip(rd.test, covered) if not cov)
    if not angles:
        raise LabelError(
            f"{rd.data_root}: none of the {len(rd.test)} test clips belongs to a class of the run's label set "
            f"({rd.config.labels!r}); use a run whose classes cover these machines/sections "
            "(e.g. trained with --labels none or section)"
        )
    return {
        "angles": np.concatenate(angles),
        "is_anomaly": np.asarray(is_anomaly, bool),
        "paths": paths,
        "skipped": skipped,
    }


def _frontend_hop(frontend: Any) -> int:
    """Frame shift in samples of the frontend's feature layer (log-mel or STFT)."""
    for layer in frontend.layers:
        for attr in ("hop_length", "frame_step"):
            if hasattr(layer, attr):
                return int(getattr(layer, attr))
    raise ConfigError(f"frontend {frontend.name!r} has no layer with a hop length")


def attention_for_run(
    run_dir: str | Path, data: str | Path | None = None, batch_size: int = 32, progress: bool = False
) -> dict[str, Any]:
    """Mean and std over the test clips of the attention map ``H`` [frames, n_mels, 2] (Neri & Carli, Fig. 4).

    Returns ``mean``, ``std``, ``n_clips`` and ``seconds_per_frame`` (the
    log-mel hop over the sample rate).
    """
    from asd_tf.data.pipeline import make_dataset
    from asd_tf.explain.attention import attention_map_model, attention_mean_std

    rd = open_run_data(run_dir, data)
    if not rd.test:
        raise DatasetError(f"{rd.data_root}: no test clips (expected <machine>/test/*.wav)")
    members = rd.run.members()
    if len(members) > 1:
        raise ConfigError(f"{rd.run.directory}: attention maps of individual-model runs are not supported")
    model = members[0].load_model()
    maps_model = attention_map_model(model)
    hop = _frontend_hop(model.get_layer("frontend"))

    def batches():
        from tqdm.auto import tqdm

        ds = make_dataset(rd.test, rd.audio, batch_size=batch_size, shuffle=False)
        for wave, _ in tqdm(ds, disable=not progress, desc="attention", unit="batch", leave=False):
            yield np.asarray(maps_model(wave, training=False))

    mean, std, n = attention_mean_std(batches())
    return {"mean": mean, "std": std, "n_clips": n, "seconds_per_frame": hop / rd.audio.sample_rate}
