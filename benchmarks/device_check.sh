#!/usr/bin/env bash
# The GPU check of issue 19, as one command for the device machine (an H100/H200 with JAX on CUDA 13,
# no TensorFlow, no package registry, 64 MiB of files per call, 10 minutes per command).
#
# Here, once per session (the wheels Keras-on-JAX needs that the machine's image lacks, ~4.3 MiB):
#     bash benchmarks/device_wheels.sh                 # -> .device_wheels/ (ignored by git)
# On the device machine, through the session's `run` tool, with carry [".device_wheels"] and
# timeout_s 600 (the script stops starting sections after --budget-s, default 420 s):
#     bash benchmarks/device_check.sh
# The results JSON lands in benchmarks/results/ there and in $OUT (which comes back); copy it into
# benchmarks/results/ here and commit it. On a CPU, `bash benchmarks/device_check.sh --smoke` checks
# the script at tiny sizes (a couple of minutes).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || PY=python
if ! "$PY" -c "import keras, soundfile" 2>/dev/null && ls .device_wheels/*.whl >/dev/null 2>&1; then
  # --target: a private site folder, so nothing of the image's own environment is changed.
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/asd_site \
    .device_wheels/*.whl || { echo "device_check: installing the carried wheels failed"; exit 1; }
  export PYTHONPATH=/tmp/asd_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0
# JAX takes 75 % of the GPU's memory at start by default; the pipeline section starts a second JAX
# process, so both allocate on demand instead.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
echo "== nvidia-smi"; nvidia-smi || echo "nvidia-smi: not available"
"$PY" -c "import keras, jax; print('keras', keras.__version__, 'on', keras.backend.backend(), '| jax', jax.__version__, jax.devices())" \
  || { echo "device_check: keras on jax does not import (wheels carried? see benchmarks/device_wheels.sh)"; exit 1; }
exec "$PY" benchmarks/device_check.py "$@"
