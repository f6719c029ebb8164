"""Training on every Keras backend (issue 19): the same steps on TensorFlow, JAX and PyTorch.

The trainer's forward pass (mixup, class weights, input crop, loss, metrics) is
``keras.ops``; only the gradient plumbing is per backend (``asd_tf.training.steps``).
Every check starts from the same weights (a tiny reference model + sub-cluster
AdaCos with its adaptive scale, built on TensorFlow, loaded in the children) and
runs :func:`helpers.train_steps.protocol`: one Adam step on a batch holding a NaN
(the non-finite guard must leave every trainable weight as it was), then three
steps on fixed batches with class weights ``[1, 2, 0.5, 0]`` and mixup off (the
backends' random streams differ; everything else is deterministic).

Tolerances (measured on the shared 2-core CPU): TF vs JAX per-step losses agree to
7e-5 relative or better, the adapted scale to 2e-5, the weights to 1e-4 absolute; the
three Adam steps move weights by up to 3e-3 (lr 1e-3), so the weight bound of 3e-4
is a tenth of one step's update: a step computed from another loss, a missing class
weight or an unapplied gradient fails it (checked by hand: without class weights the
second step's loss moves by more than 1e-2, ten times the loss bound). The JAX child also trains the same steps under
``keras.distribution.DataParallel`` over two host CPU devices (the batch sharded 4 +
4, checked) and must match its single-device run (the loss layer sees the global
batch, so the adaptive scale is the same; per-device statistics would move it).

Children: one JAX process (two forced host devices) and, when torch is installed,
one torch process; each refuses ``import tensorflow``. A tiny ``asd-tf train`` +
evaluation under JAX runs in a third child (``test_asd_tf_train_runs_on_jax``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.backends import backend_available, run_on_backend
from helpers.train_steps import build_trainer, fixed_batches, part_weights, protocol

needs_jax = pytest.mark.skipif(not backend_available("jax"), reason="jax is not installed")

# Single-threaded as run_on_backend's default, at XLA optimisation level 0: compile time
# dominates these three-step runs (the level does not change the differences measured here).
JAX_ENV = {
    "XLA_FLAGS": "--xla_force_host_platform_device_count=2 --xla_backend_optimization_level=0 "
    "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
}

CHILD_PRELUDE = '''
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from helpers.train_steps import build_trainer, fixed_batches, protocol

data = np.load(IN)
weights = {{part: [data[f"{{part}}_{{i}}"] for i in range(int(data[f"n_{{part}}"]))] for part in ("embedding", "loss")}}
x, y = fixed_batches()
out = {{}}
'''


def _flat(weights: dict) -> dict:
    arrays = {f"n_{part}": np.int64(len(ws)) for part, ws in weights.items()}
    for part, ws in weights.items():
        arrays.update({f"{part}_{i}": w for i, w in enumerate(ws)})
    return arrays


@pytest.fixture(scope="module")
def reference():
    """The TensorFlow run (the test process) and the starting weights."""
    trainer = build_trainer()
    weights = part_weights(trainer)
    x, y = fixed_batches()
    return weights, protocol(trainer, x, y)


def _prelude() -> str:
    from pathlib import Path

    return CHILD_PRELUDE.format(tests=str(Path(__file__).resolve().parent))


def _compare(run: dict, ref: dict, prefix: str = "") -> None:
    # Same loss trajectory (per-step batch losses, not running means) and adaptive scale.
    np.testing.assert_allclose(run[prefix + "losses"], ref["losses"], rtol=1e-3, err_msg=prefix + "losses")
    np.testing.assert_allclose(run[prefix + "scale"], ref["scale"], rtol=1e-4, err_msg=prefix + "scale")
    n = sum(1 for k in ref if k.startswith("w"))
    assert n == sum(1 for k in run if k.startswith(prefix + "w") and k[len(prefix) + 1:].isdigit())
    for i in range(n):
        a, b = run[f"{prefix}w{i}"], ref[f"w{i}"]
        # The NaN step leaves BatchNorm moving statistics non-finite on every backend (as on TF; NaN
        # there, -inf here): the same entries must be non-finite, the rest agree.
        finite = np.isfinite(b)
        np.testing.assert_array_equal(np.isfinite(a), finite, err_msg=f"{prefix}w{i}: non-finite entries")
        np.testing.assert_allclose(a[finite], b[finite], atol=3e-4, rtol=0, err_msg=f"{prefix}w{i}")


def test_tensorflow_reference_is_meaningful(reference):
    _, ref = reference
    assert np.isnan(ref["nan_loss"]) and ref["moved"] == 0.0  # the guard on TensorFlow
    assert np.all(np.isfinite(ref["losses"])) and len(ref["losses"]) == 3
    assert abs(ref["scale"] - ref["scale0"]) > 1e-2  # the adaptive scale moved


@pytest.fixture(scope="module")
def jax_runs(reference, tmp_path_factory):
    weights, _ = reference
    code = _prelude() + '''
import jax
import keras

out["devices"] = np.int64(len(jax.devices()))
single = protocol(build_trainer(weights=weights), x, y)
out.update({"single_" + k: v for k, v in single.items()})

distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
with distribution.scope():
    trainer = build_trainer(weights=weights)
    shards = distribution.get_data_layout((8, 16000)).backend_layout.addressable_devices_indices_map((8, 16000))
    out["rows_per_device"] = np.array(sorted(s[0].stop - s[0].start for s in shards.values()))
    parallel = protocol(trainer, x, y)
out.update({"dp_" + k: v for k, v in parallel.items()})
out["variable_devices"] = np.int64(len(trainer.trainable_variables[0].value.sharding.device_set))

# tile_crop (keras.ops) against NumPy, and the JAX crop offsets in range.
from asd_tf.training.steps import backend_steps
from asd_tf.training.trainer import tile_crop
waves = np.arange(24, dtype=np.float32).reshape(3, 8)
out["crop"] = np.asarray(tile_crop(waves, np.array([0, 3, 7])))
out["offsets"] = np.asarray(backend_steps().crop_offsets(keras.random.SeedGenerator(1), np.zeros((64, 5), "float32")))

# --strategy names on JAX (two devices here).
from asd_tf.errors import ConfigError
steps = backend_steps()
out["replicas"] = np.array([steps.make_strategy(n).num_replicas_in_sync for n in ("auto", "mirrored", "default")])
try:
    steps.make_strategy("multiworker")
    out["multiworker"] = np.array("accepted")
except ConfigError as exc:
    out["multiworker"] = np.array(str(exc))
np.savez(OUT, **out)
'''
    return run_on_backend("jax", code, tmp_path_factory.mktemp("jax"), env=JAX_ENV, **_flat(weights))


@needs_jax
def test_jax_training_steps_match_tensorflow(jax_runs, reference):
    _, ref = reference
    _compare(jax_runs, ref, "single_")


@needs_jax
def test_jax_non_finite_guard(jax_runs):
    assert np.isnan(jax_runs["single_nan_loss"])
    assert jax_runs["single_moved"] == 0.0  # a NaN batch leaves every trainable weight as it was
    assert np.isnan(jax_runs["dp_nan_loss"]) and jax_runs["dp_moved"] == 0.0


@needs_jax
def test_jax_data_parallel_matches_one_device(jax_runs):
    assert int(jax_runs["devices"]) == 2
    np.testing.assert_array_equal(jax_runs["rows_per_device"], [4, 4])  # each global batch split over both
    assert int(jax_runs["variable_devices"]) == 2  # weights replicated on both
    single = {k[len("single_"):]: v for k, v in jax_runs.items() if k.startswith("single_")}
    _compare(jax_runs, single, "dp_")
    # Tighter than the cross-backend bound: the same XLA program up to the cross-device reductions.
    np.testing.assert_allclose(jax_runs["dp_losses"], jax_runs["single_losses"], rtol=1e-5)
    np.testing.assert_allclose(jax_runs["dp_scale"], jax_runs["single_scale"], rtol=1e-5)


@needs_jax
def test_strategies_on_jax(jax_runs):
    np.testing.assert_array_equal(jax_runs["replicas"], [2, 2, 1])  # auto / mirrored: DataParallel; default: one
    assert "multi-worker training (TF_CONFIG) needs TensorFlow" in str(jax_runs["multiworker"])


def test_keras_backend_name_is_read_without_keras(tmp_path, monkeypatch):
    from asd_tf.console import keras_backend_name

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert keras_backend_name() == "tensorflow"  # no keras.json: Keras's default
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax", "floatx": "float32"}))
    assert keras_backend_name() == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # the variable wins, as in Keras
    assert keras_backend_name() == "torch"


@needs_jax
def test_tile_crop_and_offsets_on_jax(jax_runs):
    waves = np.arange(24, dtype=np.float32).reshape(3, 8)
    expected = np.stack([np.roll(row, -k) for row, k in zip(waves, [0, 3, 7])])  # out[t] = x[(t + k) mod n]
    np.testing.assert_array_equal(jax_runs["crop"], expected)
    offsets = jax_runs["offsets"]
    assert offsets.dtype == np.int32 and offsets.min() >= 0 and offsets.max() <= 4 and len(set(offsets)) > 1


@pytest.mark.skipif(not backend_available("torch"), reason="torch is not installed")
def test_torch_training_steps_match_tensorflow(reference, tmp_path):
    weights, ref = reference
    code = _prelude() + '''
out.update(protocol(build_trainer(weights=weights), x, y))
np.savez(OUT, **out)
'''
    run = run_on_backend("torch", code, tmp_path, **_flat(weights))
    assert np.isnan(run["nan_loss"]) and run["moved"] == 0.0
    _compare(run, ref)


@needs_jax
def test_asd_tf_train_runs_on_jax(tiny_data, tmp_path):
    """``asd-tf train`` with KERAS_BACKEND=jax, TensorFlow blocked: trains, writes the run, evaluates.

    (Resume on JAX was checked by hand, not here: it needs three trainings; see README "Backends".)
    """
    from conftest import TINY_MODEL, TINY_SAMPLES

    out_dir = tmp_path / "run"
    options = [f"--model-option={k}={json.dumps(v).replace(' ', '')}" for k, v in TINY_MODEL.items()]
    # Mixup (the default, prob 1) and the random input crop: both draw from the trainer's SeedGenerator.
    argv = ["train", "--data", str(tiny_data), "--out", str(out_dir), "--epochs", "1", "--batch-size", "8",
            "--num-samples", str(TINY_SAMPLES), "--input-crop", "random", "--quiet", *options]
    code = f'''
from asd_tf.commands import main
assert main({argv!r}) == 0
import keras
np.savez(OUT, backend=np.array(keras.backend.backend()))
'''
    run = run_on_backend("jax", "import numpy as np\n" + code, tmp_path, env=JAX_ENV)
    assert str(run["backend"]) == "jax"
    for name in ("config.yaml", "model.keras", "head.keras", "train_summary.json", "results.json", ".complete",
                 "logs/training.csv", "checkpoints/last.json"):
        assert (out_dir / name).exists(), name
    assert not (out_dir / "backup").exists()  # removed once the run is complete
    summary = json.loads((out_dir / "train_summary.json").read_text())
    assert summary["epochs"] == 1 and summary["batch_size"] == 8
    assert summary["steps_per_epoch"] == summary["clips"] // 8
    assert np.isfinite(summary["final"]["loss"]) and summary["final"]["scale"] > 0
    assert set(summary["final"]) == {"loss", "scale", "intra_compactness", "inter_compactness"}
    state = json.loads((out_dir / "checkpoints" / "last.json").read_text())
    # The trainer's mixup SeedGenerator (the run's only one), saved for resume: its state flowed out of
    # the stateless step, one seed per draw and four draws a step (crop offsets, permutation, lambda, apply).
    assert "mixup_rng" not in state["random"]  # (the TensorFlow generator's entry)
    assert state["random"]["seed_generators"] == [[0, 4 * summary["steps_per_epoch"]]]
    results = json.loads((out_dir / "results.json").read_text())
    assert results["n_test"] > 0 and 0.0 <= results["official_score"] <= 1.0  # the evaluation ran
