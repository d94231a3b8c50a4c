"""pyad.scipy: a drop-in for autograd.scipy (``import pyad.scipy as sp``), its functions rows of
the primitive table or compositions of them, differentiable to any order."""
from pyad.ops.scipy import linalg, signal, special, stats

__all__ = ["special", "stats", "signal", "linalg"]
