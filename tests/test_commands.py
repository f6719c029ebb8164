"""The command layer: the KEY=VALUE parser, train flags generated from TrainConfig, asd-tf compare,
and the run module's layer registration."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest

from asd_tf.commands.options import parse_key_value, train_setting_flags
from asd_tf.errors import ConfigError


def test_parse_key_value_reads_yaml_values():
    assert parse_key_value("branch_dim=64") == ("branch_dim", 64)
    assert parse_key_value(" stage_channels =[4, 8]") == ("stage_channels", [4, 8])
    assert parse_key_value("fit=all") == ("fit", "all")
    assert parse_key_value("featex=true") == ("featex", True)
    with pytest.raises(ConfigError, match=r"option 'novalue': expected KEY=VALUE, e.g. branch_dim=64"):
        parse_key_value("novalue")
    with pytest.raises(ConfigError, match=r"--set '=3': expected KEY=VALUE$"):
        parse_key_value("=3", what="--set", example="")
    with pytest.raises(ConfigError, match="cannot parse the value"):
        parse_key_value("k=[1, 2")


def _train_parser():
    from asd_tf.commands.train import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser


def test_train_flags_cover_every_setting_but_the_internal_ones():
    from asd_tf.settings import TrainConfig

    flags = {s.field: s.flag for s in train_setting_flags()}
    internal = {"sample_rate", "optimizer", "weight_decay_optimizer", "lr_schedule", "verbose"}
    assert set(flags) == {f.name for f in dataclasses.fields(TrainConfig)} - internal
    assert flags["batch_size"] == "--batch-size" and flags["loss_params"] == "--loss-option"
    assert flags["backbone_options"] == "--model-option" and flags["domain_in_label"] == "--no-domain-in-label"


def test_generated_train_flags_parse_and_override_a_config_file(tmp_path):
    from asd_tf.commands.train import config_from_args

    saved = tmp_path / "config.yaml"
    saved.write_text("loss: adacos\nepochs: 7\nbackbone_options: {branch_dim: 32, dense_units: 64}\n")
    args = _train_parser().parse_args([
        "train", "--config", str(saved), "--data", "/d", "--out", "/o", "--batch-size", "8",
        "--mixup-alpha", "0.2", "--no-domain-in-label", "--source-only", "--members", "3",
        "--model-option", "branch_dim=16", "--loss-option", "seed=3", "--labels", "machine", "--quiet",
    ])
    cfg = config_from_args(args)
    # flags win over the file, unset flags keep the file's values, KEY=VALUE flags merge key by key
    assert (cfg.loss, cfg.epochs, cfg.batch_size, cfg.mixup_alpha) == ("adacos", 7, 8, 0.2)
    assert (cfg.domain_in_label, cfg.source_only, cfg.members, cfg.labels) == (False, True, 3, "machine")
    assert cfg.backbone_options == {"branch_dim": 16, "dense_units": 64} and cfg.loss_params == {"seed": 3}
    assert (cfg.data, cfg.out, cfg.verbose, cfg.jit, cfg.seed) == ("/d", "/o", 2, False, 0)


def test_train_flag_types_and_choices_are_checked_by_argparse():
    parser = _train_parser()
    for bad in (["--epochs", "two"], ["--learning-rate", "fast"], ["--strategy", "tpu"], ["--input-crop", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["train", *bad])
    # choices left to TrainConfig.validate (listed in the help text instead): a ConfigError naming the setting
    from asd_tf.commands.train import config_from_args

    args = parser.parse_args(["train", "--data", "/d", "--out", "/o", "--labels", "everything"])
    with pytest.raises(ConfigError, match="labels"):
        config_from_args(args)


def test_compare_command_aggregates_a_configs_dir(tmp_path, capsys):
    from asd_tf.commands import main

    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "a.yaml").write_text("dataset: dcase2022\nrow: AdaCos loss\ntask: attributes\nloss: adacos\n")
    out = tmp_path / "out"
    run_dir = out / "a" / "seed0"
    run_dir.mkdir(parents=True)
    both = {"auc": 0.75, "pauc": 0.6}
    (run_dir / "results.json").write_text(json.dumps(
        {"dataset": "dcase2022", "table2": {"source": both, "target": both, "both": both}, "official_score": 0.7}))
    rc = main(["compare", "--dataset", "dcase2022", "--configs-dir", str(configs), "--data", str(tmp_path),
               "--out", str(out), "--aggregate-only", "--trials", "1"])
    assert rc == 0
    table = json.loads((out / "comparison.json").read_text())
    assert table["meta"]["command"].startswith("asd-tf ")
    (row,) = table["rows"]
    assert row["config"] == "a" and row["mean"]["both_auc"] == pytest.approx(75.0)
    assert row["mean"]["official"] == pytest.approx(70.0)
    # a library error is one line naming the problem, exit code 2
    assert main(["compare", "--dataset", "dcase2099", "--aggregate-only"]) == 2
    assert "dcase2099" in capsys.readouterr().err


def test_shipped_configs_are_package_data():
    import asd_tf
    from asd_tf.comparison.experiment import CONFIGS_DIR, load_experiments

    assert CONFIGS_DIR == Path(asd_tf.__file__).parent / "comparison" / "configs"
    rows = load_experiments("dcase2022")
    assert len(rows) == 10 and all(e.path.parent == CONFIGS_DIR for e in rows)
    assert {e.path.parent.name for e in load_experiments("dcase2020", "recipes/*")} == {"recipes"}


def test_register_layers_does_not_skip_a_missing_layer_module(monkeypatch):
    from asd_tf import runs
    from asd_tf.models import registry

    monkeypatch.setitem(registry.BACKBONES, "ghost", "asd_tf.models.no_such_module:build")
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        runs.register_layers()
