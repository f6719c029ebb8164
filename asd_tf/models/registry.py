"""Backbone registry: ``--backbone NAME`` -> builder function.

Builders are imported lazily so that adding a backbone never slows the others.
Every builder has the signature ``build(num_samples: int, **options) -> keras.Model``
and returns a model mapping waveforms ``[batch, num_samples]`` to embeddings,
made of two sub-models named ``frontend`` and ``embedder``.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ConfigError

BACKBONES: dict[str, str] = {
    "reference": "asd_tf.models.reference:build_reference_model",
    "stgram_mfn": "asd_tf.models.stgram:build_stgram_mfn",
    "tastgram": "asd_tf.models.stgram:build_tastgram",
    "lowcomplexity_attention": "asd_tf.models.lowcomplexity:build_lowcomplexity_attention",
    "fgaspecnet": "asd_tf.models.fgaspecnet:build_fgaspecnet",
}


def build_backbone(name: str, num_samples: int, **options: Any):
    """Build the embedding model ``name`` for clips of ``num_samples`` samples."""
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    module_name, func_name = BACKBONES[name].split(":")
    builder = getattr(importlib.import_module(module_name), func_name)
    return builder(num_samples=num_samples, **options)
