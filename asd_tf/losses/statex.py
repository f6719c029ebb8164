"""StatEx: self-supervised exchange of frame statistics of the STFT magnitude (docs/design.md, "Later methods").

A training option beside FeatEx (:mod:`.featex`), usable with any loss. With
probability ``1 - prob`` per clip, the linear STFT magnitude ``X_i [T, F]`` of a
(mixed) training clip is given the per-frame statistics of its partner ``j``
(the reversed batch, ``j = B - 1 - i``) before the temporal mean normalisation:

    X_i(t, f) <- (X_i(t, f) - mu_i(t)) / (sigma_i(t) + eps) * sigma_j(t) + mu_j(t)

with ``mu`` and ``sigma`` the mean and the (population) standard deviation over
the frequency bins of frame ``t``. A second head with 3C classes learns whether
the statistics were exchanged: targets ``[t_i, 0, 0]`` kept, ``[0, t_i/2, t_j/2]``
exchanged, from the (mixed) targets ``t`` of the main head.

Facts taken from the author's public Keras code for DCASE 2024 (Wilkinghoff,
github.com/wilkinghoff/dcase2024_task2, first commit 391932e: ``main_statex+featex.py``
and ``statex_aug_layer_classwise.py``; StatEx was removed from that repository in
commit 67b55f4), restated here, the code written anew:

- Order: waveform mixup (p = 0.5) first, then StatEx on the magnitude
  spectrogram of the mixed clip, then the mean normalisation. Only the
  spectrogram branch sees the exchanged input: the spectrum (|FFT|) branch takes
  the mixed waveform directly, so it is never exchanged (in this toolkit: only
  the frontend's ``"spectrogram"`` feature is changed, ``"spectrum"`` is not).
- Statistics over the frequency axis per frame (the code also builds the
  per-bin-over-time variant but never picks it), ``std + 1e-16`` in the
  denominator (``eps``; a silent frame, sigma = 0, gives ``mu_j(t)``, no NaN).
- The main head (C classes, fixed centres) is evaluated on the embedding of the
  exchanged input, with an all-zero target row for exchanged clips: those clips
  give the main head no loss. Here the main head's per-clip loss is multiplied by
  the keep mask, which is the same loss for the cross-entropy heads (linear in the
  target row); the main head's adaptive scale (AdaCos, AdaProj) is updated from the
  whole batch with each clip's own (mixed) label, where the code let the all-zero
  rows enter the scale statistics.
- **StatEx + FeatEx: one 9C head.** FeatEx (:mod:`.featex`) then acts on the
  embedding of the StatEx input and takes the 3C StatEx targets ``u`` as its
  targets: ``[u_i, 0, 0]`` kept, ``[0, u_i/2, u_p/2]`` exchanged (``p`` the reversed
  batch), i.e. class index ``9C = featex block (3) x statex block (3) x C``. The
  loss is main + 1.0 x the 9C head (trainable centres); the code also builds a 3C
  StatEx head on the unexchanged embedding but gives it loss weight 0 (Keras
  ``loss_weights=[1, 0, 1]``), so it is left out here. The StatEx and FeatEx
  keep/exchange decisions are independent draws, each with probability 0.5.
- Without FeatEx the public code has no StatEx-only system; the 3C head with
  trainable centres on the (StatEx) embedding mirrors FeatEx's second head.

Written with ``keras.ops``. Scoring uses the main head only.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ..errors import ConfigError
from .auxiliary import AuxiliaryHeadLoss, build_auxiliary_head
from .featex import FEATEX_HEADS, exchange_branches, featex_targets

#: Denominator guard of the exchange: the public code's ``1e-16`` (added to sigma).
STATEX_EPS = 1e-16


def exchange_statistics(spectrogram, keep, eps: float = STATEX_EPS):
    """StatEx on linear magnitudes ``[B, T, F]``: row ``i`` takes the frame statistics of row ``B - 1 - i``.

    ``out[i, t] = (X_i[t] - mu_i(t)) / (sigma_i(t) + eps) * sigma_j(t) + mu_j(t)`` where
    ``keep[i]`` is False, else ``X_i``; ``mu``, ``sigma``: mean and population standard
    deviation over the last (frequency) axis, ``j = B - 1 - i``. A frame with
    ``sigma_i(t) = 0`` (silence, constant padding) becomes ``mu_j(t)`` in every bin.
    """
    x = ops.cast(spectrogram, "float32")
    mean = ops.mean(x, axis=-1, keepdims=True)
    std = ops.std(x, axis=-1, keepdims=True)
    partner_mean, partner_std = ops.flip(mean, axis=0), ops.flip(std, axis=0)
    exchanged = (x - mean) / (std + eps) * partner_std + partner_mean
    keep = ops.reshape(ops.cast(keep, "bool"), (-1,) + (1,) * (len(x.shape) - 1))
    return ops.where(keep, x, exchanged)


def statex_targets(targets, keep):
    """StatEx soft targets ``[B, 3C]`` from the (mixed) targets ``t [B, C]``.

    Kept: ``[t_i, 0, 0]``; exchanged: ``[0, t_i / 2, t_j / 2]`` with ``j = B - 1 - i``
    (whose statistics were taken). The same form as FeatEx's (:func:`.featex.featex_targets`).
    """
    return featex_targets(targets, keep)


def exchanged_embeddings(embedding_model: keras.Model, waveforms, keep, eps: float = STATEX_EPS,
                         training: bool = True):
    """Embeddings of ``waveforms`` with StatEx between ``frontend`` and ``embedder`` of ``embedding_model``.

    The frontend's ``"spectrogram"`` (linear STFT magnitude, before the embedder's
    temporal mean normalisation) goes through :func:`exchange_statistics`; every
    other feature (the spectrum branch's ``"spectrum"``) is passed on unchanged.
    """
    frontend = embedding_model.get_layer("frontend")
    embedder = embedding_model.get_layer("embedder")
    features = dict(frontend(waveforms, training=training))
    # The exchange depends on the input only (the frontend has no weights): no gradient flows through it.
    features["spectrogram"] = ops.stop_gradient(exchange_statistics(features["spectrogram"], keep, eps))
    return embedder(features, training=training)


def check_statex_model(model: keras.Model) -> None:
    """ConfigError unless ``model`` is ``embedder(frontend(waveform))`` with a ``"spectrogram"`` feature.

    StatEx acts between the two sub-models (the reference backbone; any ``branches``
    that include the spectrogram branch).
    """
    try:
        frontend = model.get_layer("frontend")
        model.get_layer("embedder")
    except ValueError:
        raise ConfigError(
            f"StatEx exchanges the STFT statistics between the sub-models 'frontend' and 'embedder', but model "
            f"{model.name!r} has none; use the reference backbone"
        ) from None
    outputs = frontend.output if isinstance(frontend.output, dict) else {}
    if "spectrogram" not in outputs:
        raise ConfigError(
            f"StatEx needs the STFT magnitude ('spectrogram' feature), but the frontend of {model.name!r} gives "
            f"{sorted(outputs)}; use the reference backbone with branches=both or branches=spectrogram"
        )


@keras.saving.register_keras_serializable(package="asd_tf")
class StatExLoss(AuxiliaryHeadLoss):
    """Main loss on the StatEx input (exchanged clips weigh 0) + ``weight`` x the StatEx head's loss.

    Training: the trainer draws ``keep`` (:meth:`keep_decisions`), computes the
    embeddings of the exchanged input (:meth:`training_embeddings`, :func:`exchanged_embeddings`)
    and calls this layer with ``keep``. Loss per clip = ``keep_i`` x main loss +
    ``weight`` x head loss, the head on 3C classes (:func:`statex_targets`) or, with
    FeatEx (``featex_split`` set), on 9C classes after the branch exchange
    (:func:`.featex.exchange_branches`, :func:`.featex.featex_targets` of the 3C
    targets). Evaluation calls, ``logits``, ``class_loss``, ``compactness`` and
    ``scale`` are the main head's, so scoring is unchanged.

    Args:
        main: the main loss layer (any loss of :mod:`asd_tf.losses`).
        head: a loss layer with ``loss_from_targets`` and ``3 * C`` classes (``9 * C`` with FeatEx).
        prob: probability that a clip keeps its own statistics (0.5).
        weight: weight of the head's loss (1.0).
        eps: denominator guard of the exchange (1e-16, the public code).
        featex_split: None (StatEx alone) or the width of the first branch embedding (StatEx + FeatEx).
        featex_prob: probability that a clip keeps its own second-branch embedding (0.5).
        seed: seed of the keep/exchange decisions.
    """

    _NESTED = ("main", "head")

    def __init__(
        self,
        main: keras.layers.Layer,
        head: keras.layers.Layer,
        prob: float = 0.5,
        weight: float = 1.0,
        eps: float = STATEX_EPS,
        featex_split: int | None = None,
        featex_prob: float = 0.5,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not hasattr(head, "loss_from_targets"):
            raise ConfigError(
                f"StatEx: the head {type(head).__name__} does not take soft targets; use one of {FEATEX_HEADS}"
            )
        blocks = 3 if featex_split is None else 9
        if int(head.num_classes) != blocks * int(main.num_classes):
            raise ConfigError(
                f"StatEx{'' if featex_split is None else ' + FeatEx'}: the head needs {blocks} x "
                f"{main.num_classes} classes, got {head.num_classes}"
            )
        if featex_split is not None and not 0 < int(featex_split) < int(main.embedding_dim):
            raise ConfigError(
                f"StatEx + FeatEx: featex_split must lie strictly inside the {main.embedding_dim}-d embedding, "
                f"got {featex_split}"
            )
        for key, value in (("statex_prob", prob), ("featex_prob", featex_prob)):
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"StatEx: {key} must lie in [0, 1], got {value}")
        if float(weight) < 0.0 or not float(eps) > 0.0:
            raise ConfigError(f"StatEx: need statex_weight >= 0 and statex_eps > 0, got {weight}, {eps}")
        self.main = main
        self.head = head
        self.prob = float(prob)
        self.weight = float(weight)
        self.eps = float(eps)
        self.featex_split = None if featex_split is None else int(featex_split)
        self.featex_prob = float(featex_prob)
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.built = True

    @property
    def auxiliary_head(self) -> keras.layers.Layer:
        return self.head

    def training_embeddings(self, embedding_model: keras.Model, waveforms) -> tuple[Any, dict[str, Any]]:
        """``(embeddings, {"keep": keep})`` of a training batch: draws ``keep``, embeds with StatEx (:func:`exchanged_embeddings`)."""
        keep = self.keep_decisions(ops.shape(waveforms)[0])
        return exchanged_embeddings(embedding_model, waveforms, keep, self.eps, training=True), {"keep": keep}

    def call(self, embeddings, y1, y2=None, lam=None, keep=None, training=False):
        main_loss = self.main(embeddings, y1, y2, lam, training=training)
        if not training or keep is None:
            return main_loss
        keep_weight = ops.cast(ops.cast(keep, "bool"), "float32")
        main_loss = main_loss * keep_weight  # exchanged clips: an all-zero main target row (public code)
        if self.weight == 0.0:
            return main_loss
        embeddings = ops.cast(embeddings, "float32")
        targets = statex_targets(self.main.targets(y1, y2, lam), keep)
        if self.featex_split is not None:
            featex_keep = self.keep_decisions(ops.shape(embeddings)[0], self.featex_prob)
            embeddings = exchange_branches(embeddings, self.featex_split, featex_keep)
            targets = featex_targets(targets, featex_keep)
        return main_loss + self.weight * self.head.loss_from_targets(embeddings, targets, training=training)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            prob=self.prob,
            weight=self.weight,
            eps=self.eps,
            featex_split=self.featex_split,
            featex_prob=self.featex_prob,
            seed=self.seed,
        )
        return config


def build_statex(main: keras.layers.Layer, loss_name: str, params: dict[str, Any], head: str | None = None,
                 prob: float = 0.5, weight: float = 1.0, eps: float = STATEX_EPS, trainable_centres: bool = True,
                 featex: bool = False, featex_split: int | None = None, featex_prob: float = 0.5) -> StatExLoss:
    """Wrap ``main`` (built as ``loss_name`` with ``params``) in :class:`StatExLoss`.

    The head is loss ``head`` (default: ``loss_name`` when it is one of
    :data:`.featex.FEATEX_HEADS`, else ``subcluster_adacos``) with 3C classes, or 9C
    with ``featex`` (then ``featex_split`` is required), the main head's parameters
    that it accepts, trainable centres (as FeatEx's head; the public code's 9C head)
    and centres seeded with ``seed + 1``.
    """
    if featex and featex_split is None:
        raise ConfigError(
            "StatEx + FeatEx needs featex_split, the width of the first branch embedding (the trainer takes it "
            "from the model: reference backbone with branches=both)"
        )
    statex_head = build_auxiliary_head(main, loss_name, params, head, blocks=9 if featex else 3,
                                       trainable_centres=trainable_centres, option="statex_head", name="statex_head")
    return StatExLoss(main, statex_head, prob=prob, weight=weight, eps=eps,
                      featex_split=featex_split if featex else None, featex_prob=featex_prob,
                      seed=int(params.get("seed", 0)), name="statex")
