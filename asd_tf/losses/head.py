"""A saveable wrapper around a loss layer, so its centres, scale and head weights travel with a run."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="asd_tf")
class LossHead(keras.Model):
    """Wraps a trained loss layer; calling it gives the class logits of embeddings ``[B, D]``.

    Args:
        loss_layer: a layer from ``asd_tf.losses.build_loss``.
        embedding_dim: the embedding size D, used to build the wrapper for saving.
        **kwargs: base ``keras.Model`` arguments; ``dtype`` defaults to ``"float32"``.
    """

    def __init__(self, loss_layer: keras.layers.Layer, embedding_dim: int, **kwargs: Any) -> None:
        # float32 under any global policy: a mixed_float16 wrapper would cast the embeddings
        # and the loss layer's centres to float16 when called (and fail in the matmul).
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.loss_layer = loss_layer
        self.embedding_dim = int(embedding_dim)

    def build(self, input_shape=None):
        if not self.loss_layer.built:
            self.loss_layer.build((None, self.embedding_dim))
        self.built = True

    def call(self, embeddings):
        return self.loss_layer.logits(embeddings)

    def get_config(self) -> dict:
        return {
            "loss_layer": keras.saving.serialize_keras_object(self.loss_layer),
            "embedding_dim": self.embedding_dim,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["loss_layer"] = keras.saving.deserialize_keras_object(config["loss_layer"])
        return cls(**config)
