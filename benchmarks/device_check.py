#!/usr/bin/env python
"""The GPU check of issue 19: Keras-on-JAX throughput of this toolkit on one accelerator.

    KERAS_BACKEND=jax python benchmarks/device_check.py [--smoke] [--budget-s 420] [--out-dir DIR]

Run through ``benchmarks/device_check.sh`` on the GPU machine (it installs the carried wheels and
sets the environment). Every section is timed, recorded with its settings and written to the JSON
as soon as it ends, so a run stopped at its limit still leaves the sections done; a section that
fails records its error and the run goes on; a section that would start after ``--budget-s`` is
recorded as skipped.

Sections (full size: 160,000 samples = 10 s at 16 kHz, batch 64, sub-cluster AdaCos over 342
classes x 16 sub-clusters, Adam, mixup as the paper):

* ``environment``: nvidia-smi, versions, JAX devices;
* ``matmul``: the machine's ceilings measured here, an 8192^3 matrix product in bfloat16 and
  float32 through ``jax.numpy`` (median of 10 after warm-up, random data);
* ``train``: training clips/s of the toolkit's own trainer (``ASDTrainer``, built and compiled as
  ``asd-tf train`` does, ``benchmarks/trainer_step.py``) with the full-size reference model (both
  branches) and with STgram-MFN (a MobileFaceNet backbone): float32 and bfloat16 mixed precision,
  each its JAX ``train_step`` XLA-compiled (``jit_compile=True``, what ``asd-tf train`` uses on
  JAX); one float32 run with ``jit_compile=False`` (Keras's un-jitted train function, JAX op by op:
  the "without XLA" point); FLOPs per clip by XLA's cost analysis of the compiled step and by
  the analytic count of ``benchmarks/flops.py`` (kernel products x 3); achieved fraction of the
  device's dense bf16 peak (datasheet, and the matrix product measured above);
* ``embed``: embedding extraction clips/s (jitted inference, reference model, float32 and bf16);
* ``rise``: RISE masks/s on the spectrogram-only reference model and the seconds for a
  640,000-mask map (paper Sec. IV-E). ``asd_tf.explain.rise`` is written in TensorFlow, so the
  step is rebuilt here in JAX from its pieces: the same grids (20 x 34 cells, p = 0.25), the same
  bilinear up-sampling matrix (``interpolation_matrix``), random crop, outer-product mask,
  k-means cosine score, weighted accumulation; only the random bits come from ``jax.random``
  instead of the module's counter hash. Plain inference of the same scorer is timed beside it;
* ``pipeline``: one short real training run through ``asd-tf train`` on a tiny synthetic set
  under ``KERAS_BACKEND=jax`` with TensorFlow blocked (needs the JAX trainer; when the command
  fails the section says "not available" with the command's last lines), clips/s end to end.

``--smoke`` runs every section at tiny sizes (2 s clips, narrow models, batch 4) on the CPU in
under 2 minutes: the check of the script itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Dense bf16 peaks per device kind (no sparsity). Matched on jax's ``device_kind``.
PEAKS = {
    "H200": {
        "bf16_dense_tflops_datasheet": 989.4,
        "bf16_dense_tflops_measured_here": 788.0,
        "source": ".library/device/H200.md (SXM H200 has the H100 SXM's rates: dense bf16 about 990 TFLOP/s, "
                  "vendor datasheet 989.4) and KINDS.md (8192^3 bf16 matrix product through PyTorch on an H200 "
                  "of this workplace: 788 TFLOP/s on random data, 2026-10-28; 769-798 on 2026-11-04)",
    },
    "H100": {
        "bf16_dense_tflops_datasheet": 989.4,
        "bf16_dense_tflops_measured_here": None,
        "source": ".library/device/HOPPER.md / H200.md (H100 SXM dense bf16 about 990 TFLOP/s, vendor datasheet; "
                  "a PCIe H100 has a lower peak, not listed there)",
    },
}


def peak_for(device_kind: str) -> dict | None:
    """The peak entry whose key appears in ``device_kind`` (e.g. 'NVIDIA H200' -> H200), else None."""
    for key, value in PEAKS.items():
        if key.lower() in device_kind.lower():
            return {"key": key, **value}
    return None


def achieved(flops: float | None, seconds: float, peak_tflops: float | None) -> float | None:
    """Achieved fraction of a peak: ``flops / seconds / (peak_tflops * 1e12)``; None if a factor is unknown."""
    if not flops or not peak_tflops or seconds <= 0:
        return None
    return flops / seconds / (peak_tflops * 1e12)


def result_path(out_dir: Path, date: str, device: str) -> Path:
    """``out_dir/device_check_<YYYYmmdd-HHMMSS>_<device slug>.json``."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower() or "unknown"
    return Path(out_dir) / f"device_check_{date}_{slug}.json"


