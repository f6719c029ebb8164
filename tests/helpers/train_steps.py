"""A tiny ``ASDTrainer`` trained on fixed batches, the same code on every Keras backend.

Imported by ``tests/test_train_backends.py`` in the test process (TensorFlow) and in
its JAX / torch children, so both sides build, load and train the same thing.
"""

from __future__ import annotations

import numpy as np

SAMPLES = 16000
TINY_MODEL = {"stage_channels": [4, 8, 8, 16], "spectrum_filters": 8, "dense_units": 16, "branch_dim": 16}
NUM_CLASSES = 4
# Class 3 weighs 0 and class 1 weighs 2: the class-weight path (pair_weights) changes the loss.
CLASS_WEIGHTS = [1.0, 2.0, 0.5, 0.0]


def fixed_batches(steps: int = 3, batch: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``steps * batch`` clips of noise plus a per-class tone (so the classes are learnable), and their labels."""
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(NUM_CLASSES, dtype=np.int32), steps * batch // NUM_CLASSES + 1)[: steps * batch]
    t = np.arange(SAMPLES) / 16000.0
    x = 0.1 * rng.standard_normal((steps * batch, SAMPLES))
    x += 0.3 * np.sin(2 * np.pi * (300.0 + 400.0 * y[:, None]) * t[None, :])
    return x.astype(np.float32), y


def build_trainer(mixup_prob: float = 0.0, class_weights=CLASS_WEIGHTS, input_crop: str = "none", seed: int = 0,
                  weights: dict | None = None):
    """Tiny reference model + sub-cluster AdaCos (adaptive scale) in an ``ASDTrainer`` with Adam, built.

    ``weights``: ``{"embedding": [...], "loss": [...]}`` (``get_weights()`` of another
    trainer's two parts) to start from. The two parts are then built without running their
    random initialisers (each costs JAX one XLA compilation per weight shape, most of a
    minute for this model on a loaded CPU): in a ``StatelessScope`` that leaves the variables
    waiting for a value, which ``set_weights`` gives them; ``clear_session`` then forgets the
    pending initialisations (as ``tests/test_backend_parity_models.py``). Other backends
    build normally, then load the weights.
    """
    import keras

    from asd_tf.losses.registry import build_loss
    from asd_tf.models.registry import build_backbone
    from asd_tf.training.trainer import ASDTrainer

    keras.utils.set_random_seed(seed)

    def parts():
        embedding = build_backbone("reference", num_samples=SAMPLES, **TINY_MODEL)
        loss = build_loss("subcluster_adacos", NUM_CLASSES, int(embedding.output_shape[-1]), dtype="float32", seed=seed)
        return embedding, loss

    if weights is None or keras.backend.backend() != "jax":
        embedding, loss = parts()
        if weights is not None:
            loss.build((None, int(embedding.output_shape[-1])))
            embedding.set_weights(list(weights["embedding"]))
            loss.set_weights(list(weights["loss"]))
    else:
        distribution = keras.distribution.distribution()  # clear_session forgets it
        with keras.StatelessScope(initialize_variables=False):
            embedding, loss = parts()
            loss.build((None, int(embedding.output_shape[-1])))
        embedding.set_weights(list(weights["embedding"]))
        loss.set_weights(list(weights["loss"]))
        # get_weights leaves out seed-generator states: give them their initial value too (an
        # uninitialised one would be created later on one device, outside a DataParallel layout).
        from asd_tf.training.resume import _seed_generators

        for generator in _seed_generators(embedding) + _seed_generators(loss):
            generator.state.assign(generator.state.value)
        keras.backend.clear_session()
        if distribution is not None:
            keras.distribution.set_distribution(distribution)
            # Variables made in the stateless scope got no layout: place them as the distribution would.
            for v in embedding.variables + loss.variables:
                v.assign(keras.distribution.distribute_tensor(v.value, distribution.get_variable_layout(v)))
    trainer = ASDTrainer(embedding, loss, mixup_prob=mixup_prob, class_weights=class_weights, input_crop=input_crop,
                         seed=seed)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    trainer.build_for_training(SAMPLES)
    return trainer


def part_weights(trainer) -> dict:
    """``{"embedding": [...], "loss": [...]}``: what :func:`build_trainer` takes as ``weights``."""
    return {"embedding": [np.asarray(w) for w in trainer.embedding_model.get_weights()],
            "loss": [np.asarray(w) for w in trainer.loss_layer.get_weights()]}


def train_fixed(trainer, x: np.ndarray, y: np.ndarray, batch: int = 8) -> dict:
    """One epoch over ``x`` in order: the per-step batch losses, the final scale and weights.

    The logs are running means over the epoch, so the loss of step ``k`` is recovered
    as ``k m_k - (k - 1) m_{k-1}``.
    """
    import keras

    means = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, step, logs=None):
            means.append(float(logs["loss"]))

    trainer.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[Record()])
    means = np.asarray(means)
    k = np.arange(1, len(means) + 1)
    losses = k * means - np.concatenate([[0.0], k[:-1] * means[:-1]])
    out = {"losses": losses, "scale": np.float32(trainer.loss_layer.scale.numpy())}
    for i, w in enumerate(trainer.get_weights()):
        out[f"w{i}"] = np.asarray(w)
    return out


def protocol(trainer, x: np.ndarray, y: np.ndarray, batch: int = 8) -> dict:
    """What every backend runs: one step on a batch holding a NaN, then one epoch over ``x``.

    Returns ``scale0`` (the loss layer's scale before), ``nan_loss`` (the logged loss of the NaN step), ``moved`` (the largest change
    of a trainable weight in that step: 0 when the non-finite guard zeroed the gradients;
    Adam starts with zero moments, so a zero gradient moves nothing), then
    :func:`train_fixed`'s results.
    """
    import keras

    scale0 = np.float32(trainer.loss_layer.scale.numpy())
    before = [np.array(keras.ops.convert_to_numpy(v.value)) for v in trainer.trainable_variables]
    bad = x[:batch].copy()
    bad[0, 100] = np.nan
    nan = train_fixed(trainer, bad, y[:batch], batch)
    after = [np.array(keras.ops.convert_to_numpy(v.value)) for v in trainer.trainable_variables]
    moved = max(float(np.max(np.abs(a - b))) if a.size else 0.0 for a, b in zip(after, before))
    out = {"nan_loss": np.float64(nan["losses"][0]), "moved": np.float64(moved), "scale0": scale0}
    out.update(train_fixed(trainer, x, y, batch))
    return out
