"""asd_tf: anomalous sound detection with angular margin losses in TensorFlow/Keras.

Data flow::

    files -> asd_tf.data -> asd_tf.features -> asd_tf.models (waveform -> embedding)
          -> asd_tf.losses (training head) -> asd_tf.training -> a run directory (asd_tf.runs)
    a run -> asd_tf.scoring (per-section backends) -> asd_tf.evaluation (metrics, submissions)
    a run -> asd_tf.explain (RISE, t-SNE, curves)

Imports go one way, from the bottom up: errors; lazy, io_utils, console, registry,
distribute; data; features; models; losses; scoring; synthetic, settings; runs;
training, evaluation, explain; comparison; commands (the ``asd-tf`` command line,
which no library module imports). docs/design.md, "The shape of the code", explains
the list; tests/test_import_direction.py enforces it.

Sub-packages are imported lazily so that ``import asd_tf`` stays cheap and does
not pull TensorFlow into processes that only index files.
"""

__version__ = "0.1.0"
