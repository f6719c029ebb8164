"""Experiments as data: YAML configs per paper table row, presets, and the comparison runner.

* :mod:`asd_tf.experiments.configs`: load ``experiments/*.yaml`` (a config names the
  dataset year, never a path; the path comes from ``--data`` or ``ASD_TF_DATA_<YEAR>``);
* :mod:`asd_tf.experiments.presets`: ``full`` (the papers' settings) and ``quick``
  (CI-sized, on synthetic data generated on the fly);
* :mod:`asd_tf.experiments.compare`: run every config x trial (resumable) and
  aggregate into the paper's Table II layout (markdown, CSV, LaTeX, bar chart).
"""

from .configs import Experiment, load_experiment, load_experiments, resolve_data  # noqa: F401
from .presets import PRESETS, Preset, get_preset  # noqa: F401
