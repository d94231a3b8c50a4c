"""Differentiable MPI collectives: rows of the primitive table, each with its kernel and rules.

The derivative convention (torch.distributed.nn's): a program run on N ranks is one function
of all the ranks' inputs, and the objective is the SUM over ranks of what each rank computes.
Under that reading every collective is a linear map with an exact transpose:

    allreduce (sum or mean)  its own transpose: VJP = allreduce of the cotangents
    broadcast(root)  <->  reduce(root)       (sum onto root; other ranks get zeros)
    allgather(axis)  <->  reduce_scatter(axis)

so VJPs, JVPs and the transpose identity hold for the global inner product (the sum over
ranks of each rank's inner product), at every order of nesting. mpi4jax instead treats an
allreduce's output as one replicated value counted once (its VJP is the identity); that is
Megatron's pair of model-parallel blocks, provided here under explicit names:

    copy_to_ranks(x)         identity forward; backward sums the cotangents over the ranks
    reduce_from_ranks(x)     allreduce forward; backward passes the cotangent through

Each pair is the other's transpose. Kernels stage GPU arrays through the host (the mpich wheel
is not CUDA-aware) and use mpi4py's buffer calls, never pickling.
"""
from __future__ import annotations

import numpy as np

from pyad import backend
from pyad.engine._tape import Primitive, Tensor, apply1, bind
from pyad.ops.core import _t
from pyad.ops.lifts import LEADING, same_params, shift_first
from pyad.ops.prims import LIFTS, PRIMITIVES
from pyad.distributed.comm import _mpi, agree, communicator, host_buffer, on_backend
from pyad._typing import ArrayLike

__all__ = ["allreduce", "broadcast", "reduce", "allgather", "reduce_scatter", "copy_to_ranks",
           "reduce_from_ranks"]

_OPS = ("sum", "mean")


# ------------------------------------------------------------------ kernels (host buffers)
def _send_buffer(name, x, param, front=None):
    """(communicator, x as a host buffer MPI reads) once every rank has made the same call
    (agree: checked before the dtype, so a bad dtype raises on every rank alike); front:
    that axis moved first (MPI joins and splits the first axis)."""
    comm = communicator(f"dist.{name}")
    h = backend.to_host(x)
    agree(name, comm, h, param)
    return comm, host_buffer(name, h if front is None else np.moveaxis(h, front, 0))


def _allreduce_kernel(x, op, name="allreduce"):
    comm, h = _send_buffer(name, x, _OPS.index(op))
    if op == "mean" and h.dtype.kind not in "fc":
        raise TypeError(f"pyad.distributed.{name}: op='mean' of {h.dtype} values; cast to "
                        f"a float dtype first, or use op='sum'")
    out = np.empty_like(h)
    comm.Allreduce(h, out, op=_mpi().SUM)
    if op == "mean":
        out /= comm.Get_size()
    return on_backend(out, x)


def _broadcast_kernel(x, root):
    comm, h = _send_buffer("broadcast", x, root)
    out = h.copy() if comm.Get_rank() == root else np.empty_like(h)
    comm.Bcast(out, root=root)
    return on_backend(out, x)


def _reduce_kernel(x, root):
    comm, h = _send_buffer("reduce", x, root)
    at_root = comm.Get_rank() == root
    out = np.empty_like(h) if at_root else np.zeros_like(h)
    comm.Reduce(h, out if at_root else None, op=_mpi().SUM, root=root)
    return on_backend(out, x)


def _allgather_kernel(x, axis):
    comm, front = _send_buffer("allgather", x, axis, front=axis)
    out = np.empty((comm.Get_size(),) + front.shape, dtype=front.dtype)
    comm.Allgather(front, out)
    out = out.reshape((-1,) + front.shape[1:])
    return on_backend(np.ascontiguousarray(np.moveaxis(out, 0, axis)), x)


