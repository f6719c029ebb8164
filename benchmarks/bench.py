"""asd_tf benchmarks (``make bench``): throughput and memory, printed and saved as JSON.

Each figure is measured in a fresh subprocess so peak RSS values do not mix.
Results go to ``benchmarks/results/<date>_<commit>_<device>.json``.

Figures:
* pipeline peak RSS for one pass over 500 vs 5000 clips (must differ by < 300 MB);
* input pipeline clips/s alone (must be >= 5x the training throughput);
* training clips/s of the full-size reference model (160000 samples, batch 64),
  default and XLA (and mixed precision on a GPU); time per DCASE 2022-size epoch
  (42,000 clips) extrapolated from the measured steps;
* embedding extraction clips/s;
* RISE masks/s and its ratio to plain batched inference of the same scorer;
* peak RSS while training over an index of 20,000 clips (target < 3 GB);
* ``backends``: the toolkit's own training step (``ASDTrainer``, built as ``asd-tf train`` builds
  it, ``benchmarks/trainer_step.py``) on TensorFlow (no XLA, the default) and on JAX
  (``jit_compile=True``, as ``asd-tf train`` on JAX), side by side in
  alternating child processes, with the step's FLOPs per clip (XLA's count), the achieved
  GFLOP/s of each and their fraction of a 4096^3 float32 matrix product timed in the same run;
* ``speedup``: the TensorFlow training step of today's tree against the one of commit
  ``002a411`` (issue 16's baseline, before the fused batch normalisation and the space-to-depth
  stem), each tree's own ``m_train`` (the same measurement code) in child processes alternating
  old/new, new/old, ...; the speed-up is the median of the per-round ratios. With the model's
  training FLOPs per clip (``flops.analytic_train_flops``: 3 x the forward kernel products) and
  a 4096^3 float32 matrix product timed in the same run, it gives the achieved GFLOP/s and their
  fraction of the machine's matrix-product throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
NUM_SAMPLES = 160000


def make_clip_folder(root: Path, n: int, seconds: float = 10.0) -> Path:
    """``root/machine/train/normal_id_00_XXXXXXXX.wav`` x n: 8 distinct noisy tones, hard-linked."""
    import numpy as np
    import soundfile as sf

    train = root / "bench" / "train"
    train.mkdir(parents=True, exist_ok=True)
    base = []
    rng = np.random.default_rng(0)
    t = np.arange(int(16000 * seconds)) / 16000
    for i in range(8):
        path = train / f"normal_id_00_{i:08d}.wav"
        x = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.1 * rng.standard_normal(t.size)
        sf.write(path, x.astype("float32"), 16000, subtype="PCM_16")
        base.append(path)
    for i in range(8, n):
        target = train / f"normal_id_00_{i:08d}.wav"
        if not target.exists():
            os.link(base[i % 8], target)
    (root / "bench" / "test").mkdir(exist_ok=True)
    return root


# ---------------------------------------------------------------------------- measurements (subprocess side)

def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def m_pipeline(root: str, batch_size: int = 64) -> dict:
    from asd_tf.data.audio import AudioConfig
    from asd_tf.data.index import scan_dataset
    from asd_tf.data.pipeline import make_dataset

    clips = scan_dataset(root, dataset="dcase2020").clips
    ds = make_dataset(clips, AudioConfig(num_samples=NUM_SAMPLES), labels=[0] * len(clips),
                      batch_size=batch_size, shuffle=True, seed=0)
    start, n = time.perf_counter(), 0
    for x, _ in ds:
        n += int(x.shape[0])
    elapsed = time.perf_counter() - start
    return {"clips": n, "clips_per_s": n / elapsed, "peak_rss_mb": _peak_rss_mb()}


def _reference_trainer(jit: bool, mixed: bool, branches: str = "both"):
    import keras

    from asd_tf.losses.registry import build_loss
    from asd_tf.models.reference import build_reference_model
    from asd_tf.training.trainer import ASDTrainer

    if mixed:
        keras.mixed_precision.set_global_policy("mixed_float16")
    model = build_reference_model(num_samples=NUM_SAMPLES, branches=branches)
    loss = build_loss("subcluster_adacos", 342, int(model.output_shape[-1]), dtype="float32")
    trainer = ASDTrainer(model, loss)
    trainer.compile(optimizer=keras.optimizers.Adam(), jit_compile=jit)
    trainer.build_for_training(NUM_SAMPLES)
    return trainer, model


def m_train(jit: bool = False, mixed: bool = False, steps: int = 3, batch_size: int = 64) -> dict:
    import numpy as np
    import tensorflow as tf

    trainer, _ = _reference_trainer(jit, mixed)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch_size, NUM_SAMPLES)).astype("float32") * 0.1)
    y = tf.constant(rng.integers(0, 342, batch_size).astype("int32"))
    step = tf.function(trainer.train_step, jit_compile=jit)
    step((x, y))  # trace + warm up
    start = time.perf_counter()
    for _ in range(steps):
        logs = step((x, y))
    float(logs["loss"])
    elapsed = time.perf_counter() - start
    cps = steps * batch_size / elapsed
    return {"clips_per_s": cps, "epoch_s_dcase2022": 42000 / cps, "steps": steps, "batch_size": batch_size,
            "peak_rss_mb": _peak_rss_mb()}


def m_embed(batch_size: int = 64, batches: int = 3) -> dict:
    import numpy as np
    import tensorflow as tf

    from asd_tf.models.reference import build_reference_model

    model = build_reference_model(num_samples=NUM_SAMPLES)
    x = tf.constant(np.random.default_rng(0).standard_normal((batch_size, NUM_SAMPLES)).astype("float32"))
    f = tf.function(lambda v: model(v, training=False))
    f(x)
    start = time.perf_counter()
    for _ in range(batches):
        out = f(x)
    np.asarray(out)
    return {"clips_per_s": batches * batch_size / (time.perf_counter() - start)}


def m_rise(batch_size: int = 32, batches: int = 3) -> dict:
    import numpy as np

    from rise_throughput import measure_inference_throughput, measure_rise_throughput  # benchmarks/ is on sys.path

    from asd_tf.explain.rise import make_kmeans_score_fn
    from asd_tf.features.stft import spectrogram_shape
    from asd_tf.models.reference import build_reference_model

    model = build_reference_model(num_samples=NUM_SAMPLES, branches="spectrogram")
    embedder = model.get_layer("embedder")
    centres = np.random.default_rng(0).standard_normal((26, int(model.output_shape[-1]))).astype("float32")
    score_fn = make_kmeans_score_fn(embedder, centres, input_key="spectrogram")
    T, F = spectrogram_shape(NUM_SAMPLES)
    masks = measure_rise_throughput(score_fn, T, F, batch_size, batches)
    plain = measure_inference_throughput(score_fn, T, F, batch_size, batches)
    return {"masks_per_s": masks, "inference_per_s": plain, "ratio": masks / plain,
            "seconds_for_640000_masks": 640000 / masks}


def m_train_rss(root: str, steps: int = 4, batch_size: int = 16) -> dict:
    """Peak RSS while training over an index of many clips (a few steps: memory must not scale with the index)."""
    import keras

    from asd_tf.data.audio import AudioConfig
    from asd_tf.data.index import scan_dataset
    from asd_tf.data.pipeline import make_dataset
    from asd_tf.losses.registry import build_loss
    from asd_tf.models.reference import build_reference_model
    from asd_tf.training.trainer import ASDTrainer

    clips = scan_dataset(root, dataset="dcase2020").clips
    ds = make_dataset(clips, AudioConfig(num_samples=NUM_SAMPLES), labels=[0] * len(clips),
                      batch_size=batch_size, shuffle=True, seed=0, drop_remainder=True).take(steps)
    model = build_reference_model(num_samples=NUM_SAMPLES)
    trainer = ASDTrainer(model, build_loss("subcluster_adacos", 4, 256))
    trainer.compile(optimizer=keras.optimizers.Adam())
    trainer.build_for_training(NUM_SAMPLES)
    trainer.fit(ds, epochs=1, verbose=0)
    return {"clips_in_index": len(clips), "peak_rss_mb": _peak_rss_mb()}


def m_matmul(n: int = 4096, repeats: int = 3) -> dict:
    """GFLOP/s of an ``n x n`` float32 matrix product (TensorFlow, median of ``repeats`` after a warm-up)."""
    import statistics

    import numpy as np
    import tensorflow as tf

    a = tf.constant(np.random.default_rng(0).standard_normal((n, n)).astype("float32"))
    f = tf.function(lambda m: tf.matmul(m, m))
    f(a).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f(a).numpy()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"n": n, "repeats": repeats, "seconds": seconds, "gflop_per_s": 2 * n**3 / seconds / 1e9}


def m_flops() -> dict:
    """Training FLOPs per clip of the full-size reference model (3 x its forward kernel products)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import flops

    from asd_tf.models.reference import build_reference_model

    model = build_reference_model(num_samples=NUM_SAMPLES)
    return {"train_flops_per_clip": flops.analytic_train_flops(model),
            "forward_flops_per_clip": flops.analytic_forward_flops(model)["total"]}


