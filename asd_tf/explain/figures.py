"""Every figure of ``asd_tf.explain``: the plots of the papers' figures, saved atomically as PNG and PDF.

- :func:`plot_rise` — spectrogram beside RISE importance maps (paper Fig. 4);
- :func:`plot_tsne` — t-SNE scatter plots, one panel per run (paper Fig. 5);
- :func:`plot_angle_histogram` — angles to the class centre, normal vs anomalous (EMM Fig. 2);
- :func:`plot_attention_maps` — mean and std of the attention map (Neri & Carli, Fig. 4);
- :func:`plot_training_curves` — loss and compactness per epoch (paper Figs. 2-3);
- :func:`save_figure` — the PNG + PDF writer they share.

The numbers come from the modules named for them (:mod:`.rise`, :mod:`.tsne`,
:mod:`.angles`, :mod:`.attention`, :mod:`.curves`); matplotlib is imported
only when a figure is drawn (Agg backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from asd_tf.errors import ConfigError
from asd_tf.explain.attention import CHANNEL_NAMES
from asd_tf.explain.curves import CURVE_COLUMNS

__all__ = [
    "plot_angle_histogram",
    "plot_attention_maps",
    "plot_rise",
    "plot_training_curves",
    "plot_tsne",
    "save_figure",
]


def save_figure(fig: Any, out_path_stem: str | Path, formats: tuple[str, ...] = ("png", "pdf")) -> list[str]:
    """Write a matplotlib figure to ``<stem>.png`` and ``<stem>.pdf`` atomically and close it.

    The figure is saved at its own size and dpi (no tight bounding box), so the
    PNG is exactly ``figsize * dpi`` pixels. Returns the written paths.
    """
    import matplotlib.pyplot as plt

    from asd_tf.io_utils import atomic_write

    stem = Path(out_path_stem)
    paths = []
    try:
        for fmt in formats:
            path = stem.with_name(stem.name + "." + fmt)
            atomic_write(path, lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=fig.dpi))
            paths.append(str(path))
    finally:
        plt.close(fig)
    return paths


def plot_rise(
    spectrogram: Any,
    importance_maps: Sequence[Any],
    titles: Sequence[str],
    sr: int,
    hop: int,
    out_path_stem: str,
    *,
    boxes: Sequence[Any] = (),
    spec_title: str = "log-magnitude spectrogram",
    panel_size: tuple[float, float] = (4.0, 3.2),
    dpi: int = 100,
    cmap: str = "viridis",
) -> list[str]:
    """Log spectrogram beside one importance map per run, like the paper's Fig. 4.

    Time axis in s (``hop / sr`` per frame), frequency axis in Hz (bins spread
    over 0..sr/2). Each panel has its own colour scale and colour bar; on the
    importance maps low = normal (blue), high = anomalous (yellow) with viridis.
    Optional ``boxes`` (objects with ``t_start_s, t_end_s, f_low_hz, f_high_hz``
    or 4-tuples) are outlined on every panel. Writes ``<stem>.png`` (exactly
    ``panel_size * (1 + len(maps)) x dpi`` pixels) and ``<stem>.pdf``; returns their paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from asd_tf.explain.localization import box_tuple

    spec = np.asarray(spectrogram, np.float64)
    maps = [np.asarray(m, np.float64) for m in importance_maps]
    if spec.ndim != 2:
        raise ConfigError(f"plot_rise: spectrogram must be [T, F], got shape {spec.shape}")
    if len(titles) != len(maps):
        raise ConfigError(f"plot_rise: {len(maps)} importance maps but {len(titles)} titles")
    for m in maps:
        if m.shape != spec.shape:
            raise ConfigError(f"plot_rise: importance map shape {m.shape} differs from spectrogram {spec.shape}")
    T = spec.shape[0]
    extent = (0.0, T * hop / sr, 0.0, sr / 2.0)
    # dB with an 80 dB display range below the peak (librosa's top_db convention).
    log_spec = 20.0 * np.log10(np.maximum(spec, 1e-4 * max(spec.max(), 1e-30)))
    n = 1 + len(maps)
    fig, axes = plt.subplots(1, n, figsize=(panel_size[0] * n, panel_size[1]), dpi=dpi, squeeze=False)
    panels = [(log_spec, spec_title, "magma", "dB")] + [(m, t, cmap, "importance") for m, t in zip(maps, titles)]
    for ax, (img, title, cm, label) in zip(axes[0], panels):
        # [T, F] -> image rows = frequency (origin lower), columns = time.
        im = ax.imshow(img.T, origin="lower", aspect="auto", extent=extent, cmap=cm, interpolation="nearest")
        fig.colorbar(im, ax=ax, label=label)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time [s]")
        ax.set_ylabel("frequency [Hz]")
        for b in boxes:
            t0, t1, f0, f1 = box_tuple(b)
            ax.add_patch(Rectangle((t0, f0), t1 - t0, f1 - f0, fill=False, edgecolor="red", linewidth=1.0))
    fig.tight_layout()
    return save_figure(fig, out_path_stem)


