"""The communicator: init(), rank(), size(), barrier(), and the cross-rank checks collectives make."""
from __future__ import annotations

import sys
import time
import zlib
from typing import Any, Optional

import numpy as np

from pyad import backend

__all__ = ["init", "is_initialized", "rank", "size", "barrier"]

_comm = None            # the mpi4py communicator init() was given; None before init()
_check = True           # compare shapes and dtypes across ranks before every collective
_MPI = None             # the mpi4py.MPI module, imported by init() only

# the dtypes collectives move (MPI has a native type for each); others need an astype
DTYPES = tuple(np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128,
                                     np.int32, np.int64))
_DESCRIPTOR = 16        # int64 entries per rank in the shape check (kind, param, dtype, shape)


def _mpi():
    """mpi4py.MPI, imported on first use (importing pyad never imports mpi4py)."""
    global _MPI
    if _MPI is None:
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise ImportError(
                "pyad.distributed needs mpi4py and an MPI library: pip install \"pyad[dist]\" "
                "(mpi4py and the mpich wheel), or on a cluster build mpi4py against the "
                "system MPI (module load mpi; pip install --no-binary mpi4py mpi4py)") from e
        _MPI = MPI
    return _MPI


def init(comm: Any = None, *, check: bool = True, abort_on_error: bool = True) -> None:
    """Start using MPI: every collective and data-parallel tool runs on this communicator.

    Call it once per process, after ``mpiexec -n N python script.py`` started the N ranks
    (a script run without mpiexec is one rank of a world of one, and everything still works).

    Parameters
    ----------
    comm : mpi4py communicator, optional
        The ranks that take part (default ``MPI.COMM_WORLD``); a sub-communicator made with
        ``Split`` runs pyad on a subset of the ranks.
    check : bool, default True
        Before every collective, compare the ranks' shapes, dtypes and arguments (one small
        Allgather) and raise a ValueError on every rank when they differ, instead of a hang
        or a silently wrong result. ``check=False`` saves that message per collective.
    abort_on_error : bool, default True
        With more than one rank, an uncaught Python exception on any rank calls
        ``MPI_Abort``, so the other ranks exit instead of waiting forever in a collective
        (what ``python -m mpi4py script.py`` does).

    Raises
    ------
    ImportError
        When mpi4py is not installed (the message says what to install).

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> dist.rank(), dist.size()          # one process: a world of one
    (0, 1)
    """
    global _comm, _check
    MPI = _mpi()
    comm = MPI.COMM_WORLD if comm is None else comm
    if not isinstance(comm, MPI.Comm):
        raise TypeError(f"dist.init: comm must be an mpi4py communicator (MPI.COMM_WORLD or "
                        f"one made from it), got {type(comm).__name__}")
    _comm, _check = comm, bool(check)
    if abort_on_error and comm.Get_size() > 1:
        _abort_on_uncaught()


def _abort_on_uncaught() -> None:
    """Make an uncaught exception on this rank abort the whole run (MPI_Abort) after its
    traceback is printed: without it the other ranks would wait in their next collective."""
    if getattr(sys.excepthook, "_pyad_aborts", False):
        return
    previous = sys.excepthook

    def abort(kind, value, tb):
        previous(kind, value, tb)
        sys.stderr.flush()
        # the launcher forwards our stderr through a pipe, and the abort kills its forwarder:
        # without a pause the traceback was cut short under load (the test saw one line)
        time.sleep(0.5)
        _mpi().COMM_WORLD.Abort(1)
    abort._pyad_aborts = True
    sys.excepthook = abort


def is_initialized() -> bool:
    """Whether :func:`init` has been called in this process.

    Returns
    -------
    bool
        True after ``dist.init()``.

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> dist.is_initialized()
    True
    """
    return _comm is not None


def communicator(op: str = "pyad.distributed"):
    """The communicator of init(); before init() a RuntimeError naming dist.init()."""
    if _comm is None:
        raise RuntimeError(f"{op}: pyad.distributed is not initialised; call "
                           f"dist.init() first (import pyad.distributed as dist), once per "
                           f"process, and launch with mpiexec -n N python script.py")
    return _comm


def rank() -> int:
    """This process's rank, 0 ... size() - 1.

    Returns
    -------
    int
        The rank in the communicator of :func:`init`.

    Raises
    ------
    RuntimeError
        Before :func:`init`.

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> dist.rank()                 # `python script.py`: the only rank
    0
    """
    return communicator("dist.rank").Get_rank()


def size() -> int:
    """The number of ranks.

    Returns
    -------
    int
        N under ``mpiexec -n N``; 1 for a script run on its own.

    Raises
    ------
    RuntimeError
        Before :func:`init`.

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> dist.size()
    1
    """
    return communicator("dist.size").Get_size()


def barrier() -> None:
    """Wait until every rank has reached this call.

    Raises
    ------
    RuntimeError
        Before :func:`init`.

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> dist.barrier()              # e.g. before reading a file rank 0 wrote
    """
    communicator("dist.barrier").Barrier()


