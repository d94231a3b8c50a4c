"""Array API kernels of the linalg family's primitives (see backend/array_api.py)."""

KERNELS = {}
