"""Where a CUDA MLP step's time goes, pyad against torch on the same GPU: each step's wall,
host-enqueue and GPU-kernel time, the top kernels by GPU time (torch.profiler's CUPTI tracing
sees every kernel the process launches, CuPy's and cuBLAS's included), pyad's host time by
function (cProfile), and the host cost of single calls of the CuPy paths pyad's kernels take.

    python bench/cuda_profile.py [--cases M L XL] [--steps 20] [--top 15]
        [--frameworks pyad-cuda-adam pyad-cuda-compiled-adam torch-cuda-adam] [--no-call-costs]

Run by bench/gpu_check.sh after the benchmarks; needs a CUDA GPU, CuPy and torch.
"""
import argparse
import cProfile
import io
import os
import pstats
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.workloads import mlp_step_cuda as workload  # noqa: E402
from bench.workloads.mlp_step import pyad_case, torch_case  # noqa: E402


FRAMEWORKS = ("pyad-cuda", "pyad-cuda-gpu-labels", "pyad-cuda-compiled", "torch-cuda",
              "pyad-cuda-adam", "pyad-cuda-compiled-adam", "torch-cuda-adam")


def steps(case, frameworks):
    """{framework: step} for one case, each recorded/warmed outside the profile."""
    import cupy
    sizes, _ = workload.SIZES[case]
    ws, bs, x, y = workload.data(case)
    make = {"pyad-cuda": lambda: pyad_case(sizes, ws, bs, x, y, device="cuda")[0],
            "pyad-cuda-gpu-labels": lambda: pyad_case(sizes, ws, bs, x, cupy.asarray(y),
                                                      device="cuda")[0],
            "pyad-cuda-compiled": lambda: pyad_case(sizes, ws, bs, x, y, device="cuda",
                                                    compiled=True)[0],
            "torch-cuda": lambda: torch_case(ws, bs, x, y, device="cuda")[0],
            "pyad-cuda-adam": lambda: pyad_case(sizes, ws, bs, x, y, device="cuda",
                                                optimizer="adam")[0],
            "pyad-cuda-compiled-adam": lambda: pyad_case(sizes, ws, bs, x, y, device="cuda",
                                                         compiled=True, optimizer="adam")[0],
            "torch-cuda-adam": lambda: torch_case(ws, bs, x, y, device="cuda",
                                                  optimizer="adam")[0]}
    return {name: make[name]() for name in frameworks}


def sync():
    import cupy
    cupy.cuda.Device().synchronize()
    if "torch" in sys.modules:
        sys.modules["torch"].cuda.synchronize()


def profiled(step, n):
    """The torch.profiler of n steps (after 3 warm ones)."""
    from torch.profiler import ProfilerActivity, profile
    for _ in range(3):
        step()
    sync()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(n):
            step()
        sync()
    return prof


def timeline(step, prof, n):
    """Per step: wall time of n steps, the host's time to enqueue them (a host that waits on
    the GPU inside a step shows enqueue ~ wall), GPU kernel time and kernel launches (with a
    profile of them)."""
    best = None
    for _ in range(3):
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        t1 = time.perf_counter()
        sync()
        t2 = time.perf_counter()
        if best is None or t2 - t0 < best[1]:
            best = (t1 - t0, t2 - t0)
    gpu, launches = 0.0, 0
    for e in prof.key_averages() if prof is not None else ():
        t = getattr(e, "self_device_time_total", None)
        if t is None:
            t = getattr(e, "self_cuda_time_total", 0.0)
        if t > 0:
            gpu += t
            launches += e.count
    return (f"wall {best[1] / n * 1e6:8.1f} us  host enqueue {best[0] / n * 1e6:8.1f} us  "
            f"GPU kernels {gpu / n:8.1f} us  launches {launches / n:5.1f} per step")


