"""Array API kernels of the math family's primitives (see backend/array_api.py)."""

KERNELS = {}
