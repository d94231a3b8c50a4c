"""pytest-benchmark cases for pyad's kernels and the chain workload: run with `pytest bench/`."""
import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")
pytest.importorskip("pyad")

from bench.workloads import chain, kernels  # noqa: E402

ELEMENTWISE = ["exp", "log", "tanh", "sigmoid", "relu", "add", "multiply"]
FUSED_BACKWARD = ["tanh_backward", "sigmoid_backward", "relu_backward"]
REDUCTIONS = ["sum", "softmax", "log_softmax"]


@pytest.fixture(scope="module")
def pyad_cases():
    return kernels.FRAMEWORKS["pyad-1t"][1]()  # one OpenMP thread: numbers comparable to numpy


def _bench(benchmark, workload, case, fn, framework="pyad"):
    workload.verify(case, framework, np.asarray(fn()))  # a wrong kernel posts no time
    benchmark(fn)


@pytest.mark.parametrize("case", ELEMENTWISE + FUSED_BACKWARD + REDUCTIONS)
def test_kernel_1m_float32(benchmark, pyad_cases, case):
    benchmark.group = "kernels 1M float32"
    _bench(benchmark, kernels, case, pyad_cases[case])


def test_call_overhead_16(benchmark, pyad_cases):
    benchmark.group = "call overhead"
    _bench(benchmark, kernels, "tanh@16", pyad_cases["tanh@16"])


@pytest.mark.parametrize("framework", ["pyad", "pyad-backward"])
def test_chain_1000(benchmark, framework):
    benchmark.group = "chain 1000 steps (forward + backward)"
    _bench(benchmark, chain, "chain", chain.FRAMEWORKS[framework][1]()["chain"], framework)
