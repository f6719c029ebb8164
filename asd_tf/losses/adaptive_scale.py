"""Adaptive scale state shared by AdaCos and sub-cluster AdaCos.

Holds the scale as a non-trainable weight, computes global-batch statistics
(median, max, sum over all replicas through :mod:`asd_tf.collectives`, so on
every Keras backend) and applies the guarded update:

* the new scale is kept only if it is finite and positive; otherwise the
  previous value stays (e.g. ``log B_avg = -inf`` when there is no
  non-target class, NaN embeddings);
* it is clipped to ``max_scale``. Without mixup the sub-cluster AdaCos scale
  grows exponentially (Wilkinghoff & Kurth, remark after Def. 4). The default
  bound 1000 is two orders of magnitude above healthy values (``s_0`` is about
  12 for 342 classes x 16 sub-clusters; trained scales stay in the tens) and
  already makes the posterior a hard argmax (a cosine gap of 0.02 gives a
  logit gap of 20, i.e. a factor e^-20), so larger values change nothing
  but push ``s*cos`` towards float32 overflow;
* every time the guard acts the counter weight ``scale_guard_count`` grows;
  :meth:`AdaptiveScaleMixin.check_scale_guard` (called by the trainer after
  each epoch) warns once from Python (no in-graph printing, which XLA and
  ``jax.jit`` would not allow).

Both weights are assigned inside ``call(training=True)``: on TensorFlow as
variable assignments, on JAX through Keras' ``StatelessScope`` (a
``stateless_call`` returns their new values with the other non-trainable
variables).
"""

from __future__ import annotations

import math
import warnings

from keras import ops

from .. import collectives
from .base import Tensor

DEFAULT_MAX_SCALE = 1000.0

# Used when the paper's s_0 = sqrt(2) log(K - 1) is not positive (K <= 2
# centres): log(0) = -inf, and s_0 = 0 for K = 2 is a fixed point of the update
# (B_avg = 1 -> log B_avg = 0), so training would never start.
FALLBACK_INITIAL_SCALE = math.sqrt(2.0) * math.log(2.0)


def initial_scale(num_centres: int) -> float:
    """``s_0 = sqrt(2) log(K - 1)`` (Eqs. 7 and 10, K = N or N*M), with the K <= 2 fallback."""
    if num_centres <= 2:
        return FALLBACK_INITIAL_SCALE
    return math.sqrt(2.0) * math.log(num_centres - 1)


def median(values: Tensor) -> Tensor:
    """Median of a 1-D tensor, as ``np.median`` (mean of the two middles if even)."""
    v = ops.sort(ops.reshape(values, (-1,)))
    n = ops.shape(v)[0]
    hi = ops.take(v, n // 2)
    lo = ops.take(v, (n - 1) // 2)
    return 0.5 * (lo + hi)


def global_median(per_sample: Tensor) -> Tensor:
    """Median over the global batch (all replicas)."""
    return median(collectives.global_concat(per_sample))


def global_max(x: Tensor) -> Tensor:
    """Maximum of a scalar over all replicas."""
    return collectives.global_max(x)


def global_batch_size(per_sample: Tensor) -> Tensor:
    """Number of samples in the global batch, as float32."""
    return collectives.global_sum(ops.cast(ops.shape(per_sample)[0], "float32"))


def global_log_mean_sum_exp(values: Tensor, mask: Tensor | None = None) -> Tensor:
    """``log( (1/B) sum_x sum_j exp(values[x, j]) )`` over the global batch, stably.

    ``mask`` (bool, same shape) selects the summed entries; ``-inf`` if none is.
    Computed as ``f + log(sum exp(values - f)) - log B`` with ``f`` the global max.
    """
    if mask is not None:
        values = ops.where(mask, values, -math.inf)
    f = global_max(ops.max(values))
    # if nothing is selected f = -inf; keep the subtraction finite and let log(0) = -inf
    f_safe = ops.where(ops.isfinite(f), f, ops.zeros_like(f))
    total = collectives.global_sum(ops.sum(ops.exp(values - f_safe)))
    return f_safe + ops.log(total) - ops.log(global_batch_size(values))


class AdaptiveScaleMixin:
    """Adds the ``scale`` weight and the guarded update to a Keras layer."""

    def _init_scale(self, num_centres: int, max_scale: float) -> None:
        if not max_scale > 0:
            from ..errors import ConfigError

            raise ConfigError(f"{type(self).__name__}: max_scale must be > 0, got {max_scale}")
        self.max_scale = float(max_scale)
        self.initial_scale = min(initial_scale(num_centres), self.max_scale)
        self._scale = self.add_weight(
            shape=(),
            initializer=keras_constant(self.initial_scale),
            dtype="float32",
            trainable=False,
            aggregation="only_first_replica",
            name="scale",
        )
        self.scale_guard_count = self.add_weight(
            shape=(),
            initializer="zeros",
            dtype="int32",
            trainable=False,
            aggregation="only_first_replica",
            name="scale_guard_count",
        )

    @property
    def scale(self):
        """The adaptive scale (non-trainable ``keras.Variable``)."""
        return self._scale

    def check_scale_guard(self) -> bool:
        """Warn once (``RuntimeWarning``) if the scale guard has acted; return whether it has.

        The trainer calls this after every epoch; without mixup sub-cluster AdaCos'
        scale grows exponentially (paper remark) and is held at ``max_scale``.
        """
        count = int(self.scale_guard_count.numpy())  # KerasVariable.numpy: also for a MirroredVariable
        if count and not getattr(self, "_guard_warned", False):
            self._guard_warned = True
            scale = float(self._scale.numpy())
            # Say which of the two causes the current value points to (the counter does not keep them apart).
            why = (f"it is held at max_scale={self.max_scale} (without mixup the sub-cluster AdaCos scale grows "
                   "without bound)" if scale >= self.max_scale else
                   "a proposed value was non-finite or non-positive, e.g. with a single class there are no "
                   "other classes to estimate it from, and the previous value was kept")
            warnings.warn(
                f"asd_tf.losses: the adaptive scale of '{self.name}' was guarded {count} time(s), now "
                f"{scale:.3f}: {why}.",
                RuntimeWarning,
                stacklevel=2,
            )
        return count > 0

    def _assign_guarded_scale(self, proposed: Tensor) -> Tensor:
        """Assign ``proposed`` if finite and > 0 (clipped to ``max_scale``); return the new scale."""
        previous = ops.convert_to_tensor(self._scale)
        valid = ops.logical_and(ops.isfinite(proposed), proposed > 0.0)
        clipped = ops.logical_and(valid, proposed > self.max_scale)
        new = ops.where(valid, ops.minimum(proposed, self.max_scale), previous)
        triggered = ops.logical_or(ops.logical_not(valid), clipped)
        # No in-graph printing (it would break XLA): check_scale_guard() warns from Python.
        self.scale_guard_count.assign_add(ops.cast(triggered, "int32"))
        self._scale.assign(new)
        return new


def keras_constant(value: float):
    """Initialiser returning a scalar ``value``."""

    def init(shape, dtype=None):
        return ops.full(shape, value, dtype=dtype or "float32")

    return init
