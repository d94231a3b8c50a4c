"""Minibatches over arrays of any backend with seeded shuffling (drawn on the host)."""
from __future__ import annotations

from typing import Any, Iterator, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from pyad import backend
from pyad.engine._tape import Tensor

__all__ = ["batches"]


def batches(*arrays: ArrayLike, batch_size: int, shuffle: bool = True,
            seed: Union[None, int, np.random.Generator] = None,
            drop_last: bool = False, rank: int = 0,
            world: int = 1) -> Iterator[Tuple[Any, ...]]:
    """Yield tuples of aligned slices of the arrays (first axis), reshuffled on every call.

    One pass over the data: an epoch of minibatches for a training loop. The order is drawn
    on the host with numpy, so a seed gives the same batches whatever backend or device the
    arrays live on; each batch stays on its array's backend (CuPy arrays give CuPy batches).

    Parameters
    ----------
    *arrays : array_like or Tensor
        One or more arrays with the same number of rows (inputs, labels, ...): numpy arrays
        (or lists), arrays of another backend (CuPy, any Array API array) or Tensors (their
        arrays).
    batch_size : int
        Rows per batch (the last one may be smaller).
    shuffle : bool, default True
        Visit the rows in a random order.
    seed : int, numpy Generator or None
        The shuffle's randomness: an int (the same order every time), a Generator (its state
        advances, so successive epochs differ but the whole run is reproducible), or None.
    drop_last : bool, default False
        Skip a final batch smaller than ``batch_size`` (than ``batch_size * world``).
    rank, world : int, default 0 and 1
        Data-parallel sharding (``rank=dist.rank(), world=dist.size()``): every rank draws
        the same order (the seed must be the same on every rank) and takes its
        ``batch_size`` rows of each combined batch of ``batch_size * world`` rows, so the
        ranks together see exactly the batches one process sees with the combined batch
        size. A final smaller combined batch is split as evenly as possible (every rank
        yields the same number of batches, so their collectives stay paired).

    Yields
    ------
    tuple of arrays
        One slice per array (a copy of its rows, on that array's backend), aligned row by
        row.

    Raises
    ------
    ValueError
        For no arrays, 0-d arrays, arrays of different lengths, ``batch_size < 1``, a rank
        outside ``0 <= rank < world``, or ``world > 1`` with ``seed=None`` (the ranks would
        draw different orders).

    Examples
    --------
    >>> x, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> for xb, yb in ad.data.batches(x, y, batch_size=2, shuffle=False):
    ...     print(xb.shape, yb)
    (2, 2) [0 1]
    (2, 2) [2 3]
    (1, 2) [4]
    >>> [yb.tolist() for _, yb in ad.data.batches(x, y, batch_size=2, seed=0, drop_last=True)]
    [[2, 4], [3, 0]]
    """
    if not arrays:
        raise ValueError("batches: give at least one array")
    arrays = [_array(a) for a in arrays]
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"batches: array {i} is 0-d; batches slice the first axis")
    n = arrays[0].shape[0]
    for i, a in enumerate(arrays):
        if a.shape[0] != n:
            raise ValueError(f"batches: array {i} has {a.shape[0]} rows but array 0 has {n}")
    if int(batch_size) < 1:
        raise ValueError(f"batches: batch_size must be >= 1, got {batch_size}")
    world, rank = int(world), int(rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"batches: need 0 <= rank < world, got rank={rank}, world={world}")
    if world > 1 and shuffle and seed is None:
        raise ValueError("batches: with world > 1 every rank must draw the same order: pass "
                         "seed= (an int, or a Generator seeded the same on every rank)")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    order = rng.permutation(n) if shuffle else np.arange(n)
    combined = int(batch_size) * world
    stop = n - n % combined if drop_last else n
    # the order on each backend once per epoch (one copy to the device, not one per batch)
    orders = {}
    for a in arrays:
        if backend.is_foreign(a):
            key = (type(a), backend.device_of(a))
            if key not in orders:
                orders[key] = backend.to_backend(order, a)
    for first in range(0, stop, combined):
        # this rank's share of the combined batch: rows [start, end) of the order
        rows = min(combined, n - first)
        start = first + rank * rows // world
        end = first + (rank + 1) * rows // world
        yield tuple(_rows(a, order, orders, start, end) for a in arrays)


def _array(a):
    """An array of any backend as itself (a Tensor as its array), anything else as numpy."""
    a = a.data if isinstance(a, Tensor) else a
    return a if backend.is_foreign(a) else np.asarray(a)


def _rows(a, order, orders, start, stop):
    """The rows order[start:stop] of a, copied on a's backend."""
    if not backend.is_foreign(a):
        return a[order[start:stop]]
    idx = orders[(type(a), backend.device_of(a))][start:stop]
    return backend.namespace(a).take(a, idx, axis=0)
