"""The feature layers and every backbone give the same numbers on TensorFlow and on JAX.

Reference: this test process (Keras on TensorFlow, the project's default).
Under test: one child process with ``KERAS_BACKEND=jax`` whose import system
refuses TensorFlow (``tests/helpers/backends.py``), so it also proves that
``asd_tf.features`` and ``asd_tf.models`` run without TensorFlow. The child gets
the same inputs, the layers' serialised configs and every weight (BatchNorm
moving statistics included), rebuilds each registry backbone with its builder,
and loads one model saved as ``.keras`` under TensorFlow with ``safe_mode=True``.

Cost: everything on the JAX side runs in that one child, with the feature
layers in one XLA program and each backbone's inference and training passes in
another; XLA compiles at optimisation level 0 (compilation, not execution,
dominates for these tiny models; the worst differences below were the same
within 10 % at the default level). The file takes about 20 s on 2 shared cores.

Tolerances. The backends run different kernels (oneDNN/Eigen vs XLA:CPU
convolutions, TensorFlow's vs DUCC's FFT) that sum in other orders, so they
agree to float32 round-off, amplified by depth, not bit for bit. Both bounds
are relative to the largest reference value (``atol = c * max|reference|``),
since outputs range from dB values of 100 to embeddings of 1:

- feature layers: ``rtol=1e-5``, ``c=1e-5``. Measured: at most 2e-7 of the
  largest value (one float32 FFT of up to 8192 points).
- embeddings, inference and training mode (BatchNorm with batch statistics):
  ``rtol=1e-4``, ``c=3e-4``. Measured: at most 5.4e-5 of the largest value,
  for the reference model, whose per-frequency-bin BatchNorm scales up the
  small high-frequency STFT bins: feeding the JAX spectrogram (2e-7 away)
  to the TensorFlow embedder alone moves the embedding by as much. The MobileFaceNet
  backbones stay below 1e-5. For scale, a symmetric instead of a periodic
  Hann window moves the reference embeddings by 3.5e-2 of their largest value.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.backends import backend_available, run_on_backend

pytestmark = pytest.mark.skipif(not backend_available("jax"), reason="jax is not installed (pip install jax)")

MFN_TINY = {"n_mels": 32, "embedding_dim": 16, "bottlenecks": [[2, 16, 1, 2]]}
#: Every registry backbone at tiny widths: (num_samples, builder options).
BACKBONE_OPTIONS: dict[str, dict] = {
    "reference": {"num_samples": 8000, "stage_channels": [4, 4, 8, 8], "spectrum_filters": 4, "dense_units": 8,
                  "branch_dim": 6},
    "stgram_mfn": {"num_samples": 8192, **MFN_TINY},
    "tastgram": {"num_samples": 8192, **MFN_TINY},
    "lowcomplexity_attention": {"num_samples": 8192, "attention_filters": [4, 8], **MFN_TINY},
    "fgaspecnet": {"num_samples": 8192, **MFN_TINY},
}
SAVED_BACKBONE = "reference"  # the one saved as .keras under TF and loaded under JAX

FEATURE_TOL = {"rtol": 1e-5, "atol_of_max": 1e-5}
EMBEDDING_TOL = {"rtol": 1e-4, "atol_of_max": 3e-4}


def _inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(8192) / 16000.0
    waves = np.stack([0.3 * np.sin(2 * np.pi * (150 + 400 * i) * t) + 0.05 * rng.standard_normal(8192)
                      for i in range(4)]).astype(np.float32)
    waves[3, 5000:] = 0.0  # a zero-padded clip: silent frames, |X| = 0 and the log floor
    return {
        "waves": waves,
        "odd": rng.standard_normal((2, 4001)).astype(np.float32),  # odd length: rfft without a Nyquist bin
        "spec": rng.standard_normal((2, 17, 32)).astype(np.float32),
        "spec2": rng.standard_normal((2, 17, 32)).astype(np.float32),
        "pair": rng.standard_normal((2, 17, 32, 2)).astype(np.float32),
    }


def _feature_layers():
    """``{key: (layer, input names, call kwargs)}``: every feature layer, several settings of each."""
    from asd_tf.features.frames import dcase_logmel_layer
    from asd_tf.features.logmel import LogMelSpectrogram
    from asd_tf.features.normalization import TemporalMeanNormalization
    from asd_tf.features.spectrum import FFTMagnitude
    from asd_tf.features.stft import STFTMagnitude
    from asd_tf.models.fgaspecnet import (
        FourierConv2D,
        Fourier2D,
        FrequencyGatedAttention,
        InverseFourier2D,
        SpectralBatchNormalization,
    )
    from asd_tf.models.batch_norm import BatchNormalization
    from asd_tf.models.space_to_depth import SpaceToDepthConv1D, SpaceToDepthConv2D
    from asd_tf.models.stgram import TemporalAttention

    return {
        "stft": (STFTMagnitude(), ["waves"], {}),
        "stft_pad_end": (STFTMagnitude(400, 160, pad_end=True), ["waves"], {}),
        "fft": (FFTMagnitude(), ["waves"], {}),
        "fft_odd": (FFTMagnitude(n_bins=1001), ["odd"], {}),
        "mean_norm": (TemporalMeanNormalization(), ["spec"], {}),
        "logmel": (LogMelSpectrogram(), ["waves"], {}),
        "logmel_dcase": (dcase_logmel_layer(), ["waves"], {}),
        "logmel_short_window": (
            LogMelSpectrogram(n_fft=1024, win_length=800, window="hamming", power=1.0, log="natural",
                              center=False, n_mels=40), ["waves"], {}),
        "logmel_power_1_5": (
            LogMelSpectrogram(n_fft=2048, power=1.5, mel_scale="slaney", mel_norm="slaney", pad_mode="constant"),
            ["waves"], {}),
        "tagram": (TemporalAttention(), ["spec"], {}),
        "fft2": (Fourier2D(), ["spec"], {}),
        "ifft2": (InverseFourier2D(), ["pair"], {}),
        "fourier_conv": (FourierConv2D(), ["pair"], {}),
        "spectral_bn_train": (SpectralBatchNormalization(), ["pair"], {"training": True}),
        "spectral_bn_infer": (SpectralBatchNormalization(), ["pair"], {"training": False}),
        "fga": (FrequencyGatedAttention(), ["spec", "spec2", "spec"], {}),
        # TensorFlow: the fused kernel in training mode; JAX: Keras's path.
        "batch_norm_train": (BatchNormalization(), ["pair"], {"training": True}),
        "batch_norm_infer": (BatchNormalization(), ["pair"], {"training": False}),
        "s2d_conv2d": (SpaceToDepthConv2D(3, 7, strides=2, padding="same", use_bias=False), ["pair"], {}),
        "s2d_conv1d": (SpaceToDepthConv1D(3, 5, strides=3, padding="same"), ["spec"], {}),
    }


def _randomise_statistics(layer, rng: np.random.Generator) -> None:
    """Non-trivial moving statistics for a lone BatchNorm layer (inference mode is then not ``x / sqrt(1 + eps)``)."""
    for w in layer.non_trainable_weights:
        if w.path.endswith("moving_variance"):
            w.assign(rng.uniform(0.5, 2.0, w.shape).astype(np.float32))
        elif w.path.endswith("moving_mean"):
            w.assign(rng.normal(0.0, 0.1, w.shape).astype(np.float32))


def _calibrate_batch_norm(model, x: np.ndarray) -> None:
    """Set every BatchNorm's moving statistics to the batch statistics of ``x`` (one training-mode pass).

    A fresh model's statistics (mean 0, variance 1) shrink the activations of a
    deep MobileFaceNet towards a constant embedding; calibrated statistics keep
    them at unit scale, as in a trained model, so inference-mode embeddings of
    different clips differ and the comparison means something.
    """
    import keras

    from asd_tf.models.describe import iter_layers

    norms = [layer for layer in iter_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0  # moving = batch statistics
    model(x, training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum


# Compile at XLA optimisation level 0 (see the module docstring), single-threaded as run_on_backend's default.
CHILD_ENV = {
    "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
}


def _as_tuples(options: dict) -> dict:
    """Builder options with JSON lists back as (nested) tuples, as the builders' defaults are."""
    return {
        key: tuple(tuple(v) if isinstance(v, list) else v for v in value) if isinstance(value, list) else value
        for key, value in options.items()
    }


