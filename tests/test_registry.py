"""The one registry mechanism (asd_tf.registry) and the registries built on it.

A loss and a backbone registered for one test (in a module written to a temporary
folder, named as ``"module:attr"`` text) train by name through ``build_loss`` and the
training's backbone builder, and ``runs.register_layers`` imports their module.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from asd_tf.errors import ConfigError
from asd_tf.registry import Registry


def _pair(a: int, b: int = 2) -> int:
    return a + b


class _Thing:
    def __init__(self, size: int, colour: str = "red", **kwargs) -> None:
        self.size, self.colour = size, colour


def test_unknown_name_names_the_key_and_the_known_ones() -> None:
    reg = Registry("widget", {"pair": _pair, "thing": _Thing})
    with pytest.raises(ConfigError, match=r"unknown widget 'pear'; choose one of pair, thing"):
        reg["pear"]
    assert reg.get("pear") is None and "pear" not in reg
    assert list(reg) == ["pair", "thing"] and len(reg) == 2


def test_lazy_targets_are_imported_on_lookup_only() -> None:
    reg = Registry("widget", {"ghost": "asd_tf_no_such_module:build", "sqrt": "math:sqrt", "json": "json"})
    assert ", ".join(reg) == "ghost, sqrt, json"  # listing never imports
    import json
    import math

    assert reg["sqrt"] is math.sqrt and reg["json"] is json
    with pytest.raises(ModuleNotFoundError, match="asd_tf_no_such_module"):
        reg["ghost"]
    assert reg.module_names() == ["asd_tf_no_such_module", "math", "json"]


def test_signature_check_and_build() -> None:
    reg = Registry("widget", {"pair": _pair, "thing": _Thing})
    assert reg.parameters("thing") == {"size", "colour"} and reg.parameters("pair") == {"a", "b"}
    assert reg.accepts("thing", "anything")  # **kwargs
    assert reg.accepts("pair", "b") and not reg.accepts("pair", "c")
    reg.check_options("thing", ["colour"], exclude=["size"])
    with pytest.raises(ConfigError, match=r"widget 'thing': unknown parameters \['size'\]; accepted: \['colour'\]"):
        reg.check_options("thing", ["size"], exclude=["size"])
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['c'\]; accepted: \['a', 'b', 'name'\]"):
        reg.check_options("pair", ["c"], extra=["name"], what="option(s)")
    assert reg.build("pair", 3) == 5
    assert reg.build("thing", 4, colour="blue").colour == "blue"


def test_register_decorator_temporarily_and_duplicates() -> None:
    reg = Registry("widget", {"pair": _pair})

    @reg.register("triple")
    def triple(x: int) -> int:
        return 3 * x

    assert reg["triple"] is triple and reg.build("triple", 2) == 6
    with pytest.raises(ValueError, match="'triple' is already registered"):
        reg.register("triple", _pair)
    with reg.temporarily("pair", _Thing):
        assert reg["pair"] is _Thing
    with reg.temporarily("new", _Thing):
        assert "new" in reg
    assert reg["pair"] is _pair and "new" not in reg


def test_project_registries_are_registry_objects() -> None:
    from asd_tf.commands import COMMANDS
    from asd_tf.losses.registry import LOSSES
    from asd_tf.models.registry import BACKBONES
    from asd_tf.scoring.backends import BACKENDS

    for reg in (COMMANDS, LOSSES, BACKBONES, BACKENDS):
        assert isinstance(reg, Registry)
    assert [r.kind for r in (COMMANDS, LOSSES, BACKBONES, BACKENDS)] == ["command", "loss", "backbone",
                                                                          "scoring backend"]
    with pytest.raises(ConfigError, match="unknown backbone 'resnet'; choose one of reference, stgram_mfn"):
        BACKBONES["resnet"]
    with pytest.raises(ConfigError, match="unknown loss 'cosface'; choose one of compactness, compactness_cce"):
        LOSSES["cosface"]


PLUGIN = '''
import keras

from asd_tf.losses.adacos import AdaCosLoss


@keras.saving.register_keras_serializable(package="asd_plugin_test")
class PluginLoss(AdaCosLoss):
    """AdaCos under another name: a loss added by registration only."""


def build_plugin(num_samples, embedding_dim=8):
    """A tiny waveform -> embedding model made of ``frontend`` and ``embedder`` sub-models."""
    waveform = keras.Input((num_samples,), name="waveform")
    frontend = keras.Model(waveform, keras.layers.Reshape((num_samples,))(waveform), name="frontend")
    features = keras.Input((num_samples,))
    embedder = keras.Model(features, keras.layers.Dense(embedding_dim, name="dense")(features), name="embedder")
    return keras.Model(waveform, embedder(frontend(waveform)), name="plugin")
'''


def test_a_registered_loss_and_backbone_train_by_name(tmp_path, monkeypatch) -> None:
    import keras

    from asd_tf.losses.registry import LOSSES, build_loss
    from asd_tf.models.registry import BACKBONES
    from asd_tf.runs import register_layers
    from asd_tf.settings import TrainConfig
    from asd_tf.training.run import build_embedding_model
    from asd_tf.training.trainer import ASDTrainer

    module = "asd_plugin_registry_test"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    with LOSSES.temporarily("plugin", f"{module}:PluginLoss"), \
            BACKBONES.temporarily("plugin", f"{module}:build_plugin"):
        assert module not in sys.modules
        register_layers()  # imports every registered module: the plugin's layers register
        plugin = sys.modules[module]
        assert keras.saving.get_registered_object("asd_plugin_test>PluginLoss") is plugin.PluginLoss

        cfg = TrainConfig(backbone="plugin", loss="plugin", num_samples=64)
        model = build_embedding_model(cfg)  # the training's builder: no name special-cased
        assert model.name == "plugin"
        loss = build_loss("plugin", num_classes=3, embedding_dim=8, seed=0)
        assert type(loss) is plugin.PluginLoss
        with pytest.raises(ConfigError, match=r"loss 'plugin': unknown parameters \['colour'\]"):
            build_loss("plugin", num_classes=3, embedding_dim=8, colour="red")

        keras.utils.set_random_seed(0)
        trainer = ASDTrainer(model, loss, mixup_prob=0.0)
        trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
        rng = np.random.default_rng(0)
        x = rng.standard_normal((12, 64)).astype("float32")
        y = np.arange(12, dtype="int32") % 3
        before = model.get_layer("embedder").get_layer("dense").kernel.numpy().copy()
        history = trainer.fit(x, y, batch_size=6, epochs=2, verbose=0)
        after = model.get_layer("embedder").get_layer("dense").kernel.numpy()
        assert np.all(np.isfinite(history.history["loss"]))
        assert np.abs(after - before).max() > 1e-4  # the embedding model trained
    assert "plugin" not in LOSSES and "plugin" not in BACKBONES


def test_reference_backbone_gets_the_branches_setting_through_the_registry() -> None:
    from asd_tf.models.registry import BACKBONES

    # the training hands `branches` to every builder taking it: only the reference system's does
    assert [name for name in BACKBONES if BACKBONES.accepts(name, "branches")] == ["reference"]
