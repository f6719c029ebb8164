"""The demonstration preset of ``asd-tf train`` (``make train`` without ``DATA``).

A first run should show the detector working within minutes on a 2-core CPU.
The paper's settings (10 s of input, the full-size model, 10 epochs at batch 64)
take about 20 minutes per run there, and on the synthetic ``small`` set they end
near chance for every loss. The demonstration preset trains instead on the set
on which the toolkit's comparison shows the paper's mechanism, in the sizing of
the quick comparison preset (``asd_tf.comparison.presets``, README "Results on
synthetic data"):

* data: the synthetic DCASE 2022-layout ``compare`` set with the ``mixed_state``
  profile, data seed 0 (4 machines x 2 sections, 1,680 training and 800 test clips
  of 2 s), generated once into ``data/synthetic_dcase2022_compare_mixed_state``
  (the folder ``make data LAYOUT=dcase2022 SIZE=compare PROFILE=mixed_state`` uses).
  Its faults mix in the operating state of another attribute value, which a
  classifier of attributes sees and a one-class model does not;
* input: the first 2 s of each clip (32,000 samples);
* model: the reference dual-branch network, narrow (stage channels 8-16-16-32,
  16 spectrum filters, 32-unit dense layers and branch embeddings);
* training: 12 epochs at batch 32 and learning rate 1e-3 (few epochs: a smaller
  rate barely moves the weights). The quick comparison preset trains 20 epochs; 12
  keep the whole command within 6 minutes on a loaded 2-core CPU (sub-cluster AdaCos,
  attribute labels, measured 2026-11-30 at commit 9d5d7cd with the test suite beside
  it: 0.816, 0.820 and 0.812 for seeds 0-2, 123-177 s per command; one class for all
  data: 0.512-0.538. README, Set-up).

The loss, label set, seed and every flag given on the command line still apply.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

DEMO_DATA = {"layout": "dcase2022", "size": "compare", "profile": "mixed_state", "seed": 0}
DEMO_DATA_DIR = "data/synthetic_dcase2022_compare_mixed_state"

DEMO_SETTINGS: dict[str, Any] = {
    "epochs": 12,
    "batch_size": 32,
    "num_samples": 32000,
    "learning_rate": 1e-3,
    "backbone_options": {"stage_channels": [8, 16, 16, 32], "spectrum_filters": 16, "dense_units": 32,
                         "branch_dim": 32},
}

PRESETS = ("demo", "full")


def ensure_demo_data(directory: str | Path = DEMO_DATA_DIR, progress: bool = True) -> tuple[Path, bool]:
    """Generate the demonstration set into ``directory`` unless it is there; ``(path, generated_now)``.

    With ``progress``, a bar counts the clips written (the generator itself reports nothing).
    """
    from ..synthetic import generate, plan_dataset

    root = Path(directory)
    if (root / ".complete").exists():
        # generate() checks that the folder holds this very dataset (else a clear DatasetError)
        return generate(root, **DEMO_DATA), False
    total = len(plan_dataset(DEMO_DATA["layout"], DEMO_DATA["size"], DEMO_DATA["profile"]))
    stop = threading.Event()
    watcher = None
    if progress:
        watcher = threading.Thread(target=_count_clips, args=(root, total, stop), daemon=True)
        watcher.start()
    try:
        path = generate(root, **DEMO_DATA)
    finally:
        stop.set()
        if watcher is not None:
            watcher.join()
    return path, True


def _count_clips(root: Path, total: int, stop: threading.Event) -> None:
    """Progress bar of the data generation: the finished ``.wav`` files under ``root`` (polled)."""
    from tqdm.auto import tqdm

    with tqdm(total=total, desc="data generation", unit="clip", dynamic_ncols=True) as bar:
        while True:
            done = stop.wait(0.5)
            count = sum(1 for _ in root.rglob("*.wav")) if root.exists() else 0
            bar.update(count - bar.n)
            if done:
                return


def _dataset_counts(data_dir: Path) -> str:
    """``4 machines x 2 sections, 1,680 training / 800 test clips of 2 s`` from a synthetic set's marker."""
    import json

    try:
        meta = json.loads((Path(data_dir) / ".complete").read_text(encoding="utf-8"))
        counts = meta["counts"]
        cells = [(cell, n) for sections in counts.values() for cell_counts in sections.values()
                 for cell, n in cell_counts.items()]
        n_train = sum(n for cell, n in cells if "_train_" in cell)
        n_test = sum(n for cell, n in cells if "_test_" in cell)
        n_sections = sum(len(sections) for sections in counts.values())
        return (f"{len(counts)} machines, {n_sections} sections, {n_train:,} training / {n_test:,} test clips "
                f"of {meta['duration_s']:g} s")
    except (OSError, ValueError, KeyError, TypeError):
        return "a synthetic data set"  # not one written by asd-tf synth