CHILD = """
import json

import jax
import keras
import numpy as np

import asd_tf.features, asd_tf.models  # the packages import without TensorFlow
from asd_tf.models.registry import build_backbone
# Register every custom layer class before deserialising (a saved model names them).
import asd_tf.features.logmel, asd_tf.features.stft, asd_tf.features.spectrum, asd_tf.features.normalization
import asd_tf.models.reference, asd_tf.models.stgram, asd_tf.models.lowcomplexity, asd_tf.models.fgaspecnet

assert keras.backend.backend() == "jax"
data = dict(np.load(IN))
spec = json.loads(SPEC)
out = {}


def set_weights(obj, prefix):
    n = int(data[prefix + "/count"])
    assert len(obj.weights) == n, (prefix, len(obj.weights), n)
    for i, w in enumerate(obj.weights):
        w.assign(data[f"{prefix}/{i}"])


def state(obj):
    return [v.value for v in obj.trainable_variables], [v.value for v in obj.non_trainable_variables]


# All feature layers in one XLA program (eager JAX compiles every operation separately).
layers, states, feature_inputs = {}, {}, {}
for key, item in spec["features"].items():
    layer = keras.saving.deserialize_keras_object(item["config"])
    inputs = [data["in/" + name] for name in item["inputs"]]
    if item["weights"]:
        if not layer.built:  # the serialised config usually carries the build shapes
            layer.build([x.shape for x in inputs] if len(inputs) > 1 else inputs[0].shape)
        set_weights(layer, "feature/" + key)
    layers[key], states[key] = layer, state(layer)
    feature_inputs[key] = inputs if len(inputs) > 1 else inputs[0]


def all_features(states, feature_inputs):
    return {key: layer.stateless_call(*states[key], feature_inputs[key], **spec["features"][key]["kwargs"])[0]
            for key, layer in layers.items()}


for key, value in jax.jit(all_features)(states, feature_inputs).items():
    out["feature/" + key] = np.asarray(value)


def forward(model, x):
    # Inference- and training-mode outputs compiled as one XLA program.
    def both(tv, ntv, x):
        return (model.stateless_call(tv, ntv, x, training=False)[0],
                model.stateless_call(tv, ntv, x, training=True)[0])

    return [np.asarray(y) for y in jax.jit(both)(*state(model), x)]


waves = data["in/waves"]
for name, options in spec["backbones"].items():
    options = {k: tuple(tuple(v) if isinstance(v, list) else v for v in value) if isinstance(value, list) else value
               for k, value in options.items()}
    # Every weight is overwritten: skip the random initialisers, which cost one XLA compilation
    # per distinct weight shape (seconds per model on CPU). Built in a stateless scope, the
    # variables wait for initialisation; set_weights gives them their values and clear_session
    # forgets the pending initialisation (it would refuse variables that already have a value).
    with keras.StatelessScope(initialize_variables=False):
        model = build_backbone(name, **options)
    set_weights(model, "backbone/" + name)
    keras.backend.clear_session()
    x = waves[:, : options["num_samples"]]
    out[f"backbone/{name}/inference"], out[f"backbone/{name}/training"] = forward(model, x)

loaded = keras.saving.load_model(spec["saved_path"], safe_mode=True)
x = waves[:, : spec["backbones"][spec["saved_name"]]["num_samples"]]
out["saved/inference"], out["saved/training"] = forward(loaded, x)
np.savez(OUT, **out)
"""


