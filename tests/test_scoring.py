"""Scoring backends vs independent NumPy / SciPy computations on small synthetic sections."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special

from asd_tf.errors import ConfigError, DatasetError
from asd_tf.scoring import (
    BACKENDS,
    ClassPosteriorBackend,
    KMeansBackend,
    KNNBackend,
    ensemble_scores,
    make_backend,
    score_dataset,
)
from records_helpers import TrainRec as Rec


def recs(n, **kw):
    return [Rec(path=f"/x/{kw.get('machine', 'fan')}_{kw.get('section', '00')}_{kw.get('domain', 'source')}_{kw.get('split', 'train')}_{i}.wav", **kw) for i in range(n)]


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def ref_min_cos(x, centres):
    """Independent reference: min over centres of 1 - cos, by explicit loops."""
    out = []
    for v in x:
        best = np.inf
        for c in centres:
            best = min(best, 1.0 - float(np.dot(v, c) / (np.linalg.norm(v) * np.linalg.norm(c))))
        out.append(best)
    return np.array(out)


def clusters(rng, dim=8, n_per=10, n_clusters=3, spread=0.02):
    """Tight clusters around orthogonal unit directions; returns points, true assignment, directions."""
    dirs = np.eye(dim)[:n_clusters]
    pts, lab = [], []
    for c in range(n_clusters):
        pts.append(dirs[c] + spread * rng.standard_normal((n_per, dim)))
        lab += [c] * n_per
    return np.concatenate(pts) * rng.uniform(0.5, 3.0, size=(n_clusters * n_per, 1)), np.array(lab), dirs


def test_kmeans_matches_numpy_reference_with_target_centres():
    rng = np.random.default_rng(0)
    src, lab, _ = clusters(rng, n_clusters=3)
    tgt = unit(rng.standard_normal((4, 8)))
    train = np.concatenate([src, tgt])
    train_recs = recs(len(src)) + recs(len(tgt), domain="target")
    b = KMeansBackend(n_clusters=3).fit(train, train_recs)

    # reference centres: mean of each true cluster of the normalised source points, plus the target points
    srcn = unit(src)
    centres = [srcn[lab == c].mean(axis=0) for c in range(3)] + list(tgt)
    test = np.concatenate([unit(rng.standard_normal((6, 8))), src[:3] * 2.0, tgt[:1] + 0.01])
    got = b.score(test, recs(len(test), split="test"))
    np.testing.assert_allclose(got, ref_min_cos(test, centres), atol=1e-9)
    # a clip on a cluster or on a target clip is far less anomalous than random directions
    assert got[6:].max() < 0.01 < got[:6].min()


def test_target_centres_are_used():
    rng = np.random.default_rng(1)
    src, _, _ = clusters(rng, n_clusters=2)
    tgt = unit(np.array([[0, 0, 0, 0, 1.0, 1.0, 0, 0]]))
    train_recs = recs(len(src)) + recs(1, domain="target")
    with_t = KMeansBackend(n_clusters=2).fit(np.concatenate([src, tgt]), train_recs)
    without = KMeansBackend(n_clusters=2, target_centres=False).fit(np.concatenate([src, tgt]), train_recs)
    probe = tgt * 3.0
    assert with_t.score(probe, recs(1))[0] == pytest.approx(0.0, abs=1e-12)
    # without the target centre the probe is orthogonal to both source clusters: distance ~1
    assert without.score(probe, recs(1))[0] == pytest.approx(1.0, abs=0.05)
    assert with_t.centres.shape[0] == 3 and without.centres.shape[0] == 2


def test_fewer_clips_than_k_uses_each_clip_as_centre():
    rng = np.random.default_rng(2)
    src = rng.standard_normal((5, 8))
    b = KMeansBackend(n_clusters=16).fit(src, recs(5))
    assert b.centres.shape == (5, 8)
    test = rng.standard_normal((7, 8))
    np.testing.assert_allclose(b.score(test, recs(7)), ref_min_cos(test, src), atol=1e-9)
    # leave-one-out training scores: each clip vs the other four
    expected = [ref_min_cos(src[i:i + 1], np.delete(src, i, axis=0))[0] for i in range(5)]
    np.testing.assert_allclose(b.score_train(), expected, atol=1e-9)


def test_kmeans_train_scores_leave_target_clip_out():
    rng = np.random.default_rng(3)
    src, lab, _ = clusters(rng, n_clusters=2)
    tgt = unit(rng.standard_normal((3, 8)))
    b = KMeansBackend(n_clusters=2).fit(np.concatenate([src, tgt]), recs(len(src)) + recs(3, domain="target"))
    srcn = unit(src)
    src_centres = [srcn[lab == c].mean(axis=0) for c in range(2)]
    train = b.score_train()
    np.testing.assert_allclose(train[: len(src)], ref_min_cos(src, src_centres + list(tgt)), atol=1e-9)
    for j in range(3):
        others = src_centres + [tgt[i] for i in range(3) if i != j]
        assert train[len(src) + j] == pytest.approx(ref_min_cos(tgt[j:j + 1], others)[0], abs=1e-9)
        assert train[len(src) + j] > 0.05


def test_fit_all_differs_and_matches_reference():
    rng = np.random.default_rng(4)
    pts, lab, _ = clusters(rng, n_clusters=3, n_per=10)
    # clusters 0 and 1 are source, cluster 2 is target
    dom = np.where(lab == 2, "target", "source")
    train_recs = [Rec(path=f"/x/{i}.wav", domain=d) for i, d in enumerate(dom)]
    src_only = KMeansBackend(n_clusters=3, target_centres=False).fit(pts, train_recs)
    all_dom = KMeansBackend(n_clusters=3, fit="all", target_centres=False).fit(pts, train_recs)
    ptsn = unit(pts)
    ref_all = [ptsn[lab == c].mean(axis=0) for c in range(3)]
    probe = np.concatenate([np.eye(8)[2:3], np.eye(8)[:1]])
    np.testing.assert_allclose(all_dom.score(probe, recs(2)), ref_min_cos(probe, ref_all), atol=1e-9)
    got_src = src_only.score(probe, recs(2))
    # the target direction is a k-means centre only when fitted on all domains
    assert got_src[0] > 0.5 and all_dom.score(probe, recs(2))[0] < 0.01
    with pytest.raises(ConfigError):
        KMeansBackend(fit="both")


def test_single_domain_dcase2020_section():
    rng = np.random.default_rng(5)
    src, lab, _ = clusters(rng, n_clusters=2)
    r = [Rec(path=f"/x/{i}.wav", dataset="dcase2020", section="01") for i in range(len(src))]
    b = KMeansBackend(n_clusters=2).fit(src, r)
    assert b.centres.shape[0] == 2
    srcn = unit(src)
    test = rng.standard_normal((4, 8))
    np.testing.assert_allclose(
        b.score(test, r[:4]), ref_min_cos(test, [srcn[lab == c].mean(0) for c in range(2)]), atol=1e-9
    )


@pytest.mark.parametrize("k", [1, 3])
def test_knn_matches_bruteforce(k):
    rng = np.random.default_rng(6)
    train = rng.standard_normal((12, 5))
    test = rng.standard_normal((4, 5))
    b = KNNBackend(k=k).fit(train, recs(12))
    expected = []
    for v in test:
        d = sorted(1 - np.dot(v, t) / np.linalg.norm(v) / np.linalg.norm(t) for t in train)
        expected.append(np.mean(d[:k]))
    np.testing.assert_allclose(b.score(test, recs(4)), expected, atol=1e-9)
    loo = []
    for i, v in enumerate(train):
        d = sorted(1 - np.dot(v, t) / np.linalg.norm(v) / np.linalg.norm(t) for j, t in enumerate(train) if j != i)
        loo.append(np.mean(d[:k]))
    np.testing.assert_allclose(b.score_train(), loo, atol=1e-9)


def test_class_posterior_scores():
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((6, 5)) * 3
    ids = {f"/x/{i}.wav": c for i, c in enumerate([0, 1, 1, 0, 2, 1])}

    def encode(rs):
        return np.array([ids[r.path] if r.path in ids else -1 for r in rs])

    train_recs = [Rec(path=f"/x/{i}.wav") for i in range(6)]
    b = ClassPosteriorBackend(encode=encode).fit(logits, train_recs)
    logp = scipy.special.log_softmax(logits, axis=1)
    np.testing.assert_allclose(b.score_train(), [-logp[i, ids[f"/x/{i}.wav"]] for i in range(6)], atol=1e-10)
    np.testing.assert_array_equal(b.section_classes, [0, 1, 2])

    test_logits = rng.standard_normal((2, 5)) * 3
    test_recs = [Rec(path="/x/1.wav", split="test"), Rec(path="/y/unknown.wav", split="test")]
    got = b.score(test_logits, test_recs)
    tlogp = scipy.special.log_softmax(test_logits, axis=1)
    assert got[0] == pytest.approx(-tlogp[0, 1])
    # unknown class: most probable of the section's classes (0, 1, 2), not classes 3-4
    assert got[1] == pytest.approx(-tlogp[1, :3].max())


def test_class_posterior_encoder_that_raises_marks_unknown():
    def encode(rs):
        if any(r.attributes == "" for r in rs):
            raise KeyError("no attributes")
        return np.zeros(len(rs), dtype=int)

    logits = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    b = ClassPosteriorBackend(encode=encode).fit(logits, [Rec(path="/a.wav", attributes="a_1")] * 2)
    got = b.score(logits, [Rec(path="/a.wav", attributes="a_1"), Rec(path="/b.wav")])
    logp = scipy.special.log_softmax(logits, axis=1)
    assert got[0] == pytest.approx(-logp[0, 0])
    assert got[1] == pytest.approx(-logp[1, 0])  # section classes = {0}


def test_score_dataset_per_section_and_errors():
    rng = np.random.default_rng(8)
    train_recs = recs(6, section="00") + recs(7, section="01", machine="pump") + recs(5, section="00", domain="target")
    test_recs = recs(3, section="01", machine="pump", split="test") + recs(4, section="00", split="test")
    tr = rng.standard_normal((len(train_recs), 4))
    te = rng.standard_normal((len(test_recs), 4))
    test_scores, train_scores = score_dataset("kmeans", tr, train_recs, te, test_recs, n_clusters=2)
    for machine, section in (("fan", "00"), ("pump", "01")):
        tri = [i for i, r in enumerate(train_recs) if (r.machine, r.section) == (machine, section)]
        tei = [i for i, r in enumerate(test_recs) if (r.machine, r.section) == (machine, section)]
        b = KMeansBackend(n_clusters=2).fit(tr[tri], [train_recs[i] for i in tri])
        np.testing.assert_allclose(test_scores[tei], b.score(te[tei], [test_recs[i] for i in tei]))
        np.testing.assert_allclose(train_scores[tri], b.score_train())
    assert np.all(np.isfinite(test_scores)) and np.all(np.isfinite(train_scores))

    with pytest.raises(DatasetError, match="valve/section 02"):
        score_dataset("knn", tr, train_recs, te[:1], recs(1, machine="valve", section="02", split="test"))
    with pytest.raises(ConfigError, match="unknown scoring backend"):
        score_dataset("gmm", tr, train_recs, te, test_recs)
    with pytest.raises(ConfigError, match="unknown option"):
        make_backend("knn", n_clusters=3)
    assert set(BACKENDS) == {"kmeans", "knn", "knn_smote", "density", "class_posterior", "class_loss"}


def test_ensemble_is_sum():
    a, b, c = np.array([1.0, 2.0]), np.array([0.5, -1.0]), np.array([0.0, 4.0])
    np.testing.assert_allclose(ensemble_scores([a, b, c]), [1.5, 5.0])
    with pytest.raises(ConfigError):
        ensemble_scores([a, np.zeros(3)])
    with pytest.raises(ConfigError):
        ensemble_scores([])