MEASUREMENTS = {f.__name__[2:]: f for f in (m_pipeline, m_train, m_embed, m_rise, m_train_rss, m_matmul, m_flops)}

#: Issue 16's baseline: the training step as it was before it was made faster (2026-11-23).
BASELINE_COMMIT = "002a411"


def _export_tree(commit: str, dest: Path) -> Path:
    """``asd_tf/`` and ``benchmarks/`` of ``commit`` written under ``dest`` (``git archive``; no worktree)."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", "--format=tar", commit, "asd_tf", "benchmarks"], cwd=REPO,
                             capture_output=True)
    if archive.returncode != 0:
        raise RuntimeError(f"speedup: cannot read commit {commit} from {REPO} (a shallow clone?): "
                           f"{archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def speedup_section(tmp: Path, rounds: int, steps: int, batch_size: int = 64) -> dict:
    """Today's TensorFlow training step vs :data:`BASELINE_COMMIT`'s, alternating, plus GFLOP/s and matmul."""
    import statistics

    baseline = _export_tree(BASELINE_COMMIT, tmp / "baseline")
    rows = []
    for i in range(rounds):
        order = ("baseline", "today") if i % 2 == 0 else ("today", "baseline")
        # Each tree's own m_train (with its own asd_tf on PYTHONPATH).
        got = {side: _child("train", {"steps": steps, "batch_size": batch_size},
                            tree=baseline if side == "baseline" else REPO) for side in order}
        rows.append({"order": list(order), "baseline_clips_per_s": got["baseline"]["clips_per_s"],
                     "today_clips_per_s": got["today"]["clips_per_s"],
                     "speedup": got["today"]["clips_per_s"] / got["baseline"]["clips_per_s"]})
    matmul = _child("matmul", {})
    flops = _child("flops", {})
    today = statistics.median(r["today_clips_per_s"] for r in rows)
    gflops = flops["train_flops_per_clip"] * today / 1e9
    return {"baseline_commit": BASELINE_COMMIT, "batch_size": batch_size, "steps": steps, "rounds": rows,
            "baseline_clips_per_s": statistics.median(r["baseline_clips_per_s"] for r in rows),
            "today_clips_per_s": today, "speedup": statistics.median(r["speedup"] for r in rows),
            "train_flops_per_clip": flops["train_flops_per_clip"], "today_gflop_per_s": gflops,
            "matmul": matmul, "fraction_of_matmul": gflops / matmul["gflop_per_s"],
            "load_average_end": os.getloadavg()}


def _step_child(backend: str, batch_size: int, steps: int) -> dict:
    """``train_step_backends.py --backend`` in a child process (each backend needs its own process)."""
    script = Path(__file__).with_name("train_step_backends.py")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return _child_result([sys.executable, str(script), "--backend", backend, "--batch-size", str(batch_size),
                          "--steps", str(steps)], env, REPO, f"train step on {backend}")


def backends_section(batch_size: int, steps: int, rounds: int) -> dict:
    """TF vs JAX training step, alternating (TF, JAX) x ``rounds``, plus the matrix-product yardstick."""
    pairs = []
    for _ in range(rounds):
        tf_r = _step_child("tf", batch_size, steps)
        jax_r = _step_child("jax", batch_size, steps)
        pairs.append({"tensorflow": tf_r, "jax": jax_r, "ratio_jax_to_tf": jax_r["clips_per_s"] / tf_r["clips_per_s"]})
    matmul = _child("matmul", {})
    import statistics

    tf_cps = statistics.median(p["tensorflow"]["clips_per_s"] for p in pairs)
    jax_cps = statistics.median(p["jax"]["clips_per_s"] for p in pairs)
    flops = pairs[0]["jax"].get("xla_flops_per_step")
    per_clip = None if not flops else flops / batch_size
    out = {"batch_size": batch_size, "steps": steps, "rounds": rounds, "pairs": pairs, "matmul": matmul,
           "tensorflow_clips_per_s": tf_cps, "jax_clips_per_s": jax_cps,
           "ratio_jax_to_tf": statistics.median(p["ratio_jax_to_tf"] for p in pairs),
           "flops_per_clip_xla": per_clip, "load_average_end": os.getloadavg()}
    if per_clip:
        for name, cps in (("tensorflow", tf_cps), ("jax", jax_cps)):
            gflops = per_clip * cps / 1e9
            out[f"{name}_gflop_per_s"] = gflops
            out[f"{name}_fraction_of_matmul"] = gflops / matmul["gflop_per_s"]
    return out


def _child_result(command: list[str], env: dict, cwd: Path, what: str) -> dict:
    """Run ``command``; its result is the JSON printed after ``@@`` on stdout (RuntimeError with stderr if none)."""
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    for line in out.stdout.splitlines():
        if line.startswith("@@"):
            return json.loads(line[2:])
    raise RuntimeError(f"{what} failed:\n{out.stderr[-3000:]}")


def _child(name: str, kwargs: dict, tree: Path | None = None) -> dict:
    """``MEASUREMENTS[name](**kwargs)`` in a fresh process; with ``tree``, that tree's ``bench.py`` and ``asd_tf``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    code = (
        "import json, sys; sys.path.insert(0, %r); import bench;"
        "print('@@' + json.dumps(bench.MEASUREMENTS[%r](**json.loads(%r))))"
        % (str(Path(__file__).parent if tree is None else tree / "benchmarks"), name, json.dumps(kwargs))
    )
    return _child_result([sys.executable, "-c", code], env, REPO if tree is None else tree,
                         f"benchmark {name}" + ("" if tree is None else f" of {tree}"))


