"""WaveformBatches (PyDataset, no TensorFlow) gives exactly the batches of the tf.data pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asd_tf.data.audio import AudioConfig
from asd_tf.data.labels import build_label_set
from asd_tf.data.loader import WaveformBatches
from asd_tf.data.pipeline import make_dataset
from asd_tf.data.records import ClipRecord
from asd_tf.errors import AudioError, ConfigError
from helpers.backends import backend_available, run_on_backend

N = 1200  # samples per clip
CFG = AudioConfig(sample_rate=16000, num_samples=N)


@pytest.fixture
def clips(tmp_path: Path, make_wav) -> list[ClipRecord]:
    """11 clips over 3 sections: 16 kHz PCM16 (tf.data's in-graph path) of several lengths, stereo, and 22.05 kHz."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(11):
        sr, channels = (22050, 1) if i == 4 else (16000, 2 if i == 7 else 1)
        length = (700, 1200, 1900)[i % 3]  # padded, exact, cropped
        x = rng.uniform(-0.8, 0.8, size=(length, channels)).astype(np.float32)
        path = make_wav(tmp_path / f"clip{i:02d}.wav", x, sr=sr)
        out.append(ClipRecord(path=str(path), dataset="dcase2023", machine="fan", section=f"{i % 3:02d}",
                              domain="source", split="train", label="normal"))
    return out


def _tf_batches(ds) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(w, y) for w, y in ds.as_numpy_iterator()]


def _assert_same_batches(got, want) -> None:
    assert len(got) == len(want)
    for (w1, y1), (w2, y2) in zip(got, want):
        assert w1.dtype == w2.dtype == np.float32 and y1.dtype == y2.dtype == np.int32
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(y1, y2)


def test_training_epochs_equal_the_tf_data_pipeline(clips):
    labels = build_label_set(clips, "section")
    kwargs = dict(labels=labels, batch_size=3, shuffle=True, seed=5, drop_remainder=True)
    want = _tf_batches(make_dataset(clips, CFG, epochs=(0, 2), **kwargs))
    loader = WaveformBatches(clips, CFG, epochs=(0, 2), workers=1, **kwargs)
    got = [loader[i] for i in range(len(loader))]
    assert len(got) == 2 * (11 // 3) == 6  # 11 clips, batches of 3: 2 clips dropped per epoch
    _assert_same_batches(got, want)
    # Each epoch holds 9 different clips, in another order than the other epoch (the shuffle is real).
    assert len({w[j, 0] for w, _ in got[:3] for j in range(3)}) == 9
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(got[:3], got[3:]))
    # A run resumed at epoch 1 sees the second epoch of the uninterrupted run.
    resumed = WaveformBatches(clips, CFG, epochs=(1, 2), workers=1, **kwargs)
    _assert_same_batches([resumed[i] for i in range(len(resumed))], want[3:])


def test_unshuffled_order_and_last_partial_batch_equal_the_tf_data_pipeline(clips):
    for drop in (False, True):
        want = _tf_batches(make_dataset(clips, CFG, batch_size=4, drop_remainder=drop))
        loader = WaveformBatches(clips, CFG, batch_size=4, drop_remainder=drop, workers=1)
        _assert_same_batches([loader[i] for i in range(len(loader))], want)
        assert [len(y) for _, y in want] == ([4, 4] if drop else [4, 4, 3])
        assert all((y == -1).all() for _, y in want)  # no labels: -1, as make_dataset


def test_keras_iterates_it_with_threads(clips):
    """Through Keras's own adapter (the path fit() takes), with 2 reading threads: same batches, same order."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    loader = WaveformBatches(clips, CFG, batch_size=3, shuffle=True, seed=1, drop_remainder=True, epochs=(0, 2),
                             workers=2)
    adapter = PyDatasetAdapter(loader, shuffle=False)
    got = list(adapter.get_numpy_iterator())
    adapter.on_epoch_end()
    _assert_same_batches([tuple(b) for b in got], [loader[i] for i in range(len(loader))])


def test_bad_settings_and_files_are_named(clips, tmp_path):
    with pytest.raises(ConfigError, match="epochs"):
        WaveformBatches(clips, CFG, epochs=(0, 2), shuffle=True)  # no drop_remainder
    with pytest.raises(ConfigError, match="empty"):
        WaveformBatches([], CFG)
    empty = tmp_path / "empty.wav"
    import soundfile as sf

    sf.write(str(empty), np.zeros((0,), np.float32), 16000, subtype="PCM_16")
    bad = ClipRecord(path=str(empty), dataset="dcase2023", machine="fan", section="00", domain="source",
                     split="train", label="normal")
    with pytest.raises(AudioError, match="empty.wav"):
        WaveformBatches([*clips, bad], CFG)


@pytest.mark.skipif(not backend_available("jax"), reason="jax is not installed")
def test_runs_without_tensorflow_under_jax(clips, tmp_path):
    loader = WaveformBatches(clips, CFG, batch_size=4, shuffle=True, seed=2, drop_remainder=True, epochs=(0, 1),
                             workers=1)
    want = [loader[i] for i in range(len(loader))]
    paths = np.array([c.path for c in clips])
    out = run_on_backend("jax", """
        import numpy as np
        from asd_tf.data.audio import AudioConfig
        from asd_tf.data.loader import WaveformBatches
        from asd_tf.data.records import ClipRecord
        paths = np.load(IN)["paths"]
        clips = [ClipRecord(path=str(p), dataset="dcase2023", machine="fan", section="00", domain="source",
                            split="train", label="normal") for p in paths]
        loader = WaveformBatches(clips, AudioConfig(16000, 1200), batch_size=4, shuffle=True, seed=2,
                                 drop_remainder=True, epochs=(0, 1), workers=1)
        np.savez(OUT, **{f"w{i}": loader[i][0] for i in range(len(loader))})
    """, tmp_path, paths=paths)
    assert len(out) == len(want) == 2
    for i, (w, _) in enumerate(want):
        np.testing.assert_array_equal(out[f"w{i}"], w)
