"""Workload `kernels`: single kernels on 1M float32 (and a 16-element call) vs numpy and torch."""
from types import SimpleNamespace

import numpy as np

from bench.workloads import framework

N = 1 << 20
UNIT, PER_CALL = "us", 1
BASELINE, REFERENCE = "pyad-1t", "numpy"
FRAMEWORKS = {}

_rng = np.random.default_rng(0)
X, B, G = (_rng.standard_normal(N).astype(np.float32) for _ in range(3))
D = dict(X=X, B=B, G=G, XPOS=np.abs(X) + np.float32(0.5), Y_TANH=np.tanh(X),
         Y_SIG=(1 / (1 + np.exp(-X))).astype(np.float32), X16=X[:16].copy(),
         A256=_rng.standard_normal((256, 256)).astype(np.float32),
         B256=_rng.standard_normal((256, 256)).astype(np.float32))


def _np_cases(d, mm=np.matmul):
    """numpy spelling of every case, on the arrays in d (float32 to time, float64 to check)."""
    x, b, g, xpos, yt, ys = d["X"], d["B"], d["G"], d["XPOS"], d["Y_TANH"], d["Y_SIG"]

    def softmax(x):
        e = np.exp(x - x.max())
        return e / e.sum()

    def log_softmax(x):
        z = x - x.max()
        return z - np.log(np.exp(z).sum())
    return {
        "exp": lambda: np.exp(x), "log": lambda: np.log(xpos), "tanh": lambda: np.tanh(x),
        "sigmoid": lambda: 1 / (1 + np.exp(-x)), "relu": lambda: np.maximum(x, 0),
        "add": lambda: x + b, "multiply": lambda: x * b, "sum": lambda: x.sum(),
        "tanh_backward": lambda: g * (1 - yt * yt),
        "sigmoid_backward": lambda: g * ys * (1 - ys),
        "relu_backward": lambda: np.where(x > 0, g, 0),
        "softmax": lambda: softmax(x), "log_softmax": lambda: log_softmax(x),
        "tanh@16": lambda: np.tanh(d["X16"]),
        "gemm256": lambda: mm(d["A256"], d["B256"]),
        "gemm256+tanh": lambda: (mm(d["A256"], d["B256"]), np.tanh(x))[1],
    }


_REF = {}
_ATOL = {"sum": 1e-6 * float(np.abs(X, dtype=np.float64).sum()), "softmax": 1e-12,
         "gemm256": 1e-3}


def verify(case, fw, out):
    """Compare with the numpy formula evaluated in float64 on the same float32 inputs."""
    if not _REF:
        _REF.update((k, f()) for k, f in _np_cases({k: v.astype(np.float64)
                                                    for k, v in D.items()}).items())
    np.testing.assert_allclose(out.astype(np.float64), _REF[case], rtol=1e-4,
                               atol=_ATOL.get(case, 1e-5), err_msg=f"kernels/{case}/{fw}")


def _pyad(threads):
    def setup():
        import pyad
        from pyad import _C
        from pyad.backend._blas import matmul
        pyad.set_num_threads(threads)
        return _kernel_cases(_C.kernels, D, matmul)
    return setup


def _torch(threads):
    def setup():
        import torch
        torch.set_num_threads(threads)
        aten = torch.ops.aten
        ops = dict(exp=torch.exp, log=torch.log, tanh=torch.tanh, sigmoid=torch.sigmoid,
                   relu=torch.relu, add=torch.add, multiply=torch.mul, sum=torch.sum,
                   tanh_backward=aten.tanh_backward, sigmoid_backward=aten.sigmoid_backward,
                   relu_backward=lambda g, x: aten.threshold_backward(g, x, 0),
                   softmax=lambda x: torch.softmax(x, 0),
                   log_softmax=lambda x: torch.log_softmax(x, 0))
        return _kernel_cases(SimpleNamespace(**ops), {k: torch.from_numpy(v) for k, v in D.items()},
                             torch.mm)
    return setup


def _kernel_cases(k, d, mm):
    """Cases for a module `k` of one-call kernels named like pyad._C.kernels' (pyad, torch)."""
    x, b, g = d["X"], d["B"], d["G"]
    return {
        "exp": lambda: k.exp(x), "log": lambda: k.log(d["XPOS"]), "tanh": lambda: k.tanh(x),
        "sigmoid": lambda: k.sigmoid(x), "relu": lambda: k.relu(x),
        "add": lambda: k.add(x, b), "multiply": lambda: k.multiply(x, b), "sum": lambda: k.sum(x),
        "tanh_backward": lambda: k.tanh_backward(g, d["Y_TANH"]),
        "sigmoid_backward": lambda: k.sigmoid_backward(g, d["Y_SIG"]),
        "relu_backward": lambda: k.relu_backward(g, x),
        "softmax": lambda: k.softmax(x), "log_softmax": lambda: k.log_softmax(x),
        "tanh@16": lambda: k.tanh(d["X16"]),
        "gemm256": lambda: mm(d["A256"], d["B256"]),
        "gemm256+tanh": lambda: (mm(d["A256"], d["B256"]), k.tanh(x))[1],
    }


for _t in (1, 2):
    framework(FRAMEWORKS, f"pyad-{_t}t", needs=["pyad"])(_pyad(_t))
framework(FRAMEWORKS, "numpy", needs=["numpy"])(lambda: _np_cases(D))
for _t in (1, 2):
    framework(FRAMEWORKS, f"torch-{_t}t", needs=["torch"])(_torch(_t))
