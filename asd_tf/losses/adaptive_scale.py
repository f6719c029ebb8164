"""Adaptive scale state shared by AdaCos and sub-cluster AdaCos.

Holds the scale as a non-trainable weight, computes global-batch statistics
(median, max, sum over all replicas through :mod:`asd_tf.distribute`) and
applies the guarded update:

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
* every time the guard acts it adds one to the counter weight ``scale_guard_count``
  (nothing is printed in the graph); :meth:`check_scale_guard` warns once from Python.
"""

from __future__ import annotations

import math
import warnings

import tensorflow as tf

from .. import distribute

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


def median(values: tf.Tensor) -> tf.Tensor:
    """Median of a 1-D tensor, as ``np.median`` (mean of the two middles if even)."""
    v = tf.sort(tf.reshape(values, [-1]))
    n = tf.shape(v)[0]
    hi = tf.gather(v, n // 2)
    lo = tf.gather(v, (n - 1) // 2)
    return 0.5 * (lo + hi)


def global_median(per_sample: tf.Tensor) -> tf.Tensor:
    """Median over the global batch (all replicas)."""
    return median(distribute.global_concat(per_sample))


def global_max(x: tf.Tensor) -> tf.Tensor:
    """Maximum of a scalar over all replicas.

    Gathers the per-replica values instead of ``distribute.global_max``:
    ``tf.distribute.ReduceOp`` has no MAX in TF 2.21 (only SUM and MEAN).
    """
    return tf.reduce_max(distribute.global_concat(tf.reshape(x, [1])))


def global_batch_size(per_sample: tf.Tensor) -> tf.Tensor:
    """Number of samples in the global batch, as float32."""
    return distribute.global_sum(tf.cast(tf.shape(per_sample)[0], tf.float32))


def global_log_mean_sum_exp(values: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
    """``log( (1/B) sum_x sum_j exp(values[x, j]) )`` over the global batch, stably.

    ``mask`` (bool, same shape) selects the summed entries; ``-inf`` if none is.
    Computed as ``f + log(sum exp(values - f)) - log B`` with ``f`` the global max.
    """
    if mask is not None:
        values = tf.where(mask, values, tf.fill(tf.shape(values), -math.inf))
    f = global_max(tf.reduce_max(values))
    # if nothing is selected f = -inf; keep the subtraction finite and let log(0) = -inf
    f_safe = tf.where(tf.math.is_finite(f), f, tf.zeros_like(f))
    total = distribute.global_sum(tf.reduce_sum(tf.exp(values - f_safe)))
    return f_safe + tf.math.log(total) - tf.math.log(global_batch_size(values))


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
        count = int(tf.convert_to_tensor(self.scale_guard_count))
        if count and not getattr(self, "_guard_warned", False):
            self._guard_warned = True
            warnings.warn(
                f"asd_tf.losses: the adaptive scale of '{self.name}' was guarded {count} time(s): a proposed "
                f"value was non-finite, non-positive or above max_scale={self.max_scale}; the previous or "
                f"clipped value was kept (now {float(tf.convert_to_tensor(self._scale)):.3f}). Without mixup "
                "the sub-cluster AdaCos scale grows without bound.",
                RuntimeWarning,
                stacklevel=2,
            )
        return count > 0

    def _assign_guarded_scale(self, proposed: tf.Tensor) -> tf.Tensor:
        """Assign ``proposed`` if finite and > 0 (clipped to ``max_scale``); return the new scale."""
        previous = tf.convert_to_tensor(self._scale)
        valid = tf.logical_and(tf.math.is_finite(proposed), proposed > 0.0)
        clipped = tf.logical_and(valid, proposed > self.max_scale)
        new = tf.where(valid, tf.minimum(proposed, self.max_scale), previous)
        triggered = tf.logical_or(tf.logical_not(valid), clipped)
        # No in-graph printing (it would break XLA): check_scale_guard() warns from Python.
        self.scale_guard_count.assign_add(tf.cast(triggered, tf.int32))
        self._scale.assign(new)
        return tf.identity(new)


def keras_constant(value: float):
    """Initialiser returning a scalar ``value``."""

    def init(shape, dtype=None):
        return tf.fill(shape, tf.constant(value, dtype=dtype or "float32"))

    return init
