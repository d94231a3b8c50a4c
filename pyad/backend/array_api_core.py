"""Array API kernels of the core family's primitives (see backend/array_api.py)."""

KERNELS = {}
