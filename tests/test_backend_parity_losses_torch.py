"""Loss layers on PyTorch: the numbers of TensorFlow (issue 19: "PyTorch: the losses at least").

Same cases, inputs, weights and tolerances as :mod:`test_backend_parity_losses`
(TF vs JAX), in one ``KERAS_BACKEND=torch`` child. The child blocks TensorFlow
through ``sys.modules`` (``import tensorflow`` fails, ``find_spec`` answers None):
``helpers.backends``' import-hook blocker raises inside ``find_spec``, which
``import torch`` calls for ``tensorflow``, so it is switched off here.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers.backends import backend_available, run_on_backend  # noqa: E402
from test_backend_parity_losses import (  # noqa: E402
    ATOL, COMMON, GRAD_ATOL, GRAD_CASES, GRAD_RTOL, RTOL, _data, _namespace,
)

pytestmark = pytest.mark.skipif(not backend_available("torch"), reason="torch is not installed")

_NO_TENSORFLOW = '''
import sys
for _name in ("tensorflow", "tf_keras", "tensorflow_io"):
    sys.modules[_name] = None
'''


@pytest.fixture(scope="module")
def torch_parity(tmp_path_factory):
    ns = _namespace()
    data = _data(ns)
    arrays = dict(data)
    reference: dict[str, np.ndarray] = {}
    for case in ns["CASES"]:
        weights = ns["make"](case).get_weights()
        for i, w in enumerate(weights):
            arrays[f"w/{case}/{i}"] = w
        arrays[f"nw/{case}"] = np.int64(len(weights))
        reference.update(ns["run_case"](case, data, weights))
    import tensorflow as tf

    for case in GRAD_CASES:
        layer = ns["make"](case)
        e = tf.constant(data["e"][0])
        with tf.GradientTape() as tape:
            tape.watch(e)
            loss = tf.reduce_sum(layer(e, data["y1"][0], data["y2"][0], data["lam"][0], training=True))
        reference[f"{case}/grad"] = tape.gradient(loss, e).numpy()
    code = _NO_TENSORFLOW + COMMON + '''
import torch
d = dict(np.load(IN))
data = {k: d[k] for k in ("e", "y1", "y2", "lam", "e_test", "y_test")}
out = {}
for case in CASES:  # autograd on, as in a training step (the scale update must not track gradients)
    weights = [d[f"w/{case}/{i}"] for i in range(int(d[f"nw/{case}"]))]
    out.update(run_case(case, data, weights))
for case in ("adacos", "subcluster_adacos"):  # one backward pass, as a torch training step takes it
    layer = make(case)
    e = torch.tensor(data["e"][0], requires_grad=True)
    ops.sum(layer(e, data["y1"][0], data["y2"][0], data["lam"][0], training=True)).backward()
    out[f"{case}/grad"] = e.grad.detach().cpu().numpy()
out["tensorflow_loaded"] = np.asarray([m for m in sys.modules if m.startswith("tensorflow.")] != [])
np.savez(OUT, **out)
'''
    result = run_on_backend("torch", code, tmp_path_factory.mktemp("torch"), block_tensorflow=False, **arrays)
    return reference, result


@pytest.mark.parametrize("case", list(_namespace()["CASES"]))
def test_loss_numbers_match_on_torch(torch_parity, case):
    reference, result = torch_parity
    assert not bool(result["tensorflow_loaded"])
    keys = [k for k in reference if k.startswith(case + "/") and not k.endswith("/grad")]
    assert len(keys) == 2 * (2 * 3 + 5), keys
    for key in keys:
        np.testing.assert_allclose(result[key], reference[key], rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("case", GRAD_CASES)
def test_embedding_gradients_match_on_torch(torch_parity, case):
    reference, result = torch_parity
    assert np.abs(reference[f"{case}/grad"]).max() > 1e-3
    np.testing.assert_allclose(result[f"{case}/grad"], reference[f"{case}/grad"], rtol=GRAD_RTOL, atol=GRAD_ATOL)
