"""Pytrees: nested lists, tuples and dicts of arrays, flattened to a leaf list and rebuilt."""
from __future__ import annotations

from typing import Any, Callable, Iterable, List, Tuple

__all__ = ["tree_flatten", "tree_unflatten", "tree_leaves", "tree_map", "ravel_pytree"]


class TreeDef:
    """The structure of a pytree with its leaves taken out: ('leaf',), or a container."""
    __slots__ = ("kind", "meta", "children")

    def __init__(self, kind, meta=None, children=()):
        self.kind = kind
        self.meta = meta
        self.children = children

    @property
    def num_leaves(self):
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)

    def __eq__(self, other):
        return (isinstance(other, TreeDef) and self.kind == other.kind
                and self.meta == other.meta and self.children == other.children)

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        inner = ", ".join(map(repr, self.children))
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta, self.children)) + "}"
        if self.kind is list:
            return f"[{inner}]"
        if self.kind is tuple:
            return f"({inner}{',' if len(self.children) == 1 else ''})"
        return f"{self.kind.__name__}({inner})"


_LEAF = TreeDef("leaf")


def tree_flatten(tree: Any) -> Tuple[List[Any], TreeDef]:
    """Split a pytree into its leaves and its structure.

    A pytree is a nested list, tuple (namedtuples included) or dict; everything else (an
    array, a Tensor, a number, None) is a leaf. Dict entries are visited in sorted key
    order, so equal dicts flatten alike whatever their insertion order.

    Parameters
    ----------
    tree : pytree
        The nested containers.

    Returns
    -------
    leaves : list
        The leaves, depth first.
    treedef : TreeDef
        The structure (comparable with ``==``, printed with ``*`` for leaves), for
        :func:`tree_unflatten`.

    Examples
    --------
    >>> leaves, treedef = ad.tree_flatten({"b": [1.0, 2.0], "a": (np.zeros(2),)})
    >>> leaves
    [array([0., 0.]), 1.0, 2.0]
    >>> treedef
    {'a': (*,), 'b': [*, *]}
    """
    leaves = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree, leaves):
    if isinstance(tree, dict):
        keys = sorted(tree)
        return TreeDef("dict", tuple(keys), tuple(_flatten(tree[k], leaves) for k in keys))
    if isinstance(tree, tuple):
        kind = type(tree) if hasattr(tree, "_fields") else tuple
        return TreeDef(kind, None, tuple(_flatten(x, leaves) for x in tree))
    if isinstance(tree, list):
        return TreeDef(list, None, tuple(_flatten(x, leaves) for x in tree))
    leaves.append(tree)
    return _LEAF


def tree_unflatten(treedef: TreeDef, leaves: Iterable[Any]) -> Any:
    """Rebuild a pytree from a structure and leaves (the inverse of :func:`tree_flatten`).

    Parameters
    ----------
    treedef : TreeDef
        A structure from :func:`tree_flatten`.
    leaves : iterable
        The new leaves, in the order ``tree_flatten`` gives them.

    Returns
    -------
    pytree
        The containers of ``treedef`` holding ``leaves``.

    Examples
    --------
    >>> _, treedef = ad.tree_flatten({"a": (0.0,), "b": [0.0, 0.0]})
    >>> ad.tree_unflatten(treedef, [10, 20, 30])
    {'a': (10,), 'b': [20, 30]}
    """
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


def _unflatten(td, it):
    if td.kind == "leaf":
        return next(it)
    children = [_unflatten(c, it) for c in td.children]
    if td.kind == "dict":
        return dict(zip(td.meta, children))
    if td.kind is list:
        return children
    if td.kind is tuple:
        return tuple(children)
    return td.kind(*children)       # namedtuple


