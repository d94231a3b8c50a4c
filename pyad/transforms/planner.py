"""Accumulation planner: FLOP costs of forward, reverse and optimally bracketed Jacobian chains."""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from pyad.engine._tape import Tensor, no_grad

__all__ = ["chain_costs", "optimal_bracketing", "bracketing_cost", "bracketing_string",
           "trace_dims", "choose_mode"]


def _check_dims(dims):
    dims = [int(n) for n in dims]
    if len(dims) < 2 or any(n < 1 for n in dims):
        raise ValueError(f"planner: dims must be [n_0, n_1, ..., n_L] with L >= 1 positive "
                         f"sizes, got {dims}")
    return dims


def _name(k):
    return f"J{k}"


def bracketing_string(tree: Union[int, Tuple[Any, Any]]) -> str:
    """"((J3 J2) J1)" for the nested tuple ((3, 2), 1); a leaf k is Jk.

    Parameters
    ----------
    tree : int or nested pairs
        A bracketing: an index k (the Jacobian J_k) or a pair (left, right) of bracketings.

    Returns
    -------
    str
        The bracketing written out.

    Examples
    --------
    >>> ad.planner.bracketing_string(((3, 2), 1))
    '((J3 J2) J1)'
    """
    if isinstance(tree, int):
        return _name(tree)
    return f"({bracketing_string(tree[0])} {bracketing_string(tree[1])})"


def bracketing_cost(tree: Union[int, Tuple[Any, Any]],
                    dims: Sequence[int]) -> Tuple[int, int, int]:
    """Multiply-adds of evaluating a bracketing (nested pairs of Jacobian indices, leftmost =
    latest map) of J_L ... J_1, J_k being dims[k] x dims[k-1]. Returns (cost, rows, cols).

    Parameters
    ----------
    tree : int or nested pairs
        The bracketing, as :func:`bracketing_string` takes it.
    dims : sequence of int
        [n_0, n_1, ..., n_L].

    Returns
    -------
    (cost, rows, cols)
        The multiply-adds and the shape of the product.

    Raises
    ------
    ValueError
        When the bracketing multiplies matrices of mismatched shapes.

    Examples
    --------
    >>> ad.planner.bracketing_cost(((3, 2), 1), [10, 100, 1, 100])
    (110000, 100, 10)
    """
    if isinstance(tree, int):
        return 0, dims[tree], dims[tree - 1]
    ca, ra, ka = bracketing_cost(tree[0], dims)
    cb, kb, cols = bracketing_cost(tree[1], dims)
    if ka != kb:
        raise ValueError(f"planner: bracketing {tree} multiplies {ra}x{ka} by {kb}x{cols}")
    return ca + cb + ra * ka * cols, ra, cols


def optimal_bracketing(dims: Sequence[int]) -> Tuple[int, Union[int, Tuple[Any, Any]]]:
    """(cost, tree) of the cheapest bracketing of J_L ... J_1 by the matrix-chain dynamic
    programme, O(L^3): best[i][j] is the cost of the product J_j ... J_i (i <= j).

    Parameters
    ----------
    dims : sequence of int
        [n_0, n_1, ..., n_L], L >= 1 positive sizes.

    Returns
    -------
    (cost, tree)
        The least multiply-add count and its bracketing (nested pairs of indices).

    Raises
    ------
    ValueError
        For fewer than two sizes or a size below 1.

    Examples
    --------
    >>> ad.planner.optimal_bracketing([10, 100, 1, 100, 10])
    (2100, ((4, 3), (2, 1)))
    """
    dims = _check_dims(dims)
    L = len(dims) - 1

    @functools.lru_cache(maxsize=None)
    def best(i, j):
        if i == j:
            return 0, i
        options = []
        for s in range(i, j):         # (J_j ... J_{s+1}) (J_s ... J_i)
            cl, tl = best(s + 1, j)
            cr, tr = best(i, s)
            options.append((cl + cr + dims[j] * dims[s] * dims[i - 1], (tl, tr)))
        return min(options, key=lambda o: o[0])
    return best(1, L)


