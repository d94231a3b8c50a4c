"""Interleaved A/B of the gradient average against raw mpi4py, in one pair of processes.

    mpiexec -n 2 python bench/dist_allreduce.py [--rounds 60]

The 784-512-512-10 float32 MLP's gradients (2.7 MB): `raw` is one mpi4py Allreduce of the same
bytes from one flat buffer into another; `pyad` is DistributedOptimizer.average_gradients()
on fresh gradients (as backward() hands them out). Two timings per round, alternating which
runs first: `synchronised` (a Barrier, then one call timed alone: the ranks enter together, as
after a training step) and `back to back` (20 calls in a row: the ranks drift apart and MPICH
pipelines the calls). Medians over the rounds; rank 0 prints. bench/run.py's `dist` workload
times the calls in its own processes (its numbers are the README's).
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import pyad as ad  # noqa: E402
import pyad.distributed as dist  # noqa: E402
from bench.workloads.dist import SIZES, _grads  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=60)
    args = p.parse_args(argv)
    dist.init()
    from mpi4py import MPI
    comm, rank = MPI.COMM_WORLD, dist.rank()
    model = ad.nn.MLP(list(SIZES), seed=0)
    opt = dist.DistributedOptimizer(ad.optim.SGD(model.parameters(), lr=1e-20))
    grads = [ad.tensor(g) for g in _grads(rank)]
    params = model.parameters()
    send = np.concatenate([g.ravel() for g in _grads(rank)])
    recv = np.empty_like(send)

    def raw():
        comm.Allreduce(send, recv, op=MPI.SUM)

    def pyad_average():
        for p_, g in zip(params, grads):
            p_.grad = g
        opt.average_gradients()

    calls = {"raw": raw, "pyad": pyad_average}
    times = {(k, mode): [] for k in calls for mode in ("synchronised", "back to back")}
    for r in range(args.rounds):
        order = list(calls) if r % 2 else list(reversed(calls))
        for name in order:
            comm.Barrier()
            t0 = time.perf_counter()
            calls[name]()
            times[(name, "synchronised")].append(time.perf_counter() - t0)
            comm.Barrier()
            t0 = time.perf_counter()
            for _ in range(20):
                calls[name]()
            times[(name, "back to back")].append((time.perf_counter() - t0) / 20)
    if rank == 0:
        for mode in ("synchronised", "back to back"):
            raw_t = np.median(times[("raw", mode)][5:]) * 1e6
            ours = np.median(times[("pyad", mode)][5:]) * 1e6
            print(f"{mode:>13}: raw {raw_t:7.1f} us   pyad {ours:7.1f} us   "
                  f"ratio {ours / raw_t:.2f}")


if __name__ == "__main__":
    main()
