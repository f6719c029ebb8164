"""One serialisation round trip for every registered layer (shape of KerasHub's ``run_serialization_test``).

:func:`run_serialization_test` builds the layer, checks that ``get_config`` mirrors the
constructor, rebuilds it with ``from_config`` and through its registered name
(``safe_mode=True``), saves a tiny model holding it as ``.keras`` and loads it back with
``safe_mode=True``: every copy must have the same config and give the same output.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

#: Keras layer arguments a config holds besides the constructor's own (the last two only for
#: a layer without its own ``__init__``, whose config Keras writes from ``Layer.__init__``).
LAYER_ARGUMENTS = {"name", "trainable", "dtype", "activity_regularizer", "autocast"}


def constructor_parameters(cls: type) -> set[str]:
    """Named constructor parameters of ``cls``: those of the nearest class of its MRO that defines ``__init__``.

    A layer that subclasses a Keras layer without its own ``__init__`` has that layer's
    constructor (and config); one that subclasses ``keras.layers.Layer`` has none of its own.
    """
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _flat(outputs: Any) -> list[np.ndarray]:
    items = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in items]


def _functional(layer: keras.layers.Layer, input_data: Any) -> keras.Model:
    arrays = input_data if isinstance(input_data, list) else [input_data]
    inputs = [keras.Input(shape=a.shape[1:], dtype=str(a.dtype)) for a in arrays]
    return keras.Model(inputs if isinstance(input_data, list) else inputs[0],
                       layer(inputs if isinstance(input_data, list) else inputs[0]))


def _expected(value: Any) -> Any:
    """What a config holds for a constructor argument (a nested layer as its serialised form)."""
    return keras.saving.serialize_keras_object(value) if isinstance(value, keras.layers.Layer) else value


def run_serialization_test(
    layer_cls: type,
    init_kwargs: dict[str, Any],
    input_data: Any,
    *,
    tmp_path: Path,
    call: Callable[[Any, Any], Any] | None = None,
    prepare: Callable[[Any], None] | None = None,
    wrap: Callable[[Any, Any], keras.Model] | None = None,
    unwrap: Callable[[keras.Model], Any] | None = None,
    atol: float = 1e-6,
) -> Any:
    """Round-trip ``layer_cls(**init_kwargs)``; returns the layer loaded from the ``.keras`` file.

    Args:
        layer_cls: a registered serialisable layer class.
        init_kwargs: constructor arguments; the config must hold each of them unchanged
            (a nested layer serialised) and no key that is not a constructor parameter.
        input_data: array (or list of arrays) the layer is called on.
        tmp_path: folder for the ``.keras`` file.
        call: ``call(layer, input_data) -> output(s)`` (default ``layer(input_data)``).
        prepare: changes the built layer's state (weights, scale) so that only restored
            weights reproduce its output.
        wrap, unwrap: build the saved model around the layer / find the layer in the
            loaded model (default: a functional model around the layer, found by name).
    """
    call = call or (lambda layer, x: layer(x))
    layer = layer_cls(**init_kwargs)
    call(layer, input_data)  # builds
    if prepare is not None:
        prepare(layer)
    expected = _flat(call(layer, input_data))
    config = layer.get_config()

    own = set(config) - LAYER_ARGUMENTS
    assert own == constructor_parameters(layer_cls) - LAYER_ARGUMENTS, (
        f"{layer_cls.__name__}.get_config() keys {sorted(own)} do not mirror the constructor "
        f"{sorted(constructor_parameters(layer_cls))}")
    for key, value in init_kwargs.items():
        assert config[key] == _expected(value), f"{layer_cls.__name__}: config[{key!r}] = {config[key]!r} != {value!r}"

    def same(other: Any, what: str) -> None:
        assert type(other) is layer_cls, f"{what}: {type(other).__name__} is not {layer_cls.__name__}"
        assert other.get_config() == config, f"{what}: config differs"
        for got, want in zip(_flat(call(other, input_data)), expected):
            np.testing.assert_allclose(got, want, atol=atol, err_msg=f"{layer_cls.__name__} {what}")

    clone = layer_cls.from_config(config)
    call(clone, input_data)
    clone.set_weights(layer.get_weights())
    same(clone, "from_config")

    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer), safe_mode=True)
    call(restored, input_data)
    restored.set_weights(layer.get_weights())
    same(restored, "registered name")

    model = (wrap or _functional)(layer, input_data)
    path = Path(tmp_path) / f"{layer_cls.__name__}.keras"
    model.save(path)
    loaded_model = keras.saving.load_model(path, safe_mode=True, compile=False)
    loaded = (unwrap or (lambda m: m.get_layer(layer.name)))(loaded_model)
    same(loaded, ".keras file")
    return loaded
