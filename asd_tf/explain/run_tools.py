"""Explanations of a trained run directory: the glue between ``asd_tf.explain`` and a run.

The figure scripts in ``visualize/`` call these functions; each reads a run
(:class:`asd_tf.runs.Run`), its data and its cached embeddings,
and returns NumPy results that the scripts plot and save.

- :class:`RiseExplainer` / :func:`rise_for_clip`: RISE importance map of any wav
  (paper Sec. IV-E). The score of a masked spectrogram is the run's own anomaly
  score: the k-means backend (:class:`asd_tf.scoring.KMeansBackend`, default
  options and the run's seed, as ``asd-tf evaluate``) fitted on the training
  embeddings of the clip's machine and section.
- :func:`localization_report`: RISE maps of synthetic anomalous clips scored
  against their known anomaly boxes.
- :func:`tsne_for_run`, :func:`angles_for_run`, :func:`attention_for_run`:
  test-split views of a run (Table III / Fig. 5, EMM Fig. 2, Neri Fig. 4).

Documented choice for RISE on a clip whose machine/section has no training
clips in the run's data (e.g. a real DCASE 2023 gearbox clip and a model
trained on synthetic data): by default the k-means centres are fitted on *all*
the run's training embeddings (every section pooled) and a warning is issued;
``allow_fallback=False`` raises :class:`DatasetError` naming the machine/section.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from asd_tf.errors import ConfigError, DatasetError, LabelError, RunError

__all__ = [
    "RunData",
    "open_run_data",
    "run_labels",
    "script_main",
    "save_npz",
    "clip_scope",
    "run_embeddings",
    "test_embeddings",
    "RiseResult",
    "RiseExplainer",
    "require_spectrogram_run",
    "rise_for_clip",
    "crop_boxes",
    "localization_clips",
    "localization_report",
    "tsne_for_run",
    "angles_for_run",
    "attention_for_run",
]


# ----------------------------------------------------------------------------------------------
# Runs, data and embeddings
# ----------------------------------------------------------------------------------------------
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


def run_labels(run_dirs: Sequence[str | Path]) -> list[str]:
    """Short unique names of runs for titles and file names (folder name; parent_name when ambiguous)."""
    paths = [Path(r).resolve() for r in run_dirs]
    names = [p.name for p in paths]
    names = [n if names.count(n) == 1 else f"{p.parent.name}_{n}" for n, p in zip(names, paths)]
    return [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]


def save_npz(path: str | Path, **arrays: Any) -> Path:
    """Save named arrays to ``path`` (``.npz``, uncompressed) atomically."""
    from asd_tf.io_utils import atomic_write

    def _w(tmp: str) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a temp name
            np.savez(fh, **arrays)

    return atomic_write(path, _w)


def script_main(body: Callable[[Any], int], args: Any) -> int:
    """Run a figure script's ``body(args)``; library errors become one ``error: ...`` line and exit code 2."""
    import sys

    from asd_tf.errors import ASDError

    try:
        return int(body(args) or 0)
    except ASDError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


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


# ----------------------------------------------------------------------------------------------
# RISE
# ----------------------------------------------------------------------------------------------
@dataclass
class RiseResult:
    """RISE map of one clip by one run, with what is needed to plot and measure it."""

    clip: str
    machine: str
    section: str | None  # None: the file name is not an official DCASE name
    spectrogram: np.ndarray  # [T, F] magnitude STFT (the embedder's input)
    importance: np.ndarray  # [T, F]
    clean_score: float  # the run's anomaly score of the unmasked spectrogram
    centres_from: str  # which training clips gave the k-means centres
    fallback: bool  # True when the clip's section had no training clips
    n_centres: int
    sample_rate: int
    hop: int
    n_fft: int
    n_masks: int
    seed: int

    @property
    def seconds_per_frame(self) -> float:
        return self.hop / self.sample_rate

    @property
    def hz_per_bin(self) -> float:
        return self.sample_rate / self.n_fft

    @property
    def time_offset_s(self) -> float:
        """Time of frame 0's centre: the STFT does not pad (``pad_end=False``, no centring)."""
        return 0.5 * self.n_fft / self.sample_rate

    def metadata(self) -> dict[str, Any]:
        keys = ("clip", "machine", "section", "clean_score", "centres_from", "fallback", "n_centres",
                "sample_rate", "hop", "n_fft", "n_masks", "seed")
        out = {k: getattr(self, k) for k in keys}
        out["shape"] = list(self.importance.shape)
        return out


