"""Experiment configs: one YAML per row of a paper table.

An experiment YAML is a flat mapping. Keys of its own:

* ``dataset`` (required): the dataset year, ``dcase2020`` | ``dcase2022`` | ``dcase2023``.
  It is also passed to training as the layout family. **Never a path**: the data
  root comes from ``--data`` or the environment variable ``ASD_TF_DATA_<YEAR>``
  (e.g. ``ASD_TF_DATA_DCASE2022``), see :func:`resolve_data`.
* ``row`` (required): the row label of the table (e.g. ``"IC compactness loss"``).
* ``task``: the auxiliary task in words (e.g. ``"machine types and sections"``);
  the table appends the number of classes found in the data.
* ``order``: position of the row in the table (default: file name order).
* ``backends``: scoring backends to evaluate (default ``[kmeans]``); the first one
  fills the table.
* ``backend_rows``: further table rows of the same run, ``{backend: row label}``;
  each backend listed must be in ``backends``. The run is trained once and each
  of these backends fills its own row (e.g. the DCASE autoencoder's ``ae_mse``
  and ``ae_mahala`` scores).
* ``paper``: the values the paper reports for this row (percent), keyed by table
  column (``source_auc``, ``both_pauc``, ``fan_auc``, ``average_auc`` ...), shown
  next to ours for reference.
* ``description``: free text.

Every other key is a :class:`~asd_tf.settings.TrainConfig` setting
(``loss``, ``labels``, ``loss_params``, ``backbone``, ``epochs`` ...); ``data``
and ``out`` are refused because the runner chooses them.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import ConfigError

YEARS = ("dcase2020", "dcase2022", "dcase2023")
META_KEYS = ("dataset", "row", "task", "order", "backends", "paper", "description", "backend_rows")
_PATH_KEYS = ("data", "out")

#: The experiment configs shipped with the package: the paper tables' rows, and ``recipes/``.
CONFIGS_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class Experiment:
    """One table row: what to train (``train``: TrainConfig settings) and how to show it."""

    name: str
    path: Path
    dataset: str
    row: str
    task: str
    order: float
    train: dict[str, Any]
    backends: tuple[str, ...] = ("kmeans",)
    paper: dict[str, float] = field(default_factory=dict)
    description: str = ""
    backend_rows: dict[str, str] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        """The backend whose results fill the table."""
        return self.backends[0]


def data_env_var(dataset: str) -> str:
    """``ASD_TF_DATA_<YEAR>``, e.g. ``ASD_TF_DATA_DCASE2022``."""
    return "ASD_TF_DATA_" + dataset.upper()


def _check_year(dataset: Any, where: str) -> str:
    if not isinstance(dataset, str) or dataset not in YEARS:
        hint = " (a config names the dataset year, not a path; pass the path with --data)" if (
            isinstance(dataset, str) and ("/" in dataset or os.sep in dataset)) else ""
        raise ConfigError(f"{where}: dataset must be one of {', '.join(YEARS)}, got {dataset!r}{hint}")
    return dataset


def load_experiment(path: str | os.PathLike) -> Experiment:
    """Read and validate one experiment YAML (TrainConfig settings checked by TrainConfig itself)."""
    from ..settings import TrainConfig

    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read experiment config: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(values).__name__}")
    for key in _PATH_KEYS:
        if key in values:
            raise ConfigError(
                f"{path}: an experiment config must not set {key!r}; the runner chooses it "
                f"(data: --data or ${data_env_var(str(values.get('dataset', 'YEAR')))})"
            )
    if "dataset" not in values:
        raise ConfigError(f"{path}: missing 'dataset' (one of {', '.join(YEARS)})")
    dataset = _check_year(values["dataset"], str(path))
    if not values.get("row"):
        raise ConfigError(f"{path}: missing 'row' (the table row label)")
    train = {k: v for k, v in values.items() if k not in META_KEYS}
    train["dataset"] = dataset  # the layout family the data are scanned as
    try:
        TrainConfig.from_dict(train).validate()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    backends = values.get("backends", ["kmeans"])
    if isinstance(backends, str):
        backends = [backends]
    if not backends or not all(isinstance(b, str) for b in backends):
        raise ConfigError(f"{path}: 'backends' must be a non-empty list of backend names")
    from ..runs import check_backends

    check_backends(train.get("system", "embedding"), backends, str(path))  # a baseline has its own scores
    backend_rows = values.get("backend_rows") or {}
    if not isinstance(backend_rows, dict) or not all(b in backends for b in backend_rows):
        raise ConfigError(f"{path}: 'backend_rows' must map backends of 'backends' {backends} to row labels")
    paper = values.get("paper") or {}
    if not isinstance(paper, dict) or not all(isinstance(v, (int, float)) for v in paper.values()):
        raise ConfigError(f"{path}: 'paper' must map column names to numbers (percent)")
    return Experiment(
        name=path.stem,
        path=path,
        dataset=dataset,
        row=str(values["row"]),
        task=str(values.get("task", train.get("labels", "attribute"))),
        order=float(values.get("order", 0)),
        train=train,
        backends=tuple(backends),
        paper={str(k): float(v) for k, v in paper.items()},
        description=str(values.get("description", "")),
        backend_rows={str(k): str(v) for k, v in backend_rows.items()},
    )


def table_rows(experiments: list[Experiment]) -> list[Experiment]:
    """One entry per table row: each experiment, followed by one copy per ``backend_rows`` entry
    (same name, hence the same run directories, with that backend first and its own label)."""
    import dataclasses

    rows: list[Experiment] = []
    for exp in experiments:
        rows.append(exp)
        for backend, label in exp.backend_rows.items():
            rows.append(dataclasses.replace(exp, row=label, backends=(backend,), backend_rows={}, paper={}))
    return rows


def load_experiments(
    dataset: str | None = None,
    pattern: str | None = None,
    directory: str | os.PathLike | None = None,
) -> list[Experiment]:
    """The experiment YAMLs of ``directory`` (default :data:`CONFIGS_DIR`) for ``dataset``.

    Without ``pattern``: the files directly in ``directory`` (the paper tables;
    ``recipes/`` is left out). ``pattern``: a glob on the path relative to
    ``directory`` or on the file name (``"dcase2022_*"``, ``"recipes/*"``),
    searched recursively. Sorted by ``order`` then name.
    """
    root = Path(directory) if directory is not None else CONFIGS_DIR
    if dataset is not None:
        _check_year(dataset, "--dataset")
    if not root.is_dir():
        raise ConfigError(f"{root}: experiment directory not found")
    found: list[Experiment] = []
    for path in sorted(root.rglob("*.yaml") if pattern else root.glob("*.yaml")):
        rel = path.relative_to(root).as_posix()
        if "results" in path.relative_to(root).parts[:-1]:
            continue  # committed outputs, not configs
        if pattern and not (fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(path.name, pattern)
                            or fnmatch.fnmatch(str(path), pattern)):
            continue
        exp = load_experiment(path)
        if dataset is None or exp.dataset == dataset:
            found.append(exp)
    if not found:
        raise ConfigError(
            f"{root}: no experiment configs" + (f" for {dataset}" if dataset else "")
            + (f" matching {pattern!r}" if pattern else "")
        )
    names = [e.name for e in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{root}: experiment names must be unique (run directories), duplicated: {dupes}")
    return sorted(found, key=lambda e: (e.order, e.name))


def resolve_data(dataset: str, data: str | os.PathLike | None = None,
                 environ: Mapping[str, str] | None = None) -> Path:
    """The data root of ``dataset``: ``data`` if given, else ``$ASD_TF_DATA_<YEAR>``; must be a directory."""
    _check_year(dataset, "dataset")
    env = os.environ if environ is None else environ
    var = data_env_var(dataset)
    source = "--data"
    if not data:
        data = env.get(var)
        source = f"${var}"
    if not data:
        raise ConfigError(
            f"no data for {dataset}: pass --data /path/to/{dataset} or set {var}=/path/to/{dataset} "
            "(or use --preset quick, which generates synthetic data)"
        )
    root = Path(data).expanduser()
    if not root.is_dir():
        raise ConfigError(f"{root}: the {dataset} data root given by {source} is not a directory")
    return root.resolve()
