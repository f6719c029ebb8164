"""Streaming embedding extraction with an on-disk cache keyed by model and clip list."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..io_utils import atomic_save_npy


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-1 of a file's bytes (identifies a saved model)."""
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _tf_data_batches(clips: Sequence, audio_config, batch_size: int) -> Iterator[Any]:
    """Waveform batches from the ``tf.data`` pipeline (parallel, in-graph WAV decoding)."""
    from ..data.pipeline import make_dataset

    for waveforms, _ in make_dataset(list(clips), audio_config, batch_size=batch_size, shuffle=False):
        yield waveforms


def _numpy_batches(clips: Sequence, audio_config, batch_size: int) -> Iterator[np.ndarray]:
    """Waveform batches ``[b, num_samples]`` decoded with :func:`asd_tf.data.audio.load_audio`, no TensorFlow.

    The same samples as the ``tf.data`` path (its fallback decoder is this function;
    its fast WAV path is tested equal to it).
    """
    from ..data.audio import load_audio

    for start in range(0, len(clips), batch_size):
        yield np.stack([load_audio(clip.path, audio_config) for clip in clips[start : start + batch_size]])


#: Keras backend -> source of waveform batches; any other backend decodes with NumPy.
_BATCH_SOURCES: dict[str, Callable[[Sequence, Any, int], Iterator[Any]]] = {"tensorflow": _tf_data_batches}


def waveform_batches(clips: Sequence, audio_config, batch_size: int) -> Iterator[Any]:
    """Batches of ``clips``' waveforms in order: ``tf.data`` on TensorFlow, NumPy elsewhere."""
    import keras

    source = _BATCH_SOURCES.get(keras.backend.backend(), _numpy_batches)
    return source(list(clips), audio_config, batch_size)


def extract_embeddings(
    model,
    clips: Sequence,
    audio_config,
    batch_size: int = 64,
    progress: bool = True,
    description: str = "embeddings",
) -> np.ndarray:
    """Embeddings ``[n_clips, D]`` of ``clips`` in order, streamed batch by batch (any Keras backend)."""
    from keras import ops

    if not clips:
        return np.zeros((0, int(model.output_shape[-1])), dtype=np.float32)
    outputs = []
    iterator = waveform_batches(clips, audio_config, batch_size)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, total=-(-len(clips) // batch_size), desc=description, unit="batch", leave=False)
    for waveforms in iterator:
        outputs.append(np.asarray(ops.convert_to_numpy(model(waveforms, training=False)), dtype=np.float32))
    return np.concatenate(outputs, axis=0)


def cached_embeddings(
    model,
    model_path: str | Path,
    clips: Sequence,
    audio_config,
    cache_dir: str | Path,
    batch_size: int = 64,
    progress: bool = True,
    description: str = "embeddings",
) -> np.ndarray:
    """Like :func:`extract_embeddings`, reusing ``cache_dir/<key>.npy`` when model and clips are unchanged.

    The key hashes the model file, the clip list and the audio settings, so a
    cache is never reused for another model or dataset.
    """
    from ..data.pipeline import clips_fingerprint

    key = hashlib.sha1((file_digest(model_path) + clips_fingerprint(clips, audio_config)).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"{key}.npy"
    if path.exists():
        try:
            cached = np.load(path)
        except (ValueError, OSError, EOFError) as exc:  # truncated or overwritten: recompute, never fail
            import sys

            print(f"asd-tf: {path}: unreadable embeddings cache ({type(exc).__name__}); recomputing",
                  file=sys.stderr, flush=True)
        else:
            if cached.ndim == 2 and cached.shape[0] == len(clips):
                return cached
    embeddings = extract_embeddings(model, clips, audio_config, batch_size, progress, description)
    atomic_save_npy(path, embeddings)
    return embeddings