def _stft_geometry(frontend: Any) -> tuple[int, int]:
    """``(frame_length, frame_step)`` of the frontend's STFT layer."""
    from asd_tf.features.stft import STFTMagnitude

    for layer in frontend.layers:
        if isinstance(layer, STFTMagnitude):
            return int(layer.frame_length), int(layer.frame_step)
    raise ConfigError(f"frontend {frontend.name!r} has no STFTMagnitude layer; RISE needs a magnitude spectrogram")


def require_spectrogram_run(run_dir: str | Path) -> None:
    """Raise :class:`ConfigError` unless the run's model has only the spectrogram branch (RISE's input)."""
    from asd_tf.runs import Run

    cfg = Run.open(run_dir).config
    if cfg.branches != "spectrogram":
        raise ConfigError(
            f"{run_dir}: RISE needs a spectrogram-only model (train with --branches spectrogram); "
            f"this run has branches={cfg.branches!r}, backbone={cfg.backbone!r}"
        )


class RiseExplainer:
    """RISE maps of clips by one run; keeps the model and the per-section k-means centres loaded.

    Args:
        run_dir: a trained run whose model has only the spectrogram branch
            (``--branches spectrogram``): its embedder takes ``{"spectrogram": [B, T, F]}``.
        allow_fallback: when the clip's machine/section has no training clips,
            fit the centres on all training clips (warning) instead of raising.
        batch_size: clips per batch when embedding training clips.
    """

    def __init__(self, run_dir: str | Path, allow_fallback: bool = True, batch_size: int = 64) -> None:
        require_spectrogram_run(run_dir)
        self.rd = open_run_data(run_dir)
        self.allow_fallback = bool(allow_fallback)
        self.batch_size = int(batch_size)
        self._members: dict[Path, tuple[Any, Any, Any]] = {}  # directory -> (frontend, embedder, (n_fft, hop))
        self._centres: dict[tuple[str, str], tuple[np.ndarray, str, bool]] = {}

    def _model(self, member: Any) -> tuple[Any, Any, tuple[int, int]]:
        if member.directory not in self._members:
            model = member.load_model()
            frontend, embedder = model.get_layer("frontend"), model.get_layer("embedder")
            keys = sorted(embedder.input.keys()) if isinstance(embedder.input, dict) else None
            if keys != ["spectrogram"]:
                raise ConfigError(
                    f"{member.model_path}: RISE needs an embedder that takes only {{'spectrogram': [B, T, F]}}; "
                    f"this one takes {keys if keys is not None else embedder.input}"
                )
            self._members[member.directory] = (frontend, embedder, _stft_geometry(frontend))
        return self._members[member.directory]

    def centres(self, machine: str, section: str | None) -> tuple[np.ndarray, str, bool]:
        """``(centres [K, D], description, fallback)`` of the k-means backend of ``machine``/``section``."""
        from asd_tf.scoring.kmeans import KMeansBackend

        key = (machine, section)
        if key not in self._centres:
            clips = [c for c in self.rd.train if (c.machine, c.section) == key]
            fallback = not clips
            if fallback:
                msg = (f"no training clips for {machine} section {section} in {self.rd.data_root}" if section
                       else f"the clip's file name gives no DCASE section (machine folder {machine!r})")
                if not self.allow_fallback:
                    raise DatasetError(msg + "; RISE needs that section's training embeddings for its k-means centres")
                if len(self.rd.run.members()) > 1:
                    raise RunError(f"{self.rd.run.directory}: {msg}, and this run has one model per section")
                warnings.warn(msg + "; k-means centres fitted on all training clips of the run instead", stacklevel=2)
                clips = list(self.rd.train)
                if not clips:
                    raise DatasetError(f"{self.rd.data_root}: no training clips at all")
                what = f"all {len(clips)} training clips (fallback)"
            else:
                what = f"{machine} section {section} ({len(clips)} training clips)"
            emb = run_embeddings(self.rd, clips, self.batch_size, False, "train")
            # The same backend and options as `asd-tf evaluate` (score_run): defaults, seed = run seed.
            backend = KMeansBackend(seed=self.rd.config.seed).fit(emb, clips)
            self._centres[key] = (backend.centres, what, fallback)
        return self._centres[key]

    def explain(
        self, wav_path: str | Path, n_masks: int, seed: int = 0, batch_size: int = 256, progress: bool = True
    ) -> RiseResult:
        """RISE map of one wav (cropped/padded to the run's ``num_samples``)."""
        import tensorflow as tf

        from asd_tf.data.audio import load_audio
        from asd_tf.explain.rise import make_kmeans_score_fn, rise_importance

        machine, section = clip_scope(wav_path)
        try:
            member = self.rd.run.member_for(machine, section or "")
        except RunError:
            member = self.rd.run.members()[0]  # only individual runs lack a model; centres() reports it
        frontend, embedder, (n_fft, hop) = self._model(member)
        centres, what, fallback = self.centres(machine, section)
        wave = load_audio(wav_path, self.rd.audio)  # [num_samples]
        silent = silence_warning(wave, wav_path)
        if silent:
            warnings.warn(silent, stacklevel=2)
        spec = np.asarray(frontend(tf.constant(wave[None]), training=False)["spectrogram"][0], np.float32)  # [T, F]

        def embed(x):
            return embedder(x, training=False)

        score_fn = make_kmeans_score_fn(embed, centres, input_key="spectrogram")
        clean = float(np.asarray(score_fn(tf.constant(spec[None])))[0])
        importance = rise_importance(spec, score_fn, n_masks=n_masks, batch_size=batch_size, seed=seed,
                                     progress=progress)
        return RiseResult(
            clip=str(Path(wav_path).resolve()), machine=machine, section=section, spectrogram=spec,
            importance=importance, clean_score=clean, centres_from=what, fallback=fallback,
            n_centres=int(centres.shape[0]), sample_rate=int(self.rd.audio.sample_rate), hop=hop, n_fft=n_fft,
            n_masks=int(n_masks), seed=int(seed),
        )


