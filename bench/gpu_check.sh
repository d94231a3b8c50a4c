#!/usr/bin/env bash
# The GPU-side checks in one run (the device machine: Python 3.12, cupy-cuda13x, torch,
# pybind11, Cython; no package registry): install the carried wheels, build pyad in place,
# run the `gpu` tests and the CUDA source checks (NVRTC), then the GPU benchmark workloads.
# Carry the wheels it lacks in build/wheels/ (array-api-compat and array-api-strict; pytest,
# scipy (Lanczos, cp312) where missing): `pip download --no-deps --python-version 3.12
# --only-binary=:all: -d build/wheels array-api-compat array-api-strict pytest scipy` here.
set -uo pipefail
cd "$(dirname "$0")/.."
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
start=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if compgen -G "build/wheels/*.whl" > /dev/null; then
    python -m pip install -q --no-deps build/wheels/*.whl
fi
python -m pip install -q --no-build-isolation --no-deps -e . || exit 1
echo "build: $(( $(date +%s) - start )) s"
python -c "import pyad, cupy; print('cuda available:', pyad.cuda.is_available(), cupy.__version__)"
python -m pytest -q -p no:cacheprovider -m gpu -x tests/test_cuda.py 2>&1 | tail -15
python -m pytest -q -p no:cacheprovider -x tests/test_cuda_sources.py 2>&1 | tail -5
echo "tests: $(( $(date +%s) - start )) s"
# the GPU workloads (bench/README.md): pyad on cuda against PyTorch eager CUDA; each worker
# is bounded, and the whole at 5 minutes (tables print as each workload ends; chain_cuda first:
# the compiled frameworks' recordings make mlp_step_cuda the longest)
timeout 300 python bench/run.py chain_cuda hvp_cuda mlp_step_cuda --repeat 5 \
    --min-sample 0.05 --timeout 120 2>&1
echo "total: $(( $(date +%s) - start )) s"
