"""Workload `dist`: data-parallel training over MPI ranks (mpiexec -n 2 on this machine).

`allreduce`: averaging the gradients of the 784-512-512-10 float32 MLP (669,706 values,
2.7 MB) where backward() leaves them after opt.zero_grad() (the weights' gradients in their
places in the one 25 MB bucket, the biases' new arrays: set up without running backward, in
the timed call with the Barrier), with DistributedOptimizer.average_gradients (divide in
place, copy the biases in, one in-place Allreduce, a view per .grad), against raw mpi4py:
one `Allreduce` of the same bytes from one flat buffer into another, nothing else (the
floor). `allreduce-assigned`: the same average of arrays assigned to .grad by hand, which it
first packs into the bucket (one pass). Each call starts with a Barrier in all of them, so
the ranks enter together as they do after a training step's compute (the Barrier's wait for
the rank the last call released later is in every time).
`step`: one compiled data-parallel training step of that MLP (forward, softmax cross-entropy,
backward, gradient average, SGD update) at batch 128 per rank; `step-overlap` with 1 MB
buckets whose averaging starts inside backward() (DistributedOptimizer(overlap=True));
`step-compute` the same step without the average (each rank's own update), so the
difference is what averaging costs; `step-eager` and `step-eager-compute` the same two
steps uncompiled, where backward() writes the weights' gradients straight into the bucket
(after opt.zero_grad()), so the average divides and reduces them in place.
Weak scaling: `pyad` (2 ranks) against `pyad-1rank` (1 rank, the same per-rank batch); each
rank runs one BLAS/OpenMP thread, so the 2 ranks use the machine's 2 cores.
"""
import numpy as np

from bench.workloads import framework
from bench.workloads.mlp_step import LR, make_data, pyad_case, reference_grads

SIZES, BATCH = (784, 512, 512, 10), 128
UNIT, PER_CALL = "us", 1
BASELINE, REFERENCE = "mpi4py", "pyad-1rank"
FRAMEWORKS = {}


def _rank():
    from mpi4py import MPI
    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def _grads(rank):
    """Rank r's stand-in gradients: the weights' shapes, (1 + r) times fixed values."""
    ws, bs, _, _ = make_data(SIZES, BATCH)
    return [(1.0 + rank) * a for pair in zip(ws, bs) for a in pair]


def _data(rank):
    """Rank r's batch: the same weights on every rank, a batch of its own."""
    ws, bs, _, _ = make_data(SIZES, BATCH)
    rng = np.random.default_rng(100 + rank)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    return ws, bs, x, rng.integers(0, SIZES[-1], BATCH)


_EXPECTED = {}


def verify(case, fw, out):
    rank, size = _rank()
    if case.startswith("allreduce"):
        base = np.concatenate([g.ravel() for g in _grads(0)]).astype(np.float64)
        scale = sum(1.0 + r for r in range(size)) / (size if fw.startswith("pyad") else 1)
        np.testing.assert_allclose(out, base * scale, rtol=1e-6, err_msg=f"dist/{fw}")
        return
    # the step's gradients: the mean over ranks of each rank's batch gradient (or its own)
    key = (case, size, rank)
    if key not in _EXPECTED:
        per_rank = [np.concatenate([g.ravel() for g in reference_grads(*_data(r))])
                    for r in range(size)]
        _EXPECTED[key] = per_rank[rank] if case.endswith("-compute") else np.mean(per_rank, 0)
    want = _EXPECTED[key]
    np.testing.assert_allclose(out, want, rtol=1e-3, atol=1e-4 * np.abs(want).max(),
                               err_msg=f"dist/{case}/{fw}")


def _pyad_cases():
    import pyad as ad
    import pyad.distributed as dist
    dist.init()
    rank = dist.rank()

    # allreduce: the gradients where backward() leaves them after opt.zero_grad(): the
    # weights' in their places in the bucket (its GEMMs write them there), the biases' new
    # arrays; set up here without running backward(), whose time is not the average's.
    # allreduce-assigned: arrays from elsewhere assigned to .grad (packed into the bucket)
    from pyad.engine._tape import wrap as tensor_of     # (no copy)
    model = ad.nn.MLP(list(SIZES), seed=0)
    opt = dist.DistributedOptimizer(ad.optim.SGD(model.parameters(), lr=LR))
    grads = [ad.tensor(g) for g in _grads(rank)]
    params = model.parameters()

    def in_bucket(values=False):
        opt.zero_grad()
        flat = opt._flats[0]
        for i, part, _ in opt._layout[0]:
            if params[i].ndim == 2:
                view = flat[part].reshape(params[i].shape)
                if values:          # the checked call: this rank's own gradients
                    view[...] = grads[i].data
                params[i].grad = tensor_of(view)
            else:
                params[i].grad = grads[i]

    def assigned(values=False):     # (the arrays always hold this rank's gradients)
        for p, g in zip(params, grads):
            p.grad = g

    def averaging(setup):
        def average():
            dist.barrier()
            setup()
            opt.average_gradients()

        def checked():
            dist.barrier()
            setup(values=True)
            opt.average_gradients()
            return np.concatenate([p.grad.data.ravel() for p in params])
        return average, checked
    cases = {"allreduce": averaging(in_bucket), "allreduce-assigned": averaging(assigned)}

    # the training steps (mlp_step's compiled step): averaged, overlapped, or each rank's own
    overlapped = lambda o: dist.DistributedOptimizer(o, bucket_mb=1.0, overlap=True)  # noqa
    for case, wrap in (("step", dist.DistributedOptimizer), ("step-overlap", overlapped),
                       ("step-compute", None)):
        cases[case] = pyad_case(SIZES, *_data(rank), compiled=True, wrap=wrap)
    # eager: backward() writes the weights' gradients into the bucket (after zero_grad())
    for case, wrap in (("step-eager", dist.DistributedOptimizer), ("step-eager-compute", None)):
        cases[case] = pyad_case(SIZES, *_data(rank), compiled=False, wrap=wrap)
    return cases


@framework(FRAMEWORKS, "mpi4py", needs=("mpi4py",), ranks=2)
def mpi4py_raw():
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    send = np.concatenate([g.ravel() for g in _grads(comm.Get_rank())])
    recv = np.empty_like(send)

    def allreduce():
        comm.Barrier()
        comm.Allreduce(send, recv, op=MPI.SUM)

    def checked():
        allreduce()
        return recv
    return {"allreduce": (allreduce, checked), "allreduce-assigned": (allreduce, checked)}


@framework(FRAMEWORKS, "pyad", needs=("mpi4py",), ranks=2)
def pyad_2():
    return _pyad_cases()


@framework(FRAMEWORKS, "pyad-1rank", needs=("mpi4py",), ranks=1)
def pyad_1():
    return _pyad_cases()
