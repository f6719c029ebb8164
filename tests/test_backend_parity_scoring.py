"""Embedding extraction on TensorFlow (tf.data) and JAX (NumPy decoding): the same embeddings (issue 19)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers.backends import backend_available, run_on_backend  # noqa: E402

SR, NUM_SAMPLES, DIM = 16000, 1600, 4


def _clips(tmp_path, make_wav):
    from asd_tf.data.records import ClipRecord

    rng = np.random.default_rng(7)
    waves = [
        (0.3 * rng.standard_normal(2000), SR, "PCM_16"),  # longer than num_samples: cropped
        (0.3 * rng.standard_normal((1000, 2)), SR, "PCM_16"),  # stereo, shorter: channel mean, zero padding
        (0.3 * rng.standard_normal(2205), 22050, "PCM_16"),  # other rate: resampled (the Python decoder)
        (0.3 * rng.standard_normal(1600), SR, "FLOAT"),  # float WAV (the Python decoder)
        (0.3 * rng.standard_normal(1700), SR, "PCM_16"),
    ]
    clips = []
    for i, (samples, sr, subtype) in enumerate(waves):
        path = make_wav(tmp_path / "wav" / f"section_00_source_train_normal_{i:04d}.wav", np.clip(samples, -1, 1),
                        sr=sr, subtype=subtype)
        clips.append(ClipRecord(str(path), "dcase2022", "fan", "00", "source", "train", "normal"))
    return clips


@pytest.mark.skipif(not backend_available("jax"), reason="jax is not installed")
def test_embeddings_match_across_backends(tmp_path, make_wav):
    import keras

    from asd_tf.data.audio import AudioConfig, load_audio
    from asd_tf.scoring.embeddings import extract_embeddings

    clips = _clips(tmp_path, make_wav)
    config = AudioConfig(SR, NUM_SAMPLES)
    kernel = np.random.default_rng(1).standard_normal((NUM_SAMPLES, DIM)).astype(np.float32) / 40.0
    model = keras.Sequential([keras.Input((NUM_SAMPLES,)), keras.layers.Dense(DIM, use_bias=False)])
    model.set_weights([kernel])
    tf_emb = extract_embeddings(model, clips, config, batch_size=2, progress=False)  # batches of 2, 2, 1
    # independent reference: the decoder applied clip by clip, then the linear map in float64
    waves = np.stack([load_audio(c.path, config) for c in clips]).astype(np.float64)
    np.testing.assert_allclose(tf_emb, waves @ kernel, rtol=1e-4, atol=1e-5)

    out = run_on_backend("jax", '''
        import numpy as np
        import keras
        from asd_tf.data.audio import AudioConfig
        from asd_tf.data.records import ClipRecord
        import asd_tf.scoring  # the whole package imports without TensorFlow
        from asd_tf.scoring.embeddings import extract_embeddings
        d = np.load(IN)
        clips = [ClipRecord(str(p), "dcase2022", "fan", "00", "source", "train", "normal") for p in d["paths"]]
        model = keras.Sequential([keras.Input((int(d["n"]),)), keras.layers.Dense(int(d["dim"]), use_bias=False)])
        model.set_weights([d["kernel"]])
        emb = extract_embeddings(model, clips, AudioConfig(16000, int(d["n"])), batch_size=2, progress=False)
        np.savez(OUT, emb=emb)
    ''', tmp_path, paths=np.asarray([c.path for c in clips]), kernel=kernel, n=np.int64(NUM_SAMPLES), dim=np.int64(DIM))
    # float32 matmuls of 1600 terms on two backends: a few ulp of the sum
    np.testing.assert_allclose(out["emb"], tf_emb, rtol=1e-5, atol=1e-6)
