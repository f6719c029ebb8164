"""Run a snippet of Python under another Keras backend, in a subprocess without TensorFlow.

The cross-backend parity tests compute a reference in the test process (Keras on
TensorFlow, the default) and the same thing under ``KERAS_BACKEND=jax`` (or
``torch``) in a child process whose import system refuses ``tensorflow``: so the
child also proves that the code it runs needs no TensorFlow. Arrays go both ways
through ``.npz`` files.

Usage::

    from helpers.backends import run_on_backend, backend_available

    out = run_on_backend("jax", '''
        import numpy as np
        from asd_tf.features.stft import StftMagnitude
        x = np.load(IN)["x"]
        np.savez(OUT, y=np.asarray(StftMagnitude()(x)))
    ''', tmp_path, x=x)
    np.testing.assert_allclose(out["y"], reference, rtol=1e-5, atol=1e-6)

``IN`` and ``OUT`` are defined in the snippet: the input ``.npz`` path and the
output ``.npz`` path.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

# Prepended to every snippet: make ``import tensorflow`` fail in the child. A ``None`` entry in
# ``sys.modules`` makes ``import`` raise ImportError while ``importlib.util.find_spec`` (which torch
# and others use to probe for optional packages) just answers "not installed".
_BLOCK_TENSORFLOW = '''
import sys as _sys
for _name in ("tensorflow", "tf_keras", "tensorflow_io"):
    _sys.modules[_name] = None
'''


def backend_available(backend: str) -> bool:
    """Whether the package behind a Keras backend is installed (``jax``, ``torch``, ``tensorflow``)."""
    return importlib.util.find_spec(backend) is not None


def run_on_backend(
    backend: str,
    code: str,
    tmp_path: Path,
    *,
    block_tensorflow: bool = True,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    **arrays: np.ndarray,
) -> dict[str, np.ndarray]:
    """Run ``code`` with ``KERAS_BACKEND=backend`` in a child process; return what it saved to ``OUT``.

    ``arrays`` are written to ``IN`` (an ``.npz``). Raises ``AssertionError`` with the
    child's output when it fails, so the test report shows the child's traceback.
    """
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    in_path = tmp_path / f"in_{backend}.npz"
    out_path = tmp_path / f"out_{backend}.npz"
    np.savez(in_path, **arrays)
    if out_path.exists():
        out_path.unlink()
    header = f"IN = {str(in_path)!r}\nOUT = {str(out_path)!r}\n"
    script = tmp_path / f"snippet_{backend}.py"
    script.write_text((_BLOCK_TENSORFLOW if block_tensorflow else "") + header + textwrap.dedent(code))
    child_env = dict(os.environ)
    child_env.update(
        {
            "KERAS_BACKEND": backend,
            "PYTHONPATH": os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
            "JAX_PLATFORMS": "cpu",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONHASHSEED": "0",
            # one thread: the parent test process already uses the cores, and results stay reproducible
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"),
            "OMP_NUM_THREADS": "1",
        }
    )
    if env:
        child_env.update(env)
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=child_env, timeout=timeout, cwd=str(tmp_path)
    )
    if proc.returncode != 0 or not out_path.exists():
        raise AssertionError(
            f"KERAS_BACKEND={backend} snippet failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    with np.load(out_path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
