"""Which speed a shared host's two CPUs give now: 1-second medians of the mlp_step M GEMM floor.

    python bench/host_phases.py [--seconds 30]

On a VM whose virtual CPUs can land on the two hardware threads of one core, threaded
products run at one of two speeds, switching every few seconds, while one thread's speed holds
(bench/README.md, "Two speeds of this host"). Run this before a benchmark, or beside a
surprising number: a column of ~1.8x means two real cores, ~1.35x means the CPUs share one."""
import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def medians(seconds):
    """Medians of the M floor's step time (µs), one per second, for `seconds` seconds."""
    sys.path.insert(0, ROOT)
    from bench.timing import block_median
    from bench.workloads import mlp_step
    step = mlp_step._floor()["M"]
    step()
    out = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        out.append(block_median(step, 1.0) * 1e6)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--threads", type=int, help=argparse.SUPPRESS)   # the one-thread child
    args = p.parse_args(argv)
    if args.threads:
        print(" ".join(f"{m:.0f}" for m in medians(args.seconds)))
        return
    # one thread first, in a process of its own (OpenBLAS reads its thread count at load)
    one = subprocess.run([sys.executable, __file__, "--seconds", str(args.seconds / 3),
                          "--threads", "1"], capture_output=True, text=True, check=True,
                         env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    single = statistics.median(float(v) for v in one.stdout.split())
    print(f"M GEMM floor on one thread: {single:.0f} µs (median of {args.seconds / 3:.0f} s)")
    print("each second, on all threads: µs, and one thread's time over it")
    for m in medians(args.seconds):
        print(f"{m:8.0f} µs  {single / m:5.2f}x")


if __name__ == "__main__":
    main()
