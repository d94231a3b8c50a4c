"""pyad's training step over its GEMM floor in one process, alternating short blocks of each.

    python bench/paired.py [S M L] [--seconds 60] [--block 0.2]

On a host with two speeds (bench/README.md, "Two speeds of this host") a ratio of medians
taken in separate processes seconds apart can be off by 1.4x; here the floor (numpy's GEMMs
alone, `numpy-gemm-floor`), pyad's compiled step and its eager step run one block each in
turn, and each block's median divides by the floor's block beside it. Blocks where the floor
ran within 15% of its fastest are the fast phase (two real cores), the others the slow one.
pyad's default install (numpy's OpenBLAS) unless PYAD_BLAS says otherwise."""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("PYAD_BLAS", "openblas")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")     # as bench/worker.py
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.timing import block_median  # noqa: E402
from bench.workloads import mlp_step  # noqa: E402


def compare(case, seconds, block):
    """{"floor" | "compiled" | "eager": [block medians]} over `seconds` seconds."""
    sizes, data = mlp_step.SIZES[case][0], mlp_step.DATA[case]
    steps = {"floor": mlp_step._floor()[case],
             "compiled": mlp_step.pyad_case(sizes, *data, compiled=True)[0],
             "eager": mlp_step.pyad_case(sizes, *data)[0]}
    for step in steps.values():
        block_median(step, 0.2)                         # warm up
    blocks = {name: [] for name in steps}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for name, step in steps.items():
            blocks[name].append(block_median(step, block))
    return blocks


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="*", default=["S", "M"], choices=list(mlp_step.SIZES))
    p.add_argument("--seconds", type=float, default=60, help="per case")
    p.add_argument("--block", type=float, default=0.2, help="seconds per block")
    args = p.parse_args(argv)
    for case in args.cases:
        blocks = compare(case, args.seconds, args.block)
        floor = blocks["floor"]
        fast = [f < 1.15 * min(floor) for f in floor]
        print(f"{case}: {len(floor)} blocks each, {sum(fast)} with the floor fast "
              f"(median {statistics.median(f for f, q in zip(floor, fast) if q) * 1e6:.1f} µs)")
        for name in ("compiled", "eager"):
            ratios = [b / f for b, f in zip(blocks[name], floor)]
            line = f"  {name:9s} / floor: fast phase " \
                   f"{statistics.median(r for r, q in zip(ratios, fast) if q):.3f}x"
            slow = [r for r, q in zip(ratios, fast) if not q]
            print(line + (f", slow phase {statistics.median(slow):.3f}x ({len(slow)} blocks)"
                          if slow else ""))


if __name__ == "__main__":
    main()
