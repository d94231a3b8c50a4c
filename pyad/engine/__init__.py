"""The engine: the tape, forward-mode traces, the backward sweep, bind() and Tensor (Cython,
_tape.pyx), and pytrees. It knows no primitive by name: the ops layer hands it the rows its
operators and gradient accumulation use (_tape._install)."""
from pyad.engine._tape import (JvpTrace, Primitive, Tape, Tensor, bind, debug_nans, no_grad,
                               stop_gradient)
from pyad.engine.pytree import tree_flatten, tree_leaves, tree_map, tree_unflatten

__all__ = ["JvpTrace", "Primitive", "Tape", "Tensor", "bind", "debug_nans", "no_grad",
           "stop_gradient", "tree_flatten", "tree_leaves", "tree_map", "tree_unflatten"]
