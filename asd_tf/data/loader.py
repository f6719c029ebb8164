"""Training batches without TensorFlow: a ``keras.utils.PyDataset`` over clip files (soundfile + NumPy).

For Keras on JAX or PyTorch, where ``tf.data`` is not available. It yields the
batches of :func:`asd_tf.data.pipeline.make_dataset` (without a cache), the same
arrays in the same order:

- each clip through :func:`~asd_tf.data.audio.load_audio` (channel mean, resampling
  by librosa when needed, first ``num_samples`` samples, zero padding), the
  reference that the in-graph WAV decoding of the tf.data pipeline is tested against;
- ``(waveforms float32 [B, num_samples], labels int32 [B])``, labels as
  ``make_dataset`` encodes them (a LabelSet, integers, or -1 for none);
- ``epochs=(first, end)`` (training): the batches of epochs ``first .. end - 1`` one
  after the other, epoch ``e`` in the order ``default_rng([seed, e]).permutation``,
  its last partial batch dropped, so a run resumed at ``first`` sees the order an
  uninterrupted run saw (``asd_tf.training.resume``); use it with
  ``fit(..., initial_epoch=first, steps_per_epoch=len(dataset) // (end - first), shuffle=False)``:
  Keras then reads the batches in order across epochs (``shuffle=True``, fit's
  default, would permute the batch indices of a PyDataset);
- without ``shuffle``: the clips in order, the last batch partial unless
  ``drop_remainder``.

``shuffle=True`` without ``epochs`` reshuffles at every ``on_epoch_end`` with
``default_rng([seed, epoch])``; ``tf.data``'s own shuffle draws from TensorFlow's
generator, so that one order differs from the tf.data pipeline's.

Clips are read in ``workers`` threads (libsndfile releases the GIL while decoding).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence, Union

import keras
import numpy as np

from ..errors import AudioError, ConfigError
from .audio import AudioConfig, load_audio, probe_audio
from .labels import LabelSet, label_array
from .order import epoch_order
from .records import ClipRecord


class WaveformBatches(keras.utils.PyDataset):
    """Batches ``(waveforms [B, num_samples] float32, labels [B] int32)`` read with soundfile.

    Args:
        clips: the clips (``ClipRecord``), in their index order.
        config: sample rate and clip length (:class:`~asd_tf.data.audio.AudioConfig`).
        labels: a ``LabelSet`` (encodes ``clips``), one integer per clip, or None (-1).
        batch_size: clips per batch ``B``.
        shuffle: shuffle the clips (see the module docstring for the order).
        seed: seed of the shuffle.
        drop_remainder: drop the last batch if it has fewer than ``B`` clips.
        epochs: ``(first, end)``: the training sequence of epochs ``first .. end - 1``
            (needs ``shuffle`` and ``drop_remainder``), as ``make_dataset(epochs=...)``.
        workers, use_multiprocessing, max_queue_size: ``keras.utils.PyDataset`` arguments
            (``workers`` threads by default: 4, at most the CPU count).
    """

    def __init__(
        self,
        clips: Sequence[ClipRecord],
        config: AudioConfig = AudioConfig(),
        labels: Union[LabelSet, Sequence[int], np.ndarray, None] = None,
        batch_size: int = 64,
        shuffle: bool = False,
        seed: int = 0,
        drop_remainder: bool = False,
        epochs: Optional[tuple[int, int]] = None,
        workers: Optional[int] = None,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ):
        if workers is None:
            workers = min(4, os.cpu_count() or 1)
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        clips = list(clips)
        if not clips:
            raise ConfigError("WaveformBatches: the clip list is empty")
        if int(batch_size) <= 0:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        self.config = config
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_remainder = bool(drop_remainder)
        self.paths = [os.path.abspath(c.path) for c in clips]
        self.labels = label_array(clips, labels)
        n = len(self.paths)
        self.steps_per_epoch = n // self.batch_size if self.drop_remainder else -(-n // self.batch_size)
        if epochs is not None:
            first, end = (int(e) for e in epochs)
            if not (self.shuffle and self.drop_remainder) or not 0 <= first <= end:
                raise ConfigError(
                    f"WaveformBatches: epochs={epochs} needs shuffle, drop_remainder and 0 <= first <= end"
                )
            self.epochs: Optional[tuple[int, int]] = (first, end)
        else:
            self.epochs = None
        self._epoch = 0  # epoch counter of the plain shuffle mode (advanced by on_epoch_end)
        for path in self.paths:
            # Fail before training starts, with the file named, rather than mid-epoch (as make_dataset).
            if probe_audio(path).frames == 0:
                raise AudioError(path, "file holds no samples")

    def _order(self, epoch: int) -> np.ndarray:
        n = len(self.paths)
        if not self.shuffle:
            return np.arange(n)
        return epoch_order(self.seed, epoch, n)

    def __len__(self) -> int:
        if self.epochs is not None:
            return self.steps_per_epoch * (self.epochs[1] - self.epochs[0])
        return self.steps_per_epoch

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        if self.epochs is not None:
            epoch, step = self.epochs[0] + index // self.steps_per_epoch, index % self.steps_per_epoch
        else:
            epoch, step = self._epoch, index
        order = self._order(epoch)[step * self.batch_size : (step + 1) * self.batch_size]
        waves = np.stack([load_audio(self.paths[i], self.config) for i in order])
        return waves.astype(np.float32, copy=False), self.labels[order].astype(np.int32, copy=False)

    def on_epoch_end(self) -> None:
        self._epoch += 1
