"""Console output: TensorFlow's start-up log filtered, one bar / one line per epoch, no Keras shuffle warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

from conftest import TINY_MODEL, TINY_SAMPLES

REPO = Path(__file__).resolve().parents[1]

# Start-up log of TensorFlow 2.21 on a CPU-only machine (absl records before InitializeLog), plus a
# real error, a warning and a line that is not an absl record (a line after a record continues it, as
# the CPU-feature note's second line does).
STARTUP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
Segmentation fault in a plugin
I0000 00:00:1795992694.842105   10521 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1795992694.842431   10521 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1795992694.883930   10521 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions.
To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
W0000 00:00:1795992695.000001   10521 loader.cc:10] a warning
E0000 00:00:1795992697.727169   10521 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
E1129 22:51:37.123456   10521 op_kernel.cc:1830] OP_REQUIRES failed: Invalid argument: bad shape
  second line of that error
"""


def test_startup_log_filter_keeps_real_errors_and_drops_cpu_only_cuda_noise():
    from asd_tf.console import filter_startup_log

    error = ("E1129 22:51:37.123456   10521 op_kernel.cc:1830] OP_REQUIRES failed: Invalid argument: bad shape\n"
             "  second line of that error\n")
    other = "Segmentation fault in a plugin\n"
    warning = "W0000 00:00:1795992695.000001   10521 loader.cc:10] a warning\n"
    cuinit = [line + "\n" for line in STARTUP.splitlines() if "cuInit" in line]
    # TF_CPP_MIN_LOG_LEVEL=2 on a CPU-only machine: errors only, and not "no GPU".
    assert filter_startup_log(STARTUP, 2, drop_cuda=True) == other + error
    # With an NVIDIA device, failing to start CUDA is a real error.
    assert filter_startup_log(STARTUP, 2, drop_cuda=False) == other + cuinit[0] + error
    # Level 1 adds warnings; the multi-line info record goes with its continuation line.
    assert filter_startup_log(STARTUP, 1, drop_cuda=True) == other + warning + error
    kept = filter_startup_log(STARTUP, 0, drop_cuda=False)
    assert "To enable the following instructions" in kept and "InitializeLog" not in kept
    assert len(kept.splitlines()) == len(STARTUP.splitlines()) - 1
    assert filter_startup_log(STARTUP, 3, drop_cuda=True) == other


def test_trainer_fit_prints_one_line_per_epoch_and_never_warns_about_shuffle(capsys):
    import keras
    import tensorflow as tf

    from asd_tf.losses.registry import build_loss
    from asd_tf.training.trainer import ASDTrainer

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(3, use_bias=False)(inp))
    trainer = ASDTrainer(model, build_loss("adacos", 2, 3), mixup_prob=0.0)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices((rng.standard_normal((12, 4)).astype("float32"),
                                               rng.integers(0, 2, 12).astype("int32"))).batch(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras's "shuffle=True ... will be ignored" would raise here
        history = trainer.fit(data, epochs=3, verbose=2)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    for line, loss in zip(lines, history.history["loss"]):
        assert f"loss {loss:.4f}," in line
    assert err == ""  # no Keras progress bar

    trainer.fit(data, epochs=2, verbose=1)  # one bar for the whole training: 2 epochs x 3 steps
    out, err = capsys.readouterr()
    assert out == "" and "6/6" in err and "epoch 2/2" in err and "Epoch" not in err


def test_quiet_train_command_prints_one_line_per_epoch_and_no_startup_noise(tiny_data, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the command sets it
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "asd_tf", "train", "--data", str(tiny_data), "--out", str(tmp_path / "run"),
           "--epochs", "2", "--batch-size", "32", "--num-samples", str(TINY_SAMPLES), "--quiet", "--no-evaluate"]
    for key, value in TINY_MODEL.items():
        cmd += ["--model-option", f"{key}={json.dumps(value)}"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout + proc.stderr
    lower = text.lower()
    for noise in ("cuinit", "cuda", "shuffle", "absl", "onednn", "\r"):
        assert noise not in lower, f"{noise!r} in the output:\n{text}"
    epoch_lines = [line for line in text.splitlines() if line.lower().startswith("epoch")]
    assert [line.split(":")[0] for line in epoch_lines] == ["epoch 1/2", "epoch 2/2"]
    assert "wall time:" in text and proc.stderr == ""


def test_python_logging_after_the_filtered_start_still_reaches_stderr():
    # TensorFlow creates its logger's handler while it is imported, i.e. inside the capture window:
    # that handler must write to the real stderr afterwards (and not to a closed stream).
    code = ("from asd_tf.console import start_tensorflow; start_tensorflow(); import tensorflow as tf; "
            "tf.get_logger().warning('after the start'); print('done')")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout == "done\n", proc.stderr
    assert "after the start" in proc.stderr and "Logging error" not in proc.stderr and "cuda" not in proc.stderr.lower()


def test_command_warnings_are_one_line_without_the_source_line_of_the_call(monkeypatch):
    """``asd-tf`` shows a Python warning as ``warning: MESSAGE`` alone, where Python's format (what
    ``warnings.showwarning`` prints) adds ``file:line: Category:`` and, on a second line, the source of
    the warning call (``  check()`` for the scale guard)."""
    from asd_tf.console import one_line_warnings

    message = "the scale of 'x' was guarded 4 time(s)"
    python_format = warnings._formatwarning_orig  # Python's own, whatever an in-process main() set before
    assert python_format(message, RuntimeWarning, "callbacks.py", 63, line="check()") == (
        f"callbacks.py:63: RuntimeWarning: {message}\n  check()\n")
    monkeypatch.setattr(warnings, "formatwarning", python_format)  # restored after the test
    one_line_warnings()
    assert warnings.formatwarning(message, RuntimeWarning, "callbacks.py", 63, line="check()") == f"warning: {message}\n"
