"""Clip-statistics calibration baseline of a (synthetic) DCASE-style dataset: harmonic-mean AUC over sections.

What it measures: how much of the anomaly is visible in *global* clip
statistics (:mod:`asd_tf.scoring.clip_statistics`: log-mel mean/std, distance
to the nearest training clip of the section). AUCs follow the DCASE 2023
evaluator convention: AUC(source) uses the section's source normals and *all*
its anomalies, AUC(target) likewise; the summary is the harmonic mean over
all section x domain AUCs.

On the synthetic data this baseline must stay well below what a model that
knows the machine's fine structure achieves (the noise dominates clip
statistics; Wilkinghoff & Kurth, TASLP 2024, Sec. IV-C), yet above chance;
the faults' levels are calibrated with it (:data:`asd_tf.synthetic.profiles.BOX_SNR_DB`).
File names are read with :func:`asd_tf.data.filenames.parse_filename` and the
labels of anonymised test clips with :func:`asd_tf.data.ground_truth.load_ground_truth`;
the clips are found by folder (``<machine>/{train,test}/*.wav``), not by the
dataset index, so the generator is calibrated without the index's checks.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.filenames import parse_filename
from ..data.ground_truth import load_ground_truth
from ..errors import DatasetError, FileNameError, MetricError
from ..scoring.clip_statistics import clip_statistics, nearest_test_scores


def _collect(root: Path) -> list[dict]:
    """One dict per clip: path, machine, section, split, domain, label (anonymised names: from the ground truth)."""
    clips = []
    truth: tuple[dict, dict] | None = None
    for machine_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("ground_truth")):
        for split in ("train", "test"):
            folder = machine_dir / split
            if not folder.is_dir():
                continue
            for wav in sorted(folder.glob("*.wav")):
                try:
                    name = parse_filename(wav.name)
                except FileNameError:
                    name = None
                if name is not None and name.label is not None and name.domain is not None:
                    clips.append(dict(path=wav, machine=machine_dir.name, section=name.section, split=split,
                                      domain=name.domain, label=name.label))
                    continue
                if name is not None and split == "test" and name.style == "section" and name.domain is None \
                        and name.split is None and name.label is None and not name.attributes:
                    # anonymised evaluation name section_XX_NNNN.wav: label and domain from the ground truth
                    if truth is None:
                        truth = load_ground_truth(root)
                    key = (machine_dir.name, name.section, wav.name)
                    if key not in truth[0] or key not in truth[1]:
                        raise DatasetError(f"{wav}: anonymised test clip missing from the ground truth under {root} "
                                           f"(ground_truth_{{data,domain}}/ground_truth_{machine_dir.name}_section_"
                                           f"{name.section}_test.csv)")
                    clips.append(dict(path=wav, machine=machine_dir.name, section=name.section, split=split,
                                      domain=truth[1][key], label=truth[0][key]))
                    continue
                raise DatasetError(f"{wav}: file name matches no DCASE naming pattern")
    if not clips:
        raise DatasetError(f"{root}: no clips found under <machine>/{{train,test}}/")
    return clips


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
        dist = nearest_test_scores(feats[train], feats[test])
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
