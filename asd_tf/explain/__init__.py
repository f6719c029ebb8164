"""Explanations of trained ASD models (paper Sec. IV-E/F, EMM Fig. 2).

Modules (import them directly; nothing here pulls TensorFlow):

- :mod:`asd_tf.explain.rise` — RISE importance maps of spectrograms, throughput helpers, Fig. 4 plot.
- :mod:`asd_tf.explain.localization` — how well an importance map points at a known anomaly box.
- :mod:`asd_tf.explain.tsne` — t-SNE of embeddings, the Table III anomaly-to-normal distance, Fig. 5 plot.
- :mod:`asd_tf.explain.angles` — angles between embeddings and class centres, EMM Fig. 2 histogram.

The public names of these modules are also reachable as ``asd_tf.explain.<name>``
(loaded lazily). This file also holds the two helpers the modules share:
:func:`save_figure` (atomic PNG + PDF output) and :func:`box_tuple`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

_SUBMODULES = ("rise", "localization", "tsne", "angles")


def box_tuple(box: Any) -> tuple[float, float, float, float]:
    """``(t_start_s, t_end_s, f_low_hz, f_high_hz)`` of an anomaly box.

    Accepts a 4-sequence or any object with those attributes (e.g. the
    synthetic data's ``AnomalyBox``).
    """
    from asd_tf.errors import ConfigError

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


def __getattr__(name: str) -> Any:
    # PEP 562 lazy re-export: `asd_tf.explain.rise_importance` loads TensorFlow only when used.
    for mod_name in _SUBMODULES:
        mod = importlib.import_module(f"{__name__}.{mod_name}")
        if name in getattr(mod, "__all__", ()):
            return getattr(mod, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["box_tuple", "save_figure"]