@pytest.fixture(scope="module")
def both_backends(tmp_path_factory):
    """``(reference outputs on TF, outputs of the JAX child)`` for every feature layer and backbone."""
    import keras

    from asd_tf.models.registry import BACKBONES, build_backbone

    assert set(BACKBONE_OPTIONS) == set(BACKBONES), "a registry backbone is missing from the parity test"
    tmp_path = tmp_path_factory.mktemp("parity")
    inputs = _inputs()
    arrays = {f"in/{k}": v for k, v in inputs.items()}
    reference: dict[str, np.ndarray] = {}
    spec: dict = {"features": {}, "backbones": BACKBONE_OPTIONS, "saved_name": SAVED_BACKBONE}
    rng = np.random.default_rng(1)

    keras.utils.set_random_seed(0)
    for key, (layer, names, kwargs) in _feature_layers().items():
        layer_inputs = [inputs[n] for n in names]
        arg = layer_inputs if len(layer_inputs) > 1 else layer_inputs[0]
        layer.build([x.shape for x in layer_inputs] if len(layer_inputs) > 1 else layer_inputs[0].shape)
        _randomise_statistics(layer, rng)
        for i, w in enumerate(layer.weights):
            arrays[f"feature/{key}/{i}"] = np.asarray(w.numpy())
        arrays[f"feature/{key}/count"] = np.asarray(len(layer.weights))
        spec["features"][key] = {
            "config": keras.saving.serialize_keras_object(layer),
            "inputs": names,
            "kwargs": kwargs,
            "weights": bool(layer.weights),
        }
        reference[f"feature/{key}"] = np.asarray(layer(arg, **kwargs))

    for name, options in BACKBONE_OPTIONS.items():
        keras.utils.set_random_seed(0)
        model = build_backbone(name, **_as_tuples(options))
        _calibrate_batch_norm(model, inputs["waves"][:, : options["num_samples"]])
        for i, w in enumerate(model.weights):
            arrays[f"backbone/{name}/{i}"] = np.asarray(w.numpy())
        arrays[f"backbone/{name}/count"] = np.asarray(len(model.weights))
        if name == SAVED_BACKBONE:
            spec["saved_path"] = str(tmp_path / f"{name}.keras")
            model.save(spec["saved_path"])
        x = inputs["waves"][:, : options["num_samples"]]
        reference[f"backbone/{name}/inference"] = np.asarray(model(x, training=False))
        reference[f"backbone/{name}/training"] = np.asarray(model(x, training=True))
    reference["saved/inference"] = reference[f"backbone/{SAVED_BACKBONE}/inference"]
    reference["saved/training"] = reference[f"backbone/{SAVED_BACKBONE}/training"]

    code = f"SPEC = {json.dumps(spec)!r}\n" + CHILD
    return reference, run_on_backend("jax", code, tmp_path, env=CHILD_ENV, **arrays)


