"""Domain-balanced scoring backends (knn per domain, knn_smote, density) and score ensembles.

Each backend is checked against an independent recomputation (scikit-learn
NearestNeighbors, imbalanced-learn's SMOTE called directly, plain loops) and a
small case computed by hand.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from imblearn.over_sampling import SMOTE
from sklearn.neighbors import NearestNeighbors

from asd_tf.errors import ConfigError
from asd_tf.scoring import (
    DensityBackend,
    KMeansBackend,
    KNNBackend,
    KNNSmoteBackend,
    combine_scores,
    make_backend,
    score_dataset,
    standardise_by_section,
)
from records_helpers import Rec, TrainRec


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def angles(*deg):
    """Unit vectors in the plane at the given angles (degrees)."""
    r = np.deg2rad(np.asarray(deg, dtype=float))
    return np.stack([np.cos(r), np.sin(r)], axis=1)


def section(n_source, n_target, machine="fan", sec="00"):
    return ([TrainRec(path=f"/d/{machine}_{sec}_s{i}.wav", machine=machine, section=sec) for i in range(n_source)]
            + [TrainRec(path=f"/d/{machine}_{sec}_t{i}.wav", machine=machine, section=sec, domain="target")
               for i in range(n_target)])


def probes(n, machine="fan", sec="00"):
    return [Rec(path=f"/d/{machine}_{sec}_x{i}.wav", machine=machine, section=sec) for i in range(n)]


def nn_mean(queries, refs, k):
    """Mean cosine distance to the k nearest refs, by scikit-learn (brute force, cosine metric)."""
    k = min(k, len(refs))
    dist, _ = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(refs).kneighbors(queries)
    return dist.mean(axis=1)


def per_domain_ref(queries, src, tgt, k):
    parts = [nn_mean(queries, r, k) for r in (src, tgt) if len(r)]
    return np.minimum.reduce(parts)


# ---------------------------------------------------------------------------- knn per domain

def test_knn_per_domain_hand_case():
    # source clips at 0 and 90 degrees, one target clip at 180; a test clip at 150 degrees
    train = angles(0, 90, 180)
    recs = section(2, 1)
    x = angles(150)
    d_t = 1 - np.cos(np.deg2rad(30))  # to 180: 0.1340
    d_90, d_0 = 1 - np.cos(np.deg2rad(60)), 1 - np.cos(np.deg2rad(150))  # 0.5, 1.866
    assert KNNBackend(k=1).fit(train, recs).score(x, probes(1))[0] == pytest.approx(d_t)
    # k = 2: source mean (d_90 + d_0)/2 = 1.183, target has one clip -> d_t; the smaller is d_t
    assert KNNBackend(k=2).fit(train, recs).score(x, probes(1))[0] == pytest.approx(d_t)
    # pooled: mean of the two nearest of all clips
    assert KNNBackend(k=2, per_domain=False).fit(train, recs).score(x, probes(1))[0] == pytest.approx((d_t + d_90) / 2)


@pytest.mark.parametrize("k", [1, 3])
def test_knn_per_domain_matches_sklearn(k):
    rng = np.random.default_rng(0)
    train = rng.standard_normal((30, 6))
    recs = section(24, 6)
    test = rng.standard_normal((9, 6))
    b = KNNBackend(k=k).fit(train, recs)
    np.testing.assert_allclose(b.score(test, probes(9)), per_domain_ref(test, train[:24], train[24:], k), atol=1e-12)
    # leave-one-out: each clip against the other clips of its own domain and all clips of the other
    loo = [per_domain_ref(train[i:i + 1], np.delete(train[:24], i, 0) if i < 24 else train[:24],
                          np.delete(train[24:], i - 24, 0) if i >= 24 else train[24:], k)[0] for i in range(30)]
    np.testing.assert_allclose(b.score_train(), loo, atol=1e-12)
    pooled = KNNBackend(k=k, per_domain=False).fit(train, recs)
    np.testing.assert_allclose(pooled.score(test, probes(9)), nn_mean(test, train, k), atol=1e-12)
    if k == 1:  # one neighbour: per domain and pooled are the same scores, bit for bit
        np.testing.assert_array_equal(b.score(test, probes(9)), pooled.score(test, probes(9)))
        np.testing.assert_array_equal(b.score_train(), pooled.score_train())
    with pytest.raises(ConfigError, match="per_domain"):
        KNNBackend(per_domain="yes")


# ---------------------------------------------------------------------------- knn_smote

def imblearn_synthetic(train, n_target, k_neighbors=2, seed=0):
    """SMOTE points from imbalanced-learn called directly, re-normalised."""
    y = np.r_[np.zeros(len(train) - n_target), np.ones(n_target)].astype(int)
    x_res, y_res = SMOTE(sampling_strategy=0.2, k_neighbors=k_neighbors, random_state=seed).fit_resample(unit(train), y)
    return unit(x_res[len(train):])


def test_knn_smote_matches_imblearn_and_sklearn():
    rng = np.random.default_rng(1)
    train = rng.standard_normal((55, 5))  # 50 source, 5 target -> int(0.2 * 50) = 10 target, 5 synthetic
    recs = section(50, 5)
    test = rng.standard_normal((7, 5))
    b = KNNSmoteBackend(seed=3).fit(train, recs)
    synth = imblearn_synthetic(train, 5, seed=3)
    assert b.synthetic.shape == (5, 5)
    np.testing.assert_allclose(b.synthetic, synth, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(b.synthetic, axis=1), 1.0)
    tgt_refs = np.concatenate([unit(train[50:]), synth])
    np.testing.assert_allclose(b.score(test, probes(7)), per_domain_ref(test, train[:50], tgt_refs, 1), atol=1e-12)
    # leave-one-out: source clip without itself; target clip against SMOTE rerun without it
    got = b.score_train()
    for i in (0, 17):
        assert got[i] == pytest.approx(per_domain_ref(train[i:i + 1], np.delete(train[:50], i, 0), tgt_refs, 1)[0])
    for i in range(50, 55):
        rest = np.delete(train, i, 0)
        refs = np.concatenate([unit(rest[50:]), imblearn_synthetic(rest, 4, seed=3)])
        assert got[i] == pytest.approx(per_domain_ref(train[i:i + 1], train[:50], refs, 1)[0], abs=1e-12)
    # seeded: same seed, same points; another seed, other points
    np.testing.assert_array_equal(KNNSmoteBackend(seed=3).fit(train, recs).synthetic, b.synthetic)
    assert not np.allclose(KNNSmoteBackend(seed=4).fit(train, recs).synthetic, b.synthetic)


def test_knn_smote_design_count_and_interpolation():
    # docs/design.md, "Later methods": 990 source + 10 target -> 198 target points (188 synthetic) on target segments
    rng = np.random.default_rng(2)
    src = rng.standard_normal((990, 4))
    tgt = unit(rng.standard_normal((10, 4)))
    b = KNNSmoteBackend().fit(np.concatenate([src, tgt]), section(990, 10))
    assert b.synthetic.shape == (188, 4)
    # every synthetic point (before normalising) lies on a segment between two target clips:
    # its direction is in the plane spanned by some pair of target clips
    for s in b.synthetic[:20]:
        residuals = []
        for a in range(10):
            for c in range(a + 1, 10):
                basis, _ = np.linalg.qr(np.stack([tgt[a], tgt[c]], axis=1))
                residuals.append(np.linalg.norm(s - basis @ (basis.T @ s)))
        assert min(residuals) < 1e-9


def test_knn_smote_few_target_clips_fallbacks():
    rng = np.random.default_rng(3)
    train = rng.standard_normal((42, 4))
    test = rng.standard_normal((5, 4))
    # 2 target clips < k_neighbors + 1 = 3: SMOTE runs with k_neighbors = 1, with a warning
    with pytest.warns(UserWarning, match="using k_neighbors = 1"):
        b = KNNSmoteBackend().fit(train, section(40, 2))
    np.testing.assert_allclose(b.synthetic, imblearn_synthetic(train, 2, k_neighbors=1), atol=1e-12)
    assert b.synthetic.shape[0] == 6
    # 1 target clip: nothing to interpolate, warning, scores are plain per-domain knn
    knn = KNNBackend().fit(train[:41], section(40, 1))
    with pytest.warns(UserWarning, match="only 1 target"):
        one = KNNSmoteBackend().fit(train[:41], section(40, 1))
    np.testing.assert_array_equal(one.score(test, probes(5)), knn.score(test, probes(5)))
    np.testing.assert_array_equal(one.score_train(), knn.score_train())
    # no target clip (DCASE 2020) or enough target clips already: no synthetic point, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert KNNSmoteBackend().fit(train, section(42, 0)).synthetic.shape[0] == 0
        assert KNNSmoteBackend().fit(train, section(30, 12)).synthetic.shape[0] == 0
    with pytest.raises(ConfigError, match="sampling_strategy"):
        KNNSmoteBackend(sampling_strategy=1.5)
    with pytest.raises(ConfigError, match="k_neighbors"):
        make_backend("knn_smote", k_neighbors=0)


# ---------------------------------------------------------------------------- density

def test_density_hand_case():
    # references at 0, 60 and 180 degrees; d = (1 - cos)/2: d(0,60) = 0.25, d(60,180) = 0.75, d(0,180) = 1
    refs = angles(0, 60, 180)
    recs = section(2, 1)
    x = angles(120)  # d(x, .) = 0.75, 0.25, 0.25
    b = DensityBackend().fit(refs, recs)  # K = 1: rho = 0.25, 0.25, 0.75
    np.testing.assert_allclose(b.rho, [0.25, 0.25, 0.75])
    assert b.score(x, probes(1))[0] == pytest.approx(1 / 3)  # min(3, 1, 1/3)
    assert DensityBackend(variant="difference").fit(refs, recs).score(x, probes(1))[0] == pytest.approx(-0.5)
    # weighted, w = 0.9: rho = (0.25 + 0.9)/1.9, (0.25 + 0.675)/1.9, (0.75 + 0.9)/1.9
    wb = DensityBackend(density="weighted").fit(refs, recs)
    np.testing.assert_allclose(wb.rho, [1.15 / 1.9, 0.925 / 1.9, 1.65 / 1.9])
    assert wb.score(x, probes(1))[0] == pytest.approx(0.25 * 1.9 / 1.65)
    # leave-one-out for the clip at 60: references 0 and 180 remain, each other's nearest at d = 1
    # -> rho = 1, 1 and the score is min(0.25 / 1, 0.75 / 1) = 0.25
    assert b.score_train()[1] == pytest.approx(0.25)
    # K = 2 (> the 1 remaining neighbour in leave-one-out): all neighbours are used
    np.testing.assert_allclose(DensityBackend(k=2).fit(refs, recs).rho, [0.625, 0.5, 0.875])


def brute_density(refs, density, k, w=0.9, tol=1e-9):
    """rho_j by explicit loops over the other references (duplicates within tol skipped)."""
    rho = []
    for j, r in enumerate(refs):
        ds = sorted(0.5 * (1 - np.dot(r, q)) for i, q in enumerate(refs) if i != j)
        ds = [d for d in ds if d > tol]
        if not ds:
            rho.append(np.nan)
        elif density == "knn":
            rho.append(np.mean(ds[:k]))
        else:
            wts = w ** np.arange(len(ds))
            rho.append(np.dot(wts, ds) / wts.sum())
    return np.array(rho)


def brute_score(x, refs, rho, variant):
    rho = np.where(np.isnan(rho), 1.0 if variant == "ratio" else 0.0, rho)
    out = []
    for v in unit(x):
        vals = [(0.5 * (1 - np.dot(v, r)) / p if variant == "ratio" else 0.5 * (1 - np.dot(v, r)) - p)
                for r, p in zip(refs, rho)]
        out.append(min(vals))
    return np.array(out)


@pytest.mark.parametrize("variant,density,k", [("ratio", "knn", 1), ("ratio", "knn", 3),
                                               ("difference", "knn", 2), ("ratio", "weighted", 1),
                                               ("difference", "weighted", 1)])
def test_density_matches_loops_with_leave_one_out(variant, density, k):
    rng = np.random.default_rng(4)
    train = rng.standard_normal((14, 5))
    train[13] = train[2] * 2.0  # a duplicate direction: rho must not become 0
    recs = section(10, 4)
    test = rng.standard_normal((6, 5))
    b = DensityBackend(variant=variant, density=density, k=k).fit(train, recs)
    refs = unit(train)
    rho = brute_density(refs, density, k)
    assert np.all(rho > 0)
    np.testing.assert_allclose(b.rho, rho, rtol=1e-12)
    np.testing.assert_allclose(b.score(test, probes(6)), brute_score(test, refs, rho, variant), rtol=1e-10)
    # leave-one-out: every density recomputed without the clip, the clip not its own reference
    loo = [brute_score(refs[i:i + 1], np.delete(refs, i, 0), brute_density(np.delete(refs, i, 0), density, k),
                       variant)[0] for i in range(14)]
    np.testing.assert_allclose(b.score_train(), loo, rtol=1e-10, atol=1e-12)


def test_density_kmeans_source_and_smote_references():
    rng = np.random.default_rng(5)
    train = rng.standard_normal((45, 4))  # 40 source, 5 target
    recs = section(40, 5)
    test = rng.standard_normal((5, 4))
    b = DensityBackend(source="kmeans", n_clusters=4, smote=True, seed=2).fit(train, recs)
    centres = KMeansBackend(n_clusters=4, target_centres=False, seed=2).fit(train[:40], recs[:40]).centres
    synth = imblearn_synthetic(train, 5, seed=2)  # int(0.2 * 40) - 5 = 3 points
    refs = np.concatenate([centres, unit(train[40:]), synth])
    assert b.references.shape == (4 + 5 + 3, 4)
    np.testing.assert_allclose(b.references, refs, atol=1e-12)
    rho = brute_density(refs, "knn", 1)
    np.testing.assert_allclose(b.score(test, probes(5)), brute_score(test, refs, rho, "ratio"), rtol=1e-10)
    got = b.score_train()
    # a target clip: references rebuilt without it (SMOTE rerun on the 4 other target clips)
    rest = np.delete(train, 42, 0)
    refs42 = np.concatenate([centres, unit(rest[40:]), imblearn_synthetic(rest, 4, seed=2)])
    assert got[42] == pytest.approx(brute_score(train[42:43], refs42, brute_density(refs42, "knn", 1), "ratio")[0])
    # a source clip in a cluster of several: scored against the full reference set
    assert got[0] == pytest.approx(brute_score(train[:1], refs, rho, "ratio")[0])
    assert np.all(np.isfinite(got))


def test_density_degenerate_sections_and_options():
    one = DensityBackend().fit(np.ones((1, 3)), section(1, 0))
    assert np.isfinite(one.score_train()).all() and one.rho[0] == 1.0  # no neighbour: neutral density
    same = DensityBackend(variant="difference").fit(np.ones((3, 3)), section(3, 0))
    np.testing.assert_allclose(same.score(np.ones((1, 3)), probes(1)), [0.0], atol=1e-12)
    for bad in (dict(variant="log"), dict(density="gauss"), dict(source="median"), dict(k=0), dict(w=0.0)):
        with pytest.raises(ConfigError):
            DensityBackend(**bad)


# ---------------------------------------------------------------------------- ensembles

def test_standardise_and_combine_per_section():
    train_recs = section(4, 1) + section(3, 0, machine="pump", sec="01")
    test_recs = probes(2) + probes(3, machine="pump", sec="01")
    tr_a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 10.0, 10.0])  # pump section: no spread -> only centred
    te_a = np.array([3.0, 7.0, 9.0, 11.0, 10.0])
    z_te, z_tr = standardise_by_section(te_a, tr_a, test_recs, train_recs)
    np.testing.assert_allclose(z_te[:2], [0.0, 4 / np.sqrt(2)])  # fan: mean 3, population std sqrt(2)
    np.testing.assert_allclose(z_te[2:], [-1.0, 1.0, 0.0])
    np.testing.assert_allclose(z_tr[:5], (tr_a[:5] - 3) / np.sqrt(2))
    tr_b, te_b = 100 * tr_a + 7, 100 * te_a + 7  # another member on another scale: same z-scores
    te, tr = combine_scores([(te_a, tr_a), (te_b, tr_b)], test_recs, train_recs, "zscore")
    np.testing.assert_allclose(te[:2], 2 * z_te[:2])
    np.testing.assert_allclose(tr[:5], 2 * z_tr[:5])
    # the pump section has no spread: each member is only centred, so its scale stays (1 + 100)
    np.testing.assert_allclose(te[2:], 101 * z_te[2:])
    np.testing.assert_allclose(tr[5:], 0.0)
    te_sum, _ = combine_scores([(te_a, tr_a), (te_b, tr_b)], test_recs, train_recs, "sum")
    np.testing.assert_allclose(te_sum, te_a + te_b)
    with pytest.raises(ConfigError, match="combination"):
        combine_scores([(te_a, tr_a)], test_recs, train_recs, "mean")


def test_new_backends_through_score_dataset():
    rng = np.random.default_rng(6)
    train_recs = section(20, 3) + section(15, 3, machine="pump", sec="01")
    test_recs = probes(4) + probes(5, machine="pump", sec="01")
    tr = rng.standard_normal((len(train_recs), 4))
    te = rng.standard_normal((len(test_recs), 4))
    for name, opts in (("knn_smote", dict(seed=1)), ("density", dict(density="weighted"))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 3 target clips: no fallback needed, but keep the test quiet
            te_s, tr_s = score_dataset(name, tr, train_recs, te, test_recs, **opts)
        assert np.all(np.isfinite(te_s)) and np.all(np.isfinite(tr_s))
        b = make_backend(name, **opts).fit(tr[23:], train_recs[23:])
        np.testing.assert_allclose(te_s[4:], b.score(te[4:], test_recs[4:]))
        np.testing.assert_allclose(tr_s[23:], b.score_train())


# ---------------------------------------------------------------------------- end to end

def test_cli_evaluate_new_backends_and_zscore_combination(tiny_run_factory, tiny_data):
    """`asd-tf evaluate RUN --backend knn_smote` on a tiny trained run, then knn + density as one z-scored system."""
    import json

    from asd_tf.commands import main
    from asd_tf.data.index import scan_dataset
    from asd_tf.evaluation.run import score_run
    from asd_tf.evaluation.submission import read_submission

    run = tiny_run_factory()
    assert main(["evaluate", str(run), "--backend", "knn_smote"]) == 0
    res = json.loads((run / "evaluation" / "knn_smote" / "results.json").read_text())
    assert res["backend"] == "knn_smote" and 0.0 <= res["official_score"] <= 1.0
    assert main(["evaluate", str(run), "--backend", "knn", "density", "--combine", "zscore",
                 "--option", "density.variant=difference"]) == 0
    out = run / "evaluation" / "knn+density_zscore@density.variant=difference"  # options name the folder
    assert json.loads((out / "results.json").read_text())["combine"] == "zscore"

    # the combined scores are the per-section z-scores of the two members, summed
    clips = scan_dataset(tiny_data).clips
    test = [c for c in clips if c.split == "test"]
    train = [c for c in clips if c.split == "train"]
    members = [score_run(run, train, test, "knn", {}, progress=False),
               score_run(run, train, test, "density", {"variant": "difference"}, progress=False)]
    z = [standardise_by_section(te, tr, test, train)[0] for te, tr in members]
    expected = {(c.machine, c.section, c.path.split("/")[-1]): a + b for c, a, b in zip(test, *z)}
    checked = 0
    for csv_path in sorted((out / "submission").glob("anomaly_score_*.csv")):
        machine, section = csv_path.stem.split("_section_")[0][len("anomaly_score_"):], csv_path.stem.split("_")[-2]
        for name, value in read_submission(csv_path):
            assert value == pytest.approx(expected[(machine, section, name)], rel=1e-6, abs=1e-9)
            checked += 1
    assert checked == len(test)
    assert main(["evaluate", str(run), "--backend", "knn", "--option", "n_clusters=3"]) == 2  # knn takes no n_clusters
    assert main(["evaluate", str(run), "--backend", "knn", "density", "--option", "knn.q=3"]) == 2


def test_evaluation_folder_names_and_option_routing(tmp_path):
    from asd_tf.evaluation.run import evaluation_dir, options_per_backend

    assert evaluation_dir(tmp_path, "kmeans", False) == tmp_path  # the paper's results stay in the run
    assert evaluation_dir(tmp_path, "knn_smote", False) == tmp_path / "evaluation" / "knn_smote"
    assert evaluation_dir(tmp_path, "kmeans", True) == tmp_path / "evaluation" / "kmeans_ensemble"
    assert evaluation_dir(tmp_path, ["kmeans", "density"], True, "zscore") == \
        tmp_path / "evaluation" / "kmeans+density_ensemble_zscore"
    assert evaluation_dir(tmp_path, "kmeans", False, options={"fit": "all", "n_clusters": 8}) == \
        tmp_path / "evaluation" / "kmeans@fit=all,n_clusters=8"
    routed = options_per_backend(["kmeans", "knn_smote", "knn"], {"seed": 3, "knn.k": 2, "k": 4})
    assert routed == {"kmeans": {"seed": 3}, "knn_smote": {"seed": 3, "k": 4}, "knn": {"k": 2}}
    with pytest.raises(ConfigError, match="not among"):
        options_per_backend(["knn"], {"density.k": 2})
    with pytest.raises(ConfigError, match="unknown option"):
        options_per_backend(["knn", "density"], {"n_cluster": 2})


def test_cli_evaluate_scores_every_backend_when_a_section_has_no_anomalies(tiny_run_factory, tiny_data, tmp_path,
                                                                         capsys):
    """`asd-tf evaluate RUN --backend kmeans knn` on data where one section's test clips are all normal: each
    backend writes its score files and names the section whose AUC is undefined; exit status 2 at the end
    (before, the first backend's error stopped the command and knn was never scored)."""
    import shutil

    from asd_tf.commands import main
    from asd_tf.runs import evaluation_dir

    run = tmp_path / "run"
    shutil.copytree(tiny_run_factory(), run)  # a copy: evaluating writes into the run directory
    view = tmp_path / "data"  # tiny_data without the anomalous test clips of fan section 00
    for wav in tiny_data.rglob("*.wav"):
        if wav.parent.name == "test" and wav.parent.parent.name == "fan" and wav.name.startswith("section_00_") \
                and "_anomaly_" in wav.name:
            continue
        target = view / wav.relative_to(tiny_data)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(wav)
    kept = sorted(p.name for p in (view / "fan" / "test").glob("section_00_*.wav"))
    assert kept and all("_normal_" in name for name in kept)

    assert main(["evaluate", str(run), "--data", str(view), "--backend", "kmeans", "knn"]) == 2
    err = capsys.readouterr().err
    for backend in ("kmeans", "knn"):
        assert f"error: backend {backend}: AUC undefined (fan/section 00): only normal clips" in err
        scores = evaluation_dir(run, backend, ensemble=False) / "submission" / "anomaly_score_fan_section_00_test.csv"
        assert sorted(line.split(",")[0] for line in scores.read_text().splitlines()) == kept
    # one backend alone: the error is the command's own, as before
    assert main(["evaluate", str(run), "--data", str(view), "--backend", "knn"]) == 2
    assert "asd-tf evaluate: error: AUC undefined (fan/section 00)" in capsys.readouterr().err
