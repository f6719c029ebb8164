"""The baseline systems: the official DCASE autoencoder (``dcase_ae``) and the log-mel kNN (``logmel_knn``).

References are independent: a hand count of the public PyTorch network's
parameters, the public code's frame loop, librosa for the log-mel, NumPy for
MSE and covariances, scipy for the Mahalanobis distance, and the synthetic
calibration baseline (``asd_tf.synthetic.calibration.baseline_hmean_auc``).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from asd_tf.errors import ConfigError


def _read_scores(path: Path) -> dict[str, float]:
    with open(path, newline="") as fh:
        return {row[0]: float(row[1]) for row in csv.reader(fh)}


# --------------------------------------------------------------------------- model and features


def test_autoencoder_layers_and_parameter_count():
    import keras

    from asd_tf.models.dcase_autoencoder import build_dcase_autoencoder

    model = build_dcase_autoencoder()
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert [l.units for l in dense] == [128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    assert all(l.momentum == 0.99 and l.epsilon == 1e-3 for l in bns)
    assert len(bns) == 9 and dense[-1].activation.__name__ == "linear"
    # Hand count of the public network (nn.Linear weights + biases, BatchNorm1d gamma + beta):
    linear = (640 * 128 + 128) + 3 * (128 * 128 + 128) + (128 * 8 + 8) \
        + (8 * 128 + 128) + 3 * (128 * 128 + 128) + (128 * 640 + 640)
    bn_units = 4 * 128 + 8 + 4 * 128
    assert linear == 265864
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == linear + 2 * bn_units == 267928  # the PyTorch model's parameter count
    assert model.count_params() == linear + 4 * bn_units  # + running mean and variance
    # ReLU after every BatchNorm, nothing after the output layer
    kinds = [type(l).__name__ for l in model.layers]
    assert kinds[:3] == ["Dense", "BatchNormalization", "ReLU"] and kinds[-1] == "Dense"


def test_autoencoder_saves_and_loads_with_safe_mode(tmp_path):
    import keras

    from asd_tf.models.dcase_autoencoder import build_dcase_autoencoder

    model = build_dcase_autoencoder(seed=3)
    x = np.random.default_rng(0).normal(size=(7, 640)).astype(np.float32)
    model(x, training=True)  # move the BatchNorm statistics away from their initial values
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)),
                               rtol=1e-6, atol=1e-6)


def test_frame_windows_match_the_public_code_loop():
    from asd_tf.features.frames import frame_windows

    logmel = np.random.default_rng(1).normal(size=(23, 6))  # [frames, mels]
    n_frames, n_mels = 5, 6
    n_vectors = logmel.shape[0] - n_frames + 1
    expected = np.zeros((n_vectors, n_mels * n_frames))
    for t in range(n_frames):  # loader_common.file_to_vectors on a [mels, frames] spectrogram
        expected[:, n_mels * t : n_mels * (t + 1)] = logmel.T[:, t : t + n_vectors].T
    np.testing.assert_array_equal(frame_windows(logmel, n_frames), expected)
    assert frame_windows(logmel[:4], 5).shape == (0, 30)  # shorter than one window: no rows


def test_dcase_logmel_matches_librosa_defaults():
    import librosa

    from asd_tf.features.frames import dcase_logmel_layer

    y = np.random.default_rng(2).normal(scale=0.1, size=16000).astype(np.float32)
    y[:3000] = 0.0  # silent frames exercise the eps floor
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=512, n_mels=128, power=2.0)
    expected = (10.0 * np.log10(np.maximum(mel, sys.float_info.epsilon))).T
    got = np.asarray(dcase_logmel_layer()(y[None]))[0]
    assert got.shape == expected.shape == (32, 128)
    np.testing.assert_allclose(got, expected, atol=2e-3 * np.abs(expected).max())


# --------------------------------------------------------------------------- scores


def test_mahala_scores_match_scipy():
    from scipy.spatial.distance import mahalanobis

    from asd_tf.scoring.reconstruction import RowMoments, mahala_scores

    rng = np.random.default_rng(4)
    src_rows = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    tgt_rows = rng.normal(size=(50, 6)) * np.array([3, 1, 1, 0.5, 2, 1])
    moments = RowMoments(6)
    for chunk in np.array_split(src_rows, 7):  # accumulated clip by clip
        moments.add(chunk)
    np.testing.assert_allclose(moments.covariance(), np.cov(src_rows, rowvar=False), rtol=1e-10, atol=1e-12)
    covs = [np.cov(src_rows, rowvar=False), np.cov(tgt_rows, rowvar=False)]
    e = rng.normal(size=(9, 6))
    expected = [min(mahalanobis(v, np.zeros(6), np.linalg.inv(c)) ** 2 for c in covs) for v in e]
    np.testing.assert_allclose(mahala_scores(e, covs), expected, rtol=1e-8)
    # hand case: identity and 4 x identity -> the smaller of |e|^2 and |e|^2 / 4
    np.testing.assert_allclose(mahala_scores(np.array([[1.0, 2.0]]), [np.eye(2), 4 * np.eye(2)]), [1.25])


def test_mahala_equals_the_public_codes_mean_over_row_pairs():
    from asd_tf.scoring.reconstruction import error_rows, mahala_scores

    rng = np.random.default_rng(5)
    x, recon = rng.normal(size=(4, 15)), rng.normal(size=(4, 15))  # 4 windows of 5 frames x 3 mels
    cov = np.cov(rng.normal(size=(100, 3)), rowvar=False)
    delta = (recon - x).reshape(-1, 3)  # mahala.py: view(-1, block_size)
    public = np.mean(delta @ np.linalg.inv(cov) @ delta.T)  # mean over dim 1, then sum / num
    rows = error_rows(x, recon, n_mels=3)
    np.testing.assert_allclose(mahala_scores(rows.mean(axis=0)[None], [cov]), [public], rtol=1e-10)


def test_mse_score_is_the_mean_squared_error_of_the_reconstructions():
    from asd_tf.models.dcase_autoencoder import build_dcase_autoencoder
    from asd_tf.scoring.reconstruction import mse_score

    x = np.random.default_rng(6).normal(size=(11, 640)).astype(np.float32)
    recon = np.asarray(build_dcase_autoencoder(seed=0)(x, training=False), dtype=np.float64)
    expected = sum(((x[i] - recon[i]) ** 2).sum() for i in range(11)) / (11 * 640)
    assert mse_score(x, recon) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ConfigError):
        mse_score(np.zeros((0, 640)), np.zeros((0, 640)))


# --------------------------------------------------------------------------- systems end to end


@pytest.fixture(scope="module")
def one_machine(tiny_data, tmp_path_factory) -> Path:
    """The tiny DCASE 2022 set cut to one machine type (one autoencoder to train)."""
    root = tmp_path_factory.mktemp("one_machine") / "dcase2022_tiny_bearing"
    root.mkdir()
    (root / "bearing").symlink_to(tiny_data / "bearing", target_is_directory=True)
    return root


def _numpy_windows(path) -> np.ndarray:
    """Independent features: librosa log-mel, then the public code's frame loop."""
    import librosa
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32")
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=512, n_mels=128, power=2.0)
    logmel = 10.0 * np.log10(np.maximum(mel, sys.float_info.epsilon))
    n = logmel.shape[1] - 4
    out = np.zeros((n, 640))
    for t in range(5):
        out[:, 128 * t : 128 * (t + 1)] = logmel[:, t : t + n].T
    return out


