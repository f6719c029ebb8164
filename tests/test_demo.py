"""The demonstration preset: settings, what the command says, and the Makefile's choice of preset."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _train_config(*flags: str):
    from asd_tf.commands import build_parser
    from asd_tf.commands.train import _demo_values, config_from_args

    args = build_parser().parse_args(["train", "--out", "run", *flags])
    values = _demo_values(args, {}) if args.preset == "demo" else {}
    return config_from_args(args, values)


def test_demo_preset_settings_and_overrides():
    from asd_tf.training.demo import DEMO_SETTINGS

    full = _train_config("--data", "d")
    assert (full.epochs, full.batch_size, full.num_samples, full.backbone_options) == (10, 64, 160000, {})
    demo = _train_config("--preset", "demo", "--data", "d")
    assert (demo.epochs, demo.batch_size, demo.num_samples, demo.learning_rate) == (12, 32, 32000, 1e-3)
    assert demo.backbone_options == DEMO_SETTINGS["backbone_options"] and demo.data == "d"
    # flags still win; the narrow options belong to the reference model only
    mine = _train_config("--preset", "demo", "--epochs", "3", "--model-option", "branch_dim=8")
    assert mine.epochs == 3 and mine.backbone_options["branch_dim"] == 8 and mine.backbone_options["dense_units"] == 32
    assert _train_config("--preset", "demo", "--backbone", "stgram_mfn").backbone_options == {}


def test_demo_banner_and_closing_lines(tmp_path):
    import json

    from asd_tf.training.demo import describe_demo, how_to_read

    (tmp_path / ".complete").write_text(json.dumps({"duration_s": 2.0, "counts": {
        "fan": {"00": {"source_train_normal": 150, "target_train_normal": 60, "source_test_normal": 25,
                       "source_test_anomaly": 25}},
        "valve": {"00": {"source_train_normal": 150}, "01": {"source_train_normal": 150}}}}))
    text = describe_demo(_train_config("--preset", "demo", "--data", "d"), tmp_path, True, 14.6)
    for part in ("demonstration settings", "generated in 15 s", "2 machines, 3 sections, 510 training / 50 test "
                 "clips of 2 s", "first 2 s of each clip (32000 samples", "12 epochs, batch 32",
                 "`make train PRESET=full`", "`DATA=/path`"):
        assert part in text, part
    assert "(given with --data)" in describe_demo(_train_config("--preset", "demo", "--data", "d"), tmp_path,
                                                  False, 0.0, own_data=True)
    lines = how_to_read({"official_score": 0.8734}, tmp_path).splitlines()
    assert lines[0].startswith("official score 0.873:") and "0.5 = chance" in lines[0]
    assert str(tmp_path / "results.md") in lines[1] and str(tmp_path / "submission") in lines[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_train_uses_the_demo_preset_without_data_and_the_papers_settings_with_data(tmp_path):
    stamp = tmp_path / ".installed"
    stamp.touch()  # newer than setup.cfg: make does not rebuild the venv

    def dry_run(*variables: str) -> str:
        cmd = ["make", "-s", "-n", "train", f"VENV={tmp_path}", f"STAMP={stamp}", *variables]
        return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True).stdout

    demo = dry_run()
    assert "train --preset demo" in demo and "--data" not in demo and "--epochs" not in demo
    assert "--out runs/demo_subcluster_adacos_attribute_seed0" in demo
    full = dry_run("DATA=/x", "EPOCHS=3")
    assert "train --preset full --data /x" in full and "--epochs 3" in full
    paper = dry_run("PRESET=full", "LOSS=compactness", "LABELS=none")
    assert "synth data/synthetic_dcase2022_small" in paper and "--preset full --data data/synthetic_dcase2022_small" in paper
    assert "--out runs/compactness_none_seed0" in paper
