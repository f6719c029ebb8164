"""Training heads (loss layers) and mixup: ``build_loss(name, num_classes, embedding_dim, **params)``.

Names (:data:`LOSSES`): compactness, compactness_cce, adacos, subcluster_adacos,
arcface, elasticface, arcmix, noisy_arcmix, margin_mixup, emm, softtriple,
noisy_arcmix_softtriple. Layer classes are imported lazily (TensorFlow).
"""

from __future__ import annotations

from .registry import LOSSES, build_loss, loss_class

__all__ = ["LOSSES", "build_loss", "loss_class", "MixupConfig", "mixup_batch"]


def __getattr__(name: str):
    # mixup pulls in TensorFlow: import it only when asked for
    if name in ("MixupConfig", "mixup_batch"):
        from . import mixup

        return getattr(mixup, name)
    raise AttributeError(f"module 'asd_tf.losses' has no attribute {name!r}")
