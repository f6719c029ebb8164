"""FLOPs of a model, counted two ways, for the benchmarks (``bench.py``, ``device_check.py``).

* :func:`analytic_forward_flops`: the multiply-adds of the layers that carry the arithmetic
  (``Dense``, ``Conv1D``, ``Conv2D``, ``DepthwiseConv2D``, ``SeparableConv2D``,
  ``EinsumDense`` is not used here), from each layer's weights and output shape, as
  ``2 * output elements * (kernel window * input channels / groups)``; biases, activations,
  normalisation and the FFT front ends are left out (they are element-wise, a few per cent).
  A training step costs about 3x the forward pass (forward, gradient w.r.t. the input, gradient
  w.r.t. the weights): :func:`analytic_train_flops`.
* ``xla_flops`` (in ``jax_inference.py``; ``trainer_step.compile_jax_step`` for the training step): XLA's own cost analysis of a compiled JAX function,
  which counts every HLO op of the step actually run (element-wise ops and FFTs included).

XLA's count is exact for dense convolutions and products (the reference model: 2.71 GFLOP per clip
by XLA against 2.75 analytic), but it counts the kernel gradient of a depthwise convolution (a
convolution with ``batch_group_count``) as if it were dense, about ``channels`` times too high
(checked on one 3x3 depthwise layer of 64 channels: 72.5 MFLOP counted for a gradient of about
1.2 MFLOP). For models with depthwise layers (MobileFaceNet: 16.8 GFLOP per clip by XLA against
4.7 analytic) :func:`preferred_train_flops` takes the analytic count.

Backend-neutral (Keras layers only), so the TensorFlow test process can check it.
"""

from __future__ import annotations

import math
from typing import Any

import keras

# Layers whose arithmetic is a product with a kernel; everything else is counted as 0.
_CONV = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def _layers(model: Any):
    """Every leaf layer of ``model``, nested functional/sequential sub-models flattened."""
    for layer in model.layers:
        if isinstance(layer, keras.Model) or (hasattr(layer, "layers") and not isinstance(layer, _CONV)):
            yield from _layers(layer)
        else:
            yield layer


def _out_elements(layer: Any) -> int:
    """Output elements per example (the batch axis left out)."""
    shape = layer.output.shape
    return int(math.prod(int(d) for d in shape[1:]))


def layer_forward_flops(layer: Any) -> int:
    """Forward FLOPs per example of one built layer (0 for layers without a kernel product)."""
    if isinstance(layer, keras.layers.Dense):
        fan_in = int(layer.kernel.shape[0])
        return 2 * _out_elements(layer) * fan_in
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        window = math.prod(int(k) for k in layer.kernel_size)
        return 2 * _out_elements(layer) * window
    if isinstance(layer, keras.layers.SeparableConv2D):
        window = math.prod(int(k) for k in layer.kernel_size)
        cin = int(layer.depthwise_kernel.shape[-2])
        cout = int(layer.pointwise_kernel.shape[-1])
        out_pixels = _out_elements(layer) // cout
        return 2 * out_pixels * cin * window * layer.depth_multiplier + 2 * out_pixels * cin * layer.depth_multiplier * cout
    if isinstance(layer, _CONV):
        # kernel: window x (input channels / groups) x output channels
        per_output = math.prod(int(k) for k in layer.kernel.shape[:-1])
        return 2 * _out_elements(layer) * per_output
    return 0


def analytic_forward_flops(model: Any) -> dict:
    """``{"total": FLOPs per example, "by_layer": {name: FLOPs}}`` of the kernel products of ``model``."""
    by_layer = {}
    for layer in _layers(model):
        flops = layer_forward_flops(layer)
        if flops:
            by_layer[layer.name] = flops
    return {"total": int(sum(by_layer.values())), "by_layer": by_layer}


def analytic_train_flops(model: Any) -> int:
    """Training FLOPs per example: 3x the forward kernel products (forward + two gradients)."""
    return 3 * analytic_forward_flops(model)["total"]


def has_depthwise(model: Any) -> bool:
    """Whether ``model`` holds a depthwise or separable convolution (XLA over-counts their gradients)."""
    return any(isinstance(layer, (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
                                  keras.layers.DepthwiseConv1D, keras.layers.SeparableConv1D))
               for layer in _layers(model))


def preferred_train_flops(model: Any, xla_per_example: float | None) -> tuple[float | None, str]:
    """``(training FLOPs per example, source)``: XLA's count, or the analytic one where XLA over-counts."""
    if xla_per_example is None or has_depthwise(model):
        return float(analytic_train_flops(model)), "analytic (3 x kernel products; XLA over-counts depthwise gradients)" \
            if xla_per_example is not None else "analytic (3 x kernel products; no XLA count)"
    return float(xla_per_example), "XLA cost analysis of the compiled step"