def test_dcase_ae_trains_and_scores_by_name(one_machine, tmp_path):
    from scipy.spatial.distance import mahalanobis

    from asd_tf.commands import main
    from asd_tf.data.index import scan_dataset
    from asd_tf.runs import Run

    out = tmp_path / "ae"
    # a backend that does not score autoencoder runs is refused before any training
    assert main(["train", "--system", "dcase_ae", "--data", str(one_machine), "--out", str(out),
                 "--backend", "kmeans"]) == 2
    assert not (out / ".complete").exists()
    assert main(["train", "--system", "dcase_ae", "--data", str(one_machine), "--out", str(out),
                 "--epochs", "2", "--quiet", "--no-evaluate"]) == 0
    run = Run.open(out)
    cfg = run.config
    assert (cfg.system, cfg.epochs, cfg.batch_size, cfg.learning_rate) == ("dcase_ae", 2, 256, 1e-3)
    assert (out / ".complete").exists()
    (member,) = run.members()
    assert member.scope == ("bearing", None) and member.covers("bearing", "01")
    with open(member.directory / "logs" / "training.csv") as fh:
        log = list(csv.DictReader(fh))
    assert len(log) == 2 and {"loss", "val_loss"} <= set(log[0])
    model = member.load_model()  # safe_mode=True

    assert main(["evaluate", str(out), "--backend", "ae_mse"]) == 0
    assert main(["evaluate", str(out), "--backend", "ae_mahala"]) == 0
    for backend in ("ae_mse", "ae_mahala"):
        results = json.loads((out / "evaluation" / backend / "results.json").read_text())
        assert results["backend"] == backend and results["official_score"] is not None

    # independent recomputation of both scores for every clip of section 00
    index = scan_dataset(one_machine)
    train = [c for c in index.clips if c.split == "train"]
    test = [c for c in index.clips if c.split == "test" and c.section == "00"]
    mse = _read_scores(out / "evaluation/ae_mse/submission/anomaly_score_bearing_section_00_test.csv")
    mahala = _read_scores(out / "evaluation/ae_mahala/submission/anomaly_score_bearing_section_00_test.csv")

    def errors(clip):
        x = _numpy_windows(clip.path)
        return x - np.asarray(model(x.astype(np.float32), training=False), dtype=np.float64)

    rows = {d: np.concatenate([errors(c).reshape(-1, 128) for c in train if c.domain == d]) for d in ("source", "target")}
    inv = [np.linalg.inv(np.cov(rows[d], rowvar=False)) for d in ("source", "target")]
    for clip in test:
        err = errors(clip)
        name = Path(clip.path).name
        assert mse[name] == pytest.approx(np.mean(err**2), rel=1e-4)
        e_bar = err.reshape(-1, 128).mean(axis=0)
        expected = min(mahalanobis(e_bar, np.zeros(128), vi) ** 2 for vi in inv)
        assert mahala[name] == pytest.approx(expected, rel=1e-4)


