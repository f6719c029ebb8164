"""Measurement: the official DCASE evaluator on a synthetic ``--eval-split`` set versus asd_tf's metrics.

Usage (from the repository root)::

    asd-tf synth /tmp/d24e --layout dcase2024 --size tiny --eval-split
    PYTHONPATH=$PWD python docs/checks/official_evaluator_check.py /tmp/d24e EVALUATOR_DIR EVAL_PYTHON \
        dcase2024_task2_evaluator.py

``EVALUATOR_DIR`` holds an unchanged copy of the official evaluator script and
its ``tools/`` folder; ``EVAL_PYTHON`` is an interpreter with its requirements
(pandas, scikit-learn, scipy, matplotlib, seaborn, librosa). Scores are the
log-mel statistics nearest-neighbour distances of ``asd_tf.scoring.clip_statistics``;
submission files come from ``write_submissions``, our metrics from
``evaluate_scores``. The script copies the data's ``ground_truth_*`` folders
into the evaluator folder, runs it, and prints both official scores.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from asd_tf.scoring.clip_statistics import clip_statistics
from asd_tf.data.index import scan_dataset
from asd_tf.evaluation.report import evaluate_scores
from asd_tf.evaluation.submission import write_submissions


def nearest_neighbour_scores(train, test):
    """Distance of each test clip (and each train clip, leave-one-out) to the nearest train clip of its section."""
    feats = {c.path: clip_statistics(c.path) for c in list(train) + list(test)}
    tr_s, te_s = np.zeros(len(train)), np.zeros(len(test))
    for key in sorted({(c.machine, c.section) for c in test}):
        ti = [i for i, c in enumerate(train) if (c.machine, c.section) == key]
        si = [i for i, c in enumerate(test) if (c.machine, c.section) == key]
        f = np.stack([feats[train[i].path] for i in ti])
        mu, sd = f.mean(0), f.std(0) + 1e-8
        f = (f - mu) / sd
        t = (np.stack([feats[test[i].path] for i in si]) - mu) / sd
        te_s[si] = np.sqrt(((t[:, None] - f[None]) ** 2).sum(-1)).min(1)
        d = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))
        np.fill_diagonal(d, np.inf)
        tr_s[ti] = d.min(1)
    return tr_s, te_s


def main(data: Path, evaldir: Path, python: str, script: str) -> None:
    index = scan_dataset(data)
    train = [c for c in index.clips if c.split == "train"]
    test = [c for c in index.clips if c.split == "test"]
    tr_s, te_s = nearest_neighbour_scores(train, test)
    results = evaluate_scores(test, te_s, train, tr_s)
    team = evaldir / "teams" / "asd_tf" / "logmel_nn"
    shutil.rmtree(evaldir / "teams", ignore_errors=True)
    team.mkdir(parents=True)
    write_submissions(team, test, te_s, train, tr_s)
    for sub in ("ground_truth_data", "ground_truth_domain", "ground_truth_attributes"):
        shutil.rmtree(evaldir / sub, ignore_errors=True)
        shutil.copytree(data / sub, evaldir / sub)
    proc = subprocess.run([python, script, "--teams_root_dir", "teams", "--dir_depth", "2"],
                          cwd=evaldir, capture_output=True, text=True)
    print(proc.stdout[-1500:], proc.stderr[-1500:])
    print("asd_tf official score:", results["official_score"])
    for s in results["sections"]:
        print("asd_tf", s["machine"], s["section"], "AUC src", s["auc_source"], "AUC tgt", s["auc_target"],
              "pAUC", s["pauc"])


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4])
