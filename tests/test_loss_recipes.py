"""The AdaProj and trainable sub-cluster AdaCos recipes load as experiments and as ``asd-tf train --config``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from asd_tf.comparison.experiment import load_experiment, load_experiments

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "asd_tf" / "comparison" / "configs" / "recipes"

EXPECTED = {
    "adaproj": dict(
        loss="adaproj", labels="attribute", loss_params={"subspace_dim": 32}, mixup_prob=0.5,
        optimizer="adam", learning_rate=1e-3, epochs=10, batch_size=32,
    ),
    "statex_featex": dict(
        loss="adaproj", labels="attribute",
        loss_params={"subspace_dim": 32, "statex": True, "statex_prob": 0.5, "featex": True, "featex_prob": 0.5},
        mixup_prob=0.5, optimizer="adam", learning_rate=1e-3, epochs=10, batch_size=32,
    ),
    "subcluster_adacos_trainable": dict(
        loss="subcluster_adacos", labels="attribute",
        loss_params={"num_subclusters": 16, "trainable_centres": True, "dynamic_scale": False},
        mixup_prob=0.5, optimizer="adamw", weight_decay_optimizer=0.01, learning_rate=1e-3, epochs=16,
        batch_size=64,
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_loads_for_train_config(name):
    from asd_tf.losses import build_loss
    from asd_tf.commands.train import config_from_args, register

    path = RECIPES / f"{name}.yaml"
    exp = load_experiment(path)
    # the trainable-centres row scores with its source toolkit's kNN + SMOTE, AdaProj with k-means
    expected_backend = "knn_smote" if name == "subcluster_adacos_trainable" else "kmeans"
    assert exp.dataset == "dcase2023" and exp.backend == expected_backend
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["train", "--config", str(path), "--data", "/somewhere", "--out", "/tmp/x"])
    cfg = config_from_args(args)
    got = {key: getattr(cfg, key) for key in EXPECTED[name]}
    assert got == EXPECTED[name]
    assert cfg.data == "/somewhere" and cfg.dataset == "dcase2023"
    # the loss parameters are accepted by the layer
    params = dict(cfg.loss_params)
    if params.get("featex"):
        params["featex_split"] = 4  # set by the trainer from the model
    layer = build_loss(cfg.loss, 3, 8, **params)
    if params.get("statex"):
        assert layer.head.num_classes == 9 * 3 and layer.head.trainable_centres
        layer = layer.main
    assert bool(layer.trainable_weights) == cfg.loss_params.get("trainable_centres", False)
    assert layer.dynamic_scale == cfg.loss_params.get("dynamic_scale", True)


def test_recipes_are_found_by_the_recipe_glob():
    names = {e.name for e in load_experiments("dcase2023", "recipes/*")}
    assert set(EXPECTED) <= names
    trainable = load_experiment(RECIPES / "subcluster_adacos_trainable.yaml")
    assert trainable.paper == {"official": pytest.approx(66.08)}