def host_profile(step, n, top):
    """The top Python functions by own and by cumulative time over n steps (the host's side
    of the step)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        step()
    sync()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def _enter_exit(device):
    with device:
        pass


def call_costs():
    """Host microseconds per call (1000 calls, enqueue only) of the CuPy paths pyad's
    kernels take, and torch's for the same work, on small arrays (launch-bound)."""
    import cupy
    import torch
    import pyad as ad
    from pyad import backend
    from pyad.backend import cuda_gemm
    be = backend.backend_of(cupy.zeros(1)) if hasattr(backend, "backend_of") else None
    x, y = cupy.ones((128, 512), cupy.float32), cupy.ones((128, 512), cupy.float32)
    b = cupy.ones(512, cupy.float32)
    w = cupy.ones((512, 512), cupy.float32)
    lab = np.zeros(128, np.int64)
    tx, tw = torch.ones((128, 512), device="cuda"), torch.ones((512, 512), device="cuda")
    relu = cupy.ElementwiseKernel("T x", "T y", "y = x > 0 ? x : (T)0", "prof_relu")
    raw = cupy.RawKernel(r'''extern "C" __global__ void k(const float* x, float* y, long long n)
        { long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; if (i < n) y[i] = x[i]; }''',
                         "k")
    out = cupy.empty_like(x)
    n = np.int64(x.size)
    cases = {
        "cupy.empty": lambda: cupy.empty((128, 512), cupy.float32),
        "with x.device: (enter+exit)": lambda: _enter_exit(x.device),
        "ElementwiseKernel relu": lambda: relu(x),
        "RawKernel launch": lambda: raw((x.size // 256,), (256,), (x, out, n)),
        "cupy x + b (broadcast)": lambda: x + b,
        "cupy x * y": lambda: x * y,
        "cupy x.sum(axis=0)": lambda: x.sum(axis=0),
        "cupy.matmul 128x512x512": lambda: cupy.matmul(x, w),
        "cupy.asarray(numpy int labels)": lambda: cupy.asarray(lab),
        "pyad ad.relu(x) (cupy)": lambda: ad.relu(x),
        "pyad matmul x @ w (Tensor)": None,
        "torch relu": lambda: torch.relu(tx),
        "torch x + x": lambda: tx + tx,
        "torch mm 128x512x512": lambda: torch.mm(tx, tw),
    }
    tx_ = ad.tensor(x)
    tw_ = ad.tensor(w, requires_grad=True)
    cases["pyad matmul x @ w (Tensor)"] = lambda: tx_ @ tw_
    cases["pyad matmul, no tape (arrays)"] = lambda: ad.matmul(x, w)
    gemm = getattr(be, "_gemm", None)
    if gemm is not None:
        cases["pyad Gemm (ctypes cuBLAS)"] = lambda: gemm(x, w)
        sgemm, one, zero = gemm._gemm[np.dtype(np.float32)][:3]
        handle = gemm._handle()
        c = cupy.empty((128, 512), cupy.float32)
        args = (handle, 0, 0, 512, 128, 512, one, w.data.ptr, 512, x.data.ptr, 512, zero,
                c.data.ptr, 512)
        cases["  cublasSgemm_v2 call alone"] = lambda: sgemm(*args)
        cases["  cublasSetStream_v2 alone"] = lambda: gemm._set_stream(handle, 0)
        cases["  Gemm._handle (get, compare)"] = gemm._handle
        cases["  gemm_plan"] = lambda: cuda_gemm.gemm_plan(x, w)
    bias = cupy.ones(512, cupy.float32)
    cases["pyad add kernel (bias row)"] = lambda: be.kernels["add"](x, bias)
    cases["pyad relu kernel"] = lambda: be.kernels["relu"](x)
    cases["pyad sgd update (in place)"] = lambda: be.updates["sgd"](
        w, w, None, 1e-20, 0.0, 0.0, False, 0.0, False)
    lines = []
    for name, fn in cases.items():
        try:
            for _ in range(20):
                fn()
            sync()
            t0 = time.perf_counter()
            for _ in range(1000):
                fn()
            t1 = time.perf_counter()
            sync()
            lines.append(f"{name:36s} {(t1 - t0) * 1e3:7.2f} us/call")
        except Exception as e:      # a path this CuPy lacks: say so, go on
            lines.append(f"{name:36s} failed: {type(e).__name__}: {e}")
    return "\n".join(lines)


def cuda_gemm_library():
    """The libcublas this process loaded (CuPy's, or torch's where torch came first)."""
    from pyad.backend import cuda, cuda_gemm
    cuda.backend()
    return cuda_gemm.loaded_library("libcublas")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["M", "L", "XL"],
                        choices=list(workload.SIZES))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS[:4]),
                        choices=FRAMEWORKS, help="default: the SGD steps")
    parser.add_argument("--no-call-costs", action="store_true",
                        help="skip the table of single calls' host cost")
    parser.add_argument("--no-torch", action="store_true",
                        help="never import torch (a process like the benchmark's pyad "
                             "workers): timelines only, no kernel tables or call costs")
    args = parser.parse_args()
    if args.no_torch:
        args.frameworks = [f for f in args.frameworks if not f.startswith("torch-cuda")]
    else:
        import torch
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        if not args.no_call_costs:
            print("== host cost of single calls", flush=True)
            print(call_costs(), flush=True)
    print("libcublas:", cuda_gemm_library(), flush=True)
    for case in args.cases:
        for framework, step in steps(case, args.frameworks).items():
            prof = None if args.no_torch else profiled(step, args.steps)
            line = timeline(step, prof, args.steps)
            graphs = f" (CUDA graphs: {step.graphs})" if hasattr(step, "graphs") else ""
            print(f"== {case} {framework}: {line}{graphs}", flush=True)
            if prof is not None and case == "XL" and framework in ("pyad-cuda", "torch-cuda"):
                print(prof.key_averages().table(sort_by="cuda_time_total",
                                                row_limit=args.top), flush=True)
            if prof is not None and case == "L" and framework == "pyad-cuda":
                print(host_profile(step, args.steps, 30), flush=True)


if __name__ == "__main__":
    main()