# ------------------------------------------------------------------ what collectives share
def host_buffer(op, x):
    """x as a C-contiguous numpy array MPI can read (GPU arrays are staged through the host:
    the mpich wheel is not CUDA-aware), after checking its dtype."""
    h = backend.to_host(x)
    if h.dtype not in DTYPES:
        names = ", ".join(str(d) for d in DTYPES)
        raise TypeError(f"pyad.distributed.{op}: arrays of dtype {h.dtype} are not sent; "
                        f"collectives take {names}: cast first (x.astype(np.float32))")
    return np.ascontiguousarray(h)


def on_backend(out, like):
    """The host result `out` on the backend and device of the input `like`."""
    return out if not backend.is_foreign(like) else backend.to_backend(out, like)


def agree(op, comm, h, param=0):
    """Raise a ValueError on every rank unless all ranks call the same collective `op` with
    the same parameter, dtype and shape. One Allgather of a few integers; skipped with
    init(check=False)."""
    if not _check or comm.Get_size() == 1:
        return
    mine = np.full(_DESCRIPTOR, -1, dtype=np.int64)
    mine[:4] = (_code(op), int(param), h.dtype.num, h.ndim)
    dims = list(h.shape)
    if len(dims) > _DESCRIPTOR - 5:     # very high ranks: the tail's product stands in
        dims = dims[:_DESCRIPTOR - 5] + [int(np.prod(dims[_DESCRIPTOR - 5:]))]
    mine[4:4 + len(dims)] = dims
    every = np.empty((comm.Get_size(), _DESCRIPTOR), dtype=np.int64)
    comm.Allgather(mine, every)
    if (every == every[0]).all():
        return
    calls = "; ".join(f"rank {r}: {_name(int(row[0]))}({_describe(row)})"
                      for r, row in enumerate(every))
    raise ValueError(f"pyad.distributed.{op}: the ranks' calls differ ({calls}); every rank "
                     f"must call the same collectives in the same order, with arrays of the "
                     f"same shape and dtype and the same arguments")


_NAMES = {}             # code -> name of the calls this rank has checked (for messages)


def _code(op):
    """The same number on every rank for the same call (a hash of its name, not an order)."""
    code = zlib.crc32(op.encode())
    _NAMES[code] = op
    return code


def _name(code):
    return _NAMES.get(code, "another collective")


def _describe(row):
    kind, param, num, ndim = (int(v) for v in row[:4])
    dtype = next((d for d in DTYPES if d.num == num), f"dtype #{num}")
    return f"{dtype} {tuple(int(v) for v in row[4:4 + ndim])}, argument {param}"


def sum_over_ranks(op, arrays):
    """The sum over the ranks of each array (numpy or GPU; not differentiable), bitwise the
    same on every rank: one Reduce onto rank 0 and one Bcast per dtype, of a flat host
    buffer. Iterative solvers (Lanczos, CG) replicated on every rank need exactly equal
    products, or their ranks could take different branches and deadlock; an Allreduce may
    round differently on different ranks."""
    comm = communicator(op)
    MPI = _mpi()
    hosts = [np.asarray(backend.to_host(a)) for a in arrays]
    out = [None] * len(arrays)
    by_dtype = {}
    for i, h in enumerate(hosts):
        by_dtype.setdefault(h.dtype, []).append(i)
    for dtype, idx in by_dtype.items():
        flat = np.concatenate([hosts[i].ravel() for i in idx])
        agree(op, comm, flat)
        total = np.empty_like(flat) if comm.Get_rank() == 0 else None
        flat = host_buffer(op, flat)
        comm.Reduce(flat, total, op=MPI.SUM, root=0)
        total = total if total is not None else np.empty_like(flat)
        comm.Bcast(total, root=0)
        start = 0
        for i in idx:
            part = total[start:start + hosts[i].size].reshape(hosts[i].shape)
            start += hosts[i].size
            out[i] = on_backend(part, arrays[i]) if hasattr(arrays[i], "shape") else part
    return out


def summed_operator(matvec, op):
    """matvec(v) summed over the ranks (sum_over_ranks): the operator of a global objective
    whose ranks each pass their share, for solvers replicated on every rank."""
    communicator(op)

    def summed(v):
        return sum_over_ranks(op, [matvec(v)])[0]
    return summed


def from_root(op, x, root=0):
    """Array x as rank `root` has it, on every rank (a start vector the ranks must share)."""
    comm = communicator(op)
    h = host_buffer(op, np.array(backend.to_host(x), copy=True))
    agree(op, comm, h, root)
    comm.Bcast(h, root=root)
    return on_backend(h, x) if hasattr(x, "shape") else h


def _reset_for_tests(comm: Optional[Any] = None, check: bool = True) -> None:
    """Forget init() (tests of the not-initialised error), or set another communicator."""
    global _comm, _check
    _comm, _check = comm, check
