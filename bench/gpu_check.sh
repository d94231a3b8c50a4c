#!/usr/bin/env bash
# The GPU-side checks in one run (the device machine: Python 3.12, cupy-cuda13x, torch,
# pybind11, Cython; no package registry): install the carried wheels, build pyad in place,
# run the `gpu` tests, then a short GPU timing. Carry the wheels it lacks in build/wheels/
# (array-api-compat, array-api-strict, pytest if missing): pip download them here first.
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
echo "tests: $(( $(date +%s) - start )) s"
python - <<'PY'
import time
import numpy as np
import pyad as ad

def median_time(f, n=30):
    f(); ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ad.backend.cuda.backend().cupy.cuda.Device().synchronize()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))

for name, sizes, batch in (("M", (784, 512, 512, 10), 128), ("L", (1024, 2048, 2048, 10), 256)):
    model = ad.nn.MLP(list(sizes), activation="relu", seed=0).to("cuda")
    opt = ad.optim.SGD(model.parameters(), lr=0.0)
    rng = np.random.default_rng(0)
    x = ad.tensor(rng.normal(size=(batch, sizes[0])).astype(np.float32), device="cuda")
    y = ad.tensor(rng.integers(0, 10, batch), device="cuda")
    def step():
        opt.zero_grad()
        ad.nn.softmax_cross_entropy(model(x), y).backward()
        opt.step()
    print(f"pyad mlp_step {name} float32 on cuda: {median_time(step) * 1e3:.3f} ms")
PY
echo "total: $(( $(date +%s) - start )) s"