def tree_leaves(tree: Any) -> List[Any]:
    """The leaves of a pytree, in :func:`tree_flatten` order.

    Parameters
    ----------
    tree : pytree
        The nested containers.

    Returns
    -------
    list
        The leaves.

    Examples
    --------
    >>> from pyad.engine.pytree import tree_leaves
    >>> tree_leaves([1, {"x": 2, "w": (3, 4)}])
    [1, 3, 4, 2]
    """
    return tree_flatten(tree)[0]


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Apply fn leaf by leaf, keeping the structure.

    Parameters
    ----------
    fn : callable
        ``fn(leaf, *leaves_of_rest) -> new leaf``.
    tree : pytree
        Gives the structure of the result.
    *rest : pytree
        More pytrees of the same structure, whose leaves are passed alongside.

    Returns
    -------
    pytree
        ``tree``'s structure holding fn's results.

    Examples
    --------
    >>> ad.tree_map(lambda x, y: x + y, {"a": 1, "b": [2, 3]}, {"a": 10, "b": [20, 30]})
    {'a': 11, 'b': [22, 33]}
    >>> params = {"w": np.ones(2), "b": np.zeros(1)}
    >>> ad.tree_map(lambda p: p.shape, params)
    {'b': (1,), 'w': (2,)}
    """
    leaves, td = tree_flatten(tree)
    others = [tree_flatten(r)[0] for r in rest]
    return tree_unflatten(td, [fn(*xs) for xs in zip(leaves, *others)])


def ravel_pytree(tree: Any) -> Tuple[Any, Callable[[Any], Any]]:
    """Flatten a pytree of arrays into one 1-D float array, with the function that rebuilds it.

    Like ``jax.flatten_util.ravel_pytree`` and autograd's ``flatten``: the leaves, in
    :func:`tree_flatten` order, are raveled and concatenated into a vector of their common
    float dtype (``numpy.result_type`` of the leaves, float64 when they are all integers or
    booleans), so an optimiser, a Hessian or a line search can treat the parameters as one
    vector. numpy in, numpy out: when any leaf is a pyad Tensor the vector is a Tensor and
    differentiable (through the concatenation); otherwise a numpy array.

    Parameters
    ----------
    tree : pytree
        Nested lists, tuples (namedtuples included) and dicts whose leaves are numpy arrays,
        Tensors or Python/numpy numbers.

    Returns
    -------
    flat : numpy.ndarray or Tensor
        The 1-D vector of all leaf entries.
    unravel : callable
        ``unravel(v)`` rebuilds ``tree``'s structure from a vector ``v`` of ``flat``'s
        length: each leaf with its shape and dtype (a number leaf becomes a 0-d array). A
        numpy ``v`` gives numpy arrays (views of ``v`` where the dtype already matches), a
        Tensor ``v`` gives Tensors, differentiable, so ``grad`` flows through ``unravel``.
        A ``v`` of another shape raises a ValueError.

    Raises
    ------
    TypeError
        When a leaf is not numeric (None, a string, a complex array, an object).

    Examples
    --------
    >>> params = {"w": np.ones((2, 2)), "b": np.zeros(2)}
    >>> flat, unravel = ad.ravel_pytree(params)
    >>> flat
    array([0., 0., 1., 1., 1., 1.])
    >>> unravel(flat + 1.0)["b"]
    array([1., 1.])
    >>> ad.grad(lambda v: ad.sum(unravel(v)["w"] ** 2))(flat)
    array([0., 0., 2., 2., 2., 2.])
    """
    import numpy as np

    from pyad.ops import core as ops
    from pyad.engine._tape import Tensor, wrap

    leaves, treedef = tree_flatten(tree)
    metas = []          # (shape, dtype, size) per leaf
    for i, leaf in enumerate(leaves):
        dtype = leaf.dtype if isinstance(leaf, Tensor) else np.asarray(leaf).dtype
        if dtype.kind not in "biuf":
            raise TypeError(f"pyad.ravel_pytree: leaf {i} ({type(leaf).__name__} of dtype "
                            f"{dtype}) is not a real numeric array; the leaves of "
                            f"{treedef} must be arrays, Tensors or numbers")
        shape = tuple(np.shape(leaf.data if isinstance(leaf, Tensor) else leaf))
        metas.append((shape, dtype, int(np.prod(shape, dtype=np.int64))))
    flat_dtype = np.result_type(*[d for _, d, _ in metas]) if metas else np.dtype(np.float64)
    if flat_dtype.kind != "f":
        flat_dtype = np.dtype(np.float64)
    total = sum(n for _, _, n in metas)

    if any(isinstance(leaf, Tensor) for leaf in leaves):
        parts = [ops.reshape(ops.astype(ops._t(leaf), flat_dtype), (-1,)) for leaf in leaves]
        flat = ops.concatenate(parts) if parts else wrap(np.zeros(0, flat_dtype))
    elif leaves:
        flat = np.concatenate([np.ravel(np.asarray(leaf, dtype=flat_dtype)) for leaf in leaves])
    else:
        flat = np.zeros(0, flat_dtype)

    def unravel(vector):
        if np.shape(vector.data if isinstance(vector, Tensor) else vector) != (total,):
            raise ValueError(f"pyad.ravel_pytree: unravel takes a 1-D vector of length "
                             f"{total}, got shape {np.shape(vector)}")
        out, start = [], 0
        if isinstance(vector, Tensor):
            for shape, dtype, n in metas:
                piece = ops.getitem(vector, slice(start, start + n))
                out.append(ops.astype(ops.reshape(piece, shape), dtype))
                start += n
        else:
            vector = np.asarray(vector)
            for shape, dtype, n in metas:
                out.append(vector[start:start + n].reshape(shape).astype(dtype, copy=False))
                start += n
        return tree_unflatten(treedef, out)

    return flat, unravel