#: Peak below half a 16-bit step: nothing a 16-bit WAV could hold (digital silence).
SILENCE_PEAK = 0.5 / 32768.0


def silence_warning(wave: np.ndarray, wav_path: str | Path) -> str | None:
    """A one-line warning if ``wave`` (the clip as the model reads it) is digital silence, else ``None``.

    RISE on silence measures how the model reacts to masking nothing: the map is
    noise about the clip's score, not a localisation of any sound.
    """
    peak = float(np.max(np.abs(wave))) if np.size(wave) else 0.0
    if peak >= SILENCE_PEAK:
        return None
    return (f"{wav_path}: silent clip (peak {peak:.2g} of full scale); its RISE map shows no sound, "
            "only the model's response to masked silence")


def rise_for_clip(
    run_dir: str | Path,
    wav_path: str | Path,
    n_masks: int,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = True,
    allow_fallback: bool = True,
) -> RiseResult:
    """RISE map of one clip by one run (see :class:`RiseExplainer`); ``.spectrogram``, ``.importance`` [T, F]."""
    return RiseExplainer(run_dir, allow_fallback).explain(wav_path, n_masks, seed, batch_size, progress)


# ----------------------------------------------------------------------------------------------
# Localisation (synthetic clips with known anomaly boxes)
# ----------------------------------------------------------------------------------------------
def crop_boxes(boxes: Sequence[Any], duration_s: float, nyquist_hz: float) -> list[tuple[float, float, float, float]]:
    """Boxes restricted to the analysed excerpt ``[0, duration_s] x [0, nyquist_hz]``; boxes outside it are dropped."""
    from asd_tf.explain import box_tuple

    out = []
    for b in boxes:
        t0, t1, f0, f1 = box_tuple(b)
        t0, t1 = max(t0, 0.0), min(t1, duration_s)
        f0, f1 = max(f0, 0.0), min(f1, nyquist_hz)
        if t1 > t0 and f1 >= f0:
            out.append((t0, t1, f0, f1))
    return out


