"""``asd-tf train --members N``: seeds, the ensemble's scores against NumPy, resuming member by member."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_MODEL, TINY_SAMPLES


def _submission_scores(folder: Path) -> dict[tuple[str, str], float]:
    """``{(csv name, clip name): score}`` of every ``anomaly_score_*.csv`` in ``folder``."""
    out = {}
    for path in sorted(folder.glob("anomaly_score_*.csv")):
        with open(path, newline="") as fh:
            for row in csv.reader(fh):
                out[(path.name, row[0])] = float(row[1])
    return out


def _by_clip(clips, scores) -> dict[str, float]:
    return {Path(c.path).name: float(s) for c, s in zip(clips, scores)}


def test_members_setting_is_checked():
    from asd_tf.errors import ConfigError
    from asd_tf.settings import IDENTITY_KEYS, TrainConfig

    assert TrainConfig().members == 1  # default: one model, as before
    with pytest.raises(ConfigError, match="members: must be >= 1, got 0"):
        TrainConfig(members=0).validate()
    with pytest.raises(ConfigError, match="members: expected an integer"):
        TrainConfig.from_dict({"members": "five"})
    with pytest.raises(ConfigError, match="logmel_knn trains no model"):
        TrainConfig(system="logmel_knn", members=3).validate()
    # a finished run may grow (5 -> 10 members): the count is not part of a run's identity
    assert "members" not in IDENTITY_KEYS


def test_members_train_seeds_ensemble_scores_and_rerun(tiny_data, tmp_path, monkeypatch):
    """Two members (seeds 3, 4): the ensemble's sum / z-score equal NumPy over the members' own scores;
    a rerun skips finished members and resumes only the unfinished one."""
    from asd_tf.commands import main
    from asd_tf.data.index import scan_dataset
    from asd_tf.evaluation.run import score_run
    from asd_tf.training import run as run_module
    from asd_tf.settings import TrainConfig

    settings = tmp_path / "tiny.yaml"
    TrainConfig(data=str(tiny_data), epochs=1, batch_size=16, num_samples=TINY_SAMPLES,
                backbone_options=dict(TINY_MODEL), verbose=0, branches="spectrogram",
                max_train_clips=32).save(settings)  # the smallest run that still trains: a fast test
    out = tmp_path / "run"
    command = ["train", "--config", str(settings), "--out", str(out), "--seed", "3", "--members", "2", "--quiet"]
    assert main(command) == 0

    m1 = out / "members_ensemble" / "m1"
    configs = [TrainConfig.load(d / "config.yaml") for d in (out, m1)]
    assert [c.seed for c in configs] == [3, 4]
    assert [c.members for c in configs] == [2, 1]
    assert all((d / ".complete").exists() and (d / "model.keras").exists() for d in (out, m1))
    assert not (out / "members").exists()  # the per-section models' folder is left to labels: individual

    # Independent reference: each member scored on its own, then combined with NumPy.
    index = scan_dataset(tiny_data)
    train_clips = [c for c in index.clips if c.split == "train"]
    test_clips = [c for c in index.clips if c.split == "test"]
    own = [score_run(d, train_clips, test_clips, progress=False) for d in (out, m1)]
    summed = _by_clip(test_clips, own[0][0] + own[1][0])
    got = _submission_scores(out / "evaluation" / "kmeans_ensemble" / "submission")
    assert len(got) == len(test_clips)
    for (_, name), score in got.items():
        assert score == pytest.approx(summed[name], rel=1e-9, abs=1e-12)

    # z-score: each member standardised per section with its training scores' mean and population std
    z_sum = np.zeros(len(test_clips))
    for test_scores, train_scores in own:
        for key in {(c.machine, c.section) for c in test_clips}:
            tr = np.array([s for c, s in zip(train_clips, train_scores) if (c.machine, c.section) == key])
            te = np.array([(c.machine, c.section) == key for c in test_clips])
            z_sum[te] += (test_scores[te] - tr.mean()) / tr.std()
    # `asd-tf evaluate RUN` finds the members itself (members: 2 in config.yaml)
    assert main(["evaluate", str(out), "--combine", "zscore"]) == 0
    got = _submission_scores(out / "evaluation" / "kmeans_ensemble_zscore" / "submission")
    expected = _by_clip(test_clips, z_sum)
    assert len(got) == len(test_clips)
    for (_, name), score in got.items():
        assert score == pytest.approx(expected[name], rel=1e-9, abs=1e-9)
    assert not np.allclose(z_sum, own[0][0] + own[1][0])  # the two combinations do differ here

    # Member 1 killed at its final save (model.keras not written, .complete missing): a rerun retrains
    # neither member, it only saves member 1 again from its last epoch's state.
    model_0 = (out / "model.keras").stat().st_mtime_ns
    (m1 / ".complete").unlink()
    (m1 / "model.keras").unlink()
    trained: list[tuple[Path, int]] = []
    real_member = run_module._train_member

    def spy(cfg, clips, member_dir, strategy, scope=None):
        summary = real_member(cfg, clips, member_dir, strategy, scope)
        trained.append((Path(member_dir), summary["epochs_run_this_call"]))
        return summary

    monkeypatch.setattr(run_module, "_train_member", spy)
    assert main(command + ["--no-evaluate"]) == 0
    assert trained == [(m1, 0)]
    assert (m1 / "model.keras").exists() and (m1 / ".complete").exists()
    # Everything finished: the same command trains nothing at all.
    trained.clear()
    assert main(command + ["--no-evaluate"]) == 0
    assert trained == []
    assert (out / "model.keras").stat().st_mtime_ns == model_0
    # The count is recorded, not an identity setting: the run now stands for its first member only.
    assert main(command[:-3] + ["--members", "1", "--quiet", "--no-evaluate"]) == 0
    assert trained == [] and TrainConfig.load(out / "config.yaml").members == 1