def plot_tsne(
    panels: Sequence[dict[str, Any]],
    out_path_stem: str,
    *,
    ncols: int = 3,
    panel_size: tuple[float, float] = (4.0, 4.0),
    dpi: int = 100,
    legend: bool = True,
    max_legend_entries: int = 12,
) -> list[str]:
    """Fig. 5-style scatter plots, one panel per run.

    Each panel dict has ``points`` [n, 2], ``labels`` [n] (colour category:
    section or class; ``colours`` is accepted as an alias), ``is_anomaly`` [n]
    and ``title``. Colour = category, marker ``o`` = normal, ``x`` = anomaly.
    Writes ``<stem>.png`` of exactly ``(min(ncols, k) * w, ceil(k / ncols) * h) * dpi``
    pixels and ``<stem>.pdf``; returns their paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    if len(panels) == 0:
        raise ConfigError("plot_tsne needs at least one panel")
    k = len(panels)
    nc = min(ncols, k)
    nr = -(-k // nc)
    fig, axes = plt.subplots(nr, nc, figsize=(panel_size[0] * nc, panel_size[1] * nr), dpi=dpi, squeeze=False)
    for ax in axes.ravel()[k:]:
        ax.axis("off")
    for ax, panel in zip(axes.ravel(), panels):
        pts = np.asarray(panel["points"], np.float64)
        labels = np.asarray(panel.get("labels", panel.get("colours", np.zeros(len(pts)))))
        anom = np.asarray(panel["is_anomaly"], bool)
        if pts.ndim != 2 or pts.shape[1] != 2 or labels.shape[0] != pts.shape[0] or anom.shape[0] != pts.shape[0]:
            raise ConfigError(f"plot_tsne panel {panel.get('title', '')!r}: points must be [n, 2] with n labels/flags")
        cats = sorted(set(labels.tolist()), key=str)
        # tab10 keeps up to 10 categories clearly apart; tab20 (paired shades) beyond that.
        cmap = plt.get_cmap("tab10" if len(cats) <= 10 else "tab20")
        for i, cat in enumerate(cats):
            colour = cmap(i % cmap.N)
            sel = labels == cat
            ax.scatter(*pts[sel & ~anom].T, s=6, marker="o", color=colour, linewidths=0, label=str(cat))
            ax.scatter(*pts[sel & anom].T, s=10, marker="x", color=colour, linewidths=0.8)
        ax.set_title(str(panel.get("title", "")), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if legend and len(cats) <= max_legend_entries:
            ax.legend(fontsize=6, markerscale=2, loc="best", title="o normal, x anomaly", title_fontsize=6)
    fig.tight_layout()
    return save_figure(fig, out_path_stem)


def plot_angle_histogram(
    angles_normal: Any,
    angles_anomaly: Any,
    out_path_stem: str,
    bins: int | Sequence[float] = 60,
    *,
    title: str = "",
    figsize: tuple[float, float] = (5.0, 3.5),
    dpi: int = 100,
) -> list[str]:
    """Histogram of angles (degrees) for normal and anomalous samples, log-scaled counts (EMM Fig. 2).

    ``bins``: a number of equal bins over the joint range of both sets, or explicit
    edges. Writes ``<stem>.png`` (exactly ``figsize * dpi`` pixels) and ``<stem>.pdf``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    a_n = np.asarray(angles_normal, np.float64).ravel()
    a_a = np.asarray(angles_anomaly, np.float64).ravel()
    both = np.concatenate([a_n, a_a])
    if both.size == 0:
        raise ConfigError("plot_angle_histogram: no angles given")
    if np.isscalar(bins):
        lo, hi = float(np.floor(both.min())), float(np.ceil(both.max()))
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
    else:
        edges = np.asarray(bins, np.float64)
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    for vals, name, colour in ((a_n, "normal", "tab:blue"), (a_a, "anomaly", "tab:red")):
        if vals.size:
            ax.hist(vals, bins=edges, alpha=0.55, color=colour, label=f"{name} (n={vals.size})")
    ax.set_yscale("log")
    ax.set_xlabel("angle to class centre [deg]")
    ax.set_ylabel("count")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_path_stem)


