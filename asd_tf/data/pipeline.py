"""Streaming tf.data input pipeline: clip paths -> (waveform [B, N], label [B]).

Memory does not grow with the dataset: the dataset is built from file paths
and audio is decoded clip by clip in parallel worker threads (the public
reference code loads all audio into memory, 27 GB for DCASE 2022; docs/design.md,
"The reference system").

Decoding
--------
- Fast path, in the graph: ``tf.io.read_file`` + ``tf.audio.decode_wav`` for
  16-bit PCM WAV files already at the target rate (all official DCASE clips).
  Which files qualify is decided in Python from the RIFF header before the
  dataset is built (a few bytes per file).
- Fallback: any other file (other rate, float or 24-bit WAV, FLAC, ...) goes
  through ``tf.numpy_function(load_audio)`` (soundfile + librosa).

Both give the same samples for the same file: channel mean, first
``num_samples`` samples, zero padding (tested).

``tensorflow_io`` is optional and not needed: :func:`tfio_available` reports
whether it imports (it fails with undefined symbols on some TF versions). It is
not used for decoding because its resampler differs from librosa's, so the two
paths would no longer give the same samples.

Caching
-------
With ``cache_dir`` the decoded waveforms are cached on disk with
``Dataset.cache(filename)``. The file name carries a fingerprint of the clip
list (absolute path, size and mtime of every clip, in order) and the
AudioConfig, so a cache written for other clips or settings is never read.
Labels are not cached (a different label set reuses the same cache). Because the
cache is read sequentially, shuffling with a cache uses a bounded window
(``shuffle_buffer`` clips, default 256) instead of a full permutation.

TensorFlow leaves a lock file behind when a process dies while writing a cache,
and refuses to use that cache name again. ``make_dataset`` records the writer's
host and pid beside the cache (``<cache>.owner``); a lock whose writer is gone
is removed, and while a live process is writing the same cache the dataset is
built without caching (with a warning) instead of failing.
"""

from __future__ import annotations

import glob
import hashlib
import os
import socket
import struct
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np

from ..errors import AudioError, ConfigError
from .audio import AudioConfig, load_audio, probe_audio
from .labels import LabelSet, label_array
from .order import epoch_order
from .records import ClipRecord

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

CACHE_VERSION = "wave-cache-v1"
DEFAULT_CACHE_SHUFFLE_BUFFER = 256

_TFIO_STATE: dict[str, Any] = {}


def tfio_available() -> bool:
    """True when ``tensorflow_io`` imports and its audio module is usable (never required)."""
    if "ok" not in _TFIO_STATE:
        try:
            import tensorflow_io as tfio  # noqa: F401

            _TFIO_STATE["ok"] = hasattr(tfio, "audio")
        except Exception:  # ImportError, or NotFoundError for undefined symbols in its .so files
            _TFIO_STATE["ok"] = False
    return bool(_TFIO_STATE["ok"])


