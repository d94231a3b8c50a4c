"""The generic backend: every primitive's forward kernel written against the Python Array API
standard, through the array's own namespace (``x.__array_namespace__()``), so pyad runs on
any standard-conforming array (array-api-strict, CuPy, ...) and returns that array type.

Kernels take the row's arrays then its params, as on the CPU, and use only the standard's
functions (no numpy: tests run them on array-api-strict arrays, which numpy cannot read). The
CPU and CUDA backends build on this one, overriding the kernels they have faster versions of.
"""
import numpy as np

from pyad.backend import (array_api_activations, array_api_array, array_api_conv,
                          array_api_core, array_api_fft, array_api_linalg, array_api_math,
                          array_api_norm, array_api_scipy, array_api_special)
from pyad.backend.array_api_updates import UPDATES
from pyad.backend.namespaces import namespace_dtype

KERNELS = {}
for _family in (array_api_core, array_api_math, array_api_array, array_api_linalg,
                array_api_special, array_api_scipy, array_api_fft, array_api_activations,
                array_api_conv, array_api_norm):
    KERNELS.update(_family.KERNELS)


class ArrayAPIBackend:
    """The backend of one array namespace: its kernels, optimizer updates and creation."""

    def __init__(self, xp, name=None, kernels=None, fallbacks=None, updates=None):
        self.xp = xp
        self.name = name or f"array_api({xp.__name__})"
        self.kernels = dict(KERNELS) if kernels is None else kernels
        self.fallbacks = {} if fallbacks is None else fallbacks   # generic kernels take all dtypes
        self.updates = dict(UPDATES) if updates is None else updates
        # the same updates over lists of parameters in one call, where the backend has them
        # (see optimizer_update_many)
        self.many_updates = {}
        # update name -> the function giving the numbers of its kernel that change with the
        # step count, where the kernel can read them from device memory instead (see
        # optimizer_step_scalars): only a backend with CUDA graphs needs them
        self.step_scalars = {}

    def __repr__(self):
        return f"<pyad backend {self.name}>"

    def dtype(self, dtype):
        """A dtype of this namespace for `dtype` (a numpy dtype, its name, or already ours)."""
        return None if dtype is None else namespace_dtype(self.xp, dtype)

    def device_of(self, x):
        return str(getattr(x, "device", "cpu"))

    def is_floating(self, x):
        return self.xp.isdtype(x.dtype, "real floating")

    def zeros_like(self, x, dtype=None):
        return self.xp.zeros_like(x, dtype=self.dtype(dtype))

    def ones_like(self, x, dtype=None):
        return self.xp.ones_like(x, dtype=self.dtype(dtype))

    def empty(self, shape, dtype, like):
        return self.xp.empty(tuple(shape), dtype=self.dtype(dtype), device=like.device)

    def empty_outside_graph(self, shape, dtype, like):
        return self.empty(shape, dtype, like)      # no graphs here: any memory will do

    def zeros(self, shape, dtype, like):
        return self.xp.zeros(tuple(shape), dtype=self.dtype(dtype), device=like.device)

    def ones(self, shape, dtype, like):
        return self.xp.ones(tuple(shape), dtype=self.dtype(dtype), device=like.device)

    def eye(self, n, dtype, like):
        return self.xp.eye(n, dtype=self.dtype(dtype), device=like.device)

    def asarray(self, obj, dtype, like):
        if isinstance(obj, np.ndarray):
            return self.from_host(obj if dtype is None else obj.astype(dtype), like)
        return self.xp.asarray(obj, dtype=self.dtype(dtype), device=like.device)

    def owns_memory(self, x):
        """Whether x is an array no other array shares memory with (a kernel's fresh result,
        not a view), so that it can be handed out as a .grad without a copy. Unknown for a
        namespace in general: False."""
        return False

    def to_host(self, x):
        """A numpy copy, through DLPack (the standard's exchange protocol)."""
        return np.array(np.from_dlpack(x), copy=True)

    def set_from_host(self, dst, values):
        """Host (numpy) values written into array dst in place."""
        dst[...] = self.from_host(values, dst)

    def from_host(self, a, like):
        return self.xp.asarray(np.array(a, order="C", copy=True), device=like.device)
