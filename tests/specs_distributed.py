"""Op specs of the MPI collectives (see tests/op_specs.py, which imports this file).

Here they run in a world of one (this pytest process is one rank), where every collective is
the identity map; that checks their plumbing (dtypes, strides, the generated derivative
checks). Their values and rules across ranks are checked on 2 ranks by tests/distributed
(launched by tests/test_distributed.py) against the single-process formula.
"""
import numpy as np
import pytest

from op_specs import C, spec

try:
    import mpi4py  # noqa: F401
    import pyad.distributed as dist
    if not dist.is_initialized():
        dist.init()            # no mpiexec: a world of one
except ImportError:
    dist = None


def _world(fn):
    """fn, or a skip where the dist extra (mpi4py) is not installed."""
    def run(*xs):
        if dist is None:
            pytest.skip("needs the dist extra: pip install -e '.[dist]'")
        return fn(*xs)
    return run


_identity = np.copy

spec("allreduce",
     C("allreduce", _world(lambda x: dist.allreduce(x)), _identity, [(3, 4)], label="sum"),
     C("allreduce", _world(lambda x: dist.allreduce(x, op="mean")), _identity, [(5,)],
       label="mean"))
spec("broadcast", C("broadcast", _world(lambda x: dist.broadcast(x)), _identity, [(2, 3)]))
spec("reduce", C("reduce", _world(lambda x: dist.reduce(x)), _identity, [(4,)]))
spec("allgather",
     C("allgather", _world(lambda x: dist.allgather(x, axis=1)), _identity, [(2, 3)]))
spec("reduce_scatter",
     C("reduce_scatter", _world(lambda x: dist.reduce_scatter(x)), _identity, [(4, 2)]))
spec("copy_to_ranks",
     C("copy_to_ranks", _world(lambda x: dist.copy_to_ranks(x)), _identity, [(3,)]))
spec("reduce_from_ranks",
     C("reduce_from_ranks", _world(lambda x: dist.reduce_from_ranks(x, op="mean")), _identity,
       [(2, 2)]))
