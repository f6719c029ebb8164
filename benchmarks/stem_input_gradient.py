#!/usr/bin/env python
"""Ways to compute the input gradient of the reference model's spectrogram stem (issue 16, item 2).

    python benchmarks/stem_input_gradient.py [--batch-size 64] [--repeats 7] [--out FILE.json]

The stem is the 7 x 7, stride-2 convolution of the ``[B, 311, 513, 1]`` spectrogram to 16
channels, computed as a stride-1 4 x 4 convolution over the 4 channels of its 2 x 2 blocks
(``asd_tf.models.space_to_depth``). Its input gradient (needed for the weights of the
per-bin batch normalisation in front of it) is a convolution with 4 output channels, which
oneDNN runs at about a third of the forward pass's rate for the same FLOPs. This script times
(median of ``--repeats`` calls after a warm-up, each a ``tf.function``) the forward pass and
the candidate formulations of the same gradient, and checks each against TensorFlow's
``Conv2DBackpropInput`` (largest absolute difference / largest value):

* ``backprop_input``: TensorFlow's kernel on the space-to-depth layout (what the model runs);
* ``flipped_forward``: a forward "valid" convolution of the padded output gradient with the
  kernel flipped in space and its channel axes swapped (the textbook identity);
* ``backprop_input_nchw``: the same kernel with channels first;
* ``plain_stride2``: the kernel on the original 7 x 7, stride-2 layout (no space to depth);
* ``matmul_overlap_add``: the 16 -> 64 matrix product per output position, then the 4 x 4
  overlapping patches added back (rows first, then columns);
* ``blocks4_forward``: the output gradient regrouped in 2 x 2 blocks (64 channels) and the
  input in 4 x 4 blocks (16 channels): a 3 x 3 forward convolution with 16 output channels
  (2.3 x the FLOPs, shapes oneDNN vectorises fully), timed without the regrouping, which is
  timed on its own as ``regroup_output_gradient``;
* ``regrouped_columns``: what the model runs since 2026-11-30 (``asd_tf.models.regrouped_conv``,
  its ``keras.ops`` form): the columns taken 4 at a time, a forward convolution of the padded
  output gradient with stride 4 along the columns, 4 x 8 kernel, 16 to 16 channels (2 x the
  stem's space-to-depth FLOPs), padding included (the model's TensorFlow gradient passes the
  zeros as the convolution's explicit padding instead).

Results of 2026-11-30 are in ``docs/training_step_profile.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

FRAMES, BINS, FILTERS, KERNEL = 311, 513, 16, 7


def _median_ms(fn, repeats: int) -> float:
    """Median milliseconds of ``repeats`` calls after a warm-up (``profile_step``'s timing)."""
    from profile_step import _median_seconds  # this folder is on sys.path when the script runs

    return 1000 * _median_seconds(fn, (), repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None, help="JSON file for the figures")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np
    import tensorflow as tf

    from asd_tf.models.regrouped_conv import regrouped_input_gradient
    from asd_tf.models.space_to_depth import space_to_depth_conv

    b = args.batch_size
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((b, FRAMES, BINS, 1), dtype=np.float32))
    kernel = tf.constant(rng.standard_normal((KERNEL, KERNEL, 1, FILTERS), dtype=np.float32))
    y = space_to_depth_conv(x, kernel, (2, 2))
    dy = tf.constant(rng.standard_normal(tuple(y.shape), dtype=np.float32))
    _, out_h, out_w, _ = y.shape  # 156 x 257

    # The space-to-depth layout: padded input in 2 x 2 blocks (4 channels), kernel 4 x 4 x 4 x 16.
    with tf.GradientTape() as tape:
        tape.watch(x)
        reference_dx = tape.gradient(space_to_depth_conv(x, kernel, (2, 2)), x, output_gradients=dy)
    blocks = 4  # kernel size in 2 x 2 blocks
    s2d_shape = (b, out_h + blocks - 1, out_w + blocks - 1, 4)
    w = tf.constant(rng.standard_normal((blocks, blocks, 4, FILTERS), dtype=np.float32))
    ref = tf.raw_ops.Conv2DBackpropInput(input_sizes=s2d_shape, filter=w, out_backprop=dy,
                                         strides=[1, 1, 1, 1], padding="VALID")
    dy_nchw = tf.transpose(dy, [0, 3, 1, 2])

    def flipped_forward():
        flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2])
        pad = blocks - 1
        return tf.nn.conv2d(tf.pad(dy, [[0, 0], [pad, pad], [pad, pad], [0, 0]]), flipped, 1, "VALID")

    def matmul_overlap_add():
        patches = tf.matmul(tf.reshape(dy, [-1, FILTERS]), tf.reshape(tf.transpose(w, [3, 0, 1, 2]), [FILTERS, -1]))
        patches = tf.reshape(patches, [b, out_h, out_w, blocks, blocks * 4])
        rows = tf.add_n([tf.pad(patches[:, :, :, i], [[0, 0], [i, blocks - 1 - i], [0, 0], [0, 0]])
                         for i in range(blocks)])
        rows = tf.reshape(rows, [b, out_h + blocks - 1, out_w, blocks, 4])
        return tf.add_n([tf.pad(rows[:, :, :, j], [[0, 0], [0, 0], [j, blocks - 1 - j], [0, 0]])
                         for j in range(blocks)])

    candidates = {
        "backprop_input": (lambda: tf.raw_ops.Conv2DBackpropInput(
            input_sizes=s2d_shape, filter=w, out_backprop=dy, strides=[1, 1, 1, 1], padding="VALID"), ref),
        "flipped_forward": (flipped_forward, ref),
        "backprop_input_nchw": (lambda: tf.raw_ops.Conv2DBackpropInput(
            input_sizes=[b, 4, s2d_shape[1], s2d_shape[2]], filter=w, out_backprop=dy_nchw, strides=[1, 1, 1, 1],
            padding="VALID", data_format="NCHW"), tf.transpose(ref, [0, 3, 1, 2])),
        "plain_stride2": (lambda: tf.raw_ops.Conv2DBackpropInput(
            input_sizes=tf.shape(x), filter=kernel, out_backprop=dy, strides=[1, 2, 2, 1], padding="SAME"),
            reference_dx),
        "matmul_overlap_add": (matmul_overlap_add, ref),
        "regrouped_columns": (lambda: regrouped_input_gradient(dy, w, s2d_shape[1:3], 4), ref),
    }
    results = {}
    forward = tf.function(lambda: space_to_depth_conv(x, kernel, (2, 2)))
    results["forward"] = {"ms": _median_ms(forward, args.repeats)}
    for name, (fn, expected) in candidates.items():
        fn = tf.function(fn)
        got = fn()
        error = float(tf.reduce_max(tf.abs(got - expected)) / tf.reduce_max(tf.abs(expected)))
        results[name] = {"ms": _median_ms(fn, args.repeats), "relative_error": error}
    # 4 x 4 input blocks: the convolution alone (its numbers are not compared: only its speed matters here).
    dy_blocks = tf.constant(rng.standard_normal((b, out_h // 2 + 2, -(-out_w // 2) + 2, 4 * FILTERS), dtype=np.float32))
    w_blocks = tf.constant(rng.standard_normal((3, 3, 4 * FILTERS, FILTERS), dtype=np.float32))
    results["blocks4_forward"] = {"ms": _median_ms(tf.function(lambda: tf.nn.conv2d(dy_blocks, w_blocks, 1, "VALID")),
                                                   args.repeats)}
    regroup = tf.function(lambda: tf.transpose(tf.reshape(tf.pad(dy, [[0, 0], [0, out_h % 2], [0, out_w % 2], [0, 0]]),
                                                           [b, -(-out_h // 2), 2, -(-out_w // 2), 2, FILTERS]),
                                               [0, 1, 3, 2, 4, 5]))
    results["regroup_output_gradient"] = {"ms": _median_ms(regroup, args.repeats)}
    for name, r in results.items():
        extra = f"  (relative difference {r['relative_error']:.1e})" if "relative_error" in r else ""
        print(f"{name:26s} {r['ms']:7.1f} ms{extra}")
    print("@@" + json.dumps({"batch_size": b, "results": results}))
    if args.out:
        Path(args.out).write_text(json.dumps({"batch_size": b, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
