"""Check: every later method and scoring backend end to end on every data layout and on the real clips.

Usage (from the repository root)::

    PYTHONPATH=$PWD python docs/checks/methods_matrix.py WORK_DIR [--real REAL_ROOT] [--out docs/checks/methods_matrix.md]

For each data set (the synthetic ``tiny`` sets of the DCASE 2020, 2024 and 2025 layouts,
generated into ``WORK_DIR``, and the real clips' DCASE 2020 and 2023 folders) and each system
(trainable sub-cluster centres + FeatEx, AdaProj, StatEx + FeatEx, the four label/domain
variants together, the official DCASE autoencoder), it runs ``asd-tf train`` (1 epoch, the tests'
tiny model, 1-s input), reloads the saved model and loss head with ``safe_mode=True`` (the run
directory's own loaders), and runs ``asd-tf evaluate`` with every scoring backend the system has
(kmeans, knn, knn_smote, density; ae_mse, ae_mahala for the autoencoder). It records exit codes,
the official score per backend (``results.json``), or the reason there is none (the real
folders hold too few test clips of each label for an AUC), and writes a Markdown table.

The scores of such tiny runs mean nothing; the check is that each combination trains, saves,
reloads and scores. The real folders are samples (2 training and 2 test clips per machine at
most); the check scores them through a view of the machines that have both training and test clips
(symbolic links under ``WORK_DIR``) and records whether each backend's anomaly
score files were written and why no official score exists (no section has both normal and
anomalous clips of every domain). A run whose ``.complete`` marker exists is not trained again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

TINY_MODEL = {"stage_channels": [4, 8, 8, 16], "spectrum_filters": 8, "dense_units": 16, "branch_dim": 16}
BACKENDS = ("kmeans", "knn", "knn_smote", "density")
SYSTEMS = {
    "trainable centres + FeatEx": (["--loss", "subcluster_adacos", "--loss-option", "trainable_centres=true",
                                    "--loss-option", "dynamic_scale=false", "--loss-option", "featex=true"], BACKENDS),
    "AdaProj (m = 8)": (["--loss", "adaproj", "--loss-option", "subspace_dim=8"], BACKENDS),
    "StatEx + FeatEx": (["--loss", "subcluster_adacos", "--loss-option", "statex=true", "--loss-option", "featex=true"],
                        BACKENDS),
    "label/domain variants": (["--loss", "subcluster_adacos", "--no-domain-in-label", "--class-weights", "source_counts",
                               "--source-only", "--input-crop", "random"], BACKENDS),
    "DCASE autoencoder": (["--system", "dcase_ae"], ("ae_mse", "ae_mahala")),
}


def asd_tf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asd_tf.commands", *args], capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def reload_check(run_dir: Path) -> str:
    """Load every member's model and head as the run directory does (``safe_mode=True``) in a child process."""
    code = ("import sys; from asd_tf.runs import HEAD_FILE, Run\n"
            "for m in Run.open(sys.argv[1]).members():\n"
            "    m.load_model()\n"
            "    m.load_head() if (m.directory / HEAD_FILE).exists() else None\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    return "ok" if done.returncode == 0 and "ok" in done.stdout else "FAILED: " + done.stderr.strip()[-300:]


def real_view(root: Path, work: Path) -> Path:
    """``work/<name>_view``: symbolic links to the machine folders of ``root`` that have training and test clips."""
    view = work / f"{root.name}_view"
    view.mkdir(parents=True, exist_ok=True)
    for machine in sorted(p for p in root.iterdir() if p.is_dir()):
        if any((machine / "train").glob("*.wav")) and any((machine / "test").glob("*.wav")):
            link = view / machine.name
            if not link.exists():
                link.symlink_to(machine.resolve(), target_is_directory=True)
    return view


def score_files(run_dir: Path, backend: str) -> int:
    from asd_tf.runs import evaluation_dir

    return len(list((evaluation_dir(run_dir, backend, ensemble=False) / "submission").glob("anomaly_score_*.csv")))


def official(run_dir: Path, backend: str) -> str:
    from asd_tf.runs import evaluation_dir

    path = evaluation_dir(run_dir, backend, ensemble=False) / "results.json"
    if not path.exists():
        return "no results.json"
    value = json.loads(path.read_text()).get("official_score")
    return "-" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("work", type=Path)
    p.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data" / "real")
    p.add_argument("--out", type=Path, default=Path("docs/checks/methods_matrix.md"))
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    datasets = {}
    for layout in ("dcase2020", "dcase2024", "dcase2025"):
        root = args.work / f"{layout}_tiny"
        if not root.exists():
            done = asd_tf("synth", str(root), "--layout", layout, "--size", "tiny", "--seed", "0")
            if done.returncode:
                raise SystemExit(f"synth {layout} failed: {done.stderr[-500:]}")
        datasets[f"synthetic {layout} tiny"] = root
    for folder in ("dcase2020_task2_dev", "dcase2023_task2_dev"):
        if (args.real / folder).exists():
            datasets[f"real {folder} (machines with train and test clips)"] = real_view(args.real / folder, args.work)
    lines = ["# Later methods x data layouts: train, reload (safe_mode=True), evaluate", "",
             f"Made by `PYTHONPATH=$PWD python docs/checks/methods_matrix.py {args.work}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (1 epoch, batch 16, 1-s input, the tests' tiny "
             "model, training seed 0; synthetic sets: data seed 0). The scores of such runs mean nothing: the "
             "check is that each combination trains, saves, reloads and scores. Real folders: every backend writes "
             "its anomaly score files and then names the first section whose test clips are all normal or all "
             "anomalous (the samples hold 1-2 test clips per machine), and `evaluate` exits with 2, the expected "
             "result there; the column counts the score files written.", "",
             "| data | system | train | reload | evaluate | official per backend | seconds |",
             "|---|---|---|---|---|---|---:|"]
    failures = 0
    for data_name, root in datasets.items():
        for system, (flags, backends) in SYSTEMS.items():
            run_dir = args.work / "runs" / f"{root.name}__{system.split()[0].strip('(/').lower()}"
            t0 = time.time()
            done_before = (run_dir / ".complete").exists()
            model = [] if system == "DCASE autoencoder" else [
                a for k, v in TINY_MODEL.items() for a in ("--model-option", f"{k}={json.dumps(v)}")]
            train = subprocess.CompletedProcess([], 0, "", "") if done_before else asd_tf(
                "train", "--data", str(root), "--out", str(run_dir), "--epochs", "1", "--batch-size", "16",
                "--num-samples", "16000", "--quiet", "--no-evaluate", "--seed", "0", *flags, *model)
            reload = reload_check(run_dir) if train.returncode == 0 else "-"
            real = data_name.startswith("real")
            evaluate = asd_tf("evaluate", str(run_dir), "--backend", *backends) if train.returncode == 0 else None
            if evaluate is None:
                scores = "-"
            elif real:  # each backend writes its scores, then names the section without an AUC (exit 2)
                scores = ", ".join(f"{b} {score_files(run_dir, b)} score files" for b in backends)
            else:
                scores = ", ".join(f"{b} {official(run_dir, b)}" for b in backends)
            if real and evaluate is not None and evaluate.returncode:
                # scores written, metrics undefined on the sample: what the check expects there
                ok = train.returncode == 0 and reload == "ok" and all(score_files(run_dir, b) for b in backends)
            else:
                ok = train.returncode == 0 and reload == "ok" and evaluate is not None and evaluate.returncode == 0
            failures += not ok
            detail = " ".join(s.strip().splitlines()[-1] for s in (train.stderr, evaluate.stderr if evaluate else "")
                              if s.strip())
            lines.append(f"| {data_name} | {system} | {'done before' if done_before else f'exit {train.returncode}'} | "
                         f"{reload} | {'-' if evaluate is None else f'exit {evaluate.returncode}'} | {scores}"
                         f"{'; ' + detail if detail else ''} | {time.time() - t0:.0f} |")
            print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"{failures} failing combinations; table in {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
