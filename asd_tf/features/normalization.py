"""Temporal mean normalisation of spectrograms as a Keras layer.

Wilkinghoff & Kurth (TASLP 2024, Sec. IV-B): "temporal mean normalization is
applied to reduce the effect of different acoustic domains ... by removing
constant frequency information from the spectrograms", i.e. each frequency
bin has its mean over time subtracted (a cepstral-mean-normalisation analogue).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="asd_tf")
class TemporalMeanNormalization(keras.layers.Layer):
    """Subtract the mean over the time axis: ``y[b, t, f] = x[b, t, f] - mean_t x[b, t, f]``.

    Args:
        axis: the time axis of the input; 1 for ``[batch, frames, bins]``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: spectrograms ``[batch, frames, bins, ...]``.

    Returns:
        a tensor of the input's shape whose mean over ``axis`` is zero.

    Example:
        >>> TemporalMeanNormalization()(ops.ones([2, 311, 513]))  # all zeros
    """

    def __init__(self, axis: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        return inputs - ops.mean(inputs, axis=self.axis, keepdims=True)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis)
        return config
