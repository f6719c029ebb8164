"""Clip-statistics calibration baseline for (synthetic) DCASE-style datasets.

What it measures: how much of the anomaly is visible in *global* clip
statistics. Each clip is summarised by the mean and standard deviation over
time of its log-mel spectrogram (128 mels, n_fft 1024, hop 512; 256 numbers),
features are standardised with the section's training clips, and the anomaly
score of a test clip is the Euclidean distance to the nearest training clip of
its section. AUCs follow the DCASE 2023 evaluator convention: AUC(source) uses
the section's source normals and *all* its anomalies, AUC(target) likewise;
the summary is the harmonic mean over all section x domain AUCs.

On the synthetic data this baseline must stay well below what a model that
knows the machine's fine structure achieves (the noise dominates clip
statistics; Wilkinghoff & Kurth, TASLP 2024, Sec. IV-C), yet above chance.
It parses file names itself (no dependency on asd_tf.data.index) so it can
calibrate the generator independently.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import DatasetError, MetricError

_RE_2020 = re.compile(r"^(?P<label>normal|anomaly)_id_(?P<section>\d{2})_(?P<index>\d{8})\.wav$")
# the split is optional: DCASE 2024 RoboticArm test names lack it (the folder tells)
_RE_2122 = re.compile(
    r"^section_(?P<section>\d{2})_(?P<domain>source|target)_(?:(?P<split>train|test)_)?"
    r"(?P<label>normal|anomaly)_(?P<index>\d{4})(?:_(?P<attrs>.*))?\.wav$")
_RE_EVAL = re.compile(r"^section_(?P<section>\d{2})_(?P<index>\d{4})\.wav$")


def _read_ground_truth(root: Path, machine: str, section: str) -> tuple[dict[str, int], dict[str, int]]:
    fname = f"ground_truth_{machine}_section_{section}_test.csv"
    out = []
    for sub in ("ground_truth_data", "ground_truth_domain"):
        path = root / sub / fname
        if not path.exists():
            raise DatasetError(f"{path}: anonymised test clips need this ground-truth file")
        table = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                name, value = line.strip().split(",")
                table[name] = int(value)
        out.append(table)
    return out[0], out[1]


def _collect(root: Path) -> list[dict]:
    """One dict per clip: path, machine, section, split, domain, label."""
    clips = []
    for machine_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("ground_truth")):
        for split in ("train", "test"):
            folder = machine_dir / split
            if not folder.is_dir():
                continue
            gt_cache: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
            for wav in sorted(folder.glob("*.wav")):
                m = _RE_2122.match(wav.name)
                if m:
                    clips.append(dict(path=wav, machine=machine_dir.name, section=m["section"], split=split,
                                      domain=m["domain"], label=m["label"]))
                    continue
                m = _RE_2020.match(wav.name)
                if m:
                    clips.append(dict(path=wav, machine=machine_dir.name, section=m["section"], split=split,
                                      domain="source", label=m["label"]))
                    continue
                m = _RE_EVAL.match(wav.name)
                if m and split == "test":
                    sec = m["section"]
                    if sec not in gt_cache:
                        gt_cache[sec] = _read_ground_truth(root, machine_dir.name, sec)
                    data, dom = gt_cache[sec]
                    clips.append(dict(path=wav, machine=machine_dir.name, section=sec, split=split,
                                      domain="target" if dom[wav.name] else "source",
                                      label="anomaly" if data[wav.name] else "normal"))
                    continue
                raise DatasetError(f"{wav}: file name matches no DCASE naming pattern")
    if not clips:
        raise DatasetError(f"{root}: no clips found under <machine>/{{train,test}}/")
    return clips


def clip_statistics(path: str | os.PathLike, sample_rate: int = 16000) -> np.ndarray:
    """Mean and standard deviation over time of the clip's log-mel spectrogram (256 values)."""
    import librosa
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != sample_rate:
        x = librosa.resample(x, orig_sr=sr, target_sr=sample_rate)
    mel = librosa.feature.melspectrogram(y=x, sr=sample_rate, n_fft=1024, hop_length=512, n_mels=128, power=2.0)
    logmel = 10.0 * np.log10(mel + 1e-10)
    return np.concatenate([logmel.mean(axis=1), logmel.std(axis=1)])


def nearest_neighbour_scores(train_feats: np.ndarray, test_feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(test [N_test], train [N_train])`` of one section from clip features.

    Features are standardised with the training clips' mean and standard
    deviation (+1e-8); a test clip's score is its Euclidean distance to the
    nearest training clip. A training clip's score (for the decision
    threshold) is its distance to the nearest *other* training clip, since its
    own distance is zero; with a single training clip it is 0.
    """
    from scipy.spatial.distance import cdist

    train_feats = np.asarray(train_feats, dtype=np.float64)
    test_feats = np.asarray(test_feats, dtype=np.float64)
    if train_feats.ndim != 2 or train_feats.shape[0] == 0:
        raise MetricError(f"nearest_neighbour_scores: need [clips, features] training features, got {train_feats.shape}")
    mu = train_feats.mean(axis=0)
    sd = train_feats.std(axis=0) + 1e-8
    ftr = (train_feats - mu) / sd
    fte = (test_feats.reshape(-1, ftr.shape[1]) - mu) / sd
    test_scores = cdist(fte, ftr).min(axis=1) if fte.shape[0] else np.zeros(0)
    if ftr.shape[0] < 2:
        return test_scores, np.zeros(ftr.shape[0])
    within = cdist(ftr, ftr)
    np.fill_diagonal(within, np.inf)
    return test_scores, within.min(axis=1)


def baseline_hmean_auc(root: str | os.PathLike) -> dict:
    """Score every section with the nearest-neighbour clip-statistics baseline.

    Returns ``{"hmean_auc": float, "auc": {"<machine>/<section>": {"source": a, "target": b}},
    "n_clips": int}`` (2020 layouts only have "source").
    """
    from sklearn.metrics import roc_auc_score

    root = Path(root)
    clips = _collect(root)
    feats = np.stack([clip_statistics(c["path"]) for c in clips])
    groups: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(clips):
        groups.setdefault((c["machine"], c["section"]), []).append(i)
    result: dict[str, dict[str, float]] = {}
    all_aucs: list[float] = []
    for (machine, section), idx in sorted(groups.items()):
        train = [i for i in idx if clips[i]["split"] == "train"]
        test = [i for i in idx if clips[i]["split"] == "test"]
        if not train or not test:
            continue
        dist = nearest_neighbour_scores(feats[train], feats[test])[0]
        labels = np.array([clips[i]["label"] == "anomaly" for i in test])
        domains = np.array([clips[i]["domain"] for i in test])
        per: dict[str, float] = {}
        for dom in ("source", "target"):
            sel = ((domains == dom) & ~labels) | labels
            if not np.any((domains == dom) & ~labels):
                continue
            if labels[sel].all() or not labels[sel].any():
                raise MetricError(f"{machine} section {section} ({dom}): AUC needs normal and anomalous clips")
            per[dom] = float(roc_auc_score(labels[sel], dist[sel]))
            all_aucs.append(per[dom])
        result[f"{machine}/{section}"] = per
    if not all_aucs:
        raise MetricError(f"{root}: no section has both training and test clips")
    hmean = len(all_aucs) / float(np.sum(1.0 / np.maximum(np.array(all_aucs), 1e-12)))
    return {"hmean_auc": hmean, "auc": result, "n_clips": len(clips)}
