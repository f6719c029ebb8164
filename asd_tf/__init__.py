"""asd_tf: anomalous sound detection with angular margin losses in TensorFlow/Keras.

The library is organised as a one-way data flow::

    files -> asd_tf.data -> asd_tf.features -> asd_tf.models -> asd_tf.losses
          -> asd_tf.training -> asd_tf.scoring -> asd_tf.evaluation ; asd_tf.explain

Sub-packages are imported lazily so that ``import asd_tf`` stays cheap and does
not pull TensorFlow into processes that only index files.
"""

__version__ = "0.1.0"
