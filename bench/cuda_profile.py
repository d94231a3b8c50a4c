"""Where a CUDA MLP step's time goes, pyad against torch on the same GPU: each kernel's GPU time
(torch.profiler's CUPTI tracing sees every kernel the process launches, CuPy's and cuBLAS's
included) and the host's Python time (cProfile), for bench/workloads/mlp_step_cuda's steps.

    python bench/cuda_profile.py [--cases M XL] [--steps 20] [--top 15]

Run by bench/gpu_check.sh after the benchmarks; needs a CUDA GPU, CuPy and torch.
"""
import argparse
import cProfile
import io
import os
import pstats
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.workloads import mlp_step_cuda as workload  # noqa: E402
from bench.workloads.mlp_step import pyad_case, torch_case  # noqa: E402


def steps(case):
    """{framework: step} for one case, each recorded/warmed outside the profile."""
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    sizes, _ = workload.SIZES[case]
    data = workload.data(case)
    return {"pyad-cuda": pyad_case(sizes, *data, device="cuda")[0],
            "torch-cuda": torch_case(*data, device="cuda")[0]}


def kernel_table(step, n, top):
    """The top kernels by total GPU time over n steps, as torch.profiler prints them."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(n):
            step()
        torch.cuda.synchronize()
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=top)


def host_profile(step, n, top):
    """The top Python functions by own time over n steps (the host's side of the step)."""
    import cupy
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        step()
    cupy.cuda.Device().synchronize()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["M", "XL"], choices=list(workload.SIZES))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    for case in args.cases:
        for framework, step in steps(case).items():
            print(f"== {case} {framework}: GPU kernels over {args.steps} steps", flush=True)
            print(kernel_table(step, args.steps, args.top), flush=True)
            if framework == "pyad-cuda":
                print(f"== {case} {framework}: host time over {args.steps} steps", flush=True)
                print(host_profile(step, args.steps, args.top), flush=True)


if __name__ == "__main__":
    main()