def test_logmel_knn_system_matches_the_calibration_baseline(one_machine, tmp_path):
    from asd_tf.commands import main
    from asd_tf.synthetic.calibration import baseline_hmean_auc

    out = tmp_path / "knn"
    assert main(["train", "--system", "logmel_knn", "--data", str(one_machine), "--out", str(out)]) == 0
    results = json.loads((out / "evaluation" / "logmel_knn" / "results.json").read_text())
    reference = baseline_hmean_auc(one_machine)["auc"]
    for sec in results["sections"]:
        ref = reference[f"{sec['machine']}/{sec['section']}"]
        assert sec["auc_source"] == pytest.approx(ref["source"], abs=1e-12)
        assert sec["auc_target"] == pytest.approx(ref["target"], abs=1e-12)
    assert main(["evaluate", str(out), "--backend", "ae_mse"]) == 2  # not a score of this system


def test_nearest_neighbour_scores_hand_case():
    from asd_tf.scoring.clip_statistics import nearest_neighbour_scores

    train = np.array([[0.0], [1.0], [3.0]])  # mean 4/3, std sqrt(14/9)
    sd = np.sqrt(14.0 / 9.0) + 1e-8
    test_scores, train_scores = nearest_neighbour_scores(train, np.array([[2.5], [-1.0]]))
    np.testing.assert_allclose(test_scores, [0.5 / sd, 1.0 / sd])
    np.testing.assert_allclose(train_scores, [1.0 / sd, 1.0 / sd, 2.0 / sd])  # leave-one-out


def test_system_settings_are_checked():
    from asd_tf.settings import TrainConfig
    from asd_tf.training.systems import apply_system_defaults, check_backends

    with pytest.raises(ConfigError, match="unknown system"):
        TrainConfig(system="vae").validate()
    values = apply_system_defaults({"system": "dcase_ae", "epochs": 3})
    assert values["epochs"] == 3 and values["batch_size"] == 256 and values["backbone"] == "dcase_ae"
    with pytest.raises(ConfigError, match="ae_mse"):
        check_backends("dcase_ae", ["kmeans"])
    check_backends("embedding", ["kmeans", "knn"])