def localization_clips(run_dir: str | Path, data: str | Path | None = None, max_clips: int | None = None) -> list[str]:
    """Anomalous test clips that carry an anomaly-box sidecar (synthetic data), spread over sections.

    With ``max_clips`` an evenly spaced subset of the path-sorted list is taken,
    so every machine/section is represented.
    """
    from asd_tf.data.synthetic import read_anomaly_boxes

    rd = open_run_data(run_dir, data)
    paths = [c.path for c in rd.test if c.label == "anomaly" and read_anomaly_boxes(c.path)]
    if not paths:
        raise DatasetError(
            f"{rd.data_root}: no anomalous test clips with an anomaly box (<clip>.anomaly.csv); localisation is "
            "measured on synthetic data (asd_tf.data.synthetic.generate)"
        )
    if max_clips is not None and 0 < max_clips < len(paths):
        pick = np.unique(np.round(np.linspace(0, len(paths) - 1, int(max_clips))).astype(int))
        paths = [paths[i] for i in pick]
    return paths


def localization_report(
    run_dir: str | Path,
    clips: Sequence[str | Path],
    n_masks: int,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = False,
    maps_dir: str | Path | None = None,
) -> dict[str, Any]:
    """RISE localisation of one run on clips with known anomaly boxes.

    Each clip's boxes are cropped to the excerpt the model sees (the first
    ``num_samples`` samples); clips with no box left are listed under ``skipped``.
    Per clip: :func:`asd_tf.explain.localization.localize` (inside vs outside mean,
    box rank among equal-size windows); ``summary`` from
    :func:`~asd_tf.explain.localization.summarize_localization`. With ``maps_dir``
    each importance map is saved there as ``<clip stem>.npy``.
    """
    from asd_tf.data.synthetic import read_anomaly_boxes
    from asd_tf.explain.localization import localize, summarize_localization
    from asd_tf.io_utils import atomic_save_npy

    explainer = RiseExplainer(run_dir, allow_fallback=False)
    audio = explainer.rd.audio
    duration = audio.num_samples / audio.sample_rate
    rows, skipped = [], []
    for path in clips:
        boxes = crop_boxes(read_anomaly_boxes(path), duration, audio.sample_rate / 2.0)
        if not boxes:
            skipped.append({"clip": str(path), "reason": f"no anomaly box inside the first {duration:g} s"})
            continue
        res = explainer.explain(path, n_masks, seed, batch_size, progress)
        if maps_dir is not None:
            atomic_save_npy(Path(maps_dir) / f"{Path(path).stem}.npy", res.importance)
        row = {"clip": str(path), "machine": res.machine, "section": res.section, "clean_score": res.clean_score,
               "boxes": [list(b) for b in boxes]}
        row.update(localize(res.importance, boxes, res.seconds_per_frame, res.hz_per_bin, res.time_offset_s))
        rows.append(row)
    if not rows:
        raise DatasetError(f"{run_dir}: none of the {len(skipped)} clips has an anomaly box inside the analysed excerpt")
    return {
        "run": str(Path(run_dir).resolve()),
        "loss": explainer.rd.config.loss,
        "labels": explainer.rd.config.labels,
        "n_masks": int(n_masks),
        "seed": int(seed),
        "clips": rows,
        "skipped": skipped,
        "summary": summarize_localization(rows),
    }


# ----------------------------------------------------------------------------------------------
# t-SNE, angles, attention
# ----------------------------------------------------------------------------------------------
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
