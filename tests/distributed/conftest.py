"""Tests run by `mpiexec -n 2 python -m pytest tests/distributed` (tests/test_distributed.py
launches it); under plain pytest this folder is not collected."""
import os
import sys

import numpy as np
import pytest

UNDER_MPIEXEC = any(v in os.environ for v in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE",
                                                "PMIX_RANK"))
if not UNDER_MPIEXEC:
    collect_ignore_glob = ["test_*.py"]
else:
    sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))     # tests/ helpers
    import pyad.distributed as dist
    from mpi4py import MPI
    # the launcher's timeout ends a hung run; abort_on_error would hide pytest's report
    dist.init(abort_on_error=False)


def gathered(x):
    """Every rank's numpy array x, stacked in rank order (plain mpi4py, not pyad)."""
    return np.stack(MPI.COMM_WORLD.allgather(np.asarray(x)))


def global_sum(value):
    """The sum over ranks of a float (plain mpi4py)."""
    return MPI.COMM_WORLD.allreduce(float(value))


@pytest.fixture
def rank():
    return dist.rank()


@pytest.fixture
def world():
    return dist.size()
