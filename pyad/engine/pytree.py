"""Pytrees: nested lists, tuples and dicts of arrays, flattened to a leaf list and rebuilt."""
from __future__ import annotations

from typing import Any, Callable, Iterable, List, Tuple

__all__ = ["tree_flatten", "tree_unflatten", "tree_leaves", "tree_map"]


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

    def __hash__(self):          # a dict key (ad.compile keys its programs by input structure)
        return hash((self.kind, self.meta, self.children))

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


_CONTAINERS = (dict, tuple, list)


def _flatten(tree, leaves):
    # leaves first, with one test (the transforms flatten their arguments at every call)
    if not isinstance(tree, _CONTAINERS):
        leaves.append(tree)
        return _LEAF
    if isinstance(tree, dict):
        keys = sorted(tree)
        return TreeDef("dict", tuple(keys), tuple([_flatten(tree[k], leaves) for k in keys]))
    if isinstance(tree, tuple):
        kind = type(tree) if hasattr(tree, "_fields") else tuple
        return TreeDef(kind, None, tuple([_flatten(x, leaves) for x in tree]))
    return TreeDef(list, None, tuple([_flatten(x, leaves) for x in tree]))


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
    leaves = []
    _leaves(tree, leaves)
    return leaves


def _leaves(tree, out):
    """tree's leaves appended to out, in _flatten's order, without building a TreeDef."""
    if not isinstance(tree, _CONTAINERS):
        out.append(tree)
    elif isinstance(tree, dict):
        for k in sorted(tree):
            _leaves(tree[k], out)
    else:
        for x in tree:
            _leaves(x, out)


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