def chain_costs(dims: Sequence[int]) -> Dict[str, Any]:
    """Multiply-add counts of accumulating the Jacobian of a chain of L maps with Jacobians
    J_k of shape dims[k] x dims[k-1] (dims = [n_0, ..., n_L]), each J_k given as a dense matrix:

      "forward":  J_L (... (J_2 J_1)),  sum_{k=2..L} n_k n_{k-1} n_0
      "reverse":  ((J_L J_{L-1}) ...) J_1,  sum_{k=1..L-1} n_L n_k n_{k-1}
      "optimal":  the matrix-chain optimum (never more than either pure mode)
    plus "bracketing" (the optimal one as a string like "((J3 J2) J1)"), "tree" (the same as
    nested pairs of indices) and "best_pure" ("forward" or "reverse", ties to forward).

    Parameters
    ----------
    dims : sequence of int
        [n_0, n_1, ..., n_L]: the input size and each map's output size.

    Returns
    -------
    dict
        forward, reverse, optimal, bracketing, tree, best_pure.

    Raises
    ------
    ValueError
        For fewer than two sizes or a size below 1.

    Examples
    --------
    >>> costs = ad.planner.chain_costs([10, 100, 1, 100, 10])
    >>> costs["forward"], costs["reverse"], costs["optimal"], costs["bracketing"]
    (12000, 12000, 2100, '((J4 J3) (J2 J1))')
    """
    dims = _check_dims(dims)
    L = len(dims) - 1
    forward = sum(dims[k] * dims[k - 1] * dims[0] for k in range(2, L + 1))
    reverse = sum(dims[L] * dims[k] * dims[k - 1] for k in range(1, L))
    cost, tree = optimal_bracketing(dims)
    return {"forward": forward, "reverse": reverse, "optimal": cost,
            "bracketing": bracketing_string(tree), "tree": tree,
            "best_pure": "forward" if forward <= reverse else "reverse"}


def trace_dims(layers: Union[Callable[[Any], Any], Sequence[Callable[[Any], Any]]],
               x: Any) -> List[int]:
    """[n_0, n_1, ..., n_L]: the sizes of x and of each layer's output along a chain.

    layers is a list/tuple of callables (or an nn.Sequential, whose .layers are used)
    applied in order; the chain runs once without recording. A single callable is one map:
    [x.size, f(x).size]. (pyad's Tape keeps its records private, so the intermediate sizes
    of an arbitrary function cannot be read back from a recording.)

    Parameters
    ----------
    layers : callable, sequence of callables or nn.Sequential
        The maps, applied in order.
    x : array_like or Tensor
        The input.

    Returns
    -------
    list of int
        The sizes along the chain, ready for :func:`chain_costs`.

    Examples
    --------
    >>> ad.planner.trace_dims(ad.nn.MLP([4, 8, 3], seed=0), np.zeros(4))
    [4, 8, 8, 3]
    """
    if hasattr(layers, "layers") and isinstance(layers.layers, (list, tuple)):
        layers = layers.layers
    if callable(layers) and not isinstance(layers, (list, tuple)):
        layers = [layers]
    dims = [int(np.size(x.data if isinstance(x, Tensor) else x))]
    with no_grad():
        for layer in layers:
            x = layer(x)
            dims.append(int(np.size(x.data if isinstance(x, Tensor) else x)))
    return dims


def choose_mode(n_in: int, n_out: int, dims: Optional[Sequence[int]] = None) -> str:
    """"fwd" or "rev" for a dense Jacobian of a map R^n_in -> R^n_out (jacobian(mode="auto")).

    Without dims: forward mode costs n_in passes and reverse n_out sweeps, so "fwd" when
    n_in <= n_out. With dims (the chain's sizes, dims[0] = n_in, dims[-1] = n_out): the
    cheaper of the pure accumulations by chain_costs.

    Parameters
    ----------
    n_in, n_out : int
        Input and output sizes.
    dims : sequence of int, optional
        The chain's sizes, from n_in to n_out.

    Returns
    -------
    str
        "fwd" or "rev".

    Raises
    ------
    ValueError
        When dims do not run from n_in to n_out.

    Examples
    --------
    >>> ad.planner.choose_mode(3, 10), ad.planner.choose_mode(10, 3)
    ('fwd', 'rev')
    """
    if dims is None:
        return "fwd" if int(n_in) <= int(n_out) else "rev"
    dims = _check_dims(dims)
    if dims[0] != int(n_in) or dims[-1] != int(n_out):
        raise ValueError(f"choose_mode: dims run from {dims[0]} to {dims[-1]}, but n_in={n_in} "
                         f"and n_out={n_out}")
    c = chain_costs(dims)
    return "fwd" if c["forward"] <= c["reverse"] else "rev"
