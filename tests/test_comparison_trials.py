"""asd_tf.comparison.trials, the machinery of the study recipes, on hand-made run trees (no training).

References are independent of the module: Python's ``statistics`` (sample standard deviation,
ddof = 1) and hand-written Markdown lines.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from asd_tf.comparison.jobs import results_path
from asd_tf.comparison.trials import (checkout_relative, command_line, data_meta, fmt, meta_lines, percent_stats,
                                      recipe_parser, results_per_backend, run_trials, stats_table, summary,
                                      train_seconds, values, write_table)
from asd_tf.errors import RunError

COLUMNS = (("auc_source", "AUC source"), ("auc_target", "AUC target"), ("pauc", "pAUC"), ("official", "official"))


def _results(auc_source, auc_target, pauc, official) -> dict:
    """A ``results.json`` as evaluate_run writes it (the parts the table reads, plus a per-section entry)."""
    hmean = {"auc_source": auc_source, "pauc": pauc, "auc_source_in_domain": 0.5}
    if auc_target is not None:
        hmean["auc_target"] = auc_target
    return {"hmean": hmean, "official_score": official, "sections": {"fan_00": {"auc": 0.1}}}


def _put(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


@pytest.fixture
def run_root(tmp_path: Path) -> Path:
    """``<out>/<config>``: kmeans in seeds 0, 1, 2 (seed 1 without an AUC target), density in seeds 0
    and 2 only, knn in none; training seconds for seeds 0 and 2 only."""
    root = tmp_path / "runs" / "td_scac"
    kmeans = {0: (0.60, 0.50, 0.55, 0.58), 1: (0.70, None, 0.65, 0.66), 2: (0.80, 0.70, 0.75, 0.74)}
    density = {0: (0.90, 0.40, 0.61, 0.62), 2: (0.85, 0.45, 0.63, 0.64)}
    for seed, v in kmeans.items():
        _put(results_path(root / f"seed{seed}", "kmeans"), _results(*v))
    for seed, v in density.items():
        _put(results_path(root / f"seed{seed}", "density"), _results(*v))
    _put(root / "seed0" / "train_summary.json", {"seconds_this_call": 100.0, "epochs": 3})
    _put(root / "seed2" / "train_summary.json", {"seconds_this_call": 130.0, "epochs": 3})
    return root


def test_values_reads_hmean_and_official_score():
    v = values(_results(0.6, None, 0.55, 0.58), COLUMNS)
    assert v == {"auc_source": 0.6, "auc_target": None, "pauc": 0.55, "official": 0.58}
    assert values({}, COLUMNS) == {"auc_source": None, "auc_target": None, "pauc": None, "official": None}


def test_results_per_backend_skips_missing_seeds_and_backends(run_root):
    found = dict(results_per_backend(run_root, ("kmeans", "knn", "density"), range(3), COLUMNS))
    assert list(found) == ["kmeans", "density"]  # knn: no results.json in any seed, no row
    assert sorted(found["kmeans"]) == [0, 1, 2] and sorted(found["density"]) == [0, 2]
    assert found["kmeans"][1] == {"auc_source": 0.70, "auc_target": None, "pauc": 0.65, "official": 0.66}
    # the kmeans results.json lies in the run itself, the others under evaluation/<backend>/
    assert (run_root / "seed0" / "results.json").exists()
    assert (run_root / "seed0" / "evaluation" / "density" / "results.json").exists()
    # only the seeds asked for
    assert sorted(dict(results_per_backend(run_root, ("kmeans",), [2], COLUMNS))["kmeans"]) == [2]


def test_percent_stats_mean_and_sample_std(run_root):
    per_seed = dict(results_per_backend(run_root, ("kmeans",), range(3), COLUMNS))["kmeans"]
    stats = percent_stats(per_seed, COLUMNS)
    assert list(stats) == [k for k, _ in COLUMNS]
    for key, seeds_values in (("auc_source", [60, 70, 80]), ("pauc", [55, 65, 75]), ("official", [58, 66, 74]),
                              ("auc_target", [50, 70])):  # seed 1 has no AUC target: left out, not zero
        assert stats[key]["mean"] == pytest.approx(statistics.mean(seeds_values), abs=1e-9)
        assert stats[key]["std"] == pytest.approx(statistics.stdev(seeds_values), abs=1e-9)  # ddof = 1
    one = percent_stats({2: per_seed[2]}, COLUMNS)
    assert one["auc_source"] == {"mean": pytest.approx(80.0), "std": None}  # one trial: no std
    none = percent_stats({1: per_seed[1]}, COLUMNS)
    assert none["auc_target"] == {"mean": None, "std": None}  # no trial has it (no domains): null, not NaN


def test_train_seconds_and_summary(run_root):
    seconds = train_seconds(run_root, range(3))
    assert seconds == {0: 100.0, 2: 130.0}
    s = summary(seconds[k] for k in (0, 1, 2) if k in seconds)
    assert s["mean"] == pytest.approx(115.0) and s["std"] == pytest.approx(statistics.stdev([100.0, 130.0]))
    assert summary([]) == {"mean": None, "std": None}


def test_unreadable_results_name_the_file(run_root):
    bad = results_path(run_root / "seed1", "kmeans")
    bad.write_text('{"hmean": ')
    with pytest.raises(RunError, match=str(bad)):
        list(results_per_backend(run_root, ("kmeans",), range(3), COLUMNS))


def test_markdown_lines():
    assert fmt({"mean": 70.0, "std": 10.0}) == "70.0 ± 10.0"
    assert fmt({"mean": 80.04, "std": None}) == "80.0"
    assert fmt({"mean": None, "std": None}) == "-"
    assert fmt({"mean": 115.4, "std": 21.2}, 0) == "115 ± 21"
    rows = [{"system": "sub-cluster AdaCos", "backend": "kmeans", "seeds": [0, 1, 2],
             "stats": {"auc_source": {"mean": 70.0, "std": 10.0}, "auc_target": {"mean": 60.0, "std": 14.142},
                       "pauc": {"mean": 65.0, "std": 10.0}, "official": {"mean": 66.0, "std": 8.0},
                       "train_seconds": {"mean": 115.0, "std": 21.2}}},
            {"system": "AdaProj", "backend": "density", "seeds": [2],
             "stats": {"auc_source": {"mean": 85.0, "std": None}, "auc_target": {"mean": None, "std": None},
                       "pauc": {"mean": 63.0, "std": None}, "official": {"mean": 64.0, "std": None},
                       "train_seconds": {"mean": None, "std": None}}}]
    assert stats_table(rows, COLUMNS) == [
        "| system | backend | seeds | AUC source | AUC target | pAUC | official |",
        "|---|---|---|---:|---:|---:|---:|",
        "| sub-cluster AdaCos | kmeans | 0,1,2 | 70.0 ± 10.0 | 60.0 ± 14.1 | 65.0 ± 10.0 | 66.0 ± 8.0 |",
        "| AdaProj | density | 2 | 85.0 | - | 63.0 | 64.0 |",
    ]
    assert stats_table(rows, COLUMNS[:1], seconds=True) == [
        "| system | backend | seeds | AUC source | train s |",
        "|---|---|---|---:|---:|",
        "| sub-cluster AdaCos | kmeans | 0,1,2 | 70.0 ± 10.0 | 115 ± 21 |",
        "| AdaProj | density | 2 | 85.0 | - |",
    ]
    assert meta_lines({"command": "python x.py", "date": "d", "other": 1}, ("command", "date")) == [
        "- command: python x.py", "- date: d"]


def test_meta_lines_record_command_and_data_relative_to_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = recipe_parser("d", "runs/x", "experiments/results/x").parse_args(["--size", "tiny", "--data-seed", "2"])
    inside = (tmp_path / "data" / "synthetic_dcase2023_tiny_domain_shift").resolve()
    assert data_meta(args, inside) == ("data/synthetic_dcase2023_tiny_domain_shift (asd-tf synth --layout dcase2023 "
                                       "--size tiny --profile domain_shift --seed 2)")
    outside = tmp_path.parent / "elsewhere"
    assert checkout_relative(outside) == str(outside.resolve())  # not under the checkout: absolute
    assert command_line("experiments/x.py", ["--rows", "a,b", "--note", "two words"]) == \
        "python experiments/x.py --rows a,b --note 'two words'"


def test_recipe_parser_defaults_and_hidden_job():
    p = recipe_parser("d", "runs/x", "experiments/results/x")
    args = p.parse_args([])
    assert (args.layout, args.size, args.profile, args.data_seed, args.trials) == ("dcase2023", "target",
                                                                                  "domain_shift", 0, 3)
    assert (args.out, args.results, args.aggregate_only, args.job) == ("runs/x", "experiments/results/x", False, None)
    assert p.parse_args(["--job", "scac", "2"]).job == ["scac", "2"]
    assert "--job" not in p.format_help()


def test_write_table_order_and_files(tmp_path):
    meta = {"command": "python x.py", "data": "data/s"}
    table = write_table(tmp_path / "res", meta, lambda: {"rows": [{"a": 1}], "goal": []},
                        lambda t: f"# {t['command']}\n")
    written = json.loads((tmp_path / "res" / "table.json").read_text())
    assert written == table and list(written) == ["command", "data", "date", "rows", "goal"]
    assert written["date"].endswith(" UTC") and len(written["date"]) == len("2026-01-01 00:00:00 UTC")
    assert (tmp_path / "res" / "table.md").read_text() == "# python x.py\n"
    assert "date" not in meta  # the recipe's meta is not changed


def test_run_trials_runs_unfinished_jobs_in_children_and_reports_failures(tmp_path, capsys):
    log = tmp_path / "children.txt"
    script = tmp_path / "recipe.py"
    # the child: records its arguments; the row "bad" fails with exit status 3
    script.write_text("import sys\n"
                      f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
                      "sys.exit(3 if sys.argv[-2] == 'bad' else 0)\n")
    writes = []
    plan = [("a", 0), ("bad", 0), ("a", 1), ("b", 1)]
    rc = run_trials(plan, lambda key, seed: (key, seed) == ("a", 1), script, ["--trials", "2"],
                    lambda: writes.append(log.read_text().count("\n") if log.exists() else 0))
    assert rc == 1
    assert log.read_text().splitlines() == ["--trials 2 --job a 0", "--trials 2 --job bad 0", "--trials 2 --job b 1"]
    assert writes == [1, 2, 3, 3]  # after every job, then once more
    err = capsys.readouterr().err
    assert "failed: bad/seed0" in err and "a/seed0" not in err

    log.unlink()
    writes.clear()
    assert run_trials(plan, lambda key, seed: False, script, [], lambda: writes.append(1), aggregate_only=True) == 0
    assert writes == [1] and not log.exists()  # aggregate only: no child, one table


def test_run_trials_reads_the_plan_lazily(tmp_path):
    """A recipe reports skipped rows as the loop reaches them (target_domain.py's plan is a generator)."""
    events = []

    def plan():
        for key in ("x", "y"):
            events.append(f"plan {key}")
            yield key, 0

    script = tmp_path / "ok.py"
    script.write_text("import sys\nsys.exit(0)\n")
    assert run_trials(plan(), lambda k, s: False, script, [], lambda: events.append("write")) == 0
    assert events == ["plan x", "write", "plan y", "write", "write"]