def write_json(path: Path, results: dict) -> None:
    """Write ``results`` atomically (a kill mid-write leaves the previous complete file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


# ---------------------------------------------------------------------------------------- sizes
FULL = {
    "num_samples": 160000, "batch_size": 64, "num_classes": 342, "train_steps": 20, "eager_steps": 2,
    "embed_batches": 20, "rise_batch": 256, "rise_batches": 20, "matmul_n": 8192,
    "reference_options": {}, "stgram_options": {},
    "pipeline": {"synth_size": "tiny", "epochs": 3, "batch_size": 16, "num_samples": 160000, "model_options": []},
}
SMOKE = {
    "num_samples": 16000, "batch_size": 4, "num_classes": 8, "train_steps": 2, "eager_steps": 1,
    "embed_batches": 2, "rise_batch": 8, "rise_batches": 2, "matmul_n": 256,
    "reference_options": {"stage_channels": (4, 4, 8, 8), "spectrum_filters": 8, "dense_units": 8, "branch_dim": 8},
    "stgram_options": {"n_mels": 16, "embedding_dim": 8, "bottlenecks": ((2, 8, 1, 2), (2, 8, 1, 2))},
    "pipeline": {"synth_size": "tiny", "epochs": 2, "batch_size": 4, "num_samples": 16000,
                 "model_options": ["stage_channels=[4,4,8,8]", "spectrum_filters=8", "dense_units=8", "branch_dim=8"]},
}


# ---------------------------------------------------------------------------------------- sections
def s_environment(cfg: dict) -> dict:
    import jax
    import keras

    try:
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        smi = f"not available ({exc})"
    dev = jax.devices()[0]
    return {
        "nvidia_smi": smi, "python": sys.version.split()[0], "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "jax": jax.__version__, "keras": keras.__version__,
        "keras_backend": keras.backend.backend(), "devices": [str(d) for d in jax.devices()],
        "device_kind": dev.device_kind, "platform_jax": dev.platform,
        "tensorflow_importable": _tensorflow_importable(),
        "jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def _tensorflow_importable() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


def _median_time(fn, repeats: int) -> float:
    import jax

    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def s_matmul(cfg: dict) -> dict:
    import jax
    import jax.numpy as jnp

    n = cfg["matmul_n"]
    out = {"n": n, "repeats": 10, "data": "random normal"}
    key = jax.random.PRNGKey(0)
    for dtype in ("bfloat16", "float32"):
        a = jax.random.normal(key, (n, n), dtype)
        b = jax.random.normal(jax.random.fold_in(key, 1), (n, n), dtype)
        f = jax.jit(lambda p, q: p @ q)
        seconds = _median_time(lambda: f(a, b), 10)
        out[dtype] = {"seconds": seconds, "tflops": 2 * n**3 / seconds / 1e12}
    return out


def s_train(cfg: dict, backbone: str, options: dict, modes: list, peak: dict | None, matmul: dict | None,
            flops_hint: float | None = None) -> dict:
    """The toolkit's own ``ASDTrainer`` training step (``benchmarks/trainer_step.py``) in each mode.

    ``modes``: ``(name, precision, jit)``; ``jit`` True: ``jax.jit(trainer.train_step)``, what
    ``asd-tf train`` runs on JAX (``compile(jit_compile=True)``), compiled once for timing and XLA's
    FLOP count; False: the trainer compiled with ``jit_compile=False``, Keras's un-jitted train
    function (JAX op by op), with the FLOPs of the compiled step (``flops_hint``).
    """
    import trainer_step
    from flops import analytic_forward_flops, preferred_train_flops

    out = {"backbone": backbone, "model_options": options, "batch_size": cfg["batch_size"],
           "num_samples": cfg["num_samples"], "loss": "subcluster_adacos", "num_classes": cfg["num_classes"],
           "trainer": "asd_tf.training.trainer.ASDTrainer", "modes": {}}
    measured_peak = (matmul or {}).get("bfloat16", {}).get("tflops")
    for name, precision, jit in modes:
        t0 = time.perf_counter()
        try:
            trainer = trainer_step.build_trainer(backbone, cfg["num_samples"], cfg["num_classes"], precision,
                                                 model_options=options, jit_compile=jit)
            if "analytic_forward_flops_per_clip" not in out:
                forward = analytic_forward_flops(trainer.embedding_model)["total"]
                out["analytic_forward_flops_per_clip"] = forward
                out["analytic_train_flops_per_clip"] = 3 * forward
                out["parameters"] = trainer.bench_settings["parameters"]
            if jit:
                compiled, flops, compile_s = trainer_step.compile_jax_step(trainer, cfg["batch_size"])
            else:  # op by op: the FLOPs are those of the same step compiled (passed in), no compilation here
                compiled, flops, compile_s = None, flops_hint, None
            steps = cfg["train_steps"] if jit else cfg["eager_steps"]
            r = trainer_step.time_train_step(trainer, cfg["batch_size"], steps, jit=jit, compiled=compiled)
            r["compile_s"] = compile_s
            r.update(trainer.bench_settings)
            r["xla_flops_per_step"] = flops
            r["xla_flops_per_clip"] = None if flops is None else flops / cfg["batch_size"]
            per_clip, source = preferred_train_flops(trainer.embedding_model, r["xla_flops_per_clip"])
            used = per_clip * cfg["batch_size"]
            r["flops_per_clip"], r["flops_source"] = per_clip, source
            r["achieved_tflops"] = used / r["step_s_median"] / 1e12
            if peak:
                r["fraction_of_bf16_peak_datasheet"] = achieved(used, r["step_s_median"],
                                                                peak["bf16_dense_tflops_datasheet"])
            r["fraction_of_bf16_matmul_measured"] = achieved(used, r["step_s_median"], measured_peak)
        except Exception as exc:  # noqa: BLE001 - recorded, the check goes on
            r = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
        r["section_s"] = time.perf_counter() - t0
        out["modes"][name] = r
        _say(f"  train {backbone} [{name}]: " + (f"{r['clips_per_s']:.1f} clips/s" if "clips_per_s" in r
                                                 else r["error"][:200]))
    return out


def _embedding_model(cfg: dict, precision: str, options: dict):
    """The reference embedding model as ``asd-tf train`` builds it (global policy while building)."""
    import keras

    from asd_tf.models.registry import build_backbone

    keras.utils.set_random_seed(0)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        return build_backbone("reference", num_samples=cfg["num_samples"], **options)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def s_embed(cfg: dict) -> dict:
    import jax_inference

    out = {"backbone": "reference", "batch_size": cfg["batch_size"], "num_samples": cfg["num_samples"], "modes": {}}
    for precision in ("float32", "mixed_bfloat16"):
        model = _embedding_model(cfg, precision, cfg["reference_options"])
        out["modes"][precision] = jax_inference.time_embedding(model, cfg["batch_size"], cfg["embed_batches"])
        _say(f"  embed [{precision}]: {out['modes'][precision]['clips_per_s']:.1f} clips/s")
    return out


def make_rise_step(embedder, centres, T: int, F: int, batch_size: int, seed: int = 0,
                   time_cells: int = 20, freq_cells: int = 34, p_masked: float = 0.25):
    """A jitted JAX RISE batch step: ``(acc, mass, start) -> (acc, mass, scores)`` (see module docstring)."""
    import math

    import jax
    import jax.numpy as jnp
    import numpy as np

    from asd_tf.explain.rise import interpolation_matrix

    cs_t, cs_f = math.ceil(T / time_cells), math.ceil(F / freq_cells)
    w_t = jnp.asarray(interpolation_matrix(time_cells, (time_cells + 1) * cs_t))
    w_f = jnp.asarray(interpolation_matrix(freq_cells, (freq_cells + 1) * cs_f))
    c = np.asarray(centres, np.float64)
    c = jnp.asarray((c / np.linalg.norm(c, axis=1, keepdims=True)).astype("float32"))
    tv = [v.value for v in embedder.trainable_variables]
    ntv = [v.value for v in embedder.non_trainable_variables]
    base_key = jax.random.PRNGKey(seed)

    def factor(key, cells, cell_size, interp, length):
        k1, k2 = jax.random.split(key)
        grid = (jax.random.uniform(k1, (batch_size, cells)) >= p_masked).astype("float32")
        shift = jax.random.randint(k2, (batch_size,), 0, cell_size)
        up = grid @ interp
        pos = shift[:, None] + jnp.arange(length)[None, :]
        return jnp.take_along_axis(up, pos, axis=1)

    def scores_of(masked):
        e, _ = embedder.stateless_call(tv, ntv, {"spectrogram": masked}, training=False)
        e = e.astype("float32")
        e = e / jnp.sqrt(jnp.maximum(jnp.sum(e * e, -1, keepdims=True), 1e-12))
        return 1.0 - jnp.max(e @ c.T, axis=-1)

    def step(x, acc, mass, start):
        key = jax.random.fold_in(base_key, start)
        kt, kf = jax.random.split(key)
        m_t = factor(kt, time_cells, cs_t, w_t, T)
        m_f = factor(kf, freq_cells, cs_f, w_f, F)
        masked = x[None] * (m_t[:, :, None] * m_f[:, None, :])
        s = scores_of(masked)
        acc = acc + jnp.einsum("bt,bf->tf", m_t * s[:, None], m_f)
        mass = mass + jnp.sum(jnp.mean(m_t, 1) * jnp.mean(m_f, 1))
        return acc, mass, s

    def plain(x_batch):
        return scores_of(x_batch)

    return jax.jit(step, donate_argnums=(1, 2)), jax.jit(plain)


def s_rise(cfg: dict) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from asd_tf.features.stft import spectrogram_shape

    model = _embedding_model(cfg, "float32", {**cfg["reference_options"], "branches": "spectrogram"})
    embedder = model.get_layer("embedder")
    T, F = spectrogram_shape(cfg["num_samples"])
    b = cfg["rise_batch"]
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((26, int(model.output_shape[-1]))).astype("float32")
    step, plain = make_rise_step(embedder, centres, T, F, b)
    x = jnp.asarray(np.abs(rng.standard_normal((T, F))).astype("float32"))
    acc, mass = jnp.zeros((T, F), "float32"), jnp.zeros((), "float32")
    t0 = time.perf_counter()
    acc, mass, s = step(x, acc, mass, 0)
    jax.block_until_ready(s)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(1, cfg["rise_batches"] + 1):
        acc, mass, s = step(x, acc, mass, i)
    jax.block_until_ready((acc, mass))
    masks_per_s = cfg["rise_batches"] * b / (time.perf_counter() - t0)
    xb = jnp.asarray(np.abs(rng.standard_normal((b, T, F))).astype("float32"))
    plain_s = _median_time(lambda: plain(xb), cfg["rise_batches"])
    return {
        "what": "RISE batch step rebuilt in JAX (asd_tf.explain.rise is TensorFlow-only): masks as the module "
                "(grids 20x34, p_masked 0.25, interpolation_matrix up-sampling, random crop, outer product), "
                "random bits from jax.random; spectrogram-only reference model, k-means cosine score (26 random "
                "centres), weighted mask sum accumulated on the device",
        "spectrogram": [T, F], "batch_size": b, "batches": cfg["rise_batches"], "compile_and_first_batch_s": warm,
        "masks_per_s": masks_per_s, "plain_inference_per_s": b / plain_s, "ratio_to_plain": masks_per_s * plain_s / b,
        "seconds_for_640000_masks": 640000 / masks_per_s,
        "finite": bool(np.isfinite(np.asarray(acc)).all()),
    }


def s_pipeline(cfg: dict, workdir: Path, budget_s: float) -> dict:
    """``asd-tf synth`` (tiny) + ``asd-tf train`` under JAX with TensorFlow blocked, timed end to end."""
    p = cfg["pipeline"]
    data, run = workdir / "synth", workdir / "run"
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    # The GPU machine has no TensorFlow; block it here too, so a CPU smoke run tests the same thing.
    launcher = ("import sys\nfor n in ('tensorflow', 'tf_keras', 'tensorflow_io'): sys.modules[n] = None\n"
                "from asd_tf.commands import main\nsys.exit(main(sys.argv[1:]))")
    synth = [sys.executable, "-c", launcher, "synth", str(data), "--layout", "dcase2022", "--size", p["synth_size"],
             "--seed", "0", "--jobs", "1"]
    train = [sys.executable, "-c", launcher, "train", "--data", str(data), "--out", str(run),
             "--loss", "subcluster_adacos", "--labels", "attribute", "--epochs", str(p["epochs"]),
             "--batch-size", str(p["batch_size"]), "--num-samples", str(p["num_samples"]), "--seed", "0",
             "--no-evaluate", "--quiet"]
    for option in p["model_options"]:
        train += ["--model-option", option]
    out = {"settings": p, "synth_command": "asd-tf " + " ".join(synth[3:]),
           "train_command": "KERAS_BACKEND=jax asd-tf " + " ".join(train[3:])}
    t0 = time.perf_counter()
    r = subprocess.run(synth, capture_output=True, text=True, env=env, timeout=max(30, budget_s / 3))
    out["synth_s"] = time.perf_counter() - t0
    if r.returncode != 0:
        out["status"] = "synth failed"
        out["log_tail"] = (r.stdout + r.stderr)[-2000:]
        return out
    out["train_clips"] = sum(1 for _ in data.rglob("train/*.wav"))
    t0 = time.perf_counter()
    try:
        r = subprocess.run(train, capture_output=True, text=True, env=env, timeout=max(60, budget_s))
        rc, log = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as exc:
        rc, log = "timeout", f"{exc.stdout or ''}{exc.stderr or ''}"
        log = log if isinstance(log, str) else log.decode(errors="replace")
    out["train_wall_s"] = time.perf_counter() - t0
    if rc != 0:
        out["status"] = "not available: `asd-tf train` under KERAS_BACKEND=jax failed (the JAX trainer is not in this checkout?)"
        out["returncode"] = rc
        out["log_tail"] = log[-2000:]
        return out
    out["status"] = "ran"
    summaries = sorted(run.rglob("*summary*.json"))
    if summaries:
        summary = json.loads(summaries[0].read_text())
        out["summary"] = {k: summary.get(k) for k in ("clips", "classes", "batch_size", "steps_per_epoch", "epochs",
                                                       "epochs_run_this_call", "seconds_this_call", "parameters")}
        steps, epochs, secs = summary.get("steps_per_epoch"), summary.get("epochs_run_this_call"), \
            summary.get("seconds_this_call")
        if steps and epochs and secs:
            out["fit_clips_per_s"] = steps * epochs * summary.get("batch_size", p["batch_size"]) / secs
    out["command_clips_per_s"] = out["train_clips"] * p["epochs"] / out["train_wall_s"]
    # `--quiet` logs one line per epoch ("epoch 2/3: loss ..., 4.2 s"): the later epochs are compile-free.
    epochs = [(int(m.group(1)), float(m.group(2))) for m in re.finditer(r"epoch (\d+)/\d+: .*?([\d.]+) s\s*$", log, re.M)]
    out["epoch_seconds"] = epochs
    per_epoch = (out.get("summary") or {}).get("steps_per_epoch")
    if epochs and per_epoch and len(epochs) > 1:
        out["last_epoch_clips_per_s"] = per_epoch * (out["summary"].get("batch_size") or p["batch_size"]) / epochs[-1][1]
    out["log_tail"] = log[-1500:]
    # The step alone at the run's settings (same model, batch, clip length, class count), for the
    # end-to-end / step-alone ratio.
    started = time.perf_counter()
    if budget_s - out["train_wall_s"] - out["synth_s"] > 60:
        import trainer_step
        from asd_tf.commands.options import parse_key_value

        options = dict(parse_key_value(o, "model option") for o in p["model_options"])
        classes = int((out.get("summary") or {}).get("classes") or 16)
        trainer = trainer_step.build_trainer("reference", p["num_samples"], classes, "float32",
                                             model_options=options, jit_compile=True)
        alone = trainer_step.time_train_step(trainer, p["batch_size"], 5)
        out["step_alone_clips_per_s"] = alone["clips_per_s"]
        out["step_alone_classes"] = classes
        if out.get("last_epoch_clips_per_s"):
            out["last_epoch_to_step_alone"] = out["last_epoch_clips_per_s"] / alone["clips_per_s"]
        out["step_alone_s"] = time.perf_counter() - started
    return out


# ---------------------------------------------------------------------------------------- driver
def _say(msg: str) -> None:
    print(msg, flush=True)


class HardLimit(BaseException):
    """Raised by SIGALRM when the run reaches ``--hard-limit-s`` (a BaseException: no section swallows it)."""


def _on_alarm(signum, frame):
    raise HardLimit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, CPU, < 2 min")
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="no section starts after this many seconds (default 420: the run ends well inside 10 min)")
    parser.add_argument("--hard-limit-s", type=float, default=540.0,
                        help="a section still running at this many seconds is stopped (default 540: the device "
                             "tool kills a command at 600 s, and the JSON must be written before that)")
    parser.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--copy-to", default=os.environ.get("OUT"),
                        help="also copy the JSON there (default: $OUT, the device tool's return folder)")
    parser.add_argument("--only", nargs="*", default=None, help="sections to run (default all)")
    parser.add_argument("--allow-tensorflow", action="store_true",
                        help="do not block `import tensorflow` (blocked by default: the GPU machine has none, and "
                             "a CPU run must not lean on it either)")
    args = parser.parse_args(argv)

    if not args.allow_tensorflow:
        for name in ("tensorflow", "tf_keras", "tensorflow_io"):
            sys.modules[name] = None  # `import tensorflow` fails, find_spec says "not installed"
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    if keras.backend.backend() != "jax":
        parser.error(f"run with KERAS_BACKEND=jax (Keras is on {keras.backend.backend()!r})")
    cfg = SMOKE if args.smoke else FULL
    started = time.perf_counter()
    env = s_environment(cfg)
    device = env["device_kind"]
    date = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = result_path(Path(args.out_dir), date, device + ("-smoke" if args.smoke else ""))
    peak = peak_for(device)
    results = {"date_utc": date, "device": device, "smoke": args.smoke, "settings": cfg,
               "budget_s": args.budget_s, "peak": peak, "environment": env, "sections": {}}

    def save():
        results["elapsed_s"] = time.perf_counter() - started
        write_json(path, results)
        if args.copy_to:
            write_json(Path(args.copy_to) / path.name, results)

    save()
    _say(f"device: {device}; jax {env['jax']}, keras {env['keras']}; results -> {path}")

    train_modes = [("xla_float32", "float32", True), ("xla_mixed_bfloat16", "mixed_bfloat16", True)]
    sections = [
        ("matmul", lambda: s_matmul(cfg)),
        ("train_reference", lambda: s_train(cfg, "reference", cfg["reference_options"], train_modes, peak,
                                            results["sections"].get("matmul"))),
        ("train_stgram_mfn", lambda: s_train(cfg, "stgram_mfn", cfg["stgram_options"], train_modes[:1] if args.smoke
                                             else train_modes, peak,
                                             results["sections"].get("matmul"))),
        ("embed", lambda: s_embed(cfg)),
        ("rise", lambda: s_rise(cfg)),
        ("pipeline", lambda: s_pipeline(cfg, Path(workdir), max(60.0, args.budget_s - (time.perf_counter() - started)))),
        ("train_reference_eager", lambda: s_train(cfg, "reference", cfg["reference_options"],
                                                  [("eager_float32", "float32", False)], peak,
                                                  results["sections"].get("matmul"), _reference_flops(results))),
    ]
    workdir = tempfile.mkdtemp(prefix="device_check_")
    signal.signal(signal.SIGALRM, _on_alarm)
    try:
        for name, fn in sections:
            if args.only is not None and name not in args.only:
                continue
            if args.smoke and name == "train_reference_eager" and args.only is None:
                # Op by op, JAX compiles every primitive once: ~80 s of a loaded 2-core CPU even at tiny sizes.
                results["sections"][name] = {"skipped": "--smoke leaves the op-by-op run out (add --only "
                                                        "train_reference_eager to check it)"}
                continue
            elapsed = time.perf_counter() - started
            if elapsed > args.budget_s:
                results["sections"][name] = {"skipped": f"time budget ({elapsed:.0f} s of {args.budget_s:.0f} s used)"}
                _say(f"{name}: skipped (budget)")
                save()
                continue
            _say(f"{name} ...")
            t0 = time.perf_counter()
            signal.alarm(max(1, int(args.hard_limit_s - elapsed)))
            try:
                results["sections"][name] = fn()
            except HardLimit:
                results["sections"][name] = {"error": f"stopped at the hard limit ({args.hard_limit_s:.0f} s)"}
            except Exception as exc:  # noqa: BLE001 - recorded, the check goes on
                results["sections"][name] = {"error": f"{type(exc).__name__}: {exc}",
                                             "traceback": traceback.format_exc()[-3000:]}
            finally:
                signal.alarm(0)
            results["sections"][name]["section_s"] = time.perf_counter() - t0
            save()
            _say(f"{name}: done in {time.perf_counter() - t0:.1f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["summary"] = summarize(results)
    save()
    _say("\n".join(results["summary"]))
    _say(f"saved {path}")
    return 0


def _reference_flops(results: dict) -> float | None:
    """XLA FLOPs of one float32 reference step, from the compiled run (the eager run does the same work)."""
    mode = results["sections"].get("train_reference", {}).get("modes", {}).get("xla_float32", {})
    return mode.get("xla_flops_per_step")


def summarize(results: dict) -> list[str]:
    """One line per figure, for the end of the output (the device tool returns its last lines)."""
    lines = [f"== device check {results['date_utc']} on {results['device']} (smoke={results['smoke']})"]
    sec = results["sections"]
    mm = sec.get("matmul", {})
    if "bfloat16" in mm:
        lines.append(f"matmul {mm['n']}^3: bf16 {mm['bfloat16']['tflops']:.3g} TFLOP/s, "
                     f"f32 {mm['float32']['tflops']:.3g} TFLOP/s")
    for key in ("train_reference", "train_stgram_mfn", "train_reference_eager"):
        for mode, r in sec.get(key, {}).get("modes", {}).items():
            if "clips_per_s" in r:
                frac = r.get("fraction_of_bf16_peak_datasheet")
                lines.append(f"{key} [{mode}]: {r['clips_per_s']:.1f} clips/s (batch {r['batch_size']}), "
                             f"XLA {((r.get('xla_flops_per_clip') or 0) / 1e9):.3g} GFLOP/clip, "
                             f"{(r.get('achieved_tflops') or 0):.3g} TFLOP/s at "
                             f"{((r.get('flops_per_clip') or 0) / 1e9):.3g} GFLOP/clip ({r.get('flops_source', '')[:8]})"
                             + (f", {100 * frac:.2f} % of bf16 peak" if frac is not None else ""))
            else:
                lines.append(f"{key} [{mode}]: {r.get('error', 'no result')[:160]}")
        if sec.get(key, {}).get("analytic_train_flops_per_clip"):
            lines.append(f"{key}: analytic {sec[key]['analytic_train_flops_per_clip'] / 1e9:.3g} GFLOP/clip "
                         "(3 x kernel products)")
    for mode, r in sec.get("embed", {}).get("modes", {}).items():
        lines.append(f"embed [{mode}]: {r['clips_per_s']:.1f} clips/s")
    rise = sec.get("rise", {})
    if "masks_per_s" in rise:
        lines.append(f"RISE: {rise['masks_per_s']:.0f} masks/s (plain {rise['plain_inference_per_s']:.0f}/s), "
                     f"640,000 masks ~ {rise['seconds_for_640000_masks']:.0f} s")
    pipe = sec.get("pipeline", {})
    if pipe:
        lines.append(f"pipeline: {pipe.get('status', pipe.get('error', pipe.get('skipped')))}"
                     + (f"; {pipe['command_clips_per_s']:.1f} clips/s end to end (command), "
                        f"{pipe.get('fit_clips_per_s', float('nan')):.1f} clips/s in fit, "
                        f"{pipe.get('last_epoch_clips_per_s', float('nan')):.1f} clips/s in the last epoch, "
                        f"the step alone {pipe.get('step_alone_clips_per_s', float('nan')):.1f} clips/s"
                        if pipe.get('status') == 'ran' else ""))
    for name, r in sec.items():
        if "error" in r or "skipped" in r:
            lines.append(f"{name}: {r.get('error', r.get('skipped'))[:200]}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
