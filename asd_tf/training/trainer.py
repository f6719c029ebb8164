"""The training model: an embedding network plus a loss layer, trained with mixup.

``ASDTrainer`` wraps the waveform -> embedding model and one loss layer of
``asd_tf.losses``. Its training step draws mixup pairs within the (per-replica)
batch, runs the loss layer in training mode (which updates adaptive scales from
global-batch statistics) and applies the gradient of the global-batch mean loss
plus the L2 weight decay.

The forward part of the step (input crop, mixup, class weights, embedding, loss,
regularisation, metric tracking: :meth:`ASDTrainer.forward` and
:meth:`ASDTrainer.track`) is written in ``keras.ops`` and is the same on every
backend. Only the gradient plumbing differs; it lives in one small module per
Keras backend (``asd_tf.training.steps``, chosen by ``keras.backend.backend()``),
as Keras itself has one trainer per backend: ``GradientTape`` under any
``tf.distribute`` strategy on TensorFlow (the per-replica loss is divided by the
number of replicas because the Keras optimizer sums gradients over replicas),
``jax.value_and_grad`` of a stateless step on JAX, ``backward()`` on PyTorch.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ..errors import ConfigError
from ..losses.mixup import MixupConfig, mixup_batch
from .steps import backend_steps


def pair_weights(y1, y2, lam, class_weights) -> tuple[Any, Any, Any, Any]:
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
    weights = ops.convert_to_tensor(class_weights, dtype="float32")
    lam = ops.cast(lam, "float32")

    def one(y):
        y = ops.cast(y, "int32")
        valid = y >= 0
        safe = ops.where(valid, y, ops.zeros_like(y))
        return safe, ops.where(valid, ops.take(weights, safe, axis=0), ops.zeros_like(lam))

    y1, w1 = one(y1)
    y2, w2 = one(y2)
    mass = lam * w1 + (1.0 - lam) * w2
    nonzero = mass != 0.0  # tf.math.divide_no_nan: 0 where the denominator is 0
    return y1, y2, ops.where(nonzero, lam * w1 / ops.where(nonzero, mass, 1.0), 0.0), mass


INPUT_CROPS: tuple[str, ...] = ("none", "random")


def tile_crop(waveforms, offsets):
    """Each row tiled (repeated end to end) and cropped back to its length from ``offsets[i]``.

    ``out[i, t] = x[i, (t + offsets[i]) mod n]``: a circular shift, the input-length
    variant "tiled with a random offset" of docs/design.md, "Later methods" applied to the loaded
    fixed-length input.
    """
    n = ops.shape(waveforms)[1]
    offsets = ops.cast(offsets, "int32")
    index = ops.mod(ops.arange(n, dtype="int32")[None, :] + offsets[:, None], n)
    return ops.take_along_axis(waveforms, index, axis=1)


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
        # The mixup and crop-offset random stream, per backend (steps.<backend>.make_rng): a
        # tf.random.Generator on TensorFlow (created with the model inside the strategy scope, so
        # each replica draws its own pairs), a keras.random.SeedGenerator elsewhere (its state is a
        # non-trainable variable that flows through the stateless JAX step).
        self.mixup_rng = backend_steps().make_rng(self.seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.scale_tracker = keras.metrics.Mean(name="scale")
        self.intra_tracker = keras.metrics.Mean(name="intra_compactness")
        self.inter_tracker = keras.metrics.Mean(name="inter_compactness")

    @property
    def metrics(self) -> list:
        return [self.loss_tracker, self.scale_tracker, self.intra_tracker, self.inter_tracker]

    def call(self, waveforms, training: bool = False):
        return self.embedding_model(waveforms, training=training)

    def _scale_value(self):
        scale = getattr(self.loss_layer, "scale", None)
        if scale is None:
            return ops.convert_to_tensor(0.0, dtype="float32")
        return ops.cast(ops.convert_to_tensor(scale), "float32")

    def track(self, embeddings, y_dominant, loss) -> dict:
        """Update the four metric trackers with a batch; return their results (the step's logs)."""
        intra, inter = self.loss_layer.compactness(embeddings, y_dominant)
        self.loss_tracker.update_state(loss)
        self.scale_tracker.update_state(self._scale_value())
        self.intra_tracker.update_state(ops.mean(intra))
        self.inter_tracker.update_state(ops.mean(inter))
        return {m.name: m.result() for m in self.metrics}

    def forward(self, waveforms, labels) -> tuple[Any, Any, Any, Any]:
        """The training forward pass of one (per-replica) batch, on any backend.

        Input crop (``input_crop="random"``), mixup, class weights, embeddings (cast to
        float32: the loss head runs in float32 even under mixed precision), the loss
        layer in training mode (adaptive scales update here) and the regularisation
        losses. Returns ``(total, loss, embeddings, y_dominant)``: ``total`` = mean
        (weighted) loss + regularisation, the quantity differentiated; ``loss`` the
        mean loss without weight decay (logged); ``y_dominant`` the label of the larger
        mixup share of each clip (for the compactness metrics).
        """
        labels = ops.cast(labels, "int32")
        if self.input_crop == "random":
            offsets = backend_steps().crop_offsets(self.mixup_rng, waveforms)
            waveforms = tile_crop(waveforms, offsets)
        x, y1, y2, lam = mixup_batch(waveforms, labels, self.mixup_config, self.mixup_rng)
        weights = None
        if self.class_weights is not None:
            y1, y2, lam, weights = pair_weights(y1, y2, lam, self.class_weights)
        # the loss layer embeds (losses.base.LossLayer.training_embeddings): StatEx changes the input between
        # the model's frontend and embedder and passes its keep decisions to its call
        embeddings, extra = self.loss_layer.training_embeddings(self.embedding_model, x)
        embeddings = ops.cast(embeddings, "float32")
        per_sample = self.loss_layer(embeddings, y1, y2, lam, training=True, **extra)
        if weights is not None:  # a mean over the batch, not over the weights: no division by zero
            per_sample = per_sample * weights
        loss = ops.mean(per_sample)
        regularization = self.losses
        total = loss
        if regularization:
            total = loss + ops.cast(ops.sum(ops.stack([ops.cast(r, "float32") for r in regularization])), loss.dtype)
        y_dominant = ops.where(lam >= 0.5, y1, y2)
        return total, loss, embeddings, y_dominant

    def evaluation_pass(self, waveforms, labels) -> tuple[Any, Any, Any]:
        """``(embeddings, labels, loss)`` of an evaluation batch (class loss, inference mode), as :meth:`track` takes them."""
        labels = ops.cast(labels, "int32")
        embeddings = ops.cast(self.embedding_model(waveforms, training=False), "float32")
        loss = ops.mean(self.loss_layer.class_loss(embeddings, labels))
        return embeddings, labels, loss

    def train_step(self, *args):
        """One training step; the backend's ``train_step`` (``asd_tf.training.steps``) does the gradient part.

        TensorFlow and PyTorch call it with ``data``; JAX with ``(state, data)`` and expects
        ``(logs, state)`` back (Keras's ``JAXTrainer`` contract).
        """
        return backend_steps().train_step(self, *args)

    def test_step(self, *args):
        return backend_steps().test_step(self, *args)

    def fit(self, *args, verbose="auto", callbacks=None, shuffle: bool = False, **kwargs):
        """``keras.Model.fit`` with this toolkit's console output and without Keras's shuffle.

        The training data come from ``asd_tf.data``: a ``tf.data.Dataset`` (TensorFlow) or a
        ``WaveformBatches`` PyDataset (other backends), both shuffling themselves (seeded by
        ``(seed, epoch)``), so ``shuffle`` defaults to False: Keras cannot shuffle a dataset
        (its default True only earned a warning) and would permute a PyDataset's batches. ``verbose`` (keyword only) picks
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
