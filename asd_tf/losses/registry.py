"""Loss registry: ``--loss NAME`` -> loss layer (docs/design.md, "Losses")."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..registry import Registry

#: Names accepted by :func:`build_loss` -> loss layer class. Adding a loss is one line here
#: (or ``@LOSSES.register("name")`` on a class in a module listed here).
LOSSES = Registry("loss", {
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
})

#: Layers around a loss that a run's ``head.keras`` holds too (imported by ``runs.register_layers``).
WRAPPERS = Registry("loss wrapper", {
    "featex": "asd_tf.losses.featex:FeatExLoss",
    "statex": "asd_tf.losses.statex:StatExLoss",
    "head": "asd_tf.losses.head:LossHead",
})

#: Keras layer arguments every loss layer accepts besides its own.
LAYER_ARGUMENTS = ("name", "dtype", "trainable")


def loss_class(name: str) -> type:
    """The layer class registered under ``name`` (unknown name -> ConfigError)."""
    return LOSSES[name]


#: Training-option parameters of FeatEx (:mod:`.featex`), accepted with every loss.
FEATEX_PARAMS = {
    "featex": "featex", "featex_split": "split", "featex_head": "head", "featex_prob": "prob",
    "featex_weight": "weight", "featex_trainable_centres": "trainable_centres",
}


#: Training-option parameters of StatEx (:mod:`.statex`), accepted with every loss.
STATEX_PARAMS = {
    "statex": "statex", "statex_prob": "prob", "statex_weight": "weight", "statex_eps": "eps",
    "statex_head": "head", "statex_trainable_centres": "trainable_centres",
}
#: FeatEx parameters that StatEx + FeatEx takes (its one 9C head is set by the ``statex_*`` parameters).
STATEX_FEATEX_PARAMS = ("featex", "featex_split", "featex_prob")


def build_loss(name: str, num_classes: int, embedding_dim: int, **params: Any):
    """Build loss layer ``name`` for ``num_classes`` classes and ``embedding_dim``-d embeddings.

    ``params`` are the layer's constructor arguments (e.g. ``s``, ``m``,
    ``num_subclusters``, ``label_mix``, ``seed``); unknown ones raise ConfigError.
    ``featex=True`` wraps the layer in FeatEx (:class:`~asd_tf.losses.featex.FeatExLoss`), with
    ``featex_split`` (required: width of the first branch embedding), ``featex_head``,
    ``featex_prob`` (0.5), ``featex_weight`` (1.0) and ``featex_trainable_centres`` (True).
    ``statex=True`` wraps it in StatEx (:class:`~asd_tf.losses.statex.StatExLoss`), with
    ``statex_prob`` (0.5), ``statex_weight`` (1.0), ``statex_eps`` (1e-16), ``statex_head`` and
    ``statex_trainable_centres`` (True); with ``featex=True`` too, one 9C head (``featex_split``,
    ``featex_prob``).
    """
    statex_given = sorted(k for k in params if k in STATEX_PARAMS)
    statex = {STATEX_PARAMS[k]: params.pop(k) for k in statex_given}
    statex_on = statex.pop("statex", False)
    if not isinstance(statex_on, bool):
        raise ConfigError(f"loss {name!r}: statex must be true or false, got {statex_on!r}")
    if statex_on:
        from .statex import build_statex

        featex = {k: params.pop(k) for k in sorted(params) if k in FEATEX_PARAMS}
        other = sorted(set(featex) - set(STATEX_FEATEX_PARAMS))
        if other:
            raise ConfigError(f"loss {name!r}: {other} do not apply with statex=true (StatEx + FeatEx has one 9C "
                              "head, set by statex_head, statex_weight, statex_trainable_centres)")
        if not isinstance(featex.get("featex", False), bool):
            raise ConfigError(f"loss {name!r}: featex must be true or false, got {featex['featex']!r}")
        if set(featex) - {"featex"} and not featex.get("featex", False):
            raise ConfigError(f"loss {name!r}: {sorted(set(featex) - {'featex'})} given without featex=true")
        main = build_loss(name, num_classes, embedding_dim, **params)
        return build_statex(main, name, params, **statex, **featex)
    if statex:
        raise ConfigError(f"loss {name!r}: {['statex_' + k for k in sorted(statex)]} given without statex=true")
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
    LOSSES.check_options(name, params, exclude=("num_classes", "embedding_dim"), extra=LAYER_ARGUMENTS)
    return LOSSES.build(name, num_classes=num_classes, embedding_dim=embedding_dim, **params)
