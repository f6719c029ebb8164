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


def _option_group(name: str, params: dict[str, Any], table: dict[str, str], switch: str) -> tuple[bool, dict]:
    """Pop a training option's parameters (``table``: parameter -> builder argument) from ``params``.

    Returns ``(enabled, {builder argument: value})`` without the ``switch`` parameter; ConfigError
    when the switch is not a bool, or when its other parameters are given without it.
    """
    given = sorted(k for k in params if k in table)
    options = {table[k]: params.pop(k) for k in given}
    enabled = options.pop(table[switch], False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"loss {name!r}: {switch} must be true or false, got {enabled!r}")
    if options and not enabled:
        raise ConfigError(f"loss {name!r}: {[k for k in given if k != switch]} given without {switch}=true")
    return enabled, options


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
    statex_on, statex = _option_group(name, params, STATEX_PARAMS, "statex")
    if statex_on:
        from .statex import build_statex

        other = sorted(k for k in params if k in FEATEX_PARAMS and k not in STATEX_FEATEX_PARAMS)
        if other:
            raise ConfigError(f"loss {name!r}: {other} do not apply with statex=true (StatEx + FeatEx has one 9C "
                              "head, set by statex_head, statex_weight, statex_trainable_centres)")
        # build_statex takes the FeatEx options under their own names (featex, featex_split, featex_prob).
        featex_on, featex = _option_group(name, params, {k: k for k in STATEX_FEATEX_PARAMS}, "featex")
        main = build_loss(name, num_classes, embedding_dim, **params)
        return build_statex(main, name, params, **statex, featex=featex_on, **featex)
    featex_on, featex = _option_group(name, params, FEATEX_PARAMS, "featex")
    if featex_on:
        from .featex import build_featex

        main = build_loss(name, num_classes, embedding_dim, **params)
        return build_featex(main, name, params, **featex)
    LOSSES.check_options(name, params, exclude=("num_classes", "embedding_dim"), extra=LAYER_ARGUMENTS)
    return LOSSES.build(name, num_classes=num_classes, embedding_dim=embedding_dim, **params)