def plot_attention_maps(
    mean: Any,
    std: Any,
    seconds_per_frame: float,
    out_path_stem: str | Path,
    *,
    title: str = "",
    panel_size: tuple[float, float] = (4.0, 3.0),
    dpi: int = 100,
) -> list[str]:
    """Mean and std of the attention map per channel (rows: channels, columns: mean, std), Neri Fig. 4.

    Time in s on the x axis (``seconds_per_frame`` per frame), mel band index on
    the y axis, one colour scale per panel. Writes ``<stem>.png`` and ``<stem>.pdf``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    m = np.asarray(mean, np.float64)
    s = np.asarray(std, np.float64)
    if m.ndim != 3 or m.shape != s.shape:
        raise ConfigError(f"attention mean {m.shape} and std {s.shape} must be the same [frames, n_mels, channels]")
    frames, mels, channels = m.shape
    extent = (0.0, frames * seconds_per_frame, 0.0, float(mels))
    fig, axes = plt.subplots(
        channels, 2, figsize=(panel_size[0] * 2, panel_size[1] * channels), dpi=dpi, squeeze=False
    )
    for c in range(channels):
        name = CHANNEL_NAMES[c] if c < len(CHANNEL_NAMES) else f"channel {c}"
        for ax, img, what in ((axes[c, 0], m[..., c], "mean"), (axes[c, 1], s[..., c], "std")):
            im = ax.imshow(img.T, origin="lower", aspect="auto", extent=extent, cmap="viridis", interpolation="nearest")
            fig.colorbar(im, ax=ax)
            ax.set_title(f"{what} attention, {name}" + (f" ({title})" if title else ""), fontsize=9)
            ax.set_xlabel("time [s]")
            ax.set_ylabel("mel band")
    fig.tight_layout()
    return save_figure(fig, out_path_stem)


def plot_training_curves(
    logs: Mapping[str, Mapping[str, Any]],
    out_path_stem: str | Path,
    *,
    panel_size: tuple[float, float] = (4.0, 3.2),
    dpi: int = 100,
) -> list[str]:
    """Three panels (loss, intra- and inter-class compactness) against the epoch, one line per run.

    Args:
        logs: run name -> columns as from :func:`read_training_log`; a missing or
            all-NaN column is left out of its panel.
        out_path_stem: writes ``<stem>.png`` (``3 * panel_size * dpi`` pixels) and ``<stem>.pdf``.

    Epochs are drawn 1-based (the CSV counts from 0).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    if not logs:
        raise ConfigError("plot_training_curves needs at least one run's log")
    n = len(CURVE_COLUMNS)
    fig, axes = plt.subplots(1, n, figsize=(panel_size[0] * n, panel_size[1]), dpi=dpi, squeeze=False)
    for ax, (column, label) in zip(axes[0], CURVE_COLUMNS):
        for name, log in logs.items():
            if column not in log:
                continue
            y = np.asarray(log[column], np.float64)
            if not np.isfinite(y).any():
                continue
            epoch = np.asarray(log["epoch"], np.float64) + 1.0
            ax.plot(epoch, y, marker="o", markersize=3, label=str(name))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label, fontsize=9)
        if ax.has_data() and len(logs) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out_path_stem)