def _reduce_scatter_kernel(x, axis):
    comm, front = _send_buffer("reduce_scatter", x, axis, front=axis)
    n = comm.Get_size()
    if front.shape[0] % n:
        raise ValueError(f"pyad.distributed.reduce_scatter: axis {axis} of shape "
                         f"{tuple(x.shape)} has length {front.shape[0]}, not a multiple of the "
                         f"{n} ranks; pad it to a multiple of dist.size()")
    out = np.empty((front.shape[0] // n,) + front.shape[1:], dtype=front.dtype)
    comm.Reduce_scatter_block(front, out, op=_mpi().SUM)
    return on_backend(np.ascontiguousarray(np.moveaxis(out, 0, axis)), x)


def _copy_to_ranks_kernel(x):
    return backend.copy(x)


def _reduce_from_ranks_kernel(x, op):
    return _allreduce_kernel(x, op, "reduce_from_ranks")


# ------------------------------------------------------------------ the rows
def _row(name, kernel, vjp, lift):
    """A collective row: linear, so its JVP is the row applied to the tangent."""
    prim = Primitive(name, kernel, [vjp])
    prim.jvp = lambda dots, ans, x, *params: apply1(prim, dots[0], params)
    prim.communicates = kernel is not _copy_to_ranks_kernel
    prim.complex_ok = True            # linear: its rules hold for complex arrays as they are
    PRIMITIVES[name] = prim
    LIFTS[name] = (LEADING, lift)     # a batch of tangents: one collective on the stack
    return prim


ALLREDUCE = _row("allreduce", _allreduce_kernel,
                 lambda g, ans, x, op: apply1(ALLREDUCE, g, (op,)), same_params)
BROADCAST = _row("broadcast", _broadcast_kernel,
                 lambda g, ans, x, root: apply1(REDUCE, g, (root,)), same_params)
REDUCE = _row("reduce", _reduce_kernel,
              lambda g, ans, x, root: apply1(BROADCAST, g, (root,)), same_params)
ALLGATHER = _row("allgather", _allgather_kernel,
                 lambda g, ans, x, axis: apply1(REDUCE_SCATTER, g, (axis,)), shift_first)
REDUCE_SCATTER = _row("reduce_scatter", _reduce_scatter_kernel,
                      lambda g, ans, x, axis: apply1(ALLGATHER, g, (axis,)), shift_first)
COPY_TO_RANKS = _row("copy_to_ranks", _copy_to_ranks_kernel,
                     lambda g, ans, x: apply1(REDUCE_FROM_RANKS, g, ("sum",)), same_params)
# the mean's transpose: each rank's share of the replicated cotangent, 1/N of it
REDUCE_FROM_RANKS = _row(
    "reduce_from_ranks", _reduce_from_ranks_kernel,
    lambda g, ans, x, op: (apply1(COPY_TO_RANKS, g) if op == "sum" else
                           apply1(COPY_TO_RANKS, g) * (1.0 / communicator().Get_size())),
    same_params)

backend.register_kernels({p.name: p.impl for p in (ALLREDUCE, BROADCAST, REDUCE, ALLGATHER,
                                                   REDUCE_SCATTER, COPY_TO_RANKS,
                                                   REDUCE_FROM_RANKS)})


# ------------------------------------------------------------------ the public functions
def _op(name, op):
    if op not in _OPS:
        raise ValueError(f"dist.{name}: op must be 'sum' or 'mean', got {op!r}")
    return op


def _root(name, root):
    n = communicator(f"dist.{name}").Get_size()
    if not isinstance(root, (int, np.integer)) or not 0 <= int(root) < n:
        raise ValueError(f"dist.{name}: root must be a rank, 0 <= root < {n}, got {root!r}")
    return int(root)


def _axis(name, axis, ndim):
    if ndim == 0:
        raise ValueError(f"dist.{name}: a 0-d array has no axis to join along; reshape it to "
                         f"(1,) first (ad.reshape(x, (1,)))")
    if not isinstance(axis, (int, np.integer)) or not -ndim <= int(axis) < ndim:
        raise ValueError(f"dist.{name}: axis {axis!r} is out of range for an array of "
                         f"{ndim} dimensions")
    return int(axis) % ndim


def allreduce(x: ArrayLike, op: str = "sum") -> Tensor:
    """The sum (or mean) over the ranks of each rank's ``x``, on every rank.

    Differentiable: its VJP is again an allreduce of the cotangents (the derivative of the
    sum over ranks of what each rank computes from the result; see the module docstring, and
    :func:`reduce_from_ranks` for the replicated-value reading).

    Parameters
    ----------
    x : array_like or Tensor
        The same shape and dtype on every rank (float32/64, complex or int32/64).
    op : {"sum", "mean"}
        Sum, or sum divided by the number of ranks.

    Returns
    -------
    Tensor
        The reduced array, the same on every rank, on ``x``'s device.

    Raises
    ------
    RuntimeError
        Before ``dist.init()``.
    ValueError
        On every rank, when the ranks' shapes or dtypes differ, or for another ``op``.
    TypeError
        For a dtype MPI is not given (bool, float16: cast first).

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> dist.allreduce(np.array([1.0, 2.0]))        # one rank: the array itself
    tensor([1., 2.])
    """
    return bind(ALLREDUCE, _t(x), params=(_op("allreduce", op),))


def broadcast(x: ArrayLike, root: int = 0) -> Tensor:
    """Rank ``root``'s ``x`` on every rank (the other ranks' ``x`` give only shape and dtype).

    Differentiable: the VJP sums the ranks' cotangents onto ``root`` (:func:`reduce`); the
    other ranks' inputs get zero gradient.

    Parameters
    ----------
    x : array_like or Tensor
        The same shape and dtype on every rank.
    root : int, default 0
        The rank whose values are sent.

    Returns
    -------
    Tensor
        Root's array, on every rank.

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> dist.broadcast(np.array([1.0, 2.0]), root=0)
    tensor([1., 2.])
    """
    return bind(BROADCAST, _t(x), params=(_root("broadcast", root),))


def reduce(x: ArrayLike, root: int = 0) -> Tensor:
    """The sum over the ranks of ``x`` on rank ``root``; zeros of its shape on the others.

    The transpose of :func:`broadcast` (its VJP is a broadcast from ``root``).

    Parameters
    ----------
    x : array_like or Tensor
        The same shape and dtype on every rank.
    root : int, default 0
        The rank that receives the sum.

    Returns
    -------
    Tensor
        The sum on ``root``, zeros elsewhere.

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> dist.reduce(np.array([1.0, 2.0]), root=0)      # one rank: the sum is x
    tensor([1., 2.])
    """
    return bind(REDUCE, _t(x), params=(_root("reduce", root),))


def allgather(x: ArrayLike, axis: int = 0) -> Tensor:
    """Every rank's ``x`` joined along ``axis`` in rank order, on every rank.

    Differentiable: the VJP of rank r's input is its slice of the sum over ranks of the
    cotangents (:func:`reduce_scatter`).

    Parameters
    ----------
    x : array_like or Tensor
        The same shape and dtype on every rank (at least 1-d).
    axis : int, default 0
        The axis to join along.

    Returns
    -------
    Tensor
        Of ``x``'s shape with ``axis`` ``size()`` times as long.

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> dist.allgather(np.array([[1.0, 2.0]]), axis=0).shape     # (size(), 2)
    (1, 2)
    """
    t = _t(x)
    return bind(ALLGATHER, t, params=(_axis("allgather", axis, t.ndim),))


def reduce_scatter(x: ArrayLike, axis: int = 0) -> Tensor:
    """Rank r's slice ``r`` (of ``size()`` equal slices along ``axis``) of the sum over the
    ranks of ``x``; the transpose of :func:`allgather`.

    Parameters
    ----------
    x : array_like or Tensor
        The same shape and dtype on every rank; ``axis`` a multiple of ``size()`` long.
    axis : int, default 0
        The axis to split.

    Returns
    -------
    Tensor
        Of ``x``'s shape with ``axis`` ``size()`` times shorter.

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> dist.reduce_scatter(np.array([1.0, 2.0]))      # one rank: all of the sum
    tensor([1., 2.])
    """
    t = _t(x)
    return bind(REDUCE_SCATTER, t, params=(_axis("reduce_scatter", axis, t.ndim),))


def copy_to_ranks(x: ArrayLike) -> Tensor:
    """Identity forward; backward sums the cotangents over the ranks (Megatron's f).

    Marks ``x`` as one value every rank holds (replicated parameters or inputs of a
    model-parallel layer): its gradient is the sum of every rank's use of it.

    Parameters
    ----------
    x : array_like or Tensor
        Any array (the same shape and dtype on every rank).

    Returns
    -------
    Tensor
        A copy of ``x``.

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> x = np.array([1.0, 2.0])
    >>> ad.grad(lambda x: ad.sum(dist.copy_to_ranks(x) * 3.0))(x)   # summed over 1 rank
    array([3., 3.])
    """
    return bind(COPY_TO_RANKS, _t(x))


def reduce_from_ranks(x: ArrayLike, op: str = "sum") -> Tensor:
    """Allreduce forward; backward passes the cotangent through (Megatron's g; mpi4jax's
    allreduce).

    The result is read as one replicated value that every rank's downstream code uses
    identically (a loss counted once, not once per rank), so its cotangent is every
    rank's already.

    Parameters
    ----------
    x : array_like or Tensor
        The same shape and dtype on every rank.
    op : {"sum", "mean"}
        With "mean", each rank's input gets 1/N of the cotangent.

    Returns
    -------
    Tensor
        The reduced array, the same on every rank.

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> x = np.array([1.0, 2.0])
    >>> ad.grad(lambda x: ad.sum(dist.reduce_from_ranks(x, op="mean") ** 2))(x)
    array([2., 4.])
    """
    return bind(REDUCE_FROM_RANKS, _t(x), params=(_op("reduce_from_ranks", op),))
