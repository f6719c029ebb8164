"""Batch normalisation whose training pass uses the backend's fused kernel where there is one.

``keras.layers.BatchNormalization`` in Keras 3 computes a training pass from
separate operations (mean, variance, scale and shift; ``keras.ops`` only), and
its gradient from the gradients of each of them. On TensorFlow's CPU build
these element-wise passes over the large early feature maps of the reference
model were about a third of a training step (``docs/training_step_profile.md``);
TensorFlow's fused kernel (``FusedBatchNormV3``, oneDNN on CPU) computes the
same normalisation and its analytic gradient in a few passes.

:class:`BatchNormalization` is ``keras.layers.BatchNormalization`` (same
constructor, weights, inference path and moving-statistics update:
``moving = momentum * moving + (1 - momentum) * batch``, with the biased batch
variance, Ioffe & Szegedy 2015, Alg. 1), except that the training pass runs
through the fused kernel of the current backend when:

* the backend has one in :data:`_FUSED_TRAINING` (TensorFlow; JAX's XLA fuses
  the element-wise operations itself, PyTorch runs Keras's path);
* the input is a feature map ``[B, H, W, C]`` normalised over ``C`` (the
  kernel's own layout), without mask, renormalisation or ``synchronized=True``
  (cross-replica statistics take Keras's path). On the reference model's
  other normalisations (``[B, T, 513]`` spectrogram bins, ``[B, 128]`` dense
  units) the fused kernel measured no faster or slower than Keras's path
  (``docs/training_step_profile.md``), so they keep it.

Otherwise it is Keras's path. The outputs, gradients and moving statistics
match Keras's up to float summation order (``tests/test_batch_norm.py``).
"""

from __future__ import annotations

from typing import Any, Callable

import keras
from keras import ops

__all__ = ["BatchNormalization"]


def _tensorflow_fused(x: Any, gamma: Any, beta: Any, epsilon: float) -> tuple[Any, Any, Any]:
    """``(normalised x, batch mean, biased batch variance)`` of an NHWC ``x`` with FusedBatchNormV3."""
    # Imported here: the module must import on backends without TensorFlow.
    import tensorflow as tf

    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
        x, gamma, beta, epsilon=epsilon, data_format="NHWC", is_training=True
    )
    # The kernel returns the Bessel-corrected variance n / (n - 1) * biased; Keras averages the biased one.
    count = tf.cast(tf.size(x) // x.shape[-1], variance.dtype)
    variance = variance * ((count - 1.0) / tf.maximum(count, 1.0))
    return y, mean, variance


#: Keras backend name -> fused training-mode kernel ``(x, gamma, beta, epsilon) -> (y, mean, variance)``.
_FUSED_TRAINING: dict[str, Callable[[Any, Any, Any, float], tuple[Any, Any, Any]]] = {
    "tensorflow": _tensorflow_fused,
}


@keras.saving.register_keras_serializable(package="asd_tf")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with the backend's fused kernel for the training pass.

    Shape:
        as ``keras.layers.BatchNormalization``; the fused path takes ``[B, H, W, C]`` with ``axis=-1``.

    Example:
        >>> bn = BatchNormalization()
        >>> bn(keras.ops.ones((4, 3)), training=True).shape
        (4, 3)
    """

    def _fused_kernel(self, inputs, training, mask):
        if not (training and self.trainable) or mask is not None or self.synchronized or self.renorm:
            return None
        if len(inputs.shape) != 4 or self.axis % 4 != 3:
            return None
        return _FUSED_TRAINING.get(keras.backend.backend())

    def call(self, inputs, training=None, mask=None):
        kernel = self._fused_kernel(inputs, training, mask)
        if kernel is None:
            return super().call(inputs, training=training, mask=mask)
        # As Keras: statistics in float32 at least (BN overflows in float16).
        compute_dtype = keras.backend.result_type(inputs.dtype, "float32")
        x = ops.cast(inputs, compute_dtype)
        channels = x.shape[-1]
        gamma = ops.cast(self.gamma, compute_dtype) if self.scale else ops.ones((channels,), compute_dtype)
        beta = ops.cast(self.beta, compute_dtype) if self.center else ops.zeros((channels,), compute_dtype)
        outputs, mean, variance = kernel(x, gamma, beta, self.epsilon)
        self.moving_mean.assign(
            ops.cast(self.moving_mean, compute_dtype) * self.momentum + mean * (1.0 - self.momentum)
        )
        self.moving_variance.assign(
            ops.cast(self.moving_variance, compute_dtype) * self.momentum + variance * (1.0 - self.momentum)
        )
        return ops.cast(outputs, self.compute_dtype)
