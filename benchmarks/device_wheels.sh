#!/usr/bin/env bash
# Collect the wheels that Keras-on-JAX and this toolkit need on the GPU check machine and that its
# image lacks (see benchmarks/device_check.sh): keras and its pure-Python / small deps that the
# image does not hold (namex, optree), and soundfile for the training pipeline (cffi, pycparser).
# The image already holds jax (CUDA 13), numpy, scipy, scikit-learn, h5py, ml-dtypes, rich,
# absl-py, packaging, pyyaml, tqdm, matplotlib, typing-extensions.
#
#   bash benchmarks/device_wheels.sh [DEST]      (default DEST: .device_wheels, ignored by git)
#
# Versions are the ones this project's venv runs (keep one version of each: two stop the install).
# The machine's Python is 3.12 on x86-64, so the wheels are fetched for that, whatever this machine is.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.device_wheels}
mkdir -p "$dest"
rm -f "$dest"/*.whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$dest" \
  keras==3.15.1 namex==0.1.0 optree==0.20.0 soundfile==0.14.0 cffi==2.1.1 pycparser==3.12
ls -l "$dest"/*.whl
total=$(du -cb "$dest"/*.whl | tail -1 | cut -f1)
python3 -c "import sys; t=int(sys.argv[1]); print(f'total {t/2**20:.1f} MiB of wheels (limit for everything carried: 64 MiB)'); sys.exit(t >= 64*2**20)" "$total"
