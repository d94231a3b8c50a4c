"""Minibatches over arrays with seeded shuffling."""
from __future__ import annotations

from typing import Iterator, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["batches"]


def batches(*arrays: ArrayLike, batch_size: int, shuffle: bool = True,
            seed: Union[None, int, np.random.Generator] = None,
            drop_last: bool = False) -> Iterator[Tuple[np.ndarray, ...]]:
    """Yield tuples of aligned slices of the arrays (first axis), reshuffled on every call.

    One pass over the data: an epoch of minibatches for a training loop.

    Parameters
    ----------
    *arrays : array_like
        One or more arrays with the same number of rows (inputs, labels, ...).
    batch_size : int
        Rows per batch (the last one may be smaller).
    shuffle : bool, default True
        Visit the rows in a random order.
    seed : int, numpy Generator or None
        The shuffle's randomness: an int (the same order every time), a Generator (its state
        advances, so successive epochs differ but the whole run is reproducible), or None.
    drop_last : bool, default False
        Skip a final batch smaller than ``batch_size``.

    Yields
    ------
    tuple of numpy.ndarray
        One slice per array, aligned row by row.

    Raises
    ------
    ValueError
        For no arrays, arrays of different lengths, or ``batch_size < 1``.

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
    n = len(arrays[0])
    for i, a in enumerate(arrays):
        if len(a) != n:
            raise ValueError(f"batches: array {i} has {len(a)} rows but array 0 has {n}")
    if int(batch_size) < 1:
        raise ValueError(f"batches: batch_size must be >= 1, got {batch_size}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield tuple(np.asarray(a)[idx] for a in arrays)
