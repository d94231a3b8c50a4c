"""The array family: its rows of the primitive table and its public functions."""
from pyad import ops as o  # noqa: F401
from pyad.prims import DIAGONAL, LINEAR, call, defprim  # noqa: F401

__all__ = []
