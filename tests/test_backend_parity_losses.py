"""Loss layers on TensorFlow and JAX: same weights and inputs give the same numbers (issue 19).

The reference runs here (Keras on TensorFlow); the same code runs in one JAX
child process that refuses ``import tensorflow`` (``helpers.backends``), which
also proves that ``asd_tf.losses`` needs no TensorFlow. Compared per registered
loss (and FeatEx around AdaCos): the per-sample training loss and the scale over
three update steps (with and without mixup targets), then the evaluation loss,
logits, class loss and compactness; gradients of AdaCos and sub-cluster AdaCos
w.r.t. the embeddings (``tf.GradientTape`` vs ``jax.grad`` of ``stateless_call``).
A second JAX child with two host CPU devices checks that a batch sharded over
both devices gives the adaptive scale of the whole batch ("statistics are global
under JAX": XLA reduces over the sharded axis).

Tolerances. Everything is float32 (eps 1.2e-7). The backends order reductions
and fuse ops differently (TF kernels vs XLA), so cosines differ by a few ulp;
logits multiply them by scales up to 30 and log-softmax adds terms of that size:
``rtol=2e-5, atol=2e-5`` on losses, logits, scales and compactness (a scale or
loss of 30 may move by ~1e-5), ``rtol=1e-4, atol=1e-6`` on gradients (each a
difference of softmax terms, so relative error grows where they cancel).
Measured (TF 2.21 / JAX 0.10 CPU): largest differences 7.6e-6 absolute on a
loss (ArcFace, s = 30, relative 4e-6), 1.4e-6 on a scale, 2.9e-6 on a logit,
2.4e-7 on compactness, gradients 2.4e-7 absolute / 2.8e-5 relative.
Random-margin losses (ElasticFace, EMM) are compared with ``sigma=0``: their draws
come from each backend's own generator; the JAX draws are checked against the
margin distribution instead. One JAX child each (about 3 s start-up).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers.backends import backend_available, run_on_backend  # noqa: E402

pytestmark = pytest.mark.skipif(not backend_available("jax"), reason="jax is not installed")

RTOL, ATOL = 2e-5, 2e-5
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-6

# Run by both backends: builds every case and records its numbers as NumPy arrays.
COMMON = '''
import numpy as np
import keras
from keras import ops
from asd_tf.losses import LOSSES, build_loss

N, D, B, STEPS = 4, 16, 8, 3
PARAMS = {
    "subcluster_adacos": {"num_subclusters": 3},
    "elasticface": {"sigma": 0.0},
    "emm": {"sigma": 0.0},
    "adaproj": {"subspace_dim": 2},
}
CASES = {name: (name, PARAMS.get(name, {})) for name in LOSSES}
# FeatEx around AdaCos; prob 0 exchanges every clip, so its keep draws are not random
CASES["featex_adacos"] = ("adacos", {"featex": True, "featex_split": D // 2, "featex_prob": 0.0})


def make(case, weights=None):
    name, params = CASES[case]
    layer = build_loss(name, N, D, seed=3, **params)
    if weights is not None:
        layer.set_weights(weights)
    return layer


def to_np(x):
    return np.asarray(ops.convert_to_numpy(ops.convert_to_tensor(x)))


def scale_of(layer):
    s = layer.scale
    return np.float32(0.0) if s is None else to_np(s).astype(np.float32)


def run_case(case, data, weights=None):
    """Training steps with and without mixup, then the evaluation outputs."""
    out = {}
    for mixup in (True, False):
        layer = make(case, weights)
        for t in range(STEPS):
            y2 = data["y2"][t] if mixup else None
            lam = data["lam"][t] if mixup else None
            out[f"{case}/mix{int(mixup)}/loss{t}"] = to_np(layer(data["e"][t], data["y1"][t], y2, lam, training=True))
            out[f"{case}/mix{int(mixup)}/scale{t}"] = scale_of(layer)
        e, y = data["e_test"], data["y_test"]
        out[f"{case}/mix{int(mixup)}/eval_loss"] = to_np(layer(e, y, training=False))
        out[f"{case}/mix{int(mixup)}/logits"] = to_np(layer.logits(e))
        out[f"{case}/mix{int(mixup)}/class_loss"] = to_np(layer.class_loss(e, y))
        intra, inter = layer.compactness(e, y)
        out[f"{case}/mix{int(mixup)}/intra"] = to_np(intra)
        out[f"{case}/mix{int(mixup)}/inter"] = to_np(inter)
    return out
'''

GRAD_CASES = ("adacos", "subcluster_adacos")


def _namespace() -> dict:
    ns: dict = {}
    exec(compile(COMMON, "<parity-common>", "exec"), ns)
    return ns


def _data(ns: dict) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(19)
    steps, b, d, n = ns["STEPS"], ns["B"], ns["D"], ns["N"]
    y1 = rng.integers(0, n, (steps, b)).astype(np.int32)
    y2 = rng.integers(0, n, (steps, b)).astype(np.int32)
    y2[:, 0] = y1[:, 0]  # a pair of equal labels (target exactly 1 after mixing)
    return {
        "e": rng.standard_normal((steps, b, d)).astype(np.float32),
        "y1": y1,
        "y2": y2,
        "lam": rng.uniform(size=(steps, b)).astype(np.float32),
        "e_test": rng.standard_normal((b, d)).astype(np.float32),
        "y_test": rng.integers(0, n, b).astype(np.int32),
    }


def tensorflow_reference(ns: dict, data: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(arrays for the child, TensorFlow results)``: every case's weights and numbers, and the
    embedding gradients (``GradientTape``) with the scale after that step for ``GRAD_CASES``."""
    import tensorflow as tf

    arrays = dict(data)
    reference: dict[str, np.ndarray] = {}
    for case in ns["CASES"]:
        weights = ns["make"](case).get_weights()
        for i, w in enumerate(weights):
            arrays[f"w/{case}/{i}"] = w
        arrays[f"nw/{case}"] = np.int64(len(weights))
        reference.update(ns["run_case"](case, data, weights))
    for case in GRAD_CASES:
        layer = ns["make"](case)
        e = tf.constant(data["e"][0])
        with tf.GradientTape() as tape:
            tape.watch(e)
            loss = tf.reduce_sum(layer(e, data["y1"][0], data["y2"][0], data["lam"][0], training=True))
        reference[f"{case}/grad"] = tape.gradient(loss, e).numpy()
        reference[f"{case}/grad_scale"] = ns["scale_of"](layer)
    return arrays, reference


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    """``(tensorflow_results, jax_results, cases)`` for every case."""
    ns = _namespace()
    data = _data(ns)
    cases = list(ns["CASES"])
    arrays, reference = tensorflow_reference(ns, data)
    code = COMMON + '''
import jax
d = dict(np.load(IN))
data = {k: d[k] for k in ("e", "y1", "y2", "lam", "e_test", "y_test")}
out = {}
for case in CASES:
    weights = [d[f"w/{case}/{i}"] for i in range(int(d[f"nw/{case}"]))]
    out.update(run_case(case, data, weights))
# gradients through stateless_call, the way a JAX train step calls the loss layer
for case in ("adacos", "subcluster_adacos"):
    layer = make(case)
    tv = [v.value for v in layer.trainable_variables]
    ntv = [v.value for v in layer.non_trainable_variables]
    def total(e):
        loss, new_ntv = layer.stateless_call(tv, ntv, e, data["y1"][0], data["y2"][0], data["lam"][0], training=True)
        return ops.sum(loss), new_ntv
    grad, new_ntv = jax.grad(total, has_aux=True)(data["e"][0])
    out[f"{case}/grad"] = np.asarray(grad)
    index = [v.path for v in layer.non_trainable_variables].index(layer.scale.path)
    out[f"{case}/grad_scale"] = np.asarray(new_ntv[index], np.float32)
    out[f"{case}/grad_scale_untouched"] = to_np(layer.scale)  # stateless: the variable keeps s_0
    out[f"{case}/s0"] = np.float32(layer.initial_scale)
# random margins on JAX: N(m, sigma^2) (ElasticFace) from keras.random with the layer's SeedGenerator
ef = build_loss("elasticface", N, D, sigma=0.05)
draws = [to_np(ef.sample_margins(4000)) for _ in range(2)]
out["elastic/draws"] = np.stack(draws)
emm = build_loss("emm", N, D, sigma=0.05)
lam = np.full(4000, 0.25, np.float32)
m1, m2 = emm.pair_margins(lam, training=True)
out["emm/m1"], out["emm/m2"] = to_np(m1), to_np(m2)
# mixup on JAX, drawn from a keras.random.SeedGenerator
from asd_tf.losses.mixup import MixupConfig, mixup_batch
seeds = keras.random.SeedGenerator(5)
x = np.broadcast_to(np.arange(16, dtype=np.float32)[:, None], (16, 3))
mixed = mixup_batch(x, np.arange(16) % 5, MixupConfig(), seeds)
out["mix/x"], out["mix/y2"], out["mix/lam"] = to_np(mixed[0]), to_np(mixed[2]), to_np(mixed[3])
out["mix/lam_u"] = to_np(mixup_batch(np.zeros((4000, 1), np.float32), np.zeros(4000), MixupConfig(), seeds)[3])
out["mix/lam_b"] = to_np(mixup_batch(np.zeros((4000, 1), np.float32), np.zeros(4000), MixupConfig(alpha=0.5), seeds)[3])
never = mixup_batch(x, np.arange(16) % 5, MixupConfig(prob=0.0), seeds)
out["mix/never_x"], out["mix/never_y2"] = to_np(never[0]), to_np(never[2])
np.savez(OUT, **out)
'''
    result = run_on_backend("jax", code, tmp_path_factory.mktemp("parity"), **arrays)
    return reference, result, cases


