"""Loss registry: ``--loss NAME`` -> loss layer (DESIGN Sec. 3)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from ..errors import ConfigError

_LOSS_CLASSES: dict[str, str] = {
    "compactness": "asd_tf.losses.compactness:CompactnessLoss",
    "compactness_cce": "asd_tf.losses.compactness_cce:CompactnessCCELoss",
    "adacos": "asd_tf.losses.adacos:AdaCosLoss",
    "subcluster_adacos": "asd_tf.losses.subcluster_adacos:SubclusterAdaCosLoss",
    "arcface": "asd_tf.losses.arcface:ArcFaceLoss",
    "elasticface": "asd_tf.losses.arcface:ElasticFaceLoss",
    "arcmix": "asd_tf.losses.arcmix:ArcMixLoss",
    "noisy_arcmix": "asd_tf.losses.arcmix:NoisyArcMixLoss",
    "margin_mixup": "asd_tf.losses.margin_mixup:MarginMixupLoss",
    "emm": "asd_tf.losses.margin_mixup:EMMLoss",
    "softtriple": "asd_tf.losses.softtriple:SoftTripleLoss",
    "noisy_arcmix_softtriple": "asd_tf.losses.softtriple:NoisyArcMixSoftTripleLoss",
    "adaproj": "asd_tf.losses.adaproj:AdaProjLoss",
}

#: Names accepted by :func:`build_loss`.
LOSSES: tuple[str, ...] = tuple(_LOSS_CLASSES)


def loss_class(name: str) -> type:
    """The layer class registered under ``name``."""
    if name not in _LOSS_CLASSES:
        raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    module_name, class_name = _LOSS_CLASSES[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


#: Training-option parameters of FeatEx (:mod:`.featex`), accepted with every loss.
FEATEX_PARAMS = {
    "featex": "featex", "featex_split": "split", "featex_head": "head", "featex_prob": "prob",
    "featex_weight": "weight", "featex_trainable_centres": "trainable_centres",
}


def build_loss(name: str, num_classes: int, embedding_dim: int, **params: Any):
    """Build loss layer ``name`` for ``num_classes`` classes and ``embedding_dim``-d embeddings.

    ``params`` are the layer's constructor arguments (e.g. ``s``, ``m``,
    ``num_subclusters``, ``label_mix``, ``seed``); unknown ones raise ConfigError.
    ``featex=True`` wraps the layer in FeatEx (:class:`~asd_tf.losses.featex.FeatExLoss`), with
    ``featex_split`` (required: width of the first branch embedding), ``featex_head``,
    ``featex_prob`` (0.5), ``featex_weight`` (1.0) and ``featex_trainable_centres`` (True).
    """
    given = sorted(k for k in params if k in FEATEX_PARAMS)
    featex = {FEATEX_PARAMS[k]: params.pop(k) for k in given}
    enabled = featex.pop("featex", False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"loss {name!r}: featex must be true or false, got {enabled!r}")
    if enabled:
        from .featex import build_featex

        main = build_loss(name, num_classes, embedding_dim, **params)
        return build_featex(main, name, params, **featex)
    if featex:
        raise ConfigError(f"loss {name!r}: {[k for k in given if k != 'featex']} given without featex=true")
    cls = loss_class(name)
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs", "num_classes", "embedding_dim"}
    allowed |= {"name", "dtype", "trainable"}  # keras.layers.Layer arguments
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ConfigError(f"loss {name!r}: unknown parameters {unknown}; accepted: {sorted(allowed)}")
    return cls(num_classes=num_classes, embedding_dim=embedding_dim, **params)
