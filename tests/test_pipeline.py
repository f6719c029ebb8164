"""make_dataset: fast path == fallback == load_audio, order, labels, shuffling, keyed cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from asd_tf.data.audio import AudioConfig, load_audio
from asd_tf.data.labels import build_label_set
from asd_tf.data.pipeline import cache_path, clips_fingerprint, is_fast_wav, make_dataset, make_file_dataset
from asd_tf.data.records import ClipRecord
from asd_tf.errors import AudioError, LabelError

N = 2000  # samples per clip: small shapes keep the tests fast
CFG = AudioConfig(sample_rate=16000, num_samples=N)


def record(path: Path, machine: str = "fan", section: str = "00") -> ClipRecord:
    return ClipRecord(path=str(path), dataset="dcase2023", machine=machine, section=section, domain="source",
                      split="train", label="normal", attributes="", attribute_pairs=())


def collect(ds) -> tuple[np.ndarray, np.ndarray]:
    waves, labels = [], []
    for w, y in ds.as_numpy_iterator():
        waves.append(w)
        labels.append(y)
    return np.concatenate(waves), np.concatenate(labels)


@pytest.fixture
def mixed_clips(tmp_path: Path, make_wav) -> list[ClipRecord]:
    """Files for both decode paths: 16 kHz PCM16 mono/stereo/short (fast), 22.05 kHz, float, 24-bit (fallback)."""
    rng = np.random.default_rng(0)
    specs = [
        ("mono16k.wav", 16000, 1, 2600, "PCM_16"),
        ("stereo16k.wav", 16000, 2, 2400, "PCM_16"),
        ("short16k.wav", 16000, 1, 700, "PCM_16"),
        ("rate22k.wav", 22050, 1, 3000, "PCM_16"),
        ("float16k.wav", 16000, 1, 2100, "FLOAT"),
        ("pcm24.wav", 16000, 2, 1500, "PCM_24"),
    ]
    clips = []
    for i, (name, sr, ch, n, subtype) in enumerate(specs):
        x = rng.uniform(-0.5, 0.5, size=(n, ch)).astype(np.float32)
        clips.append(record(make_wav(tmp_path / name, x, sr=sr, subtype=subtype), section=f"{i:02d}"))
    return clips


def test_fast_path_detection(mixed_clips: list[ClipRecord], tmp_path: Path) -> None:
    assert [is_fast_wav(c.path, 16000) for c in mixed_clips] == [True, True, True, False, False, False]
    (tmp_path / "junk.wav").write_bytes(b"not a wav at all")
    assert not is_fast_wav(tmp_path / "junk.wav", 16000)
    assert not is_fast_wav(tmp_path / "absent.wav", 16000)


@pytest.mark.parametrize("backend", ["auto", "python"])
def test_dataset_equals_load_audio_in_order(mixed_clips: list[ClipRecord], backend: str) -> None:
    ref = np.stack([load_audio(c.path, CFG) for c in mixed_clips])
    ls = build_label_set(mixed_clips, "section")
    waves, labels = collect(make_dataset(mixed_clips, CFG, labels=ls, batch_size=4, backend=backend))
    assert waves.shape == (6, N) and waves.dtype == np.float32
    np.testing.assert_allclose(waves, ref, rtol=0, atol=1e-7)
    assert labels.dtype == np.int32 and labels.tolist() == ls.encode(mixed_clips).tolist() == [0, 1, 2, 3, 4, 5]
    # file dataset: same samples, unbatched
    files = np.stack(list(make_file_dataset([c.path for c in mixed_clips], CFG).as_numpy_iterator()))
    np.testing.assert_allclose(files, ref, rtol=0, atol=1e-7)


def test_real_clips_fast_path_equals_load_audio(real_data_dir: Path) -> None:
    paths = [
        real_data_dir / "dcase2023_task2_dev/ToyTrain/test/section_00_target_test_anomaly_0015_car_A2_spd_6_mic_2.wav",
        real_data_dir / "dcase2020_task2_dev/ToyCar/test/anomaly_id_01_00000000.wav",
        real_data_dir / "dcase2021_task2_dev/pump/test/section_00_source_test_anomaly_0000.wav",
    ]
    clips = [record(p) for p in paths]
    assert all(is_fast_wav(p, 16000) for p in paths)
    waves, labels = collect(make_dataset(clips, AudioConfig(), batch_size=2))
    ref = np.stack([load_audio(p, AudioConfig()) for p in paths])
    np.testing.assert_array_equal(waves, ref)
    assert labels.tolist() == [-1, -1, -1]  # no label set


@pytest.fixture
def numbered_clips(tmp_path: Path, make_wav) -> list[ClipRecord]:
    """12 clips, clip i holds the constant (i + 1) / 64, so order is readable from the samples."""
    return [record(make_wav(tmp_path / f"c{i:02d}.wav", np.full(N, (i + 1) / 64.0))) for i in range(12)]


def clip_ids(waves: np.ndarray) -> list[int]:
    return [int(round(w[0] * 64)) - 1 for w in waves]


def test_order_preserved_and_batching(numbered_clips: list[ClipRecord]) -> None:
    labels = np.arange(100, 112)
    ds = make_dataset(numbered_clips, CFG, labels=labels, batch_size=5)
    shapes = [w.shape[0] for w, _ in ds.as_numpy_iterator()]
    assert shapes == [5, 5, 2]
    waves, y = collect(ds)
    assert clip_ids(waves) == list(range(12)) and y.tolist() == list(range(100, 112))
    dropped = make_dataset(numbered_clips, CFG, batch_size=5, drop_remainder=True)
    assert [w.shape[0] for w, _ in dropped.as_numpy_iterator()] == [5, 5]
    rep = make_dataset(numbered_clips, CFG, batch_size=5, repeat=True)
    first = [clip_ids(w) for w, _ in rep.take(5).as_numpy_iterator()]
    assert sum(first, []) == list(range(12)) + list(range(12)) + [0]
    with pytest.raises(LabelError):
        make_dataset(numbered_clips, CFG, labels=[1, 2, 3])


def test_shuffle_is_seeded_and_reshuffles_each_epoch(numbered_clips: list[ClipRecord]) -> None:
    def epochs(seed: int, n: int = 2) -> list[list[int]]:
        ds = make_dataset(numbered_clips, CFG, labels=np.arange(12), batch_size=4, shuffle=True, seed=seed)
        out = []
        for _ in range(n):
            waves, y = collect(ds)
            ids = clip_ids(waves)
            assert ids == y.tolist()  # waveform and label stay paired
            out.append(ids)
        return out

    a, b, c = epochs(7), epochs(7), epochs(8)
    assert a == b  # same seed: same sequence of epochs
    assert sorted(a[0]) == list(range(12)) and sorted(a[1]) == list(range(12))
    assert a[0] != a[1]  # new order each epoch
    assert a != c
    assert a[0] != list(range(12))


def test_cache_is_keyed_by_clips_and_config(numbered_clips: list[ClipRecord], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, second = numbered_clips[:6], numbered_clips[6:]
    w1, _ = collect(make_dataset(first, CFG, batch_size=4, cache_dir=cache))
    w2, _ = collect(make_dataset(second, CFG, batch_size=4, cache_dir=cache))
    assert clip_ids(w1) == list(range(6)) and clip_ids(w2) == list(range(6, 12))  # no cross-talk
    p1, p2 = cache_path(cache, first, CFG), cache_path(cache, second, CFG)
    assert p1 != p2
    assert clips_fingerprint(first, CFG)[:24] in p1.name
    assert cache_path(cache, first, AudioConfig(num_samples=N + 1)) != p1
    written = sorted(os.listdir(cache))
    assert any(f.startswith(p1.name) for f in written) and any(f.startswith(p2.name) for f in written)
    # a second pass reads the cache: overwrite a source file in place (same size, same mtime)
    st = os.stat(first[0].path)
    with open(first[0].path, "r+b") as fh:
        fh.seek(60)
        fh.write(b"\x00" * 100)
    os.utime(first[0].path, ns=(st.st_atime_ns, st.st_mtime_ns))
    again, _ = collect(make_dataset(first, CFG, batch_size=4, cache_dir=cache))
    np.testing.assert_array_equal(again, w1)
    # touching the file changes the key, so the stale cache is not used
    os.utime(first[0].path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cache_path(cache, first, CFG) != p1
    fresh, _ = collect(make_dataset(first, CFG, batch_size=4, cache_dir=cache))
    assert not np.array_equal(fresh[0], w1[0])
    np.testing.assert_array_equal(fresh[1:], w1[1:])


def test_cache_with_shuffle_keeps_pairs(numbered_clips: list[ClipRecord], tmp_path: Path) -> None:
    ds = make_dataset(numbered_clips, CFG, labels=np.arange(12), batch_size=3, shuffle=True, seed=1,
                      cache_dir=tmp_path / "c")
    for _ in range(2):
        waves, y = collect(ds)
        assert clip_ids(waves) == y.tolist() and sorted(y.tolist()) == list(range(12))


def test_unreadable_fallback_file_fails_at_build_time(tmp_path: Path, make_wav) -> None:
    empty = make_wav(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), subtype="FLOAT")
    with pytest.raises(AudioError, match="empty.wav"):
        make_dataset([record(empty)], CFG)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF....WAVEnothing")
    with pytest.raises(AudioError, match="junk.wav"):
        make_dataset([record(junk)], CFG)


def test_stale_cache_lock_is_removed_live_lock_is_respected(numbered_clips, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    from asd_tf.data.pipeline import prepare_cache

    cache = tmp_path / "c"
    clips = numbered_clips[:4]
    target = cache_path(cache, clips, CFG)
    cache.mkdir()
    lock = Path(f"{target}_0.lockfile")
    temp = Path(f"{target}_0.data-00000-of-00001.tempstate123")
    owner = Path(f"{target}.owner")
    # a writer that died: its pid no longer exists
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text("Created at: 0")
    temp.write_bytes(b"")
    owner.write_text(f"{socket.gethostname()} {int(dead.stdout)}\n")
    waves, _ = collect(make_dataset(clips, CFG, batch_size=4, cache_dir=cache))
    assert clip_ids(waves) == [0, 1, 2, 3]
    assert not lock.exists() and not temp.exists() and Path(f"{target}.index").exists()
    # a live writer (this process stands in for it): no cache, data still right, nothing deleted
    other = numbered_clips[4:8]
    target2 = cache_path(cache, other, CFG)
    lock2 = Path(f"{target2}_0.lockfile")
    lock2.write_text("Created at: 0")
    Path(f"{target2}.owner").write_text(f"{socket.gethostname()} {os.getpid()}\n")
    with pytest.warns(RuntimeWarning, match="another process"):
        assert prepare_cache(target2) is False
    with pytest.warns(RuntimeWarning):
        waves2, _ = collect(make_dataset(other, CFG, batch_size=4, cache_dir=cache))
    assert clip_ids(waves2) == [4, 5, 6, 7] and lock2.exists()
