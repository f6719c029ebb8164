"""The GPU check's own pieces (benchmarks/device_check.py, flops.py, jax_inference.py), so they cannot rot unseen.

The check itself runs only on a GPU machine; here: the analytic FLOP counter against hand-computed
layers, XLA's cost analysis of a JAX function against the same hand count, the peak lookup and the
achieved fraction, the JSON writer, and the cheapest section of the smoke mode (the matrix product).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers.backends import backend_available, run_on_backend

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import device_check  # noqa: E402
import flops  # noqa: E402


def test_analytic_flops_of_dense_and_conv_layers_match_hand_counts():
    inp = keras.Input((9, 11, 3))
    h = keras.layers.Conv2D(4, (3, 2), strides=(2, 1), padding="valid", name="conv")(inp)  # -> 4 x 10 x 4
    h = keras.layers.DepthwiseConv2D((3, 3), padding="same", name="dw")(h)  # -> 4 x 10 x 4
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(5, name="dense")(h)
    inner = keras.Model(inp, out, name="inner")
    outer = keras.Model(inner.input, keras.layers.Dense(2, name="head")(inner.output))
    counted = flops.analytic_forward_flops(outer)
    conv = 2 * (4 * 10 * 4) * (3 * 2 * 3)  # 2 * output elements * (window * input channels)
    dw = 2 * (4 * 10 * 4) * (3 * 3)  # depthwise: one window per output element
    dense = 2 * 5 * (4 * 10 * 4)
    head = 2 * 2 * 5
    assert counted["by_layer"] == {"conv": conv, "dw": dw, "dense": dense, "head": head}
    assert counted["total"] == conv + dw + dense + head
    assert flops.analytic_train_flops(outer) == 3 * counted["total"]
    # XLA over-counts depthwise kernel gradients: with a depthwise layer the analytic count is used.
    assert flops.has_depthwise(outer)
    assert flops.preferred_train_flops(outer, 1e12) == (
        3 * counted["total"], "analytic (3 x kernel products; XLA over-counts depthwise gradients)")
    dense_only = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert not flops.has_depthwise(dense_only)
    assert flops.preferred_train_flops(dense_only, 123.0) == (123.0, "XLA cost analysis of the compiled step")


def test_peak_lookup_and_achieved_fraction():
    peak = device_check.peak_for("NVIDIA H200")
    assert peak["key"] == "H200" and peak["bf16_dense_tflops_datasheet"] == pytest.approx(989.4)
    assert "H200.md" in peak["source"]
    assert device_check.peak_for("cpu") is None
    # 2e12 FLOPs in 0.5 s on a 1000 TFLOP/s part: 4 TFLOP/s = 0.4 %.
    assert device_check.achieved(2e12, 0.5, 1000.0) == pytest.approx(0.004)
    assert device_check.achieved(None, 0.5, 1000.0) is None


def test_json_writer_names_the_file_and_round_trips(tmp_path):
    path = device_check.result_path(tmp_path, "20261130-021500", "NVIDIA H200")
    assert path.name == "device_check_20261130-021500_nvidia-h200.json"
    results = {"device": "NVIDIA H200", "settings": {"reference_options": {"stage_channels": (4, 8)}},
               "value": np.float32(1.5), "array": np.arange(3)}
    device_check.write_json(path, results)
    device_check.write_json(path, {**results, "second": True})  # overwrite in place
    loaded = json.loads(path.read_text())
    assert loaded["settings"]["reference_options"]["stage_channels"] == [4, 8]
    assert loaded["array"] == [0, 1, 2] and loaded["second"] is True and loaded["value"] == 1.5
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left


@pytest.mark.skipif(not backend_available("jax"), reason="jax not installed")
def test_xla_flop_count_smoke_matmul_and_the_timed_trainer_step(tmp_path):
    out = run_on_backend("jax", f'''
        import sys
        import numpy as np
        sys.path.insert(0, {str(BENCH)!r})
        import keras
        import device_check, flops, jax_inference
        batch, n_in, n_out = 6, 40, 24
        inp = keras.Input((n_in,))
        model = keras.Model(inp, keras.layers.Dense(n_out, use_bias=False, name="d")(inp))
        f, (tv, ntv) = jax_inference.inference_fn(model)
        x = np.ones((batch, n_in), "float32")
        xla = jax_inference.xla_flops(f, tv, ntv, x)
        analytic = flops.analytic_forward_flops(model)["total"] * batch
        mm = device_check.s_matmul({{"matmul_n": 64}})
        # The benchmarks' timed step is ASDTrainer's own (trainer_step): two steps of it move the
        # trainer's weights and are written back; its optimizer counts them. (One branch, narrow,
        # 0.25-s clips: the compilation is most of this test's time.)
        import trainer_step
        narrow = {{"stage_channels": (4, 4, 8, 8), "dense_units": 8, "branch_dim": 8, "branches": "spectrogram"}}
        a = trainer_step.build_trainer("reference", 4000, 5, model_options=narrow, jit_compile=True)
        before = [np.array(v) for v in a.trainable_variables]
        compiled, step_flops, _ = trainer_step.compile_jax_step(a, 2)
        r = trainer_step.time_train_step(a, 2, 1, warmup=1, compiled=compiled)  # two steps
        moved = max(float(np.abs(np.array(v) - w).max()) for v, w in zip(a.trainable_variables, before))
        iterations = int(a.optimizer.iterations.numpy())
        logged = float(a.loss_tracker.result())  # the metric state came back too: the mean of the two losses
        np.savez(OUT, xla=xla, analytic=analytic, bf16=mm["bfloat16"]["tflops"], f32=mm["float32"]["tflops"],
                 n=mm["n"], step_flops=step_flops, loss=r["final_loss"], moved=moved, iterations=iterations,
                 logged=logged, count=float(a.loss_tracker.count.numpy()))
    ''', tmp_path)
    assert float(out["xla"]) == 2 * 40 * 24 * 6  # a [6, 40] x [40, 24] product: 2 * in * out * batch
    assert float(out["analytic"]) == 2 * 40 * 24 * 6
    assert int(out["n"]) == 64 and float(out["bf16"]) > 0 and float(out["f32"]) > 0
    assert float(out["moved"]) > 1e-5  # the timed steps were written back into the trainer's variables
    assert int(out["iterations"]) == 2 and float(out["count"]) == 2  # two optimizer steps, two tracked losses
    assert np.isfinite(float(out["loss"])) and np.isfinite(float(out["logged"])) and float(out["step_flops"]) > 0

