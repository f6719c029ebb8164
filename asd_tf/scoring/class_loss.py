"""Own-class loss scoring backend: score = the ArcFace loss of the clip's own class.

The anomaly score of Neri & Carli (Sec. II-D, ``A_theta(y, y^) = L_AF(theta, y)``):
the trained angular-margin classification loss evaluated on the clip's own
auxiliary class, without mixup.  Their Eq. (1) as printed drops the log and
writes the margin outside the cosine; the loss they cite and train with is
ArcFace (Deng et al., CVPR 2019), which is what is computed here::

    L = -log( e^{s psi(theta_y)} / (e^{s psi(theta_y)} + sum_{j != y} e^{s cos theta_j}) )

with ``theta_j = arccos(cos(z, c_j))`` the angle between the normalised
embedding ``z`` and the centre of class ``j`` and ``psi(theta) = cos(theta + m)``.
Where ``theta + m > pi`` the loss layers use the continuous, monotone extension
``psi(theta) = cos(theta) - (1 - cos m)`` (:func:`asd_tf.losses.base.margin_cosine`),
and so does this backend, so that a larger angle never lowers the score.

Inputs: the "embeddings" given to this backend are the loss head's margin-free
logits ``[N, C]`` (``loss_layer.logits()``, as for ``class_posterior``); for the
ArcFace family these are ``s cos theta_j``, so ``cos theta_j = logits_j / s``.
Options ``scale`` (s) and ``margin`` (m) come from the run's loss
(:func:`class_loss_options`, which asks the loss layer's ``class_score_options()``):

* margin losses (``arcface``, ``elasticface``, ``arcmix``, ``noisy_arcmix``,
  ``margin_mixup``, ``emm``): ``s`` and the (mean) margin ``m`` of the loss;
  the target logit is replaced by ``s psi(theta_y)``;
* losses without a margin (``adacos``, ``subcluster_adacos``, ``adaproj``): ``margin = 0``
  and the score is the categorical cross-entropy of the own class on the
  loss's own logits, ``-log softmax(logits)_y``.  For sub-cluster losses
  (several centres per class) those logits are the loss's own per-class
  logits: for sub-cluster AdaCos the logsumexp of ``s cos`` over the class's
  sub-clusters (Eq. 14 of Wilkinghoff & Kurth), so the score is
  ``-log sum_{c in C_y} softmax(s cos)_c``; for AdaProj ``s cos_c`` with
  ``cos_c`` the cosine to the projection onto the class subspace.  An angular margin needs one centre
  per class (``theta_y`` is the angle to *the* class centre), so a margin loss
  with several centres per class is refused;
* other losses (``compactness``, ``compactness_cce``, ``softtriple``,
  ``noisy_arcmix_softtriple``) have a class loss that is not a function of
  these logits: refused with a ConfigError (use ``class_posterior`` or ``kmeans``).

Every clip must belong to one of the classes the model was trained on: the
own-class loss is undefined otherwise, and a clip whose class cannot be
encoded (a class unseen in training, or no class information, e.g. the
``attribute`` label set on an evaluation clip without attributes) raises a
LabelError naming the clip.  (``class_posterior`` falls back to the section's
most probable class instead.)

Training scores (``score_train``) are the training clips' own-class losses.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from asd_tf.errors import ConfigError, DatasetError, LabelError
from asd_tf.scoring.kmeans import check_embeddings, section_name
from asd_tf.scoring.posterior import check_test_logits, encode_classes
from asd_tf.scoring.base import LogitsBackend, RunContext

# float32 logits s*cos may exceed |s| by a few ulps; anything beyond this is a wrong scale.
_COS_TOLERANCE = 1e-3


def margin_psi(cos: np.ndarray, margin: float) -> np.ndarray:
    """``psi(theta) = cos(theta + m)``, monotone extension ``cos theta - (1 - cos m)`` beyond ``pi``.

    ``cos`` is clipped to ``[-1, 1]`` before ``arccos``; ``margin == 0`` returns ``cos``.
    """
    cos = np.clip(np.asarray(cos, dtype=np.float64), -1.0, 1.0)
    if margin == 0.0:
        return cos
    theta = np.arccos(cos)
    return np.where(theta + margin <= math.pi, np.cos(theta + margin), cos - (1.0 - math.cos(margin)))


def own_class_losses(logits: np.ndarray, ids: np.ndarray, scale: float | None, margin: float) -> np.ndarray:
    """Own-class (margin) cross-entropy per clip: ``[N, C] logits, [N] class ids -> [N]``.

    ``logits``: margin-free logits (``s cos theta`` when ``margin != 0``);
    ``ids``: valid class ids in ``[0, C)``.
    """
    z = np.array(logits, dtype=np.float64)  # a copy: the own-class logit is replaced below
    rows = np.arange(z.shape[0])
    if margin != 0.0:
        cos = z[rows, ids] / scale
        z[rows, ids] = scale * margin_psi(cos, margin)
    top = z.max(axis=1)
    log_norm = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    return log_norm - z[rows, ids]


class ClassLossBackend(LogitsBackend):
    """Own-class ArcFace / cross-entropy loss per clip from the head's logits (see module docstring).

    Args:
        encode: callable mapping a list of clip records to class ids (e.g.
            ``LabelSet.encode``); required.
        scale: the loss's scale ``s`` (needed when ``margin != 0``).
        margin: the loss's additive angular margin ``m`` in radians (0: plain CCE).
    """

    name = "class_loss"

    @classmethod
    def options_from_run(cls, context: RunContext) -> dict[str, Any]:
        """The run's class encoder, and ``scale``/``margin`` of its loss (:func:`class_loss_options`)."""
        return {**class_loss_options(context.head), **super().options_from_run(context)}

    def __init__(
        self,
        encode: Callable[[list], Any] | None = None,
        scale: float | None = None,
        margin: float = 0.0,
    ) -> None:
        margin = float(margin)
        if not math.isfinite(margin) or margin < 0.0:
            raise ConfigError(f"class_loss backend: margin must be a finite number >= 0, got {margin}")
        if margin != 0.0 and (scale is None or not float(scale) > 0.0 or not math.isfinite(float(scale))):
            raise ConfigError(
                f"class_loss backend: an angular margin (m = {margin}) needs the loss's scale s > 0, got {scale}"
            )
        self.encode = encode
        self.scale = None if scale is None else float(scale)
        self.margin = margin
        self.num_classes: int | None = None
        self._train_scores: np.ndarray | None = None

    def _class_ids(self, records: Sequence[Any], what: str) -> np.ndarray:
        if self.encode is None:
            raise ConfigError(
                "class_loss backend: no class encoder given (encode=LabelSet.encode of the run); "
                "the own-class loss needs each clip's class"
            )
        ids = encode_classes(self.encode, records)
        bad = np.flatnonzero((ids < 0) | (ids >= self.num_classes))
        if bad.size:
            first = records[int(bad[0])]
            raise LabelError(
                f"class_loss backend ({what}, {section_name(records)}): {bad.size} clip(s) belong to no class "
                f"the model was trained on (first: {first.path}); the own-class loss is undefined for them. "
                "Score with class_posterior or kmeans instead."
            )
        return ids

    def _scores(self, logits: np.ndarray, records: Sequence[Any], what: str) -> np.ndarray:
        ids = self._class_ids(records, what)
        if self.margin != 0.0:
            cos = logits[np.arange(len(ids)), ids] / self.scale
            worst = int(np.argmax(np.abs(cos)))
            if abs(cos[worst]) > 1.0 + _COS_TOLERANCE:
                raise ConfigError(
                    f"class_loss backend ({what}): logit {logits[worst, ids[worst]]:.4g} of {records[worst].path} "
                    f"is not s*cos with s = {self.scale}; the logits must be the margin loss's s*cos(theta)"
                )
        return own_class_losses(logits, ids, self.scale, self.margin)

    def fit(self, train_logits: np.ndarray, train_records: Sequence[Any]) -> "ClassLossBackend":
        """Check the training clips' classes and compute their own-class losses; ``train_logits`` ``[N, C]``."""
        logits = check_embeddings(train_logits, train_records, "class_loss fit")
        if logits.shape[0] == 0:
            raise DatasetError(f"class_loss backend: no training clips for {section_name(train_records)}")
        self.num_classes = logits.shape[1]
        self._train_scores = self._scores(logits, train_records, "training clips")
        return self

    def score(self, logits: np.ndarray, records: Sequence[Any]) -> np.ndarray:
        """Anomaly scores ``[N]`` (own-class loss) from logits ``[N, C]``."""
        self._require_fitted("score", self.num_classes)
        logits = check_test_logits("class_loss", logits, records, self.num_classes)
        if logits.shape[0] == 0:
            return np.zeros((0,), dtype=np.float64)
        return self._scores(logits, records, "test clips")

    def score_train(self) -> np.ndarray:
        """Scores ``[N_train]`` of the training clips (their own-class loss)."""
        self._require_fitted("score_train", self._train_scores)
        return self._train_scores.copy()


def class_loss_options(loss_layer: Any) -> dict[str, float | None]:
    """``{"scale": s, "margin": m}`` for :class:`ClassLossBackend` from a trained loss layer.

    Asks the layer (``loss_layer.class_score_options()``, defined on
    :class:`asd_tf.losses.base.AngularLossLayer` and overridden by the losses whose
    class loss is a function of their logits): margin losses (ArcFace family, one
    centre per class) give ``s`` and the mean margin ``m``; AdaCos, sub-cluster
    AdaCos and AdaProj give ``margin = 0`` (the logits already carry the learned
    scale).  Any other loss: ConfigError.
    """
    method = getattr(loss_layer, "class_score_options", None)
    if method is None:  # not an angular loss layer at all (e.g. FeatEx's wrapper)
        raise ConfigError(
            f"class_loss backend: the class loss of {type(loss_layer).__name__} is not an angular-margin / "
            "cross-entropy loss of its logits; use the class_posterior or kmeans backend for this run"
        )
    return dict(method())
