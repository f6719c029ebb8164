"""``class_loss`` scoring backend (own-class ArcFace loss, Neri & Carli Sec. II-D) vs independent references.

(a) hand-made 2-D geometry: centres and embeddings at known angles, the ArcFace
    loss written out from the angles (no arccos of the backend's inputs);
(b) end to end: a tiny low-complexity attention run trained from the recipe YAML
    on synthetic DCASE 2020 data, evaluated with the recipe's backends, and the
    written class_loss scores recomputed from the saved model and head.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.special

from asd_tf.errors import ConfigError, LabelError
from asd_tf.scoring.backends import BACKENDS, score_dataset
from asd_tf.scoring.class_loss import ClassLossBackend
from records_helpers import Rec, TrainRec

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "asd_tf" / "comparison" / "configs" / "recipes" / "dcase2020_lowcomplexity_attention_noisy_arcmix.yaml"


# --------------------------------------------------------------------------- (a) hand-made geometry
def unit(angle: float) -> np.ndarray:
    return np.array([math.cos(angle), math.sin(angle)])


def arcface_reference(thetas: np.ndarray, y: int, s: float, m: float) -> float:
    """ArcFace loss from the angles: -log(e^{s cos(t_y+m)} / (e^{s cos(t_y+m)} + sum_{j!=y} e^{s cos t_j}))."""
    target = math.exp(s * math.cos(thetas[y] + m))
    others = sum(math.exp(s * math.cos(t)) for j, t in enumerate(thetas) if j != y)
    return -math.log(target / (target + others))


CENTRE_ANGLES = np.array([0.0, 2.0, 4.0])  # three classes on the unit circle (radians)


def angle_between(a: float, b: float) -> float:
    """Angle in [0, pi] between directions a and b, by hand (no arccos)."""
    d = abs(a - b) % (2 * math.pi)
    return min(d, 2 * math.pi - d)


def handmade_case(phis, ys, s):
    centres = np.stack([unit(a) for a in CENTRE_ANGLES])
    norms = np.linspace(0.5, 3.0, len(phis))  # the loss must not depend on the embedding norm
    emb = np.stack([r * unit(p) for r, p in zip(norms, phis)])
    logits = s * (emb / np.linalg.norm(emb, axis=1, keepdims=True)) @ centres.T
    recs = [TrainRec(path=f"/d/fan/train/{i}.wav") for i in range(len(phis))]
    ids = dict(zip((r.path for r in recs), ys))
    return logits, recs, (lambda rs: np.array([ids[r.path] for r in rs]))


def test_backend_equals_arcface_formula_on_handmade_angles():
    s, m = 4.0, 0.7  # a small scale keeps every loss O(1), so relative comparisons are meaningful
    phis = [0.1, 1.7, 3.9, 0.9, 2.6, 5.0]
    ys = [0, 1, 2, 1, 2, 0]
    logits, recs, encode = handmade_case(phis, ys, s)
    backend = ClassLossBackend(encode=encode, scale=s, margin=m).fit(logits, recs)
    expected = []
    for phi, y in zip(phis, ys):
        thetas = np.array([angle_between(phi, a) for a in CENTRE_ANGLES])
        assert thetas[y] + m <= math.pi  # the plain ArcFace regime
        expected.append(arcface_reference(thetas, y, s, m))
    assert min(expected) > 1e-3
    np.testing.assert_allclose(backend.score_train(), expected, rtol=1e-9)
    # score() on "test" clips is the same function
    np.testing.assert_allclose(backend.score(logits, recs), expected, rtol=1e-9)
    # the margin makes the own-class loss strictly larger than -log p(y|x) without margin
    plain = -scipy.special.log_softmax(logits, axis=1)[np.arange(len(ys)), ys]
    assert np.all(backend.score_train() > plain + 1e-6)
    # margin 0: just the cross-entropy of the own class
    no_margin = ClassLossBackend(encode=encode, scale=s, margin=0.0).fit(logits, recs)
    np.testing.assert_allclose(no_margin.score_train(), plain, rtol=1e-12)


def test_loss_grows_as_the_embedding_rotates_away_from_its_centre():
    s, m = 4.0, 0.7
    # 2-D: from the own centre (class 0, angle 0) towards class 1 (angle 2) / class 2 (angle 4 = -2.28)
    for sign in (1.0, -1.0):
        phis = list(sign * np.array([0.0, 0.2, 0.5, 0.8, 1.0]))
        logits, recs, encode = handmade_case(phis, [0] * len(phis), s)
        scores = ClassLossBackend(encode=encode, scale=s, margin=m).fit(logits, recs).score_train()
        assert np.all(np.diff(scores) > 1e-3), scores
    # 4-D: rotate from the own centre e1 towards e4, orthogonal to the other centres (cos = 0 to them),
    # all the way to pi: theta_y = alpha exactly, also past theta + m > pi (monotone extension)
    centres = np.array([[1.0, 0, 0, 0], [0, 0.6, 0.8, 0], [0, 0.8, -0.6, 0]])
    alphas = np.linspace(0.0, math.pi, 13)
    emb = np.stack([[math.cos(a), 0, 0, math.sin(a)] for a in alphas])
    logits = s * emb @ centres.T
    recs = [TrainRec(path=f"/d/{i}.wav") for i in range(len(alphas))]
    scores = ClassLossBackend(encode=lambda rs: [0] * len(rs), scale=s, margin=m).fit(logits, recs).score_train()
    assert np.all(np.diff(scores) > 1e-3), scores
    for alpha, got in zip(alphas, scores):
        thetas = np.array([alpha, math.pi / 2, math.pi / 2])
        if alpha + m <= math.pi:
            assert got == pytest.approx(arcface_reference(thetas, 0, s, m), rel=1e-9)
        else:  # monotone extension cos(theta) - (1 - cos m) of the target cosine
            target = math.exp(s * (math.cos(alpha) - 1.0 + math.cos(m)))
            assert got == pytest.approx(-math.log(target / (target + 2 * math.exp(0.0))), rel=1e-9)


def test_subcluster_logits_give_the_summed_subcluster_posterior():
    """Margin 0 on logsumexp sub-cluster logits = -log sum_{c in C_y} softmax(s cos)_c (Eq. 14)."""
    rng = np.random.default_rng(3)
    n_classes, n_sub, dim, s = 3, 4, 5, 7.0
    centres = rng.standard_normal((n_classes * n_sub, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    emb = rng.standard_normal((8, dim))
    cos = (emb / np.linalg.norm(emb, axis=1, keepdims=True)) @ centres.T
    logits = scipy.special.logsumexp((s * cos).reshape(8, n_classes, n_sub), axis=2)
    ys = rng.integers(0, n_classes, 8)
    recs = [TrainRec(path=f"/d/{i}.wav") for i in range(8)]
    ids = dict(zip((r.path for r in recs), ys))
    got = ClassLossBackend(encode=lambda rs: [ids[r.path] for r in rs]).fit(logits, recs).score_train()
    p = np.exp(s * cos) / np.exp(s * cos).sum(axis=1, keepdims=True)
    expected = [-math.log(p[i, ys[i] * n_sub:(ys[i] + 1) * n_sub].sum()) for i in range(8)]
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_unknown_classes_and_bad_inputs_are_refused():
    s, m = 30.0, 0.7
    logits, recs, encode = handmade_case([0.1, 2.1], [0, 1], s)
    backend = ClassLossBackend(encode=encode, scale=s, margin=m).fit(logits, recs)
    stranger = Rec(path="/d/fan/test/unseen_class.wav")  # the encoder has no class for it
    with pytest.raises(LabelError, match="unseen_class.wav"):
        backend.score(logits[:1], [stranger])
    out_of_range = ClassLossBackend(encode=lambda rs: [3] * len(rs), scale=s, margin=m)
    with pytest.raises(LabelError, match="no class the model was trained on"):
        out_of_range.fit(logits, recs)
    with pytest.raises(ConfigError, match="needs the loss's scale"):
        ClassLossBackend(encode=encode, margin=0.5)
    with pytest.raises(ConfigError, match="not s\\*cos"):
        ClassLossBackend(encode=encode, scale=1.0, margin=m).fit(logits, recs)  # logits are 30 cos
    with pytest.raises(ConfigError, match="no class encoder"):
        ClassLossBackend(scale=s, margin=m).fit(logits, recs)
    # registered, and score_dataset passes the options through
    assert BACKENDS["class_loss"] is ClassLossBackend
    te, tr = score_dataset("class_loss", logits, recs, logits, [Rec(path=r.path) for r in recs],
                           encode=encode, scale=s, margin=m)
    np.testing.assert_allclose(te, backend.score_train())
    np.testing.assert_allclose(tr, backend.score_train())


# --------------------------------------------------------------------------- options from the loss layers
def test_options_from_loss_layers_reproduce_their_class_loss():
    from asd_tf.losses import build_loss
    from asd_tf.scoring.class_loss import class_loss_options

    rng = np.random.default_rng(5)
    emb = rng.standard_normal((10, 6)).astype("float32")
    ys = rng.integers(0, 4, 10)
    recs = [TrainRec(path=f"/d/{i}.wav") for i in range(10)]
    encode = dict(zip((r.path for r in recs), ys))
    for name, params in (("noisy_arcmix", {"s": 40.0, "m": 0.7}), ("emm", {"s": 30.0, "m": 1.1}),
                         ("subcluster_adacos", {"num_subclusters": 3})):
        layer = build_loss(name, 4, 6, **params)
        options = class_loss_options(layer)
        if name != "subcluster_adacos":
            assert options == {"scale": params["s"], "margin": params["m"]}
        backend = ClassLossBackend(encode=lambda rs: [encode[r.path] for r in rs], **options)
        got = backend.fit(np.asarray(layer.logits(emb)), recs).score_train()
        np.testing.assert_allclose(got, np.asarray(layer.class_loss(emb, ys)), rtol=1e-4, atol=1e-4)
    with pytest.raises(ConfigError, match="class_posterior or kmeans"):
        class_loss_options(build_loss("noisy_arcmix_softtriple", 4, 6))


# --------------------------------------------------------------------------- (b) end to end
TINY_ATTENTION = {"embedding_dim": 16, "attention_filters": [4, 8], "bottlenecks": [[2, 16, 1, 2]], "n_mels": 32}
SAMPLES = 32000  # 2 s at 16 kHz (the length of the tiny synthetic clips)


@pytest.fixture(scope="module")
def attention_run(tmp_path_factory):
    """Train the attention recipe (tiny model, 1 epoch) with `asd-tf train --config`: evaluates its backends."""
    from asd_tf.commands import main
    from asd_tf.synthetic import generate

    root = tmp_path_factory.mktemp("cl")
    data = generate(root / "dcase2020_tiny", "dcase2020", "tiny", 0)
    out = root / "run"
    argv = ["train", "--config", str(RECIPE), "--data", str(data), "--out", str(out), "--epochs", "1",
            "--batch-size", "16", "--num-samples", str(SAMPLES), "--quiet"]
    for key, value in TINY_ATTENTION.items():
        argv += ["--model-option", f"{key}={json.dumps(value)}"]
    assert main(argv) == 0
    return out


def test_attention_recipe_is_evaluated_with_class_loss_and_kmeans(attention_run):
    import yaml

    assert yaml.safe_load(RECIPE.read_text())["backends"] == ["class_loss", "kmeans"]
    for backend, folder in (("class_loss", attention_run / "evaluation" / "class_loss"), ("kmeans", attention_run)):
        results = json.loads((folder / "results.json").read_text())
        assert results["backend"] == backend
        assert 0.0 <= results["official_score"] <= 1.0 and math.isfinite(results["official_score"])
        assert len(results["sections"]) == 6  # 3 machine types x 2 machine IDs


def test_class_loss_scores_equal_recomputation_from_saved_model_and_head(attention_run):
    import keras

    from asd_tf.commands import main
    from asd_tf.data.audio import AudioConfig, load_audio
    from asd_tf.data.index import scan_dataset
    from asd_tf.evaluation.submission import read_submission, submission_file_names
    from asd_tf.runs import Run

    run = Run.open(attention_run)
    (member,) = run.members()
    names = json.loads((member.directory / "label_set.json").read_text())["names"]
    head = member.load_head()
    s, m = 40.0, 0.7  # the recipe's loss_params
    centres = keras.ops.convert_to_numpy(head.centres).astype(np.float64)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    # the CLI command writes the same folder again (and must agree with what training's evaluation wrote);
    # class_posterior (-log softmax(s cos)_y, no margin) goes through the same head code path
    assert main(["evaluate", str(attention_run), "--backend", "class_loss"]) == 0
    assert main(["evaluate", str(attention_run), "--backend", "class_posterior"]) == 0
    sub = attention_run / "evaluation" / "class_loss" / "submission"
    sub_posterior = attention_run / "evaluation" / "class_posterior" / "submission"
    test_clips = [c for c in scan_dataset(run.config.data).clips if c.split == "test"]
    picked = [c for machine in sorted({c.machine for c in test_clips})
              for c in [c for c in test_clips if c.machine == machine][:2]]
    waves = np.stack([load_audio(c.path, AudioConfig(16000, SAMPLES)) for c in picked])
    emb = keras.ops.convert_to_numpy(member.load_model()(waves, training=False)).astype(np.float64)
    z = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    checked = 0
    for clip, zi in zip(picked, z):
        y = names.index(f"{clip.machine}/{clip.section}")
        cos = centres @ zi
        theta_y = math.acos(float(np.clip(cos[y], -1.0, 1.0)))
        if theta_y + m > math.pi:
            continue  # outside the plain ArcFace regime (extension tested in part (a))
        thetas = np.arccos(np.clip(cos, -1.0, 1.0))
        expected = arcface_reference(thetas, y, s, m)
        score_file = sub / submission_file_names(clip.machine, clip.section, "dcase2020")[0]
        written = dict(read_submission(score_file))[Path(clip.path).name]
        assert written == pytest.approx(expected, rel=1e-4, abs=1e-3), clip.path
        posterior = dict(read_submission(sub_posterior / score_file.name))[Path(clip.path).name]
        assert posterior == pytest.approx(-scipy.special.log_softmax(s * cos)[y], rel=1e-4, abs=1e-3)
        assert written > posterior  # the margin lowers the own-class logit
        checked += 1
    assert checked >= 4
