"""Every registered serialisable layer of asd_tf survives get_config / from_config / a .keras file.

One case per layer class (features, the backbones' own layers, every loss of the
registry, FeatEx, the loss head), each through :func:`helpers.serialization.run_serialization_test`;
a registered class without a case fails :func:`test_every_registered_layer_has_a_case`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from helpers.serialization import run_serialization_test

ROOT = Path(__file__).resolve().parents[1]
B, D, C = 4, 8, 3
RNG = np.random.default_rng(0)


def _x(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


E = _x(B, D)
Y1 = np.array([0, 1, 2, 1], np.int32)
Y2 = np.array([1, 1, 0, 2], np.int32)
LAM = np.array([0.3, 0.9, 0.5, 0.1], np.float32)

#: Registered classes that are never written into a run's .keras files.
NOT_SAVED = {"asd_tf>ASDTrainer": "the training wrapper: runs save model.keras and head.keras, never the trainer"}


def _perturb(layer) -> None:
    """Move every float weight (and an adaptive scale) off its initial value: only saved weights reproduce it."""
    rng = np.random.default_rng(1)
    for w in layer.weights:
        if "float" in str(w.dtype):
            value = keras.ops.convert_to_numpy(w)
            w.assign((value + 0.1 * rng.standard_normal(value.shape)).astype(value.dtype))


def _batch_statistics(layer) -> None:
    _perturb(layer)
    layer.moving_variance.assign(np.abs(keras.ops.convert_to_numpy(layer.moving_variance)) + 0.5)


def _loss_call(layer, e):
    return [layer.logits(e), layer(e, Y1, Y2, LAM, training=False)]


def _head(layer, e):
    from asd_tf.losses.head import LossHead

    head = LossHead(layer, D)
    head.build((None, D))
    return head


def _loss_case(name: str, **params):
    from asd_tf.losses.registry import LOSSES

    return dict(cls=LOSSES[name], kwargs={"num_classes": C, "embedding_dim": D, "seed": 3, **params}, x=E,
                call=_loss_call, prepare=_perturb, wrap=_head, unwrap=lambda m: m.loss_layer, atol=1e-5)


@functools.lru_cache(maxsize=1)
def _cases() -> dict[str, dict]:
    from asd_tf.features.logmel import LogMelSpectrogram
    from asd_tf.features.normalization import TemporalMeanNormalization
    from asd_tf.features.spectrum import FFTMagnitude
    from asd_tf.features.stft import STFTMagnitude
    from asd_tf.losses.featex import FeatExLoss
    from asd_tf.losses.statex import StatExLoss
    from asd_tf.losses.head import LossHead
    from asd_tf.losses.registry import LOSSES, build_loss
    from asd_tf.models import fgaspecnet as fga
    from asd_tf.models.batch_norm import BatchNormalization
    from asd_tf.models.space_to_depth import SpaceToDepthConv1D, SpaceToDepthConv2D
    from asd_tf.models.stgram import TemporalAttention

    cases = {
        "STFTMagnitude": dict(cls=STFTMagnitude, kwargs={"frame_length": 64, "frame_step": 32, "pad_end": True},
                              x=_x(2, 256), atol=1e-4),
        "FFTMagnitude": dict(cls=FFTMagnitude, kwargs={"n_bins": 7}, x=_x(2, 64), atol=1e-4),
        "TemporalMeanNormalization": dict(cls=TemporalMeanNormalization, kwargs={"axis": 2}, x=_x(2, 3, 5)),
        "LogMelSpectrogram": dict(cls=LogMelSpectrogram, kwargs={"n_fft": 128, "hop_length": 64, "n_mels": 8,
                                                                 "power": 1.0, "log": "natural"},
                                  x=_x(2, 512), atol=1e-4),
        "Fourier2D": dict(cls=fga.Fourier2D, kwargs={}, x=_x(2, 4, 6), atol=1e-4),
        "InverseFourier2D": dict(cls=fga.InverseFourier2D, kwargs={}, x=_x(2, 4, 6, 2), atol=1e-5),
        "FourierConv2D": dict(cls=fga.FourierConv2D, kwargs={}, x=_x(2, 4, 6, 2), prepare=_perturb, atol=1e-5),
        "SpectralBatchNormalization": dict(cls=fga.SpectralBatchNormalization,
                                           kwargs={"momentum": 0.8, "epsilon": 1e-4}, x=_x(2, 4, 6, 2),
                                           prepare=_batch_statistics, atol=1e-5),
        "FrequencyGatedAttention": dict(cls=fga.FrequencyGatedAttention,
                                        kwargs={"fusion_weight": 0.3, "kernel_size": 3},
                                        x=[_x(2, 4, 6), _x(2, 4, 6), _x(2, 4, 6)], prepare=_perturb, atol=1e-5),
        "TemporalAttention": dict(cls=TemporalAttention, kwargs={}, x=_x(2, 4, 6)),
        "BatchNormalization": dict(cls=BatchNormalization, kwargs={"momentum": 0.8, "epsilon": 1e-4},
                                   x=_x(2, 3, 5, 4), prepare=_batch_statistics, atol=1e-5),
        "SpaceToDepthConv1D": dict(cls=SpaceToDepthConv1D, kwargs={"filters": 3, "kernel_size": (5,), "strides": (2,),
                                                                   "padding": "same", "use_bias": False},
                                   x=_x(2, 11, 2), prepare=_perturb, atol=1e-5),
        "SpaceToDepthConv2D": dict(cls=SpaceToDepthConv2D, kwargs={"filters": 3, "kernel_size": (3, 3), "strides": (2, 2),
                                                                   "padding": "same"},
                                   x=_x(2, 7, 6, 1), prepare=_perturb, atol=1e-5),
        "LossHead": dict(cls=LossHead, kwargs={"loss_layer": build_loss("adacos", C, D, seed=2), "embedding_dim": D},
                         x=E, prepare=_perturb, wrap=lambda head, e: head, unwrap=lambda m: m),
        "FeatExLoss": dict(cls=FeatExLoss, kwargs={"main": build_loss("adacos", C, D, seed=4),
                                                   "featex_head": build_loss("subcluster_adacos", 3 * C, D, seed=5,
                                                                             num_subclusters=2),
                                                   "split": 3, "prob": 0.25, "weight": 0.5, "seed": 4},
                           x=E, call=_loss_call, prepare=_perturb, wrap=_head, unwrap=lambda m: m.loss_layer,
                           atol=1e-5),
        "StatExLoss": dict(cls=StatExLoss, kwargs={"main": build_loss("adacos", C, D, seed=6),
                                                   "head": build_loss("subcluster_adacos", 9 * C, D, seed=7,
                                                                      num_subclusters=2),
                                                   "prob": 0.25, "weight": 0.5, "eps": 1e-8, "featex_split": 3,
                                                   "featex_prob": 0.75, "seed": 5},
                           x=E, call=_loss_call, prepare=_perturb, wrap=_head, unwrap=lambda m: m.loss_layer,
                           atol=1e-5),
    }
    small = {"subcluster_adacos": {"num_subclusters": 2}, "adaproj": {"subspace_dim": 2}}
    for name in LOSSES:
        cases[LOSSES[name].__name__] = _loss_case(name, **small.get(name, {}))
    return cases


CASE_NAMES = [
    "STFTMagnitude", "FFTMagnitude", "TemporalMeanNormalization", "LogMelSpectrogram", "Fourier2D",
    "InverseFourier2D", "FourierConv2D", "SpectralBatchNormalization", "FrequencyGatedAttention",
    "TemporalAttention", "BatchNormalization", "SpaceToDepthConv1D", "SpaceToDepthConv2D", "LossHead", "FeatExLoss",
    "StatExLoss", "CompactnessLoss", "CompactnessCCELoss", "AdaCosLoss",
    "SubclusterAdaCosLoss", "ArcFaceLoss", "ElasticFaceLoss", "ArcMixLoss", "NoisyArcMixLoss", "MarginMixupLoss",
    "EMMLoss", "SoftTripleLoss", "NoisyArcMixSoftTripleLoss", "AdaProjLoss",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_layer_round_trips(name, tmp_path) -> None:
    case = _cases()[name]
    loaded = run_serialization_test(
        case["cls"], case["kwargs"], case["x"], tmp_path=tmp_path, call=case.get("call"),
        prepare=case.get("prepare"), wrap=case.get("wrap"), unwrap=case.get("unwrap"), atol=case.get("atol", 1e-6),
    )
    assert isinstance(loaded, case["cls"])


def test_every_registered_layer_has_a_case() -> None:
    from asd_tf.runs import register_layers

    register_layers()
    import asd_tf.training.trainer  # noqa: F401  (registers ASDTrainer)

    registered = {key for key, obj in keras.saving.get_custom_objects().items()
                  if getattr(obj, "__module__", "").startswith("asd_tf.") and isinstance(obj, type)
                  and issubclass(obj, keras.layers.Layer)}
    assert set(_cases()) == set(CASE_NAMES)
    assert registered - set(NOT_SAVED) == {f"asd_tf>{name}" for name in CASE_NAMES}


def test_register_layers_alone_registers_every_layer_a_run_file_may_hold() -> None:
    # In a fresh process (no other test's imports): every class that features, models and
    # losses register must be known after register_layers(), or loading a run fails.
    declared = set()
    for package in ("features", "models", "losses"):
        for path in (ROOT / "asd_tf" / package).glob("*.py"):
            text = path.read_text(encoding="utf-8")
            declared |= set(re.findall(r"@keras\.saving\.register_keras_serializable\([^)]*\)\s*\nclass (\w+)", text))
    assert {"LogMelSpectrogram", "FeatExLoss", "LossHead", "AdaCosLoss"} <= declared
    code = ("import json, keras\nfrom asd_tf.runs import register_layers\nregister_layers()\n"
            "print(json.dumps(sorted(k for k in keras.saving.get_custom_objects() if k.startswith('asd_tf>'))))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    registered = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert {f"asd_tf>{name}" for name in declared} <= registered
