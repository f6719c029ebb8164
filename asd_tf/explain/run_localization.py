"""Localisation report of a run: RISE maps of anomalous clips with known anomaly boxes, measured against the boxes.

The clips are synthetic anomalous test clips with an anomaly-box sidecar
(:func:`asd_tf.synthetic.read_anomaly_boxes`); each map comes from
:class:`asd_tf.explain.rise_explainer.RiseExplainer` and is measured with
:mod:`asd_tf.explain.localization`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from asd_tf.errors import DatasetError
from asd_tf.explain.localization import box_tuple, localize, summarize_localization
from asd_tf.explain.rise_explainer import RiseExplainer
from asd_tf.explain.run_loaders import open_run_data
from asd_tf.synthetic import read_anomaly_boxes

__all__ = [
    "crop_boxes",
    "localization_clips",
    "localization_report",
]


def crop_boxes(boxes: Sequence[Any], duration_s: float, nyquist_hz: float) -> list[tuple[float, float, float, float]]:
    """Boxes restricted to the analysed excerpt ``[0, duration_s] x [0, nyquist_hz]``; boxes outside it are dropped."""
    out = []
    for b in boxes:
        t0, t1, f0, f1 = box_tuple(b)
        t0, t1 = max(t0, 0.0), min(t1, duration_s)
        f0, f1 = max(f0, 0.0), min(f1, nyquist_hz)
        if t1 > t0 and f1 >= f0:
            out.append((t0, t1, f0, f1))
    return out


def localization_clips(run_dir: str | Path, data: str | Path | None = None, max_clips: int | None = None) -> list[str]:
    """Anomalous test clips that carry an anomaly-box sidecar (synthetic data), spread over sections.

    With ``max_clips`` an evenly spaced subset of the path-sorted list is taken,
    so every machine/section is represented.
    """
    rd = open_run_data(run_dir, data)
    paths = [c.path for c in rd.test if c.label == "anomaly" and read_anomaly_boxes(c.path)]
    if not paths:
        raise DatasetError(
            f"{rd.data_root}: no anomalous test clips with an anomaly box (<clip>.anomaly.csv); localisation is "
            "measured on synthetic data (asd_tf.synthetic.generate)"
        )
    if max_clips is not None and 0 < max_clips < len(paths):
        pick = np.unique(np.round(np.linspace(0, len(paths) - 1, int(max_clips))).astype(int))
        paths = [paths[i] for i in pick]
    return paths


def localization_report(
    run_dir: str | Path,
    clips: Sequence[str | Path],
    n_masks: int,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = False,
    maps_dir: str | Path | None = None,
) -> dict[str, Any]:
    """RISE localisation of one run on clips with known anomaly boxes.

    Each clip's boxes are cropped to the excerpt the model sees (the first
    ``num_samples`` samples); clips with no box left are listed under ``skipped``.
    Per clip: :func:`asd_tf.explain.localization.localize` (inside vs outside mean,
    box rank among equal-size windows); ``summary`` from
    :func:`~asd_tf.explain.localization.summarize_localization`. With ``maps_dir``
    each importance map is saved there as ``<clip stem>.npy``.
    """
    from asd_tf.io_utils import atomic_save_npy

    explainer = RiseExplainer(run_dir, allow_fallback=False)
    audio = explainer.rd.audio
    duration = audio.num_samples / audio.sample_rate
    rows, skipped = [], []
    for path in clips:
        boxes = crop_boxes(read_anomaly_boxes(path), duration, audio.sample_rate / 2.0)
        if not boxes:
            skipped.append({"clip": str(path), "reason": f"no anomaly box inside the first {duration:g} s"})
            continue
        res = explainer.explain(path, n_masks, seed, batch_size, progress)
        if maps_dir is not None:
            atomic_save_npy(Path(maps_dir) / f"{Path(path).stem}.npy", res.importance)
        row = {"clip": str(path), "machine": res.machine, "section": res.section, "clean_score": res.clean_score,
               "boxes": [list(b) for b in boxes]}
        row.update(localize(res.importance, boxes, res.seconds_per_frame, res.hz_per_bin, res.time_offset_s))
        rows.append(row)
    if not rows:
        raise DatasetError(f"{run_dir}: none of the {len(skipped)} clips has an anomaly box inside the analysed excerpt")
    return {
        "run": str(Path(run_dir).resolve()),
        "loss": explainer.rd.config.loss,
        "labels": explainer.rd.config.labels,
        "n_masks": int(n_masks),
        "seed": int(seed),
        "clips": rows,
        "skipped": skipped,
        "summary": summarize_localization(rows),
    }