def describe_demo(cfg, data_dir: Path, generated: bool, data_seconds: float, own_data: bool = False) -> str:
    """What the demonstration run does and why (printed before training); ``own_data``: ``--data`` was given."""
    opts = cfg.backbone_options
    channels = "-".join(str(c) for c in opts.get("stage_channels", []))
    made = f"generated in {data_seconds:.0f} s" if generated else "generated earlier, reused"
    lines = ["asd-tf train: demonstration settings (a few minutes on a 2-core CPU), not the paper's."]
    if own_data:
        lines.append(f"  data:     {data_dir} (given with --data)")
    else:
        lines += [
            f"  data:     {data_dir} ({made}): synthetic DCASE 2022 layout, `compare` size, `mixed_state`",
            f"            profile, data seed 0; {_dataset_counts(data_dir)}. Its faults mix",
            "            in another attribute value's operating state: a classifier of attributes can see them,",
            "            a one-class model cannot (README, 'Results on synthetic data').",
        ]
    lines += [
        f"  input:    the first {cfg.num_samples / cfg.sample_rate:g} s of each clip ({cfg.num_samples} samples;"
        " the paper: 10 s)",
        (f"  model:    {cfg.backbone} ({cfg.branches} branches), narrow: stage channels {channels}, "
         f"{opts.get('branch_dim', '?')}-d branch embeddings (the paper's: 16-32-64-128, 128-d)")
        if cfg.backbone == "reference" else f"  model:    {cfg.backbone}, options {dict(opts)}",
        f"  training: {cfg.epochs} epochs, batch {cfg.batch_size}, learning rate {cfg.learning_rate:g}"
        f"{' (cosine decay to 0)' if cfg.lr_schedule == 'cosine' else ''}, "
        f"loss {cfg.loss}, labels {cfg.labels}, seed {cfg.seed}",
        "  the paper's settings: `make train PRESET=full` (synthetic `small` set, full model, 10 s, 10 epochs)"
        " or `DATA=/path` (`asd-tf train --preset full`, the default of asd-tf train)",
    ]
    return "\n".join(lines)


def how_to_read(results: dict, eval_dir: Path) -> str:
    """The closing lines of a run: the official score, how to read it, where the files are."""
    score = results.get("official_score")
    if score is None:
        return f"no official score ({results.get('reason', 'no ground truth')}); submission files: {eval_dir / 'submission'}"
    return "\n".join([
        f"official score {score:.3f}: harmonic mean over sections of the source and target AUC and the pAUC;"
        " 0.5 = chance (anomalies ranked like normal clips), 1.0 = every anomaly scored above every normal clip",
        f"results table: {eval_dir / 'results.md'} (and results.json); submission files: {eval_dir / 'submission'}/",
    ])


class PhaseTimer:
    """Wall seconds per named phase of a command (printed at its end)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._name: str | None = None
        self._start = 0.0

    def start(self, name: str) -> None:
        self.stop()
        self._name, self._start = name, time.perf_counter()

    def stop(self) -> None:
        if self._name is not None:
            self.seconds[self._name] = self.seconds.get(self._name, 0.0) + time.perf_counter() - self._start
            self._name = None

    def summary(self) -> str:
        self.stop()
        parts = [f"{name} {sec:.0f} s" for name, sec in self.seconds.items()]
        return f"wall time: {sum(self.seconds.values()):.0f} s (" + ", ".join(parts) + ")"