def _assert_close(got: np.ndarray, want: np.ndarray, rtol: float, atol_of_max: float, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {got.shape} on JAX vs {want.shape} on TF"
    scale = float(np.max(np.abs(want)))
    assert np.all(np.isfinite(want)) and scale > 0, f"{what}: the TF reference is degenerate"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol_of_max * scale, err_msg=what)


FEATURE_KEYS = [
    "stft", "stft_pad_end", "fft", "fft_odd", "mean_norm", "logmel", "logmel_dcase", "logmel_short_window",
    "logmel_power_1_5", "tagram", "fft2", "ifft2", "fourier_conv", "spectral_bn_train", "spectral_bn_infer", "fga",
    "batch_norm_train", "batch_norm_infer", "s2d_conv2d", "s2d_conv1d",
]


def test_every_custom_layer_of_features_and_models_is_covered():
    """Each serialisable layer class defined in ``asd_tf.features`` or ``asd_tf.models`` is in the parity set."""
    import importlib
    import pkgutil

    import keras

    import asd_tf.features
    import asd_tf.models

    for package in (asd_tf.features, asd_tf.models):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    defined = {
        cls for cls in keras.saving.get_custom_objects().values()
        if isinstance(cls, type) and cls.__module__.startswith(("asd_tf.features.", "asd_tf.models."))
    }
    layers = _feature_layers()
    assert sorted(layers) == sorted(FEATURE_KEYS)
    missing = defined - {type(layer) for layer, _, _ in layers.values()}
    assert len(defined) >= 10 and not missing, f"layers without a parity check: {sorted(c.__name__ for c in missing)}"


@pytest.mark.parametrize("key", FEATURE_KEYS)
def test_feature_layer_matches_tensorflow(both_backends, key):
    reference, jax_out = both_backends
    _assert_close(jax_out[f"feature/{key}"], reference[f"feature/{key}"], **FEATURE_TOL, what=key)


@pytest.mark.parametrize("name", list(BACKBONE_OPTIONS))
def test_backbone_embeddings_match_tensorflow(both_backends, name):
    reference, jax_out = both_backends
    for mode in ("inference", "training"):
        key = f"backbone/{name}/{mode}"
        want = reference[key]
        # Guard against a vacuous comparison: the clips must give different embeddings.
        assert np.max(np.abs(want[0] - want[1])) > 0.05 * np.max(np.abs(want)), f"{key}: embeddings barely differ"
        _assert_close(jax_out[key], want, **EMBEDDING_TOL, what=key)


def test_model_saved_under_tensorflow_loads_under_jax_with_safe_mode(both_backends):
    reference, jax_out = both_backends
    for mode in ("inference", "training"):
        _assert_close(jax_out[f"saved/{mode}"], reference[f"saved/{mode}"], **EMBEDDING_TOL,
                      what=f"{SAVED_BACKBONE}.keras saved on TF, loaded on JAX ({mode})")
