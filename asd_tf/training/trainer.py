"""The training model: an embedding network plus a loss layer, trained with mixup.

``ASDTrainer`` wraps the waveform -> embedding model and one loss layer of
``asd_tf.losses``. Its ``train_step`` draws mixup pairs within the (per-replica)
batch, runs the loss layer in training mode (which updates adaptive scales from
global-batch statistics) and applies the gradient of the global-batch mean loss
plus the L2 weight decay. It works unchanged under every ``tf.distribute``
strategy: the per-replica loss is divided by the number of replicas because
the Keras optimizer sums gradients over replicas.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ..errors import ConfigError
from ..losses.mixup import MixupConfig, mixup_batch


def pair_weights(y1, y2, lam, class_weights) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """``(y1', y2', lam', m)``: a weighted mixup pair as an unweighted one times a per-clip factor.

    The weighted target row is ``T = lam c(y1) onehot(y1) + (1 - lam) c(y2) onehot(y2)``
    with ``c(y) = class_weights[y]`` and ``c(-1) = 0`` (id -1, ``data.labels.NO_CLASS``:
    an all-zero row). ``T = m (lam' onehot(y1') + (1 - lam') onehot(y2'))`` with
    ``m = lam c(y1) + (1 - lam) c(y2)`` and ``lam' = lam c(y1) / m`` (0 when ``m = 0``);
    id -1 becomes class 0, whose term then weighs 0. For losses linear in the target
    row (cross-entropy with linear label mixing, the default) ``m * loss(y1', y2', lam')``
    is exactly the loss of ``T``: an all-zero row stays all-zero-weighted after mixup
    and nothing is divided by zero. (Adaptive scales see the rescaled rows.)
    """
    weights = tf.constant(class_weights, tf.float32)
    lam = tf.cast(lam, tf.float32)

    def one(y):
        y = tf.cast(y, tf.int32)
        valid = y >= 0
        safe = tf.where(valid, y, tf.zeros_like(y))
        return safe, tf.where(valid, tf.gather(weights, safe), tf.zeros_like(lam))

    y1, w1 = one(y1)
    y2, w2 = one(y2)
    mass = lam * w1 + (1.0 - lam) * w2
    return y1, y2, tf.math.divide_no_nan(lam * w1, mass), mass


INPUT_CROPS: tuple[str, ...] = ("none", "random")


def tile_crop(waveforms, offsets) -> tf.Tensor:
    """Each row tiled (repeated end to end) and cropped back to its length from ``offsets[i]``.

    ``out[i, t] = x[i, (t + offsets[i]) mod n]``: a circular shift, the input-length
    variant "tiled with a random offset" of docs/design.md, "Later methods" applied to the loaded
    fixed-length input.
    """
    n = tf.shape(waveforms)[1]
    offsets = tf.cast(offsets, tf.int32)
    index = tf.math.floormod(tf.range(n)[tf.newaxis, :] + offsets[:, tf.newaxis], n)
    return tf.gather(waveforms, index, batch_dims=1)


@keras.saving.register_keras_serializable(package="asd_tf")
class ASDTrainer(keras.Model):
    """Embedding model + loss layer with a mixup training step.

    Args:
        embedding_model: Keras model mapping waveforms ``[B, n]`` to embeddings ``[B, D]``.
        loss_layer: a loss layer from ``asd_tf.losses.build_loss``.
        mixup_prob: probability of applying mixup to a batch (paper: 1.0).
        mixup_alpha: ``None`` for lambda ~ U(0, 1) (paper), else Beta(alpha, alpha).
        seed: seed of the mixup random stream.
        class_weights: ``None`` (every clip weighs 1, the paper) or one weight per class:
            the target row of a clip becomes ``lam w[y1] onehot(y1) + (1 - lam) w[y2] onehot(y2)``,
            class id -1 (``data.labels.NO_CLASS``) an all-zero row (see :func:`pair_weights`).
        input_crop: ``"none"`` (the paper) or ``"random"``: before mixup each training
            input is tiled and cropped back to its length from a random offset
            (:func:`tile_crop`; offsets from the mixup random stream).

    Call arguments:
        waveforms: ``[B, n]`` float32. Returns the embeddings (inference).

    The training data are ``(waveforms [B, n], class ids [B] int32)`` pairs.
    Logged metrics: ``loss`` (angular/auxiliary loss, without weight decay),
    ``scale`` (the loss layer's scale, 0 if it has none), ``intra_compactness``
    and ``inter_compactness`` (paper Figs. 2-3, on the batch's dominant labels).
    """

    def __init__(
        self,
        embedding_model: keras.Model,
        loss_layer: keras.layers.Layer,
        mixup_prob: float = 1.0,
        mixup_alpha: float | None = None,
        seed: int = 0,
        class_weights: list[float] | None = None,
        input_crop: str = "none",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.embedding_model = embedding_model
        self.loss_layer = loss_layer
        self.mixup_prob = float(mixup_prob)
        self.mixup_alpha = mixup_alpha
        self.seed = int(seed)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        if input_crop not in INPUT_CROPS:
            raise ConfigError(f"input_crop: unknown value {input_crop!r}; choose one of {', '.join(INPUT_CROPS)}")
        self.input_crop = input_crop
        self.mixup_config = MixupConfig(prob=self.mixup_prob, alpha=mixup_alpha)
        # Created with the model (inside the strategy scope), so each replica draws its own pairs.
        self.mixup_rng = tf.random.Generator.from_seed(self.seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.scale_tracker = keras.metrics.Mean(name="scale")
        self.intra_tracker = keras.metrics.Mean(name="intra_compactness")
        self.inter_tracker = keras.metrics.Mean(name="inter_compactness")

    @property
    def metrics(self) -> list:
        return [self.loss_tracker, self.scale_tracker, self.intra_tracker, self.inter_tracker]

    def call(self, waveforms, training: bool = False):
        return self.embedding_model(waveforms, training=training)

    def _scale_value(self) -> tf.Tensor:
        scale = getattr(self.loss_layer, "scale", None)
        if scale is None:
            return tf.constant(0.0)
        return tf.cast(tf.convert_to_tensor(scale), tf.float32)

    def _track(self, embeddings, y_dominant, loss) -> dict:
        intra, inter = self.loss_layer.compactness(embeddings, y_dominant)
        self.loss_tracker.update_state(loss)
        self.scale_tracker.update_state(self._scale_value())
        self.intra_tracker.update_state(tf.reduce_mean(intra))
        self.inter_tracker.update_state(tf.reduce_mean(inter))
        logs = {m.name: m.result() for m in self.metrics}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces logs across workers with reduce(MEAN, axis=0), which needs rank >= 1.
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def train_step(self, data):
        waveforms, labels = data
        labels = tf.cast(labels, tf.int32)
        if self.input_crop == "random":
            offsets = self.mixup_rng.uniform(tf.shape(waveforms)[:1], 0, tf.shape(waveforms)[1], dtype=tf.int32)
            waveforms = tile_crop(waveforms, offsets)
        x, y1, y2, lam = mixup_batch(waveforms, labels, self.mixup_config, self.mixup_rng)
        weights = None
        if self.class_weights is not None:
            y1, y2, lam, weights = pair_weights(y1, y2, lam, self.class_weights)
        with tf.GradientTape() as tape:
            embeddings = self.embedding_model(x, training=True)
            # The loss head runs in float32 even under mixed precision.
            embeddings = tf.cast(embeddings, tf.float32)
            per_sample = self.loss_layer(embeddings, y1, y2, lam, training=True)
            if weights is not None:  # a mean over the batch, not over the weights: no division by zero
                per_sample = per_sample * weights
            loss = tf.reduce_mean(per_sample)
            regularization = tf.add_n(self.losses) if self.losses else tf.constant(0.0)
            total = loss + tf.cast(regularization, loss.dtype)
            # The optimizer sums gradients over replicas: scale to the global mean.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(total / tf.cast(replicas, total.dtype))
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        # Never train on NaN: a non-finite loss zeroes the step's gradients (the
        # StopOnNonFiniteLoss callback then ends training with a clear message).
        finite = tf.math.is_finite(total)
        gradients = [None if g is None else tf.where(finite, g, tf.zeros_like(g)) for g in gradients]
        self.optimizer.apply_gradients(zip(gradients, variables))
        y_dominant = tf.where(lam >= 0.5, y1, y2)
        return self._track(embeddings, y_dominant, loss)

    def test_step(self, data):
        waveforms, labels = data
        labels = tf.cast(labels, tf.int32)
        embeddings = tf.cast(self.embedding_model(waveforms, training=False), tf.float32)
        loss = tf.reduce_mean(self.loss_layer.class_loss(embeddings, labels))
        return self._track(embeddings, labels, loss)

    def fit(self, *args, verbose="auto", callbacks=None, shuffle: bool = False, **kwargs):
        """``keras.Model.fit`` with this toolkit's console output and without Keras's shuffle.

        The training data come from ``asd_tf.data``'s pipeline, a ``tf.data.Dataset`` that
        shuffles itself (seeded), so ``shuffle`` defaults to False: Keras cannot shuffle a
        dataset, and its default True only earned a warning. ``verbose`` (keyword only) picks
        the console output (``training.callbacks.console_callbacks``): 1 or ``"auto"`` one
        progress bar for the whole training with epoch and ETA, 2 one line per epoch, 0 none;
        Keras's own per-epoch progress bars are off.
        """
        from .callbacks import console_callbacks

        callbacks = [*(callbacks or []), *console_callbacks(verbose)]
        return super().fit(*args, verbose=0, callbacks=callbacks, shuffle=shuffle, **kwargs)

    def build_for_training(self, num_samples: int) -> None:
        """Create model, loss and optimizer variables up front (call inside the strategy scope, after compile)."""
        self.build((None, num_samples))
        self.optimizer.build(self.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras builds the model symbolically from a strategy.reduce()-d sample
        # batch, which fails under MultiWorkerMirroredStrategy (PerReplica values
        # cannot be reduced there). Everything is built by build_for_training(),
        # so that step is only needed for a model that is not built yet.
        if self.built and self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def get_config(self) -> dict:
        return {
            "embedding_model": keras.saving.serialize_keras_object(self.embedding_model),
            "loss_layer": keras.saving.serialize_keras_object(self.loss_layer),
            "mixup_prob": self.mixup_prob,
            "mixup_alpha": self.mixup_alpha,
            "seed": self.seed,
            "class_weights": self.class_weights,
            "input_crop": self.input_crop,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["embedding_model"] = keras.saving.deserialize_keras_object(config["embedding_model"])
        config["loss_layer"] = keras.saving.deserialize_keras_object(config["loss_layer"])
        return cls(**config)
