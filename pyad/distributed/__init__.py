"""pyad beyond one machine: MPI (mpi4py) collectives as primitives, data-parallel training.

    import pyad.distributed as dist      # launch: mpiexec -n N python script.py
    dist.init()                          # imports mpi4py (importing pyad never does)
    dist.rank(), dist.size(), dist.barrier()
    dist.allreduce(x, op="sum"), dist.broadcast(x, root=0), dist.allgather(x, axis=0)
    dist.broadcast_parameters(model); opt = dist.DistributedOptimizer(ad.optim.Adam(...))

Curvature tools take ``distributed=True`` (pyad.analysis.curvature): each rank passes its
share of the objective and the operator is the sum of the ranks' products.
"""
from pyad.distributed.comm import barrier, init, is_initialized, rank, size
from pyad.distributed.collectives import (allgather, allreduce, broadcast, copy_to_ranks,
                                          reduce, reduce_from_ranks, reduce_scatter)
from pyad.distributed.data_parallel import (DistributedOptimizer, broadcast_parameters, load,
                                            save)

__all__ = ["init", "is_initialized", "rank", "size", "barrier", "allreduce", "broadcast",
           "reduce", "allgather", "reduce_scatter", "copy_to_ranks", "reduce_from_ranks",
           "broadcast_parameters", "DistributedOptimizer", "save", "load"]
