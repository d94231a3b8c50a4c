"""Type aliases for pyad's public signatures (the package ships ``py.typed``).

Modules use them with ``from __future__ import annotations``, so annotations cost nothing at
run time; this module is imported only for the names (and ``typing.get_type_hints``).
"""
from typing import Any, Callable, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike as _NumpyArrayLike
from numpy.typing import DTypeLike, NDArray

from pyad.engine._tape import Tensor

#: What pyad functions accept as an array: a Tensor, a numpy array, a Python scalar or a
#: (nested) list of them.
ArrayLike = Union[Tensor, _NumpyArrayLike]

#: A nested list / tuple / dict whose leaves are arrays or Tensors (see ``pyad.tree_flatten``).
PyTree = Any

#: A shape: one int or a tuple of ints.
Shape = Union[int, Tuple[int, ...]]

#: An axis argument: None (all axes), one int, or a tuple of ints (negative counts from the end).
Axis = Union[None, int, Tuple[int, ...]]

#: argnums of the transforms: one position, or several.
ArgNums = Union[int, Sequence[int]]

#: A function of arrays (or pytrees of them).
Fn = Callable[..., Any]

#: An int seed, a numpy Generator, or None (fresh entropy).
Seed = Union[None, int, np.random.Generator]

__all__ = ["ArrayLike", "PyTree", "Shape", "Axis", "ArgNums", "Fn", "Seed", "DTypeLike",
           "NDArray", "Tensor"]
