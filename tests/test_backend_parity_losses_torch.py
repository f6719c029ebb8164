"""Loss layers on PyTorch: the numbers of TensorFlow (issue 19: "PyTorch: the losses at least").

Same cases, inputs, weights, TensorFlow reference and tolerances as
:mod:`test_backend_parity_losses` (TF vs JAX), in one ``KERAS_BACKEND=torch`` child
that cannot import TensorFlow (``helpers.backends``).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers.backends import backend_available, run_on_backend  # noqa: E402
from test_backend_parity_losses import (  # noqa: E402
    ATOL, COMMON, GRAD_ATOL, GRAD_CASES, GRAD_RTOL, RTOL, _data, _namespace, tensorflow_reference,
)

pytestmark = pytest.mark.skipif(not backend_available("torch"), reason="torch is not installed")

@pytest.fixture(scope="module")
def torch_parity(tmp_path_factory):
    ns = _namespace()
    data = _data(ns)
    arrays, reference = tensorflow_reference(ns, data)
    code = COMMON + '''
import sys
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
    result = run_on_backend("torch", code, tmp_path_factory.mktemp("torch"), **arrays)
    return reference, result


@pytest.mark.parametrize("case", list(_namespace()["CASES"]))
def test_loss_numbers_match_on_torch(torch_parity, case):
    reference, result = torch_parity
    assert not bool(result["tensorflow_loaded"])
    # the gradient step's keys (/grad, /grad_scale) are the gradient test's
    keys = [k for k in reference if k.startswith(case + "/") and "/grad" not in k]
    assert len(keys) == 2 * (2 * 3 + 5), keys
    for key in keys:
        np.testing.assert_allclose(result[key], reference[key], rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("case", GRAD_CASES)
def test_embedding_gradients_match_on_torch(torch_parity, case):
    reference, result = torch_parity
    assert np.abs(reference[f"{case}/grad"]).max() > 1e-3
    np.testing.assert_allclose(result[f"{case}/grad"], reference[f"{case}/grad"], rtol=GRAD_RTOL, atol=GRAD_ATOL)
