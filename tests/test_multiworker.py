"""MultiWorkerMirroredStrategy: two worker processes on the loopback interface (TF_CONFIG), input sharded by file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HELPER = REPO / "tests" / "helpers" / "multiworker_run.py"


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _env() -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_two_workers_match_each_other_and_a_single_process(tmp_path):
    ports = [str(p) for p in _free_ports(2)]
    procs = [
        subprocess.Popen([sys.executable, str(HELPER), str(tmp_path / f"w{i}.npz"), str(i), *ports],
                         cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for i in range(2)
    ]
    try:
        for p in procs:
            _, err = p.communicate(timeout=240)
            assert p.returncode == 0, err.decode()[-2000:]
    finally:
        for p in procs:  # never leave a worker behind
            if p.poll() is None:
                p.kill()
                p.wait()
    subprocess.run([sys.executable, str(HELPER), str(tmp_path / "single.npz"), "single"],
                   cwd=REPO, env=_env(), check=True, timeout=240,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    w0, w1, single = (dict(np.load(tmp_path / f"{n}.npz")) for n in ("w0", "w1", "single"))
    assert int(w0["replicas"]) == 2 and int(single["replicas"]) == 1
    # 27 clips, shares of 13, 4 clips per worker per step: 3 steps on every worker
    assert len(w0["scales"]) == len(w1["scales"]) == len(single["scales"]) == 3
    weights = [k for k in single if k.startswith("arr_")]
    assert len(weights) > 20
    for key in weights:  # the workers hold identical copies
        np.testing.assert_array_equal(w0[key], w1[key], err_msg=key)
    # one adaptive scale across workers, equal to the single-process trajectory
    np.testing.assert_allclose(w0["scales"], single["scales"], rtol=1e-5)
    assert not np.allclose(single["scales"][0], single["scales"][-1])  # the scale did move
    # Every clip differs, so equal batch losses mean the workers' shares formed the same global
    # batches as the single process's hand-built ones (contiguous halves as shares: off by > 1e-2).
    np.testing.assert_allclose(w0["losses"], single["losses"], rtol=1e-5)
    for key in weights:  # SGD: float32 reduction-order noise stays ~1e-6 (a wrong batch: ~1e-1)
        np.testing.assert_allclose(w0[key], single[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_worker_role_follows_tensorflows_chief_rule(monkeypatch):
    import json

    import pytest

    from asd_tf.distribute import worker_role
    from asd_tf.errors import ConfigError

    def role(cluster, task):
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
        return worker_role()

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert worker_role() == (True, "chief")
    two = {"worker": ["a:1", "b:2"]}
    assert role(two, {"type": "worker", "index": 0}) == (True, "worker_0")
    assert role(two, {"type": "worker", "index": 1}) == (False, "worker_1")
    with_chief = {"chief": ["c:0"], "worker": ["a:1"]}
    assert role(with_chief, {"type": "chief", "index": 0}) == (True, "chief_0")
    assert role(with_chief, {"type": "worker", "index": 0}) == (False, "worker_0")
    assert role({"worker": ["a:1"]}, {"type": "worker", "index": 0}) == (True, "chief")  # one task
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        worker_role()


def test_two_worker_train_command_writes_one_run_directory(tmp_path):
    """`asd-tf train` on two workers: the chief owns RUN_DIR, the other worker its own copy."""
    import json

    from asd_tf.synthetic import generate

    data = generate(tmp_path / "data", "dcase2023", "tiny", seed=0)
    out = tmp_path / "run"
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    cmd = [sys.executable, "-m", "asd_tf.commands", "train", "--data", str(data), "--out", str(out),
           "--loss", "adacos", "--labels", "section", "--epochs", "1", "--batch-size", "8",
           "--num-samples", "8000", "--strategy", "multiworker", "--quiet",
           "--model-option", "stage_channels=[4,4,4,4]", "--model-option", "spectrum_filters=4",
           "--model-option", "dense_units=8", "--model-option", "branch_dim=8"]
    procs = []
    for i in range(2):
        env = dict(_env(), TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    try:
        outputs = [p.communicate(timeout=400) for p in procs]
        for p, (_, err) in zip(procs, outputs):
            assert p.returncode == 0, err.decode()[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    worker = out / ".workers" / "worker_1"
    for d in (out, worker):  # both copies are whole runs
        assert (d / ".complete").exists() and (d / "model.keras").exists() and (d / "head.keras").exists()
        assert json.loads((d / "train_summary.json").read_text())["replicas"] == 2
    # only the chief evaluated; the worker said where its copy is
    assert (out / "results.json").exists() and not (worker / "results.json").exists()
    assert "chief writes and evaluates" in outputs[1][0].decode()
    # the copies are the same model (synchronous training)
    from asd_tf.runs import Run

    a = Run.open(out).members()[0].load_model().get_weights()
    b = Run.open(worker).members()[0].load_model().get_weights()
    assert len(a) == len(b) > 10
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
