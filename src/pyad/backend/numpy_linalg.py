"""CPU forward kernels (numpy) of the linalg family's primitives, by primitive name."""
import numpy as np  # noqa: F401

KERNELS = {}
FALLBACKS = {}      # numpy versions for integer/bool inputs, where a kernel takes floats only
