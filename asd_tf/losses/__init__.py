"""Training heads (loss layers) and mixup: ``build_loss(name, num_classes, embedding_dim, **params)``.

Names (:data:`LOSSES`): compactness, compactness_cce, adacos, subcluster_adacos,
arcface, elasticface, arcmix, noisy_arcmix, margin_mixup, emm, softtriple,
noisy_arcmix_softtriple, adaproj. Written in ``keras.ops``: they run on any Keras
backend (TensorFlow, JAX, PyTorch). Layer classes are imported lazily (Keras).
"""

from __future__ import annotations

from ..lazy import lazy_getattr
from .registry import LOSSES, build_loss, loss_class

__all__ = ["LOSSES", "build_loss", "loss_class", "MixupConfig", "mixup_batch"]

# mixup pulls in Keras and a backend: import it only when asked for
__getattr__ = lazy_getattr(__name__, {"MixupConfig": "mixup", "mixup_batch": "mixup"})
