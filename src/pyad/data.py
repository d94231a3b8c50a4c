"""Minibatches over arrays with seeded shuffling."""
import numpy as np

__all__ = ["batches"]


def batches(*arrays, batch_size, shuffle=True, seed=None, drop_last=False):
    """Yield tuples of aligned slices of the arrays (first axis), reshuffled on every call.

    seed: an int, a numpy Generator (its state advances, so successive epochs differ but the
    whole run is reproducible), or None."""
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
