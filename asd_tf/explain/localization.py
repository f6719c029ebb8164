"""Does an importance map point at a known anomaly? Metrics for maps with a ground-truth box.

The paper (Sec. IV-E) could only judge its RISE maps by eye ("there are only
binary labels ... for each entire audio recording"). The synthetic data of
this project carry a time-frequency box per anomalous clip
(``kind,t_start_s,t_end_s,f_low_hz,f_high_hz``), which allows two numbers per
clip and their summary over clips:

- inside vs outside: mean importance inside the box against the mean outside
  it (their ratio, and whether inside > outside);
- box rank: the rank of the box's mean importance among all windows of the
  box's size sliding over the map (1 = the box is the most anomalous window),
  also given as a top-percentage ``100 * rank / n_windows`` (chance about 50).

A frame ``t`` covers time ``t * seconds_per_frame + time_offset_s`` (frame centre,
the ``center=True`` STFT convention) and bin ``f`` frequency ``f * hz_per_bin``;
a frame or bin belongs to a box when its centre lies in the closed box range.
A box narrower than one frame or bin still covers the nearest one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from asd_tf.errors import ConfigError, MetricError

__all__ = [
    "BoxRank",
    "box_tuple",
    "box_mask",
    "inside_outside_means",
    "inside_outside_ratio",
    "box_rank",
    "localize",
    "summarize_localization",
]


def box_tuple(box: Any) -> tuple[float, float, float, float]:
    """``(t_start_s, t_end_s, f_low_hz, f_high_hz)`` of an anomaly box.

    Accepts a 4-sequence or any object with those attributes (e.g. the
    synthetic data's ``AnomalyBox``).
    """
    if all(hasattr(box, a) for a in ("t_start_s", "t_end_s", "f_low_hz", "f_high_hz")):
        vals = (box.t_start_s, box.t_end_s, box.f_low_hz, box.f_high_hz)
    else:
        try:
            vals = tuple(box)
        except TypeError:
            raise ConfigError(f"anomaly box {box!r}: expected (t_start_s, t_end_s, f_low_hz, f_high_hz)") from None
        if len(vals) != 4:
            raise ConfigError(f"anomaly box {box!r}: expected 4 values (t_start_s, t_end_s, f_low_hz, f_high_hz)")
    t0, t1, f0, f1 = (float(v) for v in vals)
    if not (t1 >= t0 and f1 >= f0):
        raise ConfigError(f"anomaly box {box!r}: needs t_end_s >= t_start_s and f_high_hz >= f_low_hz")
    return t0, t1, f0, f1


@dataclass(frozen=True)
class BoxRank:
    """Rank of a box among all equal-size windows (ties get the mid rank)."""

    rank: float  # 1 = best; fractional under ties
    n_windows: int
    percentile: float  # 100 * rank / n_windows: "the box is in the top p % of windows"


def _axis_range(lo: float, hi: float, step: float, offset: float, n: int, what: str) -> slice:
    if step <= 0:
        raise MetricError(f"{what} resolution must be > 0, got {step}")
    centres = offset + step * np.arange(n)
    inside = np.flatnonzero((centres >= lo) & (centres <= hi))
    if inside.size == 0:
        # Box thinner than one frame/bin: take the nearest one, if the box overlaps the axis at all.
        if hi < centres[0] - step / 2 or lo > centres[-1] + step / 2:
            raise MetricError(f"anomaly box {what} range [{lo}, {hi}] lies outside the map (0..{n - 1} x {step})")
        k = int(np.argmin(np.abs(centres - 0.5 * (lo + hi))))
        return slice(k, k + 1)
    return slice(int(inside[0]), int(inside[-1]) + 1)


def box_mask(
    shape: tuple[int, int],
    box: Any,
    seconds_per_frame: float,
    hz_per_bin: float,
    time_offset_s: float = 0.0,
) -> np.ndarray:
    """Boolean [T, F] mask of the frames and bins inside an anomaly box.

    Args:
        shape: (T, F) of the importance map.
        box: ``(t_start_s, t_end_s, f_low_hz, f_high_hz)`` or an object with these attributes.
        seconds_per_frame: hop / sample rate.
        hz_per_bin: sample rate / n_fft (bin ``f`` is at ``f * hz_per_bin`` Hz).
        time_offset_s: time of frame 0's centre.
    """
    T, F = int(shape[0]), int(shape[1])
    t0, t1, f0, f1 = box_tuple(box)
    ts = _axis_range(t0, t1, seconds_per_frame, time_offset_s, T, "time")
    fs = _axis_range(f0, f1, hz_per_bin, 0.0, F, "frequency")
    mask = np.zeros((T, F), bool)
    mask[ts, fs] = True
    return mask


def inside_outside_means(importance: Any, mask: Any) -> tuple[float, float]:
    """(mean importance inside ``mask``, mean importance outside it)."""
    imp = np.asarray(importance, np.float64)
    m = np.asarray(mask, bool)
    if imp.shape != m.shape:
        raise MetricError(f"importance map shape {imp.shape} differs from box mask shape {m.shape}")
    if not m.any() or m.all():
        raise MetricError("box mask must cover some but not all of the map to compare inside with outside")
    return float(imp[m].mean()), float(imp[~m].mean())


def inside_outside_ratio(importance: Any, mask: Any) -> float:
    """Mean importance inside the box divided by the mean outside (> 1: the box stands out)."""
    inside, outside = inside_outside_means(importance, mask)
    if outside == 0.0:
        raise MetricError("mean importance outside the box is 0; the ratio is undefined")
    return inside / outside


def _window_means(imp: np.ndarray, h: int, w: int) -> np.ndarray:
    """Means of all h x w windows (valid positions) via a 2-D cumulative sum: [T-h+1, F-w+1]."""
    c = np.zeros((imp.shape[0] + 1, imp.shape[1] + 1), np.float64)
    c[1:, 1:] = imp.cumsum(0).cumsum(1)
    s = c[h:, w:] - c[:-h, w:] - c[h:, :-w] + c[:-h, :-w]
    return s / (h * w)


def box_rank(importance: Any, mask: Any) -> BoxRank:
    """Rank of the box's mean importance among all windows of its size sliding over the map.

    ``mask`` must be a filled rectangle (as from :func:`box_mask`). Rank 1 means
    no window has a higher mean; windows whose mean equals the box's (within
    1e-9 relative) share the mid rank, so a constant map gives the middle rank.
    """
    imp = np.asarray(importance, np.float64)
    m = np.asarray(mask, bool)
    if imp.shape != m.shape or imp.ndim != 2:
        raise MetricError(f"importance map shape {imp.shape} and box mask shape {m.shape} must be the same [T, F]")
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    if rows.size == 0:
        raise MetricError("box mask is empty")
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if not m[r0:r1, c0:c1].all() or m.sum() != (r1 - r0) * (c1 - c0):
        raise MetricError("box mask is not a filled rectangle")
    means = _window_means(imp, r1 - r0, c1 - c0)
    box_mean = means[r0, c0]
    tol = 1e-9 * max(1.0, abs(box_mean))
    greater = int(np.sum(means > box_mean + tol))
    equal = int(np.sum(np.abs(means - box_mean) <= tol))  # includes the box itself
    rank = 1.0 + greater + 0.5 * (equal - 1)
    return BoxRank(rank=rank, n_windows=int(means.size), percentile=100.0 * rank / means.size)


def localize(
    importance: Any,
    boxes: Sequence[Any],
    seconds_per_frame: float,
    hz_per_bin: float,
    time_offset_s: float = 0.0,
) -> dict[str, float]:
    """All localisation numbers of one clip with one or more anomaly boxes.

    Inside/outside use the union of the boxes; rank and percentile are averaged
    over the boxes. Returns a JSON-ready dict with keys ``inside_mean``,
    ``outside_mean``, ``ratio``, ``inside_greater`` (0/1), ``rank``,
    ``n_windows``, ``percentile``, ``n_boxes``.
    """
    imp = np.asarray(importance, np.float64)
    if len(boxes) == 0:
        raise MetricError("localize needs at least one anomaly box")
    masks = [box_mask(imp.shape, b, seconds_per_frame, hz_per_bin, time_offset_s) for b in boxes]
    union = np.logical_or.reduce(masks)
    inside, outside = inside_outside_means(imp, union)
    ranks = [box_rank(imp, m) for m in masks]
    return {
        "inside_mean": inside,
        "outside_mean": outside,
        "ratio": inside / outside if outside != 0.0 else float("nan"),
        "inside_greater": float(inside > outside),
        "rank": float(np.mean([r.rank for r in ranks])),
        "n_windows": float(np.mean([r.n_windows for r in ranks])),
        "percentile": float(np.mean([r.percentile for r in ranks])),
        "n_boxes": float(len(boxes)),
    }


def summarize_localization(results: Sequence[dict[str, float] | BoxRank]) -> dict[str, float]:
    """Summary over clips of :func:`localize` results.

    Returns ``n_clips``, ``frac_inside_greater`` (share of clips whose box is
    brighter than the rest; chance ~0.5), ``mean_percentile`` (mean top-% rank of
    the box; chance ~50, lower is better), ``median_percentile``, ``mean_rank``
    and ``mean_ratio`` (finite ratios only; NaN if none).
    """
    rows = [asdict(r) if isinstance(r, BoxRank) else dict(r) for r in results]
    if not rows:
        raise MetricError("summarize_localization needs at least one clip result")
    pct = np.array([r["percentile"] for r in rows], np.float64)
    out: dict[str, float] = {
        "n_clips": float(len(rows)),
        "mean_percentile": float(pct.mean()),
        "median_percentile": float(np.median(pct)),
        "mean_rank": float(np.mean([r["rank"] for r in rows])),
    }
    if all("inside_greater" in r for r in rows):
        out["frac_inside_greater"] = float(np.mean([r["inside_greater"] for r in rows]))
    ratios = np.array([r.get("ratio", np.nan) for r in rows], np.float64)
    finite = ratios[np.isfinite(ratios)]
    out["mean_ratio"] = float(finite.mean()) if finite.size else float("nan")
    return out
