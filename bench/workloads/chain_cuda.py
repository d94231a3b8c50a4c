"""Workload `chain_cuda`: chain on a CUDA GPU: 1000 steps of h = tanh(0.9*h + 0.1) on a
float64 16-vector, the gradient of sum(h_final) w.r.t. h0, pyad (ad.grad on a CuPy array)
against PyTorch eager (.backward() on a CUDA tensor). Skipped without a usable GPU.

The vectors are tiny: this measures the per-op cost of launching GPU kernels from each
framework (some 3000 forward and 3000 backward launches a call), not arithmetic."""
import numpy as np

from bench.workloads import chain as cpu
from bench.workloads import framework

UNIT, PER_CALL = "us/step", cpu.STEPS
BASELINE, REFERENCE = "pyad-cuda", "torch-cuda"
FRAMEWORKS = {}


def verify(case, fw, out):
    """Relative check only, as chain's: the gradient is ~1e-171."""
    np.testing.assert_allclose(out, cpu.GRAD, rtol=1e-9, atol=0, err_msg=f"chain_cuda/{fw}")


@framework(FRAMEWORKS, "pyad-cuda", needs=["pyad", "cupy", "array_api_compat"], gpu="cupy")
def _pyad():
    import cupy
    import pyad as ad
    h0 = cupy.asarray(cpu.H0)
    g = ad.grad(lambda h: ad.sum(cpu._loop(ad.tanh, h)))
    return {"chain": (lambda: g(h0), lambda: cupy.asnumpy(g(h0)))}


@framework(FRAMEWORKS, "pyad-cuda-compiled", needs=["pyad", "cupy", "array_api_compat"],
           gpu="cupy")
def _pyad_compiled():
    import cupy
    import pyad as ad
    h0 = cupy.asarray(cpu.H0)
    g = ad.compile(ad.grad(lambda h: ad.sum(cpu._loop(ad.tanh, h))))
    g(h0), g(h0)                        # record and check, outside the timing
    return {"chain": (lambda: g(h0), lambda: cupy.asnumpy(g(h0)))}


@framework(FRAMEWORKS, "torch-cuda", needs=["torch"], gpu="torch")
def _torch():
    import torch
    x = torch.tensor(cpu.H0, dtype=torch.float64, device="cuda", requires_grad=True)

    def step():
        x.grad = None
        cpu._loop(torch.tanh, x).sum().backward()
        return x.grad
    return {"chain": (step, lambda: step().cpu().numpy())}
