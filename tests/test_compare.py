"""Experiments as data and the loss comparison runner (issue 5).

References: the paper's Table II rows (Wilkinghoff & Kurth) and the EMM ablation rows
(Zhao et al., Table II) restated by hand below; NumPy for means and sample std.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from asd_tf.errors import ConfigError
from asd_tf.commands import compare as CMD
from asd_tf.comparison import jobs as J
from asd_tf.comparison import runner as R
from asd_tf.comparison import table as T
from asd_tf.comparison import writers as W
from asd_tf.comparison.experiment import load_experiment, load_experiments, resolve_data
from asd_tf.comparison.presets import Preset, get_preset
from conftest import TINY_MODEL, TINY_SAMPLES

# ----------------------------------------------------------------------------- configs


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_repository_configs_match_the_papers_rows():
    # Table II of the paper, development sets: (loss, labels) per row, in order.
    rows_2022 = [("compactness", "none"), ("compactness", "machine"), ("compactness", "section"),
                 ("compactness", "individual"), ("compactness", "attribute"), ("compactness_cce", "attribute"),
                 ("adacos", "attribute"), ("subcluster_adacos", "attribute")]
    rows_2023 = [r for r in rows_2022 if r[1] != "section"]
    def papers_rows(year):  # the baseline systems' rows are checked in test_baseline_rows_in_every_year
        return [e for e in load_experiments(year) if e.train.get("system", "embedding") == "embedding"]

    for year, rows in (("dcase2022", rows_2022), ("dcase2023", rows_2023)):
        exps = papers_rows(year)
        assert [(e.train["loss"], e.train["labels"]) for e in exps] == rows
        assert all(e.dataset == year and "data" not in e.train for e in exps)
    # paper values kept for reference: DCASE 2022 sub-cluster AdaCos, both domains AUC 81.4
    assert papers_rows("dcase2022")[-1].paper["both_auc"] == pytest.approx(81.4)

    # EMM ablation: (loss, mixup, sigma, sigma_mode) with m = 1.1, s = 30, STgram-MFN, 2020 classes
    emm = papers_rows("dcase2020")
    got = [(e.train["loss"], e.train["mixup_prob"] > 0, e.train["loss_params"].get("sigma", 0.0),
            e.train["loss_params"].get("sigma_mode")) for e in emm]
    assert got == [("arcface", False, 0.0, None), ("elasticface", False, 0.0125, None),
                   ("elasticface", False, 0.0175, None), ("margin_mixup", True, 0.0, None),
                   ("emm", True, 0.0125, "fixed"), ("emm", True, 0.0125, "weighted"),
                   ("emm", True, 0.0175, "fixed"), ("emm", True, 0.0175, "weighted")]
    for e in emm:
        assert e.train["backbone"] == "stgram_mfn" and e.train["labels"] == "section"
        assert (e.train["loss_params"]["m"], e.train["loss_params"]["s"]) == (1.1, 30.0)
        assert e.train["mixup_prob"] == 0.0 or e.train["mixup_alpha"] == 0.5
    assert emm[5].paper["average_auc"] == pytest.approx(95.03)

    recipes = {e.train["backbone"] + ":" + e.train["loss"]: e for e in load_experiments("dcase2020", "recipes/*")}
    att = recipes["lowcomplexity_attention:noisy_arcmix"]
    assert (att.train["loss_params"], att.train["mixup_alpha"], att.train["optimizer"]) == (
        {"s": 40.0, "m": 0.7}, 0.2, "adamw")
    assert recipes["fgaspecnet:noisy_arcmix_softtriple"].train["loss_params"]["softtriple_weight"] == 0.15
    assert {"stgram_mfn:arcface", "stgram_mfn:emm"} <= set(recipes)


def test_config_names_a_year_not_a_path(tmp_path):
    bad = _write(tmp_path / "x.yaml", "dataset: /data/dcase2022\nrow: r\nloss: compactness\nlabels: none\n")
    with pytest.raises(ConfigError, match="year, not a path"):
        load_experiment(bad)
    bad = _write(tmp_path / "y.yaml", "dataset: dcase2022\nrow: r\nloss: adacos\ndata: /somewhere\n")
    with pytest.raises(ConfigError, match="must not set 'data'"):
        load_experiment(bad)
    bad = _write(tmp_path / "z.yaml", "dataset: dcase2022\nrow: r\nloss: no_such_loss\n")
    with pytest.raises(ConfigError, match="z.yaml.*unknown loss"):
        load_experiment(bad)
    ok = load_experiment(_write(tmp_path / "ok.yaml", "dataset: dcase2023\nrow: r\nloss: adacos\nepochs: 3\n"))
    assert ok.train == {"loss": "adacos", "epochs": 3, "dataset": "dcase2023"} and ok.backend == "kmeans"


def test_data_root_from_argument_or_environment(tmp_path):
    root = tmp_path / "d22"
    root.mkdir()
    assert resolve_data("dcase2022", str(root), environ={}) == root.resolve()
    assert resolve_data("dcase2022", None, environ={"ASD_TF_DATA_DCASE2022": str(root)}) == root.resolve()
    # the argument wins over the environment
    other = tmp_path / "other"
    other.mkdir()
    assert resolve_data("dcase2022", str(other), environ={"ASD_TF_DATA_DCASE2022": str(root)}) == other.resolve()
    with pytest.raises(ConfigError, match="ASD_TF_DATA_DCASE2023"):
        resolve_data("dcase2023", None, environ={"ASD_TF_DATA_DCASE2022": str(root)})
    with pytest.raises(ConfigError, match="not a directory"):
        resolve_data("dcase2022", str(tmp_path / "missing"), environ={})
    # the full preset has no synthetic fallback: a clear error before anything runs
    exp_dir = tmp_path / "exps"
    _write(exp_dir / "a.yaml", "dataset: dcase2022\nrow: r\nloss: adacos\n")
    with pytest.raises(ConfigError, match="--data"):
        R.run_comparison("dcase2022", 1, "full", None, tmp_path / "out", configs_dir=exp_dir, log=lambda s: None)


def test_presets():
    full, quick = get_preset("full"), get_preset("quick")
    exp = {"loss": "emm", "epochs": 200, "backbone": "stgram_mfn", "backbone_options": {"dropout": 0.1}}
    # full keeps what the YAML says, fills the paper defaults elsewhere
    assert full.apply(exp) == {**exp, "batch_size": 64, "num_samples": 160000}
    assert full.apply({"loss": "adacos"})["epochs"] == 10 and full.trials == 5
    q = quick.apply(exp)
    assert q["epochs"] < 200 and q["num_samples"] == 32000 and q["loss"] == "emm"
    assert q["backbone_options"]["dropout"] == 0.1 and q["backbone_options"]["embedding_dim"] == 32
    assert quick.apply({"loss": "adacos"})["backbone_options"]["stage_channels"] == [8, 16, 16, 32]
    assert exp["epochs"] == 200  # not mutated
    # --set KEY=VALUE: applied last, backbone options merged over the preset's size
    q2 = quick.with_overrides({"epochs": 30, "backbone_options": {"branch_dim": 8}}).apply({"loss": "adacos"})
    assert q2["epochs"] == 30 and q2["backbone_options"]["branch_dim"] == 8
    assert q2["backbone_options"]["dense_units"] == 32
    assert CMD._parse_settings(["epochs=30", "loss_params={s: 2}"]) == {"epochs": 30, "loss_params": {"s": 2}}
    with pytest.raises(ConfigError, match="data"):
        CMD._parse_settings(["data=/x"])
    with pytest.raises(ConfigError, match="unknown preset"):
        get_preset("huge")


# ----------------------------------------------------------------------------- aggregation

_KEYS = [f"{d}_{m}" for d in ("source", "target", "both") for m in ("auc", "pauc")]


def _results_2022(vals: dict[str, float], official: float) -> dict:
    t2 = {d: {m: vals[f"{d}_{m}"] for m in ("auc", "pauc")} for d in ("source", "target", "both")}
    return {"dataset": "dcase2022", "official_score": official, "table2": t2, "hmean": {}, "sections": []}


def _fake_run(run_dir: Path, results: dict, classes: int, backend_dir: str = "") -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ".complete").write_text("done\n")
    (run_dir / "label_set.json").write_text(json.dumps({"name": "x", "names": [f"c{i}" for i in range(classes)]}))
    target = run_dir / backend_dir if backend_dir else run_dir
    target.mkdir(parents=True, exist_ok=True)
    (target / "results.json").write_text(json.dumps(results))


@pytest.fixture
def fake_comparison(tmp_path):
    """Two experiments x 3 seeds of hand-made results; returns (experiments, out, per-run values)."""
    exp_dir = tmp_path / "exps"
    _write(exp_dir / "a.yaml", "dataset: dcase2022\nrow: IC compactness loss\ntask: none\norder: 1\n"
                               "loss: compactness\nlabels: none\npaper:\n  both_auc: 55.1\n")
    _write(exp_dir / "b.yaml", "dataset: dcase2022\nrow: AdaCos loss\ntask: attributes\norder: 2\n"
                               "loss: adacos\nlabels: attribute\n")
    exps = load_experiments("dcase2022", directory=exp_dir)
    rng = np.random.default_rng(0)
    out = tmp_path / "out"
    truth = {}
    for e, base, classes in ((exps[0], 0.52, 1), (exps[1], 0.8, 17)):
        for seed in range(3):
            vals = {k: float(base + rng.uniform(-0.05, 0.05)) for k in _KEYS}
            official = float(base + rng.uniform(-0.05, 0.05))
            _fake_run(J.run_dir_for(out, e, seed), _results_2022(vals, official), classes)
            truth[(e.name, seed)] = {**vals, "official": official}
    return exps, out, truth


def test_summarize_mean_std_and_best(fake_comparison):
    exps, out, truth = fake_comparison
    table = T.summarize(exps, out, trials=3)
    assert [c.key for c in table.columns] == _KEYS + ["official"]
    assert [r.classes for r in table.rows] == ["1", "17"] and not table.missing
    for row in table.rows:
        for key in _KEYS + ["official"]:
            ref = 100 * np.array([truth[(row.experiment.name, s)][key] for s in range(3)])
            assert row.mean(key) == pytest.approx(ref.mean())
            assert row.std(key) == pytest.approx(ref.std(ddof=1))
    # row b (base 0.8) wins every column
    assert all(table.best(c.key) == {1} for c in table.columns)

    md = W.to_markdown(table, {"command": "python experiments/compare_losses.py --dataset dcase2022"})
    b = table.rows[1]
    expected = f"**{100 * np.mean([truth[('b', s)]['both_auc'] for s in range(3)]):.1f} ± " \
               f"{100 * np.std([truth[('b', s)]['both_auc'] for s in range(3)], ddof=1):.1f}**"
    line_b = next(line for line in md.splitlines() if line.startswith("| AdaCos loss"))
    assert expected in line_b and "attributes (17)" in line_b
    line_a = next(line for line in md.splitlines() if line.startswith("| IC compactness loss | none (1)"))
    assert "**" not in line_a
    assert "Reported in the paper" in md and "55.1" in md and "`python experiments/compare_losses.py" in md

    rows = list(csv.DictReader(io.StringIO(W.to_csv(table))))
    assert [r["config"] for r in rows] == ["a", "b"] and rows[1]["classes"] == "17"
    assert float(rows[1]["source_pauc_mean"]) == pytest.approx(b.mean("source_pauc"), abs=1e-4)
    assert float(rows[1]["official_std"]) == pytest.approx(b.std("official"), abs=1e-4)

    tex = W.to_latex(table)
    assert tex.count(r"\mathbf{") == len(table.columns) and r"\pm" in tex
    assert r"\multicolumn{2}{c}{source domain}" in tex and r"\begin{tabular}{ll" + "c" * 7 + "}" in tex

    paths = W.write_outputs(table, out, {"date": "today"})
    assert {p.suffix for p in paths.values()} == {".md", ".csv", ".tex", ".json", ".png", ".pdf"}
    assert paths["png"].read_bytes()[:4] == b"\x89PNG" and paths["pdf"].read_bytes()[:4] == b"%PDF"
    saved = json.loads(paths["json"].read_text())
    assert saved["rows"][0]["mean"]["both_auc"] == pytest.approx(table.rows[0].mean("both_auc"))


def test_summarize_ties_missing_runs_and_single_trial(fake_comparison):
    exps, out, truth = fake_comparison
    # a missing trial is reported, the rest is still aggregated
    table = T.summarize(exps, out, trials=4)
    assert len(table.missing) == 2 and [len(r.seeds) for r in table.rows] == [3, 3]
    one = T.summarize(exps, out, trials=1)
    assert math.isnan(one.rows[0].std("both_auc"))
    assert one.rows[0].mean("both_auc") == pytest.approx(100 * truth[("a", 0)]["both_auc"])
    assert "±" not in W.to_markdown(one).split("\n")[-5]  # one trial: the mean only
    # ties at the printed precision: both rows bold
    one.rows[1].values["both_auc"] = one.rows[0].values["both_auc"] + 0.01
    assert one.best("both_auc") == {0, 1}


def test_table_values_dcase2020():
    results = {"dataset": "dcase2020", "official_score": 0.7, "table2": {"target": {"auc": None}},
               "machine_types": {"fan": {"auc": 0.9, "pauc": 0.8}, "ToyConveyor": {"auc": 0.6, "pauc": 0.5},
                                 "pump": {"auc": 0.75, "pauc": 0.65}}}
    v = T.table_values(results)
    assert v["toyconveyor_auc"] == 0.6 and v["average_auc"] == pytest.approx((0.9 + 0.6 + 0.75) / 3)
    assert v["average_pauc"] == pytest.approx((0.8 + 0.5 + 0.65) / 3) and v["official"] == 0.7
    cols = T._columns_for("dcase2020", set(v))
    # machine types in the EMM paper's order, then the average and the official score
    assert [c.key for c in cols] == ["fan_auc", "fan_pauc", "pump_auc", "pump_pauc", "toyconveyor_auc",
                                     "toyconveyor_pauc", "average_auc", "average_pauc", "official"]


def test_finished_runs_are_not_rerun(fake_comparison, monkeypatch):
    exps, out, _ = fake_comparison
    calls = []
    monkeypatch.setattr(J, "run_job", lambda job, progress=False: calls.append(job.label))
    jobs = J.plan_jobs(exps, 3, out, out, get_preset("full"))
    assert [j.label for j in jobs[:2]] == ["a/seed0", "b/seed0"]  # trial-major order
    assert J.run_jobs(jobs, [], out, log=lambda s: None) == {} and calls == []
    # a run whose results are gone is run again (run_job itself skips the finished training)
    (J.run_dir_for(out, exps[1], 2) / "results.json").unlink()
    J.run_jobs(J.plan_jobs(exps, 3, out, out, get_preset("full")), [], out, log=lambda s: None)
    assert calls == ["b/seed2"]


def test_parse_devices(monkeypatch):
    assert J.parse_devices("cpu") == [] and J.parse_devices("0,1") == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert J.parse_devices("auto") == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert J.parse_devices("auto") == []
    with pytest.raises(ConfigError):
        J.parse_devices("gpu0")


# ----------------------------------------------------------------------------- end to end


def test_end_to_end_mini_comparison_resumes(tiny_data, tmp_path, monkeypatch):
    exp_dir = tmp_path / "exps"
    _write(exp_dir / "m.yaml", "dataset: dcase2022\nrow: IC compactness loss\ntask: machine types\norder: 1\n"
                               "loss: compactness\nlabels: machine\n")
    _write(exp_dir / "s.yaml", "dataset: dcase2022\nrow: AdaCos loss\ntask: machine types and sections\n"
                               "order: 2\nloss: adacos\nlabels: section\n")
    tiny = Preset("tiny", trials=1, overrides=dict(epochs=1, batch_size=16, num_samples=TINY_SAMPLES, verbose=0),
                  backbone_options={"reference": dict(TINY_MODEL)})
    out = tmp_path / "cmp"
    paths, failures = R.run_comparison("dcase2022", 1, tiny, tiny_data, out, configs_dir=exp_dir,
                                       devices="cpu", log=lambda s: None)
    assert failures == {}
    table = json.loads(paths["json"].read_text())
    # classes found in the tiny data: 3 machine types, 3 x 2 sections
    assert [r["classes"] for r in table["rows"]] == ["3", "6"]
    for r, name in zip(table["rows"], ("m", "s")):
        res = json.loads((out / name / "seed0" / "results.json").read_text())
        assert r["mean"]["both_auc"] == pytest.approx(100 * res["table2"]["both"]["auc"])
        assert r["mean"]["official"] == pytest.approx(100 * res["official_score"])
    model = out / "m" / "seed0" / "model.keras"
    stamp = model.stat().st_mtime_ns

    # rerun: nothing is trained or evaluated again
    import asd_tf.evaluation.run as er
    import asd_tf.training.run as tr

    def boom(*a, **k):
        raise AssertionError("finished run was redone")

    monkeypatch.setattr(tr, "train", boom)
    monkeypatch.setattr(er, "evaluate_run", boom)
    paths2, failures2 = R.run_comparison("dcase2022", 1, tiny, tiny_data, out, configs_dir=exp_dir,
                                         devices="cpu", log=lambda s: None)
    assert failures2 == {} and model.stat().st_mtime_ns == stamp
    assert json.loads(paths2["json"].read_text())["rows"] == table["rows"]


def test_worker_job_file_round_trip(fake_comparison, monkeypatch):
    # the per-GPU subprocess rebuilds exactly the job the parent planned
    exps, out, _ = fake_comparison
    job = J.plan_jobs(exps, 2, out, "/data/x", get_preset("quick"))[3]
    seen = []
    monkeypatch.setattr(J, "run_job", lambda j, progress=False: seen.append(j))
    assert CMD.main(["--worker", str(J._job_file(job, out))]) == 0
    (got,) = seen
    assert (got.experiment.name, got.seed, got.run_dir, got.values) == (
        job.experiment.name, job.seed, job.run_dir, job.values)
    assert got.values["data"] == "/data/x" and got.values["seed"] == 1 and got.values["num_samples"] == 32000


def test_synthetic_data_is_named_and_generated_with_its_profile(tmp_path):
    assert get_preset("quick").synthetic_size == "compare"
    assert get_preset("quick").synthetic_profile == "mixed_state"
    root = R.synthetic_data("dcase2023", "tiny", root=tmp_path, profile="structural")
    assert root == tmp_path / "synthetic_dcase2023_tiny_structural"
    meta = json.loads((root / ".complete").read_text())
    assert (meta["size"], meta["profile"]) == ("tiny", "structural")
    assert R.synthetic_data("dcase2023", "tiny", root=tmp_path) == tmp_path / "synthetic_dcase2023_tiny"


def test_compare_cli_offers_every_synthetic_size_and_profile():
    from asd_tf.synthetic import PROFILES, SIZES

    parser = CMD.build_parser()
    for size in SIZES:
        for profile in PROFILES:
            args = parser.parse_args(["--dataset", "dcase2022", "--synthetic-size", size,
                                      "--synthetic-profile", profile])
            assert (args.synthetic_size, args.synthetic_profile) == (size, profile)
    with pytest.raises(SystemExit):
        parser.parse_args(["--dataset", "dcase2022", "--synthetic-profile", "quiet"])


# ----------------------------------------------------------------------------- baseline systems


def test_baseline_rows_in_every_year():
    from asd_tf.comparison.experiment import table_rows

    for year in ("dcase2020", "dcase2022", "dcase2023"):
        exps = load_experiments(year)
        rows = table_rows(exps)
        assert [(r.row, r.backend) for r in rows[-3:]] == [
            ("DCASE AE (MSE)", "ae_mse"), ("DCASE AE (MAHALA)", "ae_mahala"), ("log-mel kNN", "logmel_knn")]
        ae, knn = exps[-2], exps[-1]
        # the autoencoder is trained once (one job per seed) and scored by both backends
        assert ae.backends == ("ae_mse", "ae_mahala") and rows[-2].name == rows[-3].name == ae.name
        assert (ae.train["system"], ae.train["epochs"], ae.train["batch_size"]) == ("dcase_ae", 100, 256)
        assert knn.train["system"] == "logmel_knn"
        jobs = J.plan_jobs(exps, 1, "/o", "/d", get_preset("full"))
        assert sum(j.experiment.name == ae.name for j in jobs) == 1
        # quick: the preset's epochs and input length, the autoencoder's own batch of 256
        q = get_preset("quick").apply(ae.train)
        assert (q["epochs"], q["batch_size"], q["num_samples"]) == (20, 256, 32000)
        assert get_preset("quick").with_overrides({"batch_size": 64}).apply(ae.train)["batch_size"] == 64


def test_baseline_rows_are_filled_by_their_own_backends(tmp_path):
    exp_dir = tmp_path / "exps"
    _write(exp_dir / "ae.yaml", "dataset: dcase2022\nrow: DCASE AE (MSE)\ntask: baseline\norder: 1\n"
                                "system: dcase_ae\nbackbone: dcase_ae\nbackends: [ae_mse, ae_mahala]\n"
                                "backend_rows:\n  ae_mahala: DCASE AE (MAHALA)\n")
    _write(exp_dir / "knn.yaml", "dataset: dcase2022\nrow: log-mel kNN\ntask: baseline\norder: 2\n"
                                 "system: logmel_knn\nbackends: [logmel_knn]\n")
    exps = load_experiments("dcase2022", directory=exp_dir)
    out = tmp_path / "out"
    values = {"ae_mse": 0.6, "ae_mahala": 0.7, "logmel_knn": 0.55}
    for exp in exps:
        for backend in exp.backends:
            run_dir = J.run_dir_for(out, exp, 0)
            _fake_run(run_dir, _results_2022({k: values[backend] for k in _KEYS}, values[backend]), 1,
                      f"evaluation/{backend}")
            (run_dir / "train_summary.json").write_text(json.dumps({"system": exp.train["system"]}))
    table = T.summarize(exps, out, trials=1)
    assert [(r.experiment.row, r.mean("official"), r.classes) for r in table.rows] == [
        ("DCASE AE (MSE)", pytest.approx(60.0), "-"), ("DCASE AE (MAHALA)", pytest.approx(70.0), "-"),
        ("log-mel kNN", pytest.approx(55.0), "-")]
    bad = _write(tmp_path / "bad.yaml", "dataset: dcase2022\nrow: r\nsystem: dcase_ae\nbackbone: dcase_ae\n"
                                        "backends: [kmeans]\n")
    with pytest.raises(ConfigError, match="ae_mse"):
        load_experiment(bad)
