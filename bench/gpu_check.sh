#!/usr/bin/env bash
# The GPU-side checks in one run (the device machine: Python 3.12, cupy-cuda13x, torch,
# pybind11, Cython, pytest-xdist; no package registry): install the carried wheels, build pyad
# in place, run the `gpu` tests and the CUDA source checks (NVRTC), then the GPU benchmark
# workloads. Every failure is reported (no -x): a lent GPU is rare, so one run must show all.
# Carry the wheels it lacks in build/wheels/ (array-api-compat, array-api-strict):
#   pip download --no-deps --python-version 3.12 --only-binary=:all: -d build/wheels \
#       array-api-compat array-api-strict
# Logs go to $OUT (the device tool's folder) when it is set, else to build/gpu_check/.
# Environment: TEST_SECONDS (default 180), BENCH_SECONDS (default 180), PROFILE_SECONDS
# (default 60) and ADAM_SECONDS (default 45) bound the four parts; WORKLOADS (default
# "chain_cuda hvp_cuda mlp_step_cuda") picks the benchmarks and BENCH_ROUNDS (default 1) how
# many times each framework runs them.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOGS=${OUT:-build/gpu_check}
mkdir -p "$LOGS"
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
export CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-/tmp/pyad_cupy_cache}     # shared by the test workers
start=$(date +%s)
elapsed() { echo "$1: $(( $(date +%s) - start )) s"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if compgen -G "build/wheels/*.whl" > /dev/null; then
    $PY -m pip install -q --no-deps build/wheels/*.whl || exit 1
fi
PYAD_BUILD_QUIET=1 $PY -m pip install -q --no-build-isolation --no-deps -e . \
    > "$LOGS/build.log" 2>&1 || { tail -30 "$LOGS/build.log"; exit 1; }
elapsed build
$PY -c "import pyad, cupy; print('cuda available:', pyad.cuda.is_available(), 'cupy', cupy.__version__)"
# the generated GPU suite is thousands of small cases: spread them over the CPUs (NVRTC
# compiles dominate the first use of each kernel; the on-disk cache above is shared)
workers=()
if $PY -c "import xdist" 2>/dev/null; then workers=(-n "$(( $(nproc) > 12 ? 12 : $(nproc) ))"); fi
timeout "${TEST_SECONDS:-180}" $PY -m pytest -q -p no:cacheprovider -m gpu "${workers[@]}" \
    --tb=short -rfE tests/test_cuda.py tests/test_cuda_sources.py > "$LOGS/pytest.log" 2>&1
echo "pytest exit: $?"
grep -E "^(FAILED|ERROR)" "$LOGS/pytest.log" | cut -c1-200 | head -60
tail -3 "$LOGS/pytest.log"
elapsed tests
# the GPU workloads (bench/README.md): pyad on cuda against PyTorch eager CUDA; each worker
# is bounded; tables print as each workload ends (chain_cuda first: the compiled frameworks'
# recordings make mlp_step_cuda the longest)
timeout "${BENCH_SECONDS:-180}" $PY bench/run.py ${WORKLOADS:-chain_cuda hvp_cuda mlp_step_cuda} \
    --repeat 5 --min-sample 0.05 --rounds "${BENCH_ROUNDS:-1}" --timeout 120 2>&1 \
    | tee "$LOGS/bench.log"
# where the MLP steps' time goes (each kernel's GPU time, pyad's host time): for the next
# round of GPU work, in $LOGS/profile.log
timeout "${PROFILE_SECONDS:-60}" $PY bench/cuda_profile.py > "$LOGS/profile.log" 2>&1
echo "profile exit: $? ($LOGS/profile.log)"
grep "^== [MLX]" "$LOGS/profile.log"
# the Adam steps: eager, compiled (one CUDA graph launch) and torch's
timeout "${ADAM_SECONDS:-45}" $PY bench/cuda_profile.py --cases M L --no-call-costs \
    --frameworks pyad-cuda-adam pyad-cuda-compiled-adam torch-cuda-adam > "$LOGS/adam.log" 2>&1
echo "adam profile exit: $? ($LOGS/adam.log)"
grep "^== [MLX]" "$LOGS/adam.log"
elapsed total