def _case_names() -> list[str]:
    return list(_namespace()["CASES"])


@pytest.mark.parametrize("case", _case_names())
def test_loss_numbers_match_across_backends(parity, case):
    reference, result, _ = parity
    keys = [k for k in reference if k.startswith(case + "/") and not k.startswith(case + "/grad")]
    assert len(keys) == 2 * (2 * 3 + 5), keys
    for key in keys:
        np.testing.assert_allclose(result[key], reference[key], rtol=RTOL, atol=ATOL, err_msg=key)


def test_adaptive_scales_actually_move(parity):
    # the scale comparison above is only meaningful if the scales change over the steps
    reference, _, _ = parity
    for case in ("adacos", "subcluster_adacos", "adaproj", "featex_adacos"):
        scales = [float(reference[f"{case}/mix1/scale{t}"]) for t in range(3)]
        assert len({round(s, 4) for s in scales}) == 3, (case, scales)


@pytest.mark.parametrize("case", GRAD_CASES)
def test_embedding_gradients_match_across_backends(parity, case):
    reference, result, _ = parity
    assert np.abs(reference[f"{case}/grad"]).max() > 1e-3  # a gradient that is not all zero
    np.testing.assert_allclose(result[f"{case}/grad"], reference[f"{case}/grad"], rtol=GRAD_RTOL, atol=GRAD_ATOL)
    # stateless_call returned the updated scale, and left the variable alone
    np.testing.assert_allclose(result[f"{case}/grad_scale"], reference[f"{case}/grad_scale"], rtol=RTOL, atol=ATOL)
    assert float(result[f"{case}/grad_scale_untouched"]) == pytest.approx(float(result[f"{case}/s0"]))
    assert float(result[f"{case}/grad_scale"]) != pytest.approx(float(result[f"{case}/s0"]), rel=1e-3)


