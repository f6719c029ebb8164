"""The figure scripts in ``visualize/`` on tiny trained runs: files written and the numbers in them.

Each script is run through its ``main(argv)`` (curves also as a command) and its
outputs are checked against quantities recomputed here from the run's model,
loss head, logs and data (NumPy / scikit-learn / the library's primitives).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SR, N_FFT, HOP = 16000, 1024, 512
TINY_ATTENTION = {"embedding_dim": 16, "attention_filters": [4, 8], "bottlenecks": [[2, 16, 1, 2]], "n_mels": 32}


def script(name: str):
    """The module ``visualize/<name>.py`` (loaded once)."""
    key = f"_visualize_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / "visualize" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def assert_figure(stem: Path) -> None:
    png, pdf = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"


@pytest.fixture(scope="module")
def spec_run(tiny_run_factory):
    return Path(tiny_run_factory(branches="spectrogram"))


@pytest.fixture(scope="module")
def compact_run(tiny_run_factory):
    return Path(tiny_run_factory(loss="compactness", labels="none", branches="spectrogram"))


@pytest.fixture(scope="module")
def tiny_index(tiny_data):
    from asd_tf.data.index import scan_dataset

    return scan_dataset(tiny_data)


def _model(run_dir):
    from asd_tf.runs import Run

    return Run.open(run_dir).members()[0].load_model()


def _embeddings(model, clips):
    from asd_tf.data.audio import AudioConfig
    from asd_tf.scoring.embeddings import extract_embeddings

    return extract_embeddings(model, clips, AudioConfig(SR, 16000), batch_size=32, progress=False)


def _saved_embeddings(run_dir, clips, monkeypatch):
    """The embeddings of ``clips`` that a script saved in the run's cache: read, never recomputed.

    Chaotic or iterative steps downstream (t-SNE, k-means) then see exactly the script's input; that
    the saved embeddings are the model's is checked separately, within float tolerance.
    """
    import asd_tf.scoring.embeddings as embeddings_module
    from asd_tf.explain.run_loaders import open_run_data, run_embeddings

    def no_recomputation(*args, **kwargs):
        raise AssertionError(f"{run_dir}: the script's embeddings were not saved in the run's cache")

    with monkeypatch.context() as m:
        m.setattr(embeddings_module, "extract_embeddings", no_recomputation)
        return run_embeddings(open_run_data(run_dir), clips)


# ----------------------------------------------------------------------------------------------
# RISE
# ----------------------------------------------------------------------------------------------
def test_rise_maps_equal_rise_importance_and_clean_score_equals_run_score(spec_run, compact_run, tiny_index, tmp_path,
                                                                          monkeypatch):
    import tensorflow as tf

    from asd_tf.data.audio import AudioConfig, load_audio
    from asd_tf.evaluation.run import score_run
    from asd_tf.explain.rise import make_kmeans_score_fn, rise_importance
    from asd_tf.scoring.kmeans import KMeansBackend

    clip = tiny_index.select(split="test", machine="fan", section="01", label="anomaly")[0]
    out = tmp_path / "rise"
    argv = ["--run", str(spec_run), "--run", str(compact_run), "--clip", clip.path, "--masks", "64",
            "--batch-size", "32", "--seed", "3", "--out", str(out), "--no-progress"]
    assert script("rise").main(argv) == 0
    stem = out / f"rise_{Path(clip.path).stem}"
    assert_figure(stem)
    meta = json.loads(stem.with_suffix(".json").read_text())
    spec_saved = np.load(out / f"rise_{Path(clip.path).stem}_spectrogram.npy")
    assert spec_saved.shape == (30, 513)  # 1 + (16000 - 1024) // 512 frames, 1024 / 2 + 1 bins

    # Independent recomputation for the sub-cluster AdaCos run (map batch size 16 instead of 32).
    model = _model(spec_run)
    wave = load_audio(clip.path, AudioConfig(SR, 16000))
    spec = np.asarray(model.get_layer("frontend")(tf.constant(wave[None]))["spectrogram"][0])
    np.testing.assert_allclose(spec_saved, spec, rtol=1e-5, atol=1e-6)
    train = [c for c in tiny_index.clips if (c.split, c.machine, c.section) == ("train", "fan", "01")]
    saved_train = _saved_embeddings(spec_run, train, monkeypatch)  # k-means sees the script's input
    np.testing.assert_allclose(_embeddings(model, train), saved_train, rtol=1e-4, atol=1e-5)
    centres = KMeansBackend(seed=0).fit(saved_train, train).centres
    score_fn = make_kmeans_score_fn(model.get_layer("embedder"), centres, input_key="spectrogram")
    expected = rise_importance(spec, score_fn, n_masks=64, batch_size=16, seed=3, progress=False)
    saved = np.load(out / f"rise_{Path(clip.path).stem}__{spec_run.name}.npy")
    assert saved.shape == spec.shape
    np.testing.assert_allclose(saved, expected, rtol=1e-4, atol=1e-6)
    assert saved.std() > 0
    other = np.load(out / f"rise_{Path(clip.path).stem}__{compact_run.name}.npy")
    assert other.shape == spec.shape and not np.allclose(other, saved)

    # The map's score function is the run's own anomaly score (asd-tf evaluate's k-means backend).
    train_all = [c for c in tiny_index.clips if c.split == "train"]
    test_all = [c for c in tiny_index.clips if c.split == "test"]
    test_scores, _ = score_run(spec_run, train_all, test_all, progress=False)
    run_score = test_scores[[c.path for c in test_all].index(clip.path)]
    info = meta["runs"][spec_run.name]
    assert info["clean_score"] == pytest.approx(run_score, abs=2e-4)
    assert (info["fallback"], info["n_centres"], info["shape"]) == (False, len(centres), [30, 513])


def test_rise_rejects_a_run_with_the_spectrum_branch(spec_run, tmp_path, capsys):
    import yaml

    fake = tmp_path / "both_branches"
    fake.mkdir()
    cfg = yaml.safe_load((spec_run / "config.yaml").read_text())
    cfg["branches"] = "both"
    (fake / "config.yaml").write_text(yaml.safe_dump(cfg))
    argv = ["--run", str(fake), "--clip", "x.wav", "--masks", "8", "--out", str(tmp_path / "o")]
    assert script("rise").main(argv) == 2
    err = capsys.readouterr().err
    assert "--branches spectrogram" in err and "branches='both'" in err
    assert not (tmp_path / "o").exists()


def test_rise_on_the_real_gearbox_anomaly(spec_run, real_data_dir, tiny_index, tmp_path, capsys, monkeypatch):
    from asd_tf.data.audio import AudioConfig, load_audio
    from asd_tf.scoring.kmeans import KMeansBackend

    clip = next((real_data_dir / "dcase2023_task2_dev" / "gearbox" / "test").glob("*anomaly*.wav"))
    out = tmp_path / "real"
    base = ["--run", str(spec_run), "--clip", str(clip), "--masks", "32", "--batch-size", "32",
            "--out", str(out), "--no-progress"]
    # The synthetic training data has no gearbox: an error naming it with --no-fallback ...
    assert script("rise").main(base + ["--no-fallback"]) == 2
    assert "gearbox section 00" in capsys.readouterr().err
    # ... and by default centres from all training clips, with a warning.
    assert script("rise").main(base) == 0
    assert "warning" in capsys.readouterr().err
    assert_figure(out / f"rise_{clip.stem}")
    info = json.loads((out / f"rise_{clip.stem}.json").read_text())["runs"][spec_run.name]
    assert info["fallback"] is True and info["shape"] == [30, 513]  # the 12 s clip is cropped to 1 s
    assert np.load(out / f"rise_{clip.stem}__{spec_run.name}.npy").shape == (30, 513)
    # Its score: the waveform model's embedding against k-means of all training embeddings.
    model = _model(spec_run)
    train = [c for c in tiny_index.clips if c.split == "train"]
    backend = KMeansBackend(seed=0).fit(_saved_embeddings(spec_run, train, monkeypatch), train)
    emb = np.asarray(model(load_audio(clip, AudioConfig(SR, 16000))[None]))
    e = emb / np.linalg.norm(emb)
    c = backend.centres / np.linalg.norm(backend.centres, axis=1, keepdims=True)
    assert info["clean_score"] == pytest.approx(1.0 - float((e @ c.T).max()), abs=2e-4)
    # Any wav name works: without a DCASE name there is no section, so the same fallback applies.
    renamed = str(shutil.copy(clip, tmp_path / "my recording.wav"))
    assert script("rise").main(["--run", str(spec_run), "--clip", renamed, "--masks", "8", "--out", str(out)]) == 0
    info2 = json.loads((out / "rise_my recording.json").read_text())["runs"][spec_run.name]
    assert info2["section"] is None and info2["clean_score"] == pytest.approx(info["clean_score"], abs=1e-5)


# ----------------------------------------------------------------------------------------------
# Localisation
# ----------------------------------------------------------------------------------------------
def test_localization_report_fields_and_box_statistics(spec_run, compact_run, tmp_path):
    from asd_tf.synthetic import read_anomaly_boxes

    out = tmp_path / "loc"
    argv = ["--run", str(spec_run), "--run", str(compact_run), "--masks", "32", "--batch-size", "32",
            "--max-clips", "2", "--save-maps", "--out", str(out)]
    assert script("localization").main(argv) == 0
    report = json.loads((out / "localization.json").read_text())
    md = (out / "localization.md").read_text()
    assert [r["name"] for r in report["runs"]] == [spec_run.name, compact_run.name]
    assert [c["clip"] for c in report["runs"][0]["clips"]] == [c["clip"] for c in report["runs"][1]["clips"]]
    for rep in report["runs"]:
        rows, s = rep["clips"], rep["summary"]
        assert s["n_clips"] == len(rows) == 2 - len(rep["skipped"])
        assert s["frac_inside_greater"] == pytest.approx(np.mean([r["inside_mean"] > r["outside_mean"] for r in rows]))
        assert s["mean_percentile"] == pytest.approx(np.mean([r["percentile"] for r in rows]))
        assert f"| {rep['name']} | {rep['loss']} | {rep['labels']} | {len(rows)} | {s['frac_inside_greater']:.2f} |" in md
        for r in rows:
            assert 1 <= r["rank"] <= r["n_windows"] and r["percentile"] == pytest.approx(100 * r["rank"] / r["n_windows"])
            # Inside/outside means by hand: a frame is in the box when its centre time is,
            # frame t centred at (t * HOP + N_FFT / 2) / SR, bin f at f * SR / N_FFT.
            imp = np.load(out / "maps" / rep["name"] / f"{Path(r['clip']).stem}.npy")
            t = (np.arange(imp.shape[0]) * HOP + N_FFT / 2) / SR
            f = np.arange(imp.shape[1]) * SR / N_FFT
            mask = np.zeros(imp.shape, bool)
            for t0, t1, f0, f1 in r["boxes"]:
                mask |= ((t >= t0) & (t <= t1))[:, None] & ((f >= f0) & (f <= f1))[None, :]
            assert r["inside_mean"] == pytest.approx(imp[mask].mean(), rel=1e-6)
            assert r["outside_mean"] == pytest.approx(imp[~mask].mean(), rel=1e-6)
            # Boxes are the sidecar's, cropped to the first second the model sees.
            raw = read_anomaly_boxes(r["clip"])
            assert all(b[1] <= 1.0 for b in r["boxes"]) and len(r["boxes"]) <= len(raw)


def test_localization_needs_clips_with_boxes(spec_run, real_data_dir, tmp_path, capsys):
    argv = ["--run", str(spec_run), "--data", str(real_data_dir / "dcase2023_task2_dev"), "--masks", "8",
            "--out", str(tmp_path)]
    assert script("localization").main(argv) == 2
    assert "anomaly box" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# t-SNE
# ----------------------------------------------------------------------------------------------
def test_tsne_distance_equals_recomputation_from_saved_points(spec_run, compact_run, tiny_index, tmp_path,
                                                              monkeypatch):
    from asd_tf.explain.tsne import tsne_embed

    out = tmp_path / "tsne"
    assert script("tsne").main(["--run", str(spec_run), "--run", str(compact_run), "--out", str(out)]) == 0
    assert_figure(out / "tsne")
    summary = json.loads((out / "tsne.json").read_text())
    test = [c for c in tiny_index.clips if c.split == "test"]
    distances = []
    for row in summary["runs"]:
        pts = np.load(out / row["points"])
        p, anom = pts["points"], pts["is_anomaly"]
        assert list(pts["paths"]) == [c.path for c in test]
        assert list(anom) == [c.label == "anomaly" for c in test]
        assert list(pts["labels"]) == [f"{c.machine}/{c.section}" for c in test]
        # Brute-force nearest normal point of each anomalous point.
        d = np.sqrt(((p[anom][:, None, :] - p[~anom][None, :, :]) ** 2).sum(-1)).min(1).mean()
        assert row["distance"] == pytest.approx(d, rel=1e-9)
        distances.append(d)
    assert summary["mean"] == pytest.approx(np.mean(distances)) and summary["std"] == pytest.approx(np.std(distances))
    # Like with like. t-SNE is chaotic: last-bit differences in its input (another batch size, other
    # thread timing in the model) give another layout, so it only ever sees the embeddings the script
    # saved in the run's cache (read here, never recomputed) ...
    saved = _saved_embeddings(spec_run, test, monkeypatch)
    expected = tsne_embed(saved, seed=0)
    np.testing.assert_allclose(np.load(out / summary["runs"][0]["points"])["points"], expected, rtol=1e-5, atol=1e-5)
    # ... and those saved embeddings are the model's: recomputed (batch 32, not the script's 64) they agree
    # within float32 tolerance.
    np.testing.assert_allclose(_embeddings(_model(spec_run), test), saved, rtol=1e-4, atol=1e-5)


def test_tsne_on_real_clips_with_class_colours(spec_run, real_data_dir, tmp_path):
    out = tmp_path / "tsne_real"
    argv = ["--run", str(spec_run), "--data", str(real_data_dir / "dcase2023_task2_dev"), "--colour", "class",
            "--out", str(out)]
    assert script("tsne").main(argv) == 0
    row = json.loads((out / "tsne.json").read_text())["runs"][0]
    assert (row["n_clips"], row["n_anomalies"]) == (14, 5)
    labels = np.load(out / row["points"])["labels"]
    assert "gearbox/00/volt_1.5_wt_130/target" in set(labels)  # attribute class names of the run's label set


# ----------------------------------------------------------------------------------------------
# Curves
# ----------------------------------------------------------------------------------------------
def test_curves_command_reports_the_csv_values(spec_run, compact_run, tmp_path):
    out = tmp_path / "curves"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, str(REPO / "visualize" / "curves.py"), "--run", str(spec_run), "--run", str(compact_run),
           "--out", str(out)]
    # The timeout only stops a hung child; a TensorFlow start on a loaded 2-core machine alone can take a minute.
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert_figure(out / "curves")
    runs = json.loads((out / "curves.json").read_text())["runs"]
    for run_dir in (spec_run, compact_run):
        with open(run_dir / "logs" / "training.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        got = runs[run_dir.name]
        for col in ("epoch", "loss", "intra_compactness", "inter_compactness"):
            assert got[col] == [float(r[col]) for r in rows]


def test_read_training_log_orders_epochs_and_maps_na_to_nan(tmp_path):
    from asd_tf.errors import RunError
    from asd_tf.explain.curves import read_training_log

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "training.csv").write_text(
        "epoch,inter_compactness,intra_compactness,loss,val_loss\n1,2.0,0.5,3.0,NA\n0,1.9,0.7,4.0,NA\n"
    )
    log = read_training_log(tmp_path)
    assert log["epoch"].tolist() == [0.0, 1.0] and log["loss"].tolist() == [4.0, 3.0]
    assert log["intra_compactness"].tolist() == [0.7, 0.5] and np.isnan(log["val_loss"]).all()
    with pytest.raises(RunError, match="no training log"):
        read_training_log(tmp_path / "missing")


# ----------------------------------------------------------------------------------------------
# Angles
# ----------------------------------------------------------------------------------------------
def test_angles_equal_arccos_to_the_nearest_own_class_centre(spec_run, tiny_index, tmp_path):
    from asd_tf.runs import Run

    out = tmp_path / "angles"
    assert script("angles").main(["--run", str(spec_run), "--out", str(out)]) == 0
    assert_figure(out / "angles")
    saved = np.load(out / "angles.npz")
    summary = json.loads((out / "angles.json").read_text())
    test = [c for c in tiny_index.clips if c.split == "test"]
    assert list(saved["paths"]) == [c.path for c in test] and summary["n_skipped"] == 0

    member = Run.open(spec_run).members()[0]
    head, labels = member.load_head(), member.label_set()
    centres = np.asarray(head.centre_matrix(), np.float64)  # [classes * 16, D], class-major
    per_class = centres.shape[0] // labels.num_classes
    emb = _embeddings(_model(spec_run), test).astype(np.float64)
    z = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    c = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    y = labels.encode(test)
    cos = np.einsum("nd,nkd->nk", z, c.reshape(labels.num_classes, per_class, -1)[y])  # own sub-centres
    expected = np.degrees(np.arccos(cos.max(1)))
    np.testing.assert_allclose(saved["angles"], expected, atol=1e-3)
    anom = np.array([c.label == "anomaly" for c in test])
    assert summary["mean_angle_normal"] == pytest.approx(expected[~anom].mean(), abs=1e-3)
    assert summary["mean_angle_anomaly"] == pytest.approx(expected[anom].mean(), abs=1e-3)
    assert (summary["n_normal"], summary["n_anomaly"]) == (int((~anom).sum()), int(anom.sum()))


def test_angles_skip_and_count_clips_of_unseen_classes(spec_run, tiny_index, tmp_path, capsys):
    data = tmp_path / "data" / "valve" / "test"
    data.mkdir(parents=True)
    normal = tiny_index.select(split="test", machine="valve", section="00", label="normal")[0]
    anomaly = tiny_index.select(split="test", machine="valve", section="00", label="anomaly")[0]
    shutil.copy(normal.path, data / Path(normal.path).name)
    shutil.copy(anomaly.path, data / Path(anomaly.path).name)
    shutil.copy(anomaly.path, data / "section_00_source_test_anomaly_0099_pat_99.wav")  # class never trained
    out = tmp_path / "angles"
    assert script("angles").main(["--run", str(spec_run), "--data", str(tmp_path / "data"), "--out", str(out)]) == 0
    assert "skipped 1 test clip" in capsys.readouterr().out
    summary = json.loads((out / "angles.json").read_text())
    assert (summary["n_normal"], summary["n_anomaly"], summary["n_skipped"]) == (1, 1, 1)


def test_angles_on_real_clips(compact_run, real_data_dir, tmp_path):
    # One-class run: every real clip has the class "all", so all 14 test clips count.
    data = str(real_data_dir / "dcase2023_task2_dev")
    assert script("angles").main(["--run", str(compact_run), "--data", data, "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "angles.json").read_text())
    assert (summary["n_normal"], summary["n_anomaly"], summary["n_skipped"]) == (9, 5, 0)
    saved = np.load(tmp_path / "angles.npz")
    assert summary["mean_angle_anomaly"] == pytest.approx(saved["angles"][saved["is_anomaly"]].mean())


def test_angles_error_when_no_clip_has_a_known_class(spec_run, tiny_index, tmp_path, capsys):
    data = tmp_path / "data" / "valve" / "test"
    data.mkdir(parents=True)
    clip = tiny_index.select(split="test", machine="valve", section="00", label="anomaly")[0]
    shutil.copy(clip.path, data / "section_00_source_test_anomaly_0099_pat_99.wav")
    argv = ["--run", str(spec_run), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "o")]
    assert script("angles").main(argv) == 2
    assert "label set" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def attention_run(tiny_run_factory):
    return Path(tiny_run_factory(backbone="lowcomplexity_attention", backbone_options=TINY_ATTENTION))


def test_attention_mean_and_std_equal_numpy_over_per_clip_maps(attention_run, tiny_index, tmp_path):
    import keras

    from asd_tf.data.audio import AudioConfig, load_audio

    out = tmp_path / "att"
    assert script("attention").main(["--run", str(attention_run), "--batch-size", "16", "--out", str(out)]) == 0
    assert_figure(out / "attention")
    mean, std = np.load(out / "attention_mean.npy"), np.load(out / "attention_std.npy")
    model = _model(attention_run)
    embedder = model.get_layer("embedder")
    att = keras.Model(embedder.input, embedder.get_layer("attention").output)
    test = [c for c in tiny_index.clips if c.split == "test"]
    waves = np.stack([load_audio(c.path, AudioConfig(SR, 16000)) for c in test])
    maps = np.asarray(att(model.get_layer("frontend")(waves)))  # [n, frames, mels, 2]
    assert mean.shape == maps.shape[1:] == (32, 32, 2)
    np.testing.assert_allclose(mean, maps.mean(0), atol=1e-5)
    np.testing.assert_allclose(std, maps.std(0), atol=1e-4)
    assert json.loads((out / "attention.json").read_text())["n_clips"] == len(test)


def test_attention_on_real_clips_and_refuses_models_without_attention(attention_run, spec_run, real_data_dir,
                                                                      tmp_path, capsys):
    out = tmp_path / "att_real"
    data = str(real_data_dir / "dcase2023_task2_dev")
    assert script("attention").main(["--run", str(attention_run), "--data", data, "--out", str(out)]) == 0
    assert json.loads((out / "attention.json").read_text())["n_clips"] == 14
    assert np.isfinite(np.load(out / "attention_std.npy")).all()
    assert script("attention").main(["--run", str(spec_run), "--out", str(tmp_path / "x")]) == 2
    assert "attention" in capsys.readouterr().err