def _device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"{len(gpus)} GPU(s): " + tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer clips and steps (smoke run)")
    parser.add_argument("--skip", nargs="*", default=[], help="measurements to skip")
    parser.add_argument("--only", nargs="*", default=None, help="run only these measurements")
    parser.add_argument("--speedup-rounds", type=int, default=6,
                        help="alternating (baseline, today) rounds of the speedup section (default 6: a run's "
                             "median still moves by about 3 %% on a shared 2-core VM; --quick: 2)")
    parser.add_argument("--backend-rounds", type=int, default=2,
                        help="alternating (TF, JAX) rounds of the backends section (default 2; --quick: 1)")
    args = parser.parse_args(argv)

    names = ("pipeline", "train", "speedup", "embed", "rise", "train_rss", "backends")
    if args.only is not None:
        args.skip = [n for n in names if n not in args.only]
    small, large, huge = (50, 500, 2000) if args.quick else (500, 5000, 20000)
    device = _device()
    gpu = "GPU" in device
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "device": device}
    try:
        results["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                           capture_output=True, text=True).stdout.strip()
    except OSError:
        results["commit"] = "unknown"

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "pipeline" not in args.skip:
            a = _child("pipeline", {"root": str(make_clip_folder(tmp / "a", small))})
            b = _child("pipeline", {"root": str(make_clip_folder(tmp / "b", large))})
            results["pipeline"] = {f"{small}_clips": a, f"{large}_clips": b,
                                   "rss_difference_mb": b["peak_rss_mb"] - a["peak_rss_mb"]}
            print(f"pipeline: {b['clips_per_s']:.1f} clips/s; peak RSS {a['peak_rss_mb']:.0f} MB ({small} clips) vs "
                  f"{b['peak_rss_mb']:.0f} MB ({large} clips): difference "
                  f"{results['pipeline']['rss_difference_mb']:.0f} MB (limit 300)")
        if "train" not in args.skip:
            steps = 2 if args.quick else 3
            modes = {"default": {}, "xla": {"jit": True}}
            if gpu:
                modes["mixed_precision"] = {"mixed": True}
                modes["xla_mixed_precision"] = {"jit": True, "mixed": True}
            results["train"] = {m: _child("train", {"steps": steps, **kw}) for m, kw in modes.items()}
            for m, r in results["train"].items():
                print(f"train [{m}]: {r['clips_per_s']:.2f} clips/s at batch 64; "
                      f"DCASE 2022 epoch (42,000 clips) ~ {r['epoch_s_dcase2022'] / 60:.1f} min")
            if "pipeline" in results:
                ratio = results["pipeline"][f"{large}_clips"]["clips_per_s"] / results["train"]["default"]["clips_per_s"]
                results["pipeline_to_train_ratio"] = ratio
                print(f"input pipeline / training throughput: {ratio:.1f}x (goal >= 5x)")
        if "speedup" not in args.skip:
            r = speedup_section(tmp, 2 if args.quick else args.speedup_rounds, 2 if args.quick else 4)
            results["speedup"] = r
            print(f"training step, batch {r['batch_size']}, 160,000 samples, TensorFlow, today vs commit "
                  f"{r['baseline_commit']} (issue 16's baseline), {len(r['rounds'])} alternating rounds:")
            print(f"  {r['baseline_commit']}: {r['baseline_clips_per_s']:.2f} clips/s; today: "
                  f"{r['today_clips_per_s']:.2f} clips/s; speed-up {r['speedup']:.2f}x (goal >= 1.5x; rounds: "
                  + ", ".join(f"{row['speedup']:.2f}" for row in r["rounds"]) + ")")
            print(f"  {r['train_flops_per_clip'] / 1e9:.2f} GFLOP per clip -> {r['today_gflop_per_s']:.1f} GFLOP/s, "
                  f"{100 * r['fraction_of_matmul']:.0f} % of a {r['matmul']['n']}^3 float32 matmul "
                  f"({r['matmul']['gflop_per_s']:.1f} GFLOP/s)")
        if "embed" not in args.skip:
            results["embed"] = _child("embed", {})
            print(f"embedding extraction: {results['embed']['clips_per_s']:.1f} clips/s")
        if "rise" not in args.skip:
            results["rise"] = _child("rise", {"batches": 2 if args.quick else 3})
            r = results["rise"]
            print(f"RISE: {r['masks_per_s']:.1f} masks/s, plain inference {r['inference_per_s']:.1f}/s, "
                  f"ratio {r['ratio']:.2f} (goal >= 0.8); 640,000 masks ~ {r['seconds_for_640000_masks'] / 3600:.1f} h")
        if "train_rss" not in args.skip:
            results["train_rss"] = _child("train_rss", {"root": str(make_clip_folder(tmp / "c", huge))})
            print(f"training over {huge} indexed clips: peak RSS {results['train_rss']['peak_rss_mb']:.0f} MB "
                  "(target < 3000)")

        if "backends" not in args.skip:
            batch, steps = (16, 2) if args.quick else (64, 3)
            r = backends_section(batch, steps, 1 if args.quick else args.backend_rounds)
            results["backends"] = r
            print(f"training step, batch {batch}, 160,000 samples, reference model, sub-cluster AdaCos "
                  f"(median of {r['rounds']} alternating rounds):")
            print(f"  TensorFlow ASDTrainer (no XLA):     {r['tensorflow_clips_per_s']:.2f} clips/s")
            print(f"  JAX ASDTrainer (jit_compile=True): {r['jax_clips_per_s']:.2f} clips/s")
            print(f"  JAX / TensorFlow: {r['ratio_jax_to_tf']:.2f}x (pairs: "
                  + ", ".join(f"{p['ratio_jax_to_tf']:.2f}" for p in r["pairs"]) + ")")
            if r.get("flops_per_clip_xla"):
                print(f"  FLOPs per clip (XLA cost analysis of the step): {r['flops_per_clip_xla'] / 1e9:.2f} GFLOP; "
                      f"achieved TF {r['tensorflow_gflop_per_s']:.1f} GFLOP/s, JAX {r['jax_gflop_per_s']:.1f} GFLOP/s; "
                      f"{r['matmul']['n']}^3 float32 matmul {r['matmul']['gflop_per_s']:.1f} GFLOP/s -> "
                      f"TF {100 * r['tensorflow_fraction_of_matmul']:.0f} %, JAX {100 * r['jax_fraction_of_matmul']:.0f} %")

    RESULTS.mkdir(parents=True, exist_ok=True)
    tag = "gpu" if gpu else "cpu"
    path = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}_{results['commit']}_{tag}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
