"""The scoring-backend contract (asd_tf.scoring.base), the per-model driver and the loss layers' class-score options."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special

from asd_tf.data.labels import LabelSet
from asd_tf.errors import ConfigError, LabelError
from asd_tf.scoring.backends import BACKENDS, backend_options, score_dataset
from asd_tf.scoring.base import INPUT_KINDS, RunContext, ScoringBackend
from asd_tf.scoring.driver import score_member
from records_helpers import Rec, TrainRec


_LABELS = LabelSet("section", ["fan/00", "fan/01"])


def _records(cls, n, **kw):
    return [cls(path=f"/x/{kw.get('machine', 'fan')}_{kw.get('section', '00')}_{cls.__name__}_{i}.wav", **kw)
            for i in range(n)]


# --------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_registered_backend_declares_the_contract(name):
    cls = BACKENDS[name]
    assert issubclass(cls, ScoringBackend) and cls.name == name
    assert cls.inputs in INPUT_KINDS
    assert cls.options() == backend_options(name)  # what `asd-tf evaluate --option` checks against
    # seeded <=> takes a seed option, and then the run's seed is what the driver gives it
    assert cls.seeded == ("seed" in cls.options())
    context = RunContext(seed=7, load_head=lambda: _Head(np.eye(2)), load_label_set=lambda: _LABELS)
    from_run = cls.options_from_run(context)
    assert set(from_run) <= cls.options() and from_run.get("seed") == (7 if cls.seeded else None)
    assert isinstance(cls.writes_to_run_root, bool)
    for method in ("fit", "score", "score_train"):
        assert getattr(cls, method) is not getattr(ScoringBackend, method), f"{name} does not define {method}"


def test_the_declarations_of_the_shipped_backends():
    declared = {n: (c.inputs, c.seeded, c.writes_to_run_root) for n, c in BACKENDS.items()}
    assert declared == {
        "kmeans": ("embeddings", True, True),
        "knn": ("embeddings", False, False),
        "knn_smote": ("embeddings", True, False),
        "density": ("embeddings", True, False),
        "class_posterior": ("logits", False, False),
        "class_loss": ("logits", False, False),
    }


# --------------------------------------------------------------------------- a toy backend, no edit elsewhere
class _Head:
    """Stand-in loss layer: logits = embeddings @ W (counts its loads through the context)."""

    def __init__(self, weights):
        self.weights = np.asarray(weights, dtype=np.float64)

    def logits(self, embeddings):
        return np.asarray(embeddings, dtype=np.float64) @ self.weights

    def class_score_options(self):
        return {"scale": None, "margin": 0.0}


class _ToyBackend(ScoringBackend):
    """score = offset + seed + the clip's first input - the section's mean first input."""

    name = "toy"
    inputs = "logits"
    seeded = True
    fits: list = []

    def __init__(self, offset: float = 0.0, seed: int = 0) -> None:
        self.offset, self.seed = float(offset), int(seed)

    @classmethod
    def options_from_run(cls, context):
        return {**super().options_from_run(context), "offset": float(context.head.weights.sum())}

    def fit(self, train_inputs, train_records):
        self.mean = float(np.mean(train_inputs[:, 0]))
        self.train = np.asarray(train_inputs[:, 0], dtype=np.float64)
        _ToyBackend.fits.append(sorted({r.section for r in train_records}))
        return self

    def score(self, inputs, records):
        return self.offset + self.seed + inputs[:, 0] - self.mean

    def score_train(self):
        return self.offset + self.seed + self.train - self.mean


def test_a_registered_toy_backend_is_driven_from_its_declarations(monkeypatch, tmp_path):
    from asd_tf.evaluation.run import options_per_backend
    from asd_tf.runs import evaluation_dir

    monkeypatch.setitem(BACKENDS, "toy", _ToyBackend)
    monkeypatch.setattr(_ToyBackend, "fits", [])
    weights = np.array([[1.0, 0.0], [2.0, 1.0]])  # sum 4
    loads = []
    context = RunContext(seed=3, load_head=lambda: loads.append("head") or _Head(weights))
    tr = _records(TrainRec, 3, section="00") + _records(TrainRec, 2, section="01")
    te = _records(Rec, 2, section="01") + _records(Rec, 1, section="00")
    train_emb = np.arange(10, dtype=np.float64).reshape(5, 2)
    test_emb = np.array([[1.0, 1.0], [0.0, 2.0], [2.0, 0.0]])
    te_scores, tr_scores = score_member("toy", context, train_emb, tr, test_emb, te)

    logits_tr, logits_te = train_emb @ weights, test_emb @ weights  # what "inputs = logits" must give it
    mean00, mean01 = logits_tr[:3, 0].mean(), logits_tr[3:, 0].mean()
    np.testing.assert_allclose(tr_scores, 4 + 3 + logits_tr[:, 0] - np.r_[[mean00] * 3, [mean01] * 2])
    np.testing.assert_allclose(te_scores, 4 + 3 + logits_te[:, 0] - np.r_[mean01, mean01, mean00])
    assert _ToyBackend.fits == [["00"], ["01"]] and loads == ["head"]  # one fit per section, the head loaded once
    # user options win over the run's (offset from the head, seed from the run)
    te2, _ = score_member("toy", context, train_emb, tr, test_emb, te, {"offset": 0.0, "seed": 0})
    np.testing.assert_allclose(te2, te_scores - 7)
    # the option splitting and the output folder read the same declarations
    assert options_per_backend(["toy", "knn"], {"seed": 5, "k": 2}) == {"toy": {"seed": 5}, "knn": {"k": 2}}
    assert evaluation_dir(tmp_path, ["toy"], False) == tmp_path / "evaluation" / "toy"
    monkeypatch.setattr(_ToyBackend, "writes_to_run_root", True)
    assert evaluation_dir(tmp_path, ["toy"], False) == tmp_path
    assert evaluation_dir(tmp_path, ["toy"], False, options={"seed": 1}) == tmp_path / "evaluation" / "toy@seed=1"


def test_driver_gives_the_backends_own_scores_on_a_hand_made_case():
    from asd_tf.scoring.knn import KNNBackend

    # section 00: two source clips at 0 and 90 degrees; section 01: one clip at 180 degrees
    tr = _records(TrainRec, 2, section="00") + _records(TrainRec, 1, section="01")
    train_emb = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])
    te = _records(Rec, 1, section="00") + _records(Rec, 1, section="01")
    test_emb = np.array([[1.0, 1.0], [0.0, -3.0]])
    te_scores, tr_scores = score_member("knn", RunContext(), train_emb, tr, test_emb, te)
    # by hand: 1 - cos 45 deg to the nearer clip of 00; 1 - cos 90 deg to the one clip of 01
    np.testing.assert_allclose(te_scores, [1 - np.sqrt(0.5), 1.0])
    np.testing.assert_allclose(tr_scores, [1.0, 1.0, 0.0])  # leave-one-out; a lone clip scores 0
    direct = KNNBackend().fit(train_emb[:2], tr[:2])
    np.testing.assert_array_equal(te_scores[:1], direct.score(test_emb[:1], te[:1]))
    np.testing.assert_array_equal(tr_scores[:2], direct.score_train())


def test_driver_scores_class_posterior_on_the_heads_logits_with_the_runs_classes():
    weights = np.array([[2.0, -1.0, 0.0], [0.0, 1.0, 3.0]])
    label_set = LabelSet("section", ["fan/00", "fan/01", "pump/00"])
    tr = _records(TrainRec, 2, section="00") + _records(TrainRec, 2, section="01")
    te = _records(Rec, 2, section="01")
    rng = np.random.default_rng(0)
    train_emb, test_emb = rng.standard_normal((4, 2)), rng.standard_normal((2, 2))
    context = RunContext(load_head=lambda: _Head(weights), load_label_set=lambda: label_set)
    te_scores, tr_scores = score_member("class_posterior", context, train_emb, tr, test_emb, te)
    own = label_set.encode(te)
    np.testing.assert_allclose(te_scores, -scipy.special.log_softmax(test_emb @ weights, axis=1)[[0, 1], own])
    assert tr_scores.shape == (4,)
    with pytest.raises(ConfigError, match="label set"):  # a backend needing what the run does not give
        score_member("class_posterior", RunContext(load_head=lambda: _Head(weights)), train_emb, tr, test_emb, te)


def test_unknown_backend_names_are_refused_by_the_driver():
    with pytest.raises(ConfigError, match="unknown scoring backend 'nope'"):
        score_member("nope", RunContext(), np.zeros((1, 2)), _records(TrainRec, 1), np.zeros((1, 2)), _records(Rec, 1))


def test_logmel_knn_backend_per_section_equals_nearest_neighbour_scores():
    from asd_tf.scoring.clip_statistics import LogmelKNNBackend, nearest_neighbour_scores

    rng = np.random.default_rng(1)
    tr = _records(TrainRec, 4, section="00") + _records(TrainRec, 3, section="01")
    te = _records(Rec, 2, section="01") + _records(Rec, 3, section="00")
    ftr, fte = rng.standard_normal((7, 5)), rng.standard_normal((5, 5))
    te_scores, tr_scores = score_dataset(LogmelKNNBackend, ftr, tr, fte, te)
    for train_rows, test_rows in ((slice(0, 4), slice(2, 5)), (slice(4, 7), slice(0, 2))):
        want_te, want_tr = nearest_neighbour_scores(ftr[train_rows], fte[test_rows])
        np.testing.assert_array_equal(te_scores[test_rows], want_te)
        np.testing.assert_array_equal(tr_scores[train_rows], want_tr)
    with pytest.raises(ConfigError, match="unknown option"):
        score_dataset(LogmelKNNBackend, ftr, tr, fte, te, k=2)


# --------------------------------------------------------------------------- the loss layers' method
def test_margin_losses_give_their_scale_and_margin():
    from asd_tf.losses import build_loss

    assert build_loss("arcface", 4, 6, s=20.0, m=0.3).class_score_options() == {"scale": 20.0, "margin": 0.3}
    elastic = build_loss("elasticface", 4, 6, s=64.0, m=0.5)
    assert elastic.class_score_options() == {"scale": 64.0, "margin": 0.5}  # the mean margin
    assert build_loss("adacos", 4, 6).class_score_options() == {"scale": None, "margin": 0.0}


def test_adaproj_class_score_reproduces_its_class_loss():
    from asd_tf.losses import build_loss
    from asd_tf.scoring.class_loss import ClassLossBackend, class_loss_options

    layer = build_loss("adaproj", 3, 16, subspace_dim=2)
    options = class_loss_options(layer)
    assert options == {"scale": None, "margin": 0.0}
    rng = np.random.default_rng(2)
    emb = rng.standard_normal((8, 16)).astype("float32")
    ys = rng.integers(0, 3, 8)
    recs = _records(TrainRec, 8)
    ids = dict(zip((r.path for r in recs), ys))
    backend = ClassLossBackend(encode=lambda rs: [ids[r.path] for r in rs], **options)
    got = backend.fit(np.asarray(layer.logits(emb)), recs).score_train()
    np.testing.assert_allclose(got, np.asarray(layer.class_loss(emb, ys)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["softtriple", "compactness"])
def test_a_loss_without_class_score_options_is_a_clear_error(name):
    from asd_tf.losses import build_loss
    from asd_tf.scoring.class_loss import class_loss_options

    layer = build_loss(name, 4, 6)
    kind = type(layer).__name__
    with pytest.raises(ConfigError, match=f"class loss of {kind} is not .*use the class_posterior or kmeans"):
        layer.class_score_options()
    with pytest.raises(ConfigError, match=f"class loss of {kind}"):
        class_loss_options(layer)
    with pytest.raises(ConfigError, match="class loss of object"):  # not a loss layer at all
        class_loss_options(object())


def test_a_margin_loss_with_several_centres_per_class_is_refused():
    from asd_tf.losses import build_loss

    layer = build_loss("arcface", 4, 6)
    layer.centres_per_class = 3
    with pytest.raises(ConfigError, match="3 centres per class"):
        layer.class_score_options()


# --------------------------------------------------------------------------- one label encoding
def test_encode_labels_is_the_one_encoding_of_the_pipelines():
    from asd_tf.data.labels import encode_labels, label_array

    clips = _records(TrainRec, 2, section="01") + _records(TrainRec, 1, section="00")
    label_set = _LABELS
    for encode in (encode_labels, label_array):
        np.testing.assert_array_equal(encode(clips, label_set), [1, 1, 0])
        got = encode(clips, np.array([5, 6, 7], dtype=np.int64))
        assert got.dtype == np.int32 and got.tolist() == [5, 6, 7]
        with pytest.raises(LabelError, match="a LabelSet or 3 integers"):
            encode(clips, [1.5, 2.0, 0.0])
        with pytest.raises(LabelError, match="a LabelSet or 3 integers"):
            encode(clips, [1, 2])
    assert encode_labels(clips, None) is None
    assert label_array(clips, None).tolist() == [-1, -1, -1]