def test_random_margins_on_jax_follow_their_distribution(parity):
    _, result, _ = parity
    draws = result["elastic/draws"]
    # N(0.7, 0.05^2): mean within 4 standard errors (0.05/sqrt(4000) = 8e-4), std within 5 %
    for d in draws:
        assert abs(d.mean() - 0.7) < 4 * 0.05 / np.sqrt(4000)
        assert abs(d.std() - 0.05) < 0.0025
    assert not np.allclose(draws[0], draws[1])  # the SeedGenerator advances
    # EMM, weighted sigma: m1 ~ N(lam m, (lam sigma)^2), m2 ~ N((1-lam) m, ((1-lam) sigma)^2), m = 1.1
    for values, w in ((result["emm/m1"], 0.25), (result["emm/m2"], 0.75)):
        assert abs(values.mean() - w * 1.1) < 4 * w * 0.05 / np.sqrt(4000)
        assert abs(values.std() - w * 0.05) < 0.05 * w * 0.05


def test_mixup_on_jax_pairs_and_distributions(parity):
    _, result, _ = parity
    x, y2, lam = result["mix/x"], result["mix/y2"], result["mix/lam"]
    # rows were x[i] = i: x_mix = lam i + (1 - lam) j recovers the partner j, a permutation
    i = np.arange(16)
    ok = lam < 0.999
    j = (x[ok, 0] - lam[ok] * i[ok]) / (1 - lam[ok])
    partners = np.rint(j).astype(int)
    np.testing.assert_allclose(j, partners, atol=1e-2)
    assert len(set(partners)) == len(partners)
    np.testing.assert_array_equal(y2[ok], partners % 5)
    # U(0, 1): mean 1/2, var 1/12; Beta(0.5, 0.5): mean 1/2, var 1/8 (as tests/test_mixup.py on TF)
    lam_u, lam_b = result["mix/lam_u"], result["mix/lam_b"]
    assert abs(lam_u.mean() - 0.5) < 0.03 and abs(lam_u.var() - 1 / 12) < 0.01
    assert abs(lam_b.mean() - 0.5) < 0.03 and abs(lam_b.var() - 1 / 8) < 0.01
    assert np.mean(lam_b < 0.1) > 0.15
    np.testing.assert_array_equal(result["mix/never_x"], np.broadcast_to(i[:, None], (16, 3)))
    np.testing.assert_array_equal(result["mix/never_y2"], i % 5)


