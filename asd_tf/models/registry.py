"""Backbone registry: ``--backbone NAME`` -> builder function.

Builders are imported lazily so that adding a backbone never slows the others.
Every builder has the signature ``build(num_samples: int, **options) -> keras.Model``
and returns a model mapping waveforms ``[batch, num_samples]`` to embeddings,
made of two sub-models named ``frontend`` and ``embedder``. Adding a backbone is
one line here (or ``@BACKBONES.register("name")`` on a builder in a module listed here).
"""

from __future__ import annotations

from typing import Any

from ..registry import Registry

BACKBONES = Registry("backbone", {
    "reference": "asd_tf.models.reference:build_reference_model",
    "stgram_mfn": "asd_tf.models.stgram:build_stgram_mfn",
    "tastgram": "asd_tf.models.stgram:build_tastgram",
    "lowcomplexity_attention": "asd_tf.models.lowcomplexity:build_lowcomplexity_attention",
    "fgaspecnet": "asd_tf.models.fgaspecnet:build_fgaspecnet",
})


def build_backbone(name: str, num_samples: int, **options: Any):
    """Build the embedding model ``name`` for clips of ``num_samples`` samples (unknown name -> ConfigError)."""
    return BACKBONES.build(name, num_samples=num_samples, **options)