def is_fast_wav(path: Union[str, os.PathLike], sample_rate: int) -> bool:
    """True if ``path`` is a RIFF/WAVE 16-bit PCM file at ``sample_rate`` with a non-empty data chunk.

    Those are exactly the files ``tf.audio.decode_wav`` decodes to the same
    samples as soundfile. Any doubt (odd header, other format) answers False
    and sends the file through the soundfile/librosa fallback.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return False
            fmt_ok = False
            while True:
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return False
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    body = fh.read(size)
                    if size not in (16, 18) or len(body) < 16:
                        return False  # WAVE_FORMAT_EXTENSIBLE etc.: leave to soundfile
                    audio_format, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
                    fmt_ok = audio_format == 1 and bits == 16 and rate == sample_rate and channels >= 1
                    if not fmt_ok:
                        return False
                elif cid == b"data":
                    # A truncated file (header size past the end) fails in decode_wav: leave it to soundfile.
                    return fmt_ok and 2 <= size <= os.fstat(fh.fileno()).st_size - fh.tell()
                else:
                    fh.seek(size + (size & 1), os.SEEK_CUR)  # chunks are word-aligned
    except OSError:
        return False


def clips_fingerprint(clips: Sequence[Union[ClipRecord, str]], config: AudioConfig) -> str:
    """SHA-1 over every clip's absolute path, size and mtime (in order) and the AudioConfig."""
    h = hashlib.sha1(f"{CACHE_VERSION};{config.fingerprint()}\n".encode())
    for clip in clips:
        path = os.path.abspath(clip.path if isinstance(clip, ClipRecord) else os.fspath(clip))
        try:
            st = os.stat(path)
            stamp = f"{st.st_size}\0{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{path}\0{stamp}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def cache_path(cache_dir: Union[str, os.PathLike], clips: Sequence[ClipRecord], config: AudioConfig) -> Path:
    """Cache file name used by :func:`make_dataset` for these clips and settings."""
    return Path(cache_dir) / f"asd_tf_waves_{clips_fingerprint(clips, config)[:24]}.tfcache"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def prepare_cache(target: Path) -> bool:
    """Make ``target`` usable as a ``Dataset.cache`` file; False if another live process is writing it.

    A complete cache (``<target>.index``) is used as is. Otherwise leftover lock
    and temporary files of a dead writer are removed and this process is
    recorded as the writer.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if Path(f"{target}.index").exists():
        return True
    owner = Path(f"{target}.owner")
    leftovers = glob.glob(glob.escape(str(target)) + "_*")
    if any(p.endswith(".lockfile") for p in leftovers):
        host, pid = "", -1
        try:
            host, pid_text = owner.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            pass  # no owner record: the lock was not left by a live make_dataset writer
        if host == socket.gethostname() and _pid_alive(pid):
            warnings.warn(f"{target}: another process (pid {pid}) is writing this cache; reading without cache",
                          RuntimeWarning, stacklevel=3)
            return False
        if host not in ("", socket.gethostname()):
            warnings.warn(f"{target}: cache locked by host {host}; reading without cache",
                          RuntimeWarning, stacklevel=3)
            return False
        for path in leftovers:  # the writer died: its partial cache is useless
            try:
                os.remove(path)
            except OSError:
                pass
    from ..io_utils import atomic_write_text

    atomic_write_text(owner, f"{socket.gethostname()} {os.getpid()}\n")
    return True


def decode_fn(config: AudioConfig, any_fast: bool = True, any_slow: bool = True):
    """``(path, fast) -> waveform [num_samples]`` for ``Dataset.map``."""
    import tensorflow as tf

    n = int(config.num_samples)

    def fast(path: tf.Tensor) -> tf.Tensor:
        audio, _ = tf.audio.decode_wav(tf.io.read_file(path), desired_channels=-1)
        mono = tf.reduce_mean(audio, axis=1)[:n]
        return tf.pad(mono, [[0, n - tf.shape(mono)[0]]])

    def slow(path: tf.Tensor) -> tf.Tensor:
        def _py(p: bytes) -> np.ndarray:
            return load_audio(p.decode("utf-8", "surrogateescape"), config)

        return tf.numpy_function(_py, [path], tf.float32, stateful=False)

    def decode(path: tf.Tensor, is_fast: tf.Tensor) -> tf.Tensor:
        if any_fast and any_slow:
            wave = tf.cond(is_fast, lambda: fast(path), lambda: slow(path))
        elif any_fast:
            wave = fast(path)
        else:
            wave = slow(path)
        return tf.ensure_shape(wave, [n])

    return decode


def make_dataset(
    clips: Sequence[ClipRecord],
    config: AudioConfig = AudioConfig(),
    labels: Union[LabelSet, Sequence[int], np.ndarray, None] = None,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int = 0,
    cache_dir: Union[str, os.PathLike, None] = None,
    repeat: bool = False,
    drop_remainder: bool = False,
    shuffle_buffer: Optional[int] = None,
    backend: str = "auto",
    epochs: Optional[tuple[int, int]] = None,
) -> "tf.data.Dataset":
    """Batched ``(waveform float32 [B, num_samples], label int32 [B])`` dataset.

    ``labels``: a LabelSet (encodes ``clips``), explicit integer labels, or
    None (-1 for every clip). ``shuffle``: seeded by ``seed``, reshuffled each
    epoch; without it the clip order is kept. ``backend``: ``"auto"`` (fast
    in-graph WAV decoding where possible) or ``"python"`` (``load_audio`` for
    every clip). ``shuffle_buffer``: clips held for shuffling (default: all
    paths without a cache; 256 decoded clips with a cache).

    ``epochs=(first, end)`` (training; needs ``shuffle`` and ``drop_remainder``):
    the batches of epochs ``first .. end - 1`` one after the other, each epoch
    in an order seeded by ``(seed, epoch)`` alone, so that a run resumed at
    epoch ``first`` sees the order an uninterrupted run saw (``asd_tf.training.resume``).
    Without a cache each epoch is a full permutation ``default_rng([seed, epoch])``;
    with one, a bounded shuffle seeded ``seed * 1000003 + epoch`` (plus TF's global seed).
    """
    import tensorflow as tf

    clips = list(clips)
    if not clips:
        raise ConfigError("make_dataset: the clip list is empty")
    if batch_size <= 0:
        raise ConfigError(f"batch_size must be positive, got {batch_size}")
    if backend not in ("auto", "python"):
        raise ConfigError(f"backend must be 'auto' or 'python', got {backend!r}")
    label_arr = label_array(clips, labels)
    paths = [os.path.abspath(c.path) for c in clips]
    if epochs is not None:
        first, end = (int(e) for e in epochs)
        if not (shuffle and drop_remainder) or not 0 <= first <= end:
            raise ConfigError(f"make_dataset: epochs={epochs} needs shuffle, drop_remainder and 0 <= first <= end")
        steps = len(paths) // batch_size

    if backend == "auto":
        fast = np.array([is_fast_wav(p, config.sample_rate) for p in paths], dtype=bool)
    else:
        fast = np.zeros(len(paths), dtype=bool)
    for p in np.asarray(paths, dtype=object)[~fast]:
        # Fail before training starts, with the file named, rather than mid-epoch.
        if probe_audio(p).frames == 0:
            raise AudioError(p, "file holds no samples")
    decode = decode_fn(config, any_fast=bool(fast.any()), any_slow=bool((~fast).any()))
    autotune = tf.data.AUTOTUNE

    target = cache_path(cache_dir, clips, config) if cache_dir is not None else None
    if target is not None and not prepare_cache(target):
        target = None

    if target is None and epochs is not None:
        # Each epoch's first steps * B positions of its own permutation: batches never straddle epochs.
        perms = [epoch_order(seed, e, len(paths))[: steps * batch_size]
                 for e in range(first, end)]
        order = np.concatenate(perms) if perms else np.zeros(0, np.int64)
        ds = tf.data.Dataset.from_tensor_slices((np.asarray(paths)[order], fast[order], label_arr[order]))
        ds = ds.map(lambda p, f, y: (decode(p, f), y), num_parallel_calls=autotune, deterministic=True)
        ds = ds.batch(batch_size, drop_remainder=True)
        return ds.prefetch(autotune)
    if target is None:
        ds = tf.data.Dataset.from_tensor_slices((paths, fast, label_arr))
        if shuffle:
            # Shuffling paths, not audio: a full permutation costs only the path strings.
            buf = shuffle_buffer or len(paths)
            ds = ds.shuffle(buf, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.map(lambda p, f, y: (decode(p, f), y), num_parallel_calls=autotune, deterministic=True)
    else:
        waves = tf.data.Dataset.from_tensor_slices((paths, fast)).map(
            decode, num_parallel_calls=autotune, deterministic=True
        ).cache(str(target))
        ds = tf.data.Dataset.zip((waves, tf.data.Dataset.from_tensor_slices(label_arr)))
        if epochs is not None:
            buf = shuffle_buffer or min(len(paths), DEFAULT_CACHE_SHUFFLE_BUFFER)
            # One dataset per epoch with a Python-int seed (a tensor seed breaks under a global TF seed).
            per_epoch = [ds.shuffle(buf, seed=seed * 1000003 + e).batch(batch_size, drop_remainder=True)
                         for e in range(first, end)]
            ds = per_epoch[0] if per_epoch else ds.take(0).batch(batch_size, drop_remainder=True)
            for more in per_epoch[1:]:
                ds = ds.concatenate(more)
            return ds.prefetch(autotune)
        if shuffle:
            buf = shuffle_buffer or min(len(paths), DEFAULT_CACHE_SHUFFLE_BUFFER)
            ds = ds.shuffle(buf, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()

    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(autotune)


def make_file_dataset(
    paths: Sequence[Union[str, os.PathLike]], config: AudioConfig = AudioConfig(), backend: str = "auto"
) -> "tf.data.Dataset":
    """Unbatched waveforms ``[num_samples]`` of arbitrary files, in order (e.g. for inference)."""
    import tensorflow as tf

    paths = [os.path.abspath(os.fspath(p)) for p in paths]
    if not paths:
        raise ConfigError("make_file_dataset: the path list is empty")
    if backend == "auto":
        fast = np.array([is_fast_wav(p, config.sample_rate) for p in paths], dtype=bool)
    else:
        fast = np.zeros(len(paths), dtype=bool)
    decode = decode_fn(config, any_fast=bool(fast.any()), any_slow=bool((~fast).any()))
    ds = tf.data.Dataset.from_tensor_slices((paths, fast))
    return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
