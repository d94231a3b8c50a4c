"""Array API kernels of the array family's primitives (see backend/array_api.py)."""

KERNELS = {}
