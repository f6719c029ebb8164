"""Explanations of trained ASD models (paper Sec. IV-E/F, EMM Fig. 2, Neri & Carli Fig. 4).

Modules (nothing here pulls TensorFlow; the names below load their module on first use):

- :mod:`asd_tf.explain.rise` — RISE importance maps of spectrograms (paper Sec. IV-E).
- :mod:`asd_tf.explain.localization` — how well an importance map points at a known anomaly box.
- :mod:`asd_tf.explain.tsne` — t-SNE of embeddings, the Table III anomaly-to-normal distance.
- :mod:`asd_tf.explain.angles` — angles between embeddings and class centres (EMM Fig. 2).
- :mod:`asd_tf.explain.attention` — attention maps of the low-complexity model (Neri & Carli, Fig. 4).
- :mod:`asd_tf.explain.curves` — a run's training log (loss and compactness per epoch, paper Figs. 2-3).
- :mod:`asd_tf.explain.figures` — every figure: ``plot_rise``, ``plot_tsne``, ``plot_angle_histogram``,
  ``plot_attention_maps``, ``plot_training_curves`` and the PNG + PDF writer ``save_figure``.

Reading a trained run (what the ``visualize/`` scripts call):

- :mod:`asd_tf.explain.run_loaders` — a run's data and embeddings, and its t-SNE, angle and attention views.
- :mod:`asd_tf.explain.rise_explainer` — RISE over a run (``RiseExplainer``, ``rise_for_clip``).
- :mod:`asd_tf.explain.run_localization` — RISE localisation of a run on clips with anomaly boxes.
- :mod:`asd_tf.explain.script_helpers` — run names, ``.npz`` output and error handling of the scripts.

Every public name of these modules (their ``__all__``) is also reachable as
``asd_tf.explain.<name>``; ``__all__`` here lists them all.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = (
    "rise",
    "localization",
    "tsne",
    "angles",
    "attention",
    "curves",
    "figures",
    "run_loaders",
    "rise_explainer",
    "run_localization",
    "script_helpers",
)

# name -> module; written out (not discovered) so that listing the names imports nothing.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ["PAPER_N_MASKS", "PAPER_TIME_CELLS", "PAPER_FREQ_CELLS", "PAPER_P_MASKED", "interpolation_matrix",
         "sample_mask_grids", "generate_mask_factors", "generate_masks", "RiseStep", "rise_importance",
         "make_kmeans_score_fn"], "rise"),
    **dict.fromkeys(
        ["BoxRank", "box_tuple", "box_mask", "inside_outside_means", "inside_outside_ratio", "box_rank",
         "localize", "summarize_localization"], "localization"),
    **dict.fromkeys(["tsne_embed", "anomaly_to_normal_distance", "aggregate"], "tsne"),
    **dict.fromkeys(["angles_to_centres"], "angles"),
    **dict.fromkeys(["ATTENTION_LAYER", "attention_map_model", "attention_mean_std"], "attention"),
    **dict.fromkeys(["TRAINING_LOG", "CURVE_COLUMNS", "read_training_log"], "curves"),
    **dict.fromkeys(
        ["plot_angle_histogram", "plot_attention_maps", "plot_rise", "plot_training_curves", "plot_tsne",
         "save_figure"], "figures"),
    **dict.fromkeys(
        ["RunData", "open_run_data", "clip_scope", "run_embeddings", "test_embeddings", "tsne_for_run",
         "angles_for_run", "attention_for_run"], "run_loaders"),
    **dict.fromkeys(
        ["RiseResult", "RiseExplainer", "require_spectrogram_run", "rise_for_clip", "SILENCE_PEAK",
         "silence_warning"], "rise_explainer"),
    **dict.fromkeys(["crop_boxes", "localization_clips", "localization_report"], "run_localization"),
    **dict.fromkeys(["run_labels", "save_npz", "script_main"], "script_helpers"),
}


def __getattr__(name: str) -> Any:
    # PEP 562 lazy re-export: `asd_tf.explain.rise_importance` loads TensorFlow only when used.
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)
