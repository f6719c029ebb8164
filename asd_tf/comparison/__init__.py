"""The comparison runner: experiment configs per paper table row, presets, jobs, the table and its writers.

* :mod:`.experiment`: load the experiment YAMLs (shipped in ``configs/``, or any folder;
  a config names the dataset year, never a path: the path comes from ``--data`` or
  ``ASD_TF_DATA_<YEAR>``);
* :mod:`.presets`: ``full`` (the papers' settings) and ``quick`` (CI-sized, on
  synthetic data generated on the fly);
* :mod:`.jobs`: every config x trial as a resumable training + evaluation job, in this
  process or one per GPU;
* :mod:`.table`: the finished runs aggregated into the paper's Table II layout;
* :mod:`.writers` and :mod:`.plot`: markdown, CSV, LaTeX, JSON and a bar chart;
* :mod:`.runner`: :func:`~asd_tf.comparison.runner.run_comparison`, all of it at once
  (``asd-tf compare``, :mod:`asd_tf.commands.compare`).
* :mod:`.trials`: what the study recipes under ``experiments/`` share (the resumable
  job loop with one child process per job, stats over seeds, Markdown tables, meta lines).
"""

from .experiment import CONFIGS_DIR, Experiment, load_experiment, load_experiments, resolve_data  # noqa: F401
from .presets import PRESETS, Preset, get_preset  # noqa: F401
