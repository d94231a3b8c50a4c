"""Interleaved A/B of the gradient average against raw mpi4py, in one pair of processes.

    mpiexec -n 2 python bench/dist_allreduce.py [--rounds 60]

The 784-512-512-10 float32 MLP's gradients (2.7 MB). `raw` is one mpi4py Allreduce of the
same bytes from one flat buffer into another (the gradients put there untimed, as a
hand-written data-parallel step would have them). `pyad` is DistributedOptimizer.average_gradients()
on the gradients of a real batch as a training step has them: `opt.zero_grad()`, then
`loss.backward()` (untimed), which writes the weights' gradients into their places in the
bucket; the average then divides them by the rank count in place and reduces the bucket in
place (the biases' gradients are copied in). `pyad-assigned` averages gradients assigned to
`.grad` by hand (arrays from elsewhere), which must first be packed into the bucket (one
copy). Each timed call follows a forward and backward pass (untimed, for all three, so
each starts from what a training step leaves in the caches) and a Barrier (the ranks enter
together), the three in an order that alternates between rounds. Medians over the
rounds; rank 0 prints. bench/run.py's `dist` workload times the assigned case and the whole
training step in their own processes.
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
from bench.workloads.dist import BATCH, SIZES, _data, _grads  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=60)
    args = p.parse_args(argv)
    dist.init()
    from mpi4py import MPI
    comm, rank = MPI.COMM_WORLD, dist.rank()
    model = ad.nn.MLP(list(SIZES), seed=0)
    params = model.parameters()
    opt = dist.DistributedOptimizer(ad.optim.SGD(params, lr=1e-20))
    _, _, x, y = _data(rank)
    assigned = [ad.tensor(g) for g in _grads(rank)]
    send = np.concatenate([g.ravel() for g in _grads(rank)])
    recv = np.empty_like(send)

    def backward():
        opt.zero_grad()
        ad.nn.softmax_cross_entropy(model(x), y).backward()

    def assign():
        for p_, g in zip(params, assigned):
            p_.grad = g

    # the average is the mean of the ranks' own gradients, and the weights' were made in place
    backward()
    local = [p_.grad.data.copy() for p_ in params]
    in_bucket = [np.shares_memory(p_.grad.data, opt._flats[0]) for p_ in params]
    opt.average_gradients()
    for p_, g in zip(params, local):
        want = np.mean(comm.allgather(g), axis=0)
        np.testing.assert_allclose(p_.grad.data, want, rtol=1e-6, atol=1e-7)

    def gather_send():          # raw's bytes: this backward's gradients, in its flat buffer
        np.concatenate([p_.grad.data.ravel() for p_ in params], out=send)

    cases = {"raw": (gather_send, lambda: comm.Allreduce(send, recv, op=MPI.SUM)),
             "pyad": (None, opt.average_gradients),
             "pyad-assigned": (assign, opt.average_gradients)}
    times = {name: [] for name in cases}
    for r in range(args.rounds):
        order = list(cases) if r % 2 else list(reversed(cases))
        for name in order:
            setup, call = cases[name]
            backward()          # before every call: each starts after a step's compute
            if setup is not None:
                setup()
            comm.Barrier()
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    if rank == 0:
        med = {name: np.median(ts[5:]) * 1e6 for name, ts in times.items()}
        print(f"weights' gradients made in the bucket by backward(): "
              f"{sum(in_bucket)} of {len(in_bucket)} (batch {BATCH})")
        print(f"raw {med['raw']:7.1f} us   pyad {med['pyad']:7.1f} us (ratio "
              f"{med['pyad'] / med['raw']:.2f})   pyad-assigned {med['pyad-assigned']:7.1f} us "
              f"(ratio {med['pyad-assigned'] / med['raw']:.2f})")


if __name__ == "__main__":
    main()