SHARDED = '''
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from asd_tf.losses import build_loss

assert jax.device_count() == 2, jax.devices()
d = dict(np.load(IN))
N, D = 4, 16
mesh = Mesh(np.array(jax.devices()), ("batch",))
out = {}
for name, params in (("adacos", {}), ("subcluster_adacos", {"num_subclusters": 3}), ("adaproj", {"subspace_dim": 2})):
    layer = build_loss(name, N, D, seed=3, **params)
    tv = [v.value for v in layer.trainable_variables]
    ntv0 = [v.value for v in layer.non_trainable_variables]
    index = [v.path for v in layer.non_trainable_variables].index(layer.scale.path)

    @jax.jit
    def step(ntv, e, y1, y2, lam):
        return layer.stateless_call(tv, ntv, e, y1, y2, lam, training=True)

    for mode in ("whole", "sharded", "half"):
        ntv, scales = ntv0, []
        for t in range(3):
            args = [d["e"][t], d["y1"][t], d["y2"][t], d["lam"][t]]
            if mode == "sharded":
                args = [jax.device_put(a, NamedSharding(mesh, P("batch", *[None] * (a.ndim - 1)))) for a in args]
                assert len(args[0].sharding.device_set) == 2
                assert [s.data.shape[0] for s in args[0].addressable_shards] == [4, 4]
            elif mode == "half":  # what one device alone would compute from its own slice
                args = [a[:4] for a in args]
            loss, ntv = step(ntv, *args)
            scales.append(float(ntv[index]))
        out[f"{name}/{mode}"] = np.asarray(scales, np.float32)
np.savez(OUT, **out)
'''


def test_sharded_batch_gives_the_global_scale_under_jax(parity, tmp_path):
    reference, _, _ = parity
    data = _data(_namespace())
    flags = "--xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    out = run_on_backend("jax", SHARDED, tmp_path, env={"XLA_FLAGS": flags}, **data)
    for name in ("adacos", "subcluster_adacos", "adaproj"):
        whole, sharded, half = out[f"{name}/whole"], out[f"{name}/sharded"], out[f"{name}/half"]
        tf_scales = np.asarray([reference[f"{name}/mix1/scale{t}"] for t in range(3)])
        np.testing.assert_allclose(whole, tf_scales, rtol=RTOL, atol=ATOL, err_msg=name)  # jit == eager TF
        np.testing.assert_allclose(sharded, whole, rtol=1e-6, atol=1e-6, err_msg=name)
        # a per-device statistic would differ: the check can fail
        assert np.abs(half - whole).max() > 1e-3, (name, half, whole)
