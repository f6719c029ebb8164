"""Training runs: end to end, reload, resume after a kill, non-finite guard, every loss, tf.distribute."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_MODEL, TINY_SAMPLES, train_tiny_run

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict:
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _csv_rows(run_dir: Path) -> list[dict]:
    path = run_dir / "logs" / "training.csv"
    if not path.exists():
        return []
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_run_directory_and_safe_mode_reload(tiny_run_factory):
    import keras

    from asd_tf.losses.registry import build_loss
    from asd_tf.runs import Run
    from asd_tf.training.run import build_embedding_model
    from asd_tf.training.trainer import ASDTrainer

    run_dir = Path(tiny_run_factory())
    for name in ("config.yaml", "label_set.json", "model.keras", "head.keras", "train_summary.json", ".complete"):
        assert (run_dir / name).exists(), name
    rows = _csv_rows(run_dir)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    for key in ("loss", "scale", "intra_compactness", "inter_compactness"):
        assert all(np.isfinite(float(r[key])) for r in rows), key
    # Fixed random unit centres: the inter-class compactness stays near 2 (paper Sec. V-D).
    assert abs(float(rows[-1]["inter_compactness"]) - 2.0) < 0.2

    run = Run.open(run_dir)
    member = run.members()[0]
    loaded = member.load_model()  # safe_mode=True inside
    # Independent path: rebuild the trainer from the config and load the last epoch's weights file.
    cfg = run.config
    model = build_embedding_model(cfg)
    names = member.label_names()
    loss = build_loss(cfg.loss, len(names), int(model.output_shape[-1]), seed=cfg.seed)
    trainer = ASDTrainer(model, loss)
    trainer.compile(optimizer=keras.optimizers.Adam())
    trainer.build((None, cfg.num_samples))
    trainer.load_weights(run_dir / "checkpoints" / "last.weights.h5")
    x = np.random.default_rng(0).standard_normal((3, TINY_SAMPLES)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x, training=False)), rtol=1e-5, atol=1e-5)

    head = member.load_head()
    np.testing.assert_allclose(np.asarray(head.centre_matrix()), np.asarray(loss.centre_matrix()), atol=0)
    # The saved head carries the adaptive scale the weights file holds (the CSV logs epoch means).
    np.testing.assert_allclose(float(np.asarray(head.scale)), float(np.asarray(loss.scale)), rtol=1e-6)
    assert float(np.asarray(head.scale)) != float(np.asarray(loss.initial_scale))


def test_training_uses_train_split_only(tiny_run_factory, tiny_data):
    from asd_tf.data.index import scan_dataset

    run_dir = Path(tiny_run_factory())
    summary = json.loads((run_dir / "train_summary.json").read_text())
    index = scan_dataset(tiny_data)
    n_train = sum(c.split == "train" for c in index.clips)
    assert summary["clips"] == n_train
    names = json.loads((run_dir / "label_set.json").read_text())["names"]
    # attribute classes come from training clips only: every name is machine/section/attrs/domain
    assert len(names) == summary["classes"]
    assert all(len(n.split("/")) == 4 for n in names)


def test_resume_with_different_settings_is_refused(tiny_run_factory, tiny_data):
    from asd_tf.errors import RunError

    run_dir = Path(tiny_run_factory())
    with pytest.raises(RunError, match="different settings"):
        train_tiny_run(tiny_data, run_dir, loss="adacos")


def test_non_finite_loss_stops_and_keeps_last_checkpoint(tmp_path):
    import keras

    from asd_tf.errors import TrainingError
    from asd_tf.training.callbacks import EpochWeights, StopOnNonFiniteLoss

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    x = np.ones((8, 2), "float32")
    y = np.ones((8, 1), "float32")
    ckpt = tmp_path / "last.weights.h5"
    model.fit(x, y, epochs=1, verbose=0, callbacks=[EpochWeights(str(ckpt))])
    good_mtime = ckpt.stat().st_mtime_ns
    y_bad = np.full((8, 1), np.inf, "float32")
    with pytest.raises(TrainingError, match="non-finite loss"):
        model.fit(x, y_bad, epochs=2, batch_size=4, verbose=0,
                  callbacks=[StopOnNonFiniteLoss(str(tmp_path)), EpochWeights(str(ckpt))])
    assert ckpt.stat().st_mtime_ns == good_mtime


def test_train_step_never_applies_non_finite_gradients():
    import keras
    import tensorflow as tf

    from asd_tf.losses.registry import build_loss
    from asd_tf.training.trainer import ASDTrainer

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(3, use_bias=False)(inp))
    loss = build_loss("arcface", 2, 3)
    trainer = ASDTrainer(model, loss, mixup_prob=0.0)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    trainer.build((None, 4))
    before = [np.asarray(w).copy() for w in model.weights]
    x = tf.constant([[np.nan, 1, 1, 1], [1, 1, 1, 1]], tf.float32)
    trainer.train_step((x, tf.constant([0, 1])))
    after = [np.asarray(w) for w in model.weights]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "loss",
    ["compactness", "compactness_cce", "adacos", "subcluster_adacos", "arcface", "elasticface",
     "arcmix", "noisy_arcmix", "margin_mixup", "emm", "softtriple", "noisy_arcmix_softtriple"],
)
def test_every_loss_trains_end_to_end(loss, tiny_data, tmp_path):
    from asd_tf.evaluation.run import evaluate_run

    run_dir = train_tiny_run(tiny_data, tmp_path / loss, loss=loss, epochs=1, labels="section")
    rows = _csv_rows(Path(run_dir))
    assert len(rows) == 1 and np.isfinite(float(rows[0]["loss"]))
    results = evaluate_run(run_dir, progress=False)
    assert 0.0 <= results["official_score"] <= 1.0
    assert len(results["sections"]) == 6


def test_individual_labels_train_one_model_per_section(tiny_run_factory, tiny_data):
    from asd_tf.data.index import scan_dataset
    from asd_tf.evaluation.run import evaluate_run
    from asd_tf.runs import Run

    run_dir = tiny_run_factory(labels="individual", loss="compactness", epochs=1)
    members = Run.open(run_dir).members()
    index = scan_dataset(tiny_data)
    sections = sorted({(c.machine, c.section) for c in index.clips})
    assert sorted(m.scope for m in members) == sections
    assert all(m.label_names() == ["all"] or len(m.label_names()) == 1 for m in members)
    results = evaluate_run(run_dir, progress=False)
    assert len(results["sections"]) == len(sections)


def test_cli_train_then_evaluate(tiny_data, tmp_path, capsys):
    from asd_tf.commands import main

    out = tmp_path / "cli_run"
    argv = [
        "train", "--data", str(tiny_data), "--out", str(out), "--epochs", "1", "--batch-size", "16",
        "--num-samples", str(TINY_SAMPLES), "--loss", "adacos", "--labels", "machine", "--quiet",
    ]
    for key, value in TINY_MODEL.items():
        argv += ["--model-option", f"{key}={json.dumps(value)}"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "official score" in printed
    results = json.loads((out / "results.json").read_text())
    assert set(results["hmean"]) >= {"auc_source", "auc_target", "pauc", "auc"}
    subs = sorted(p.name for p in (out / "submission").iterdir())
    assert "anomaly_score_fan_section_00_test.csv" in subs
    assert "decision_result_fan_section_00_test.csv" in subs
    # knn backend writes to its own folder and leaves the paper's results alone
    assert main(["evaluate", str(out), "--backend", "knn"]) == 0
    assert (out / "evaluation" / "knn" / "results.json").exists()


def test_bad_training_settings_give_clear_errors(tiny_data, tmp_path):
    from asd_tf.commands import main

    assert main(["train", "--data", str(tiny_data), "--out", str(tmp_path / "x"), "--loss", "nope"]) == 2
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "y"),
                 "--num-samples", "16000"]) == 2


def _mirrored(mode: str, out: Path) -> dict:
    subprocess.run(
        [sys.executable, str(REPO / "tests" / "helpers" / "mirrored_run.py"), str(out), mode],
        check=True, cwd=REPO, env=_env(), timeout=300,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    return dict(np.load(out))


def test_mirrored_strategy_matches_single_device(tmp_path):
    """Two replicas on two logical CPUs see the same global batches as one device.

    Sub-cluster AdaCos takes its statistics over the global batch and BatchNorm
    is synchronised across replicas, so the scale trajectory and every weight agree.
    """
    single = _mirrored("default", tmp_path / "single.npz")
    mirrored = _mirrored("mirrored", tmp_path / "mirrored.npz")
    assert len(single["scales"]) == 4
    np.testing.assert_allclose(mirrored["scales"], single["scales"], rtol=1e-5)
    assert not np.allclose(single["scales"][0], single["scales"][-1])  # the scale did move
    keys = [k for k in single if k != "scales"]
    assert len(keys) > 20
    for key in keys:
        # Adam normalises each step (size ~lr = 1e-3), so float32 reduction-order noise in
        # near-zero gradient components can move a weight by a few 1e-5 over 4 steps.
        np.testing.assert_allclose(mirrored[key], single[key], rtol=1e-3, atol=1e-4, err_msg=key)


def test_train_accepts_an_experiment_yaml():
    import argparse

    from asd_tf.commands.train import config_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    config = REPO / "asd_tf" / "comparison" / "configs" / "dcase2022_08_subcluster_adacos_attribute.yaml"
    args = parser.parse_args(["train", "--config", str(config),
                              "--data", "/somewhere", "--out", "/tmp/x", "--epochs", "3"])
    cfg = config_from_args(args)
    assert (cfg.loss, cfg.labels, cfg.epochs, cfg.data) == ("subcluster_adacos", "attribute", 3, "/somewhere")
    assert cfg.loss_params == {"num_subclusters": 16} and cfg.dataset == "dcase2022"
