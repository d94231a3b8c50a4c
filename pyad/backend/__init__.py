"""The backend seam: the array's type picks the backend (Chainer's get_array_module rule).

Everything above this package reaches arrays through here: which backend an array lives on
(`backend_of`), array creation (`zeros_like`, `ones_like`, `empty`, `eye`, `asarray`),
host/device copies (`to_host`, `to_backend`), and the forward kernels, fallbacks and
optimizer updates by primitive name (`kernel_for`, `optimizer_update`). Backends:

  cpu        numpy arrays: pyad._C (C++), BLAS, numpy (backend/cpu.py)
  array_api  any other array with ``__array_namespace__`` (the Python Array API standard):
             every kernel through the array's own namespace (backend/array_api.py)

Only this package imports pyad._C, BLAS or cupy. Importing it sets the OpenMP and malloc
policies, so pyad/__init__ imports it before any extension loads.
"""
import os

from pyad.backend._blas_lib import mkl_runtime

# OpenMP reads its settings when its runtime loads with the first extension.
# OpenMP workers that spin-wait fight OpenBLAS's for the same cores (an MLP step ran ~20x
# slower here), so they wait passively. With MKL, matrix products run on that same OpenMP
# pool (one pool for everything), and a short spin (~10 us) before sleeping saves the ~70 us
# wake-up of every threaded product.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if mkl_runtime():
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import numpy as np  # noqa: E402

from pyad import _C  # noqa: E402

# glibc unmaps freed blocks of >= 128 KB (a threshold it raises only as it goes) and trims the
# heap's free top, so each new array as large as one just freed page-faults in afresh: that
# was ~40% of an MLP gradient and ~35% of an HVP here. Freed memory up to 32 MB a block and
# 256 MB in all stays for reuse; setting either MALLOC_*_ variable or PYAD_SYSTEM_MALLOC=1
# keeps glibc's own policy.
_MALLOC_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "PYAD_SYSTEM_MALLOC")
if not any(os.environ.get(v) for v in _MALLOC_VARS):
    _C.keep_freed_memory(32 << 20, 256 << 20)

from pyad.backend._blas import pool_matmul, rows_matvec  # noqa: E402,F401  (curvature's products)
from pyad.backend.cpu import CPU  # noqa: E402
from pyad.backend.namespaces import has_namespace, numpy_dtype  # noqa: E402,F401
from pyad.backend.array_api import ArrayAPIBackend  # noqa: E402

# array type -> its backend; other types are looked at once, on first sight (backend_of)
_BY_TYPE = {np.ndarray: CPU}
for _t in (np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
           np.uint8, np.bool_, np.complex128, np.complex64):
    _BY_TYPE[_t] = CPU
_BY_NAMESPACE = {}


def backend_of(x):
    """The backend of array `x`: CPU for numpy, the Array API backend of x's namespace for
    any other standard array. Raises TypeError for an object that is no array."""
    try:
        return _BY_TYPE[type(x)]
    except KeyError:
        return _learn_type(x)


def _learn_type(x):
    if isinstance(x, (np.ndarray, np.generic)):
        backend = CPU
    elif _is_cupy(x):
        from pyad.backend import cuda       # imports cupy: only once a CUDA array exists
        backend = cuda.backend()
    elif hasattr(x, "__array_namespace__"):
        xp = x.__array_namespace__()
        backend = _BY_NAMESPACE.get(xp.__name__)
        if backend is None:
            backend = _BY_NAMESPACE[xp.__name__] = ArrayAPIBackend(xp)
    else:
        raise TypeError(f"pyad: a {type(x).__module__}.{type(x).__qualname__} is not an "
                        "array pyad computes on: pass a numpy array, a Python number or "
                        "list, or an array of the Array API standard (with __array_namespace__)")
    _BY_TYPE[type(x)] = backend
    return backend


def describe(x):
    """'numpy.ndarray on cpu': an array's type and device, for error messages."""
    t = type(x)
    return f"{t.__module__.split('.')[0]}.{t.__qualname__} on {device_of(x)}"


def device_of(x):
    """The device an array lives on, as a string ('cpu' for numpy)."""
    if type(x) is np.ndarray:
        return "cpu"
    return backend_of(x).device_of(x)


def same_backend(op, arrays):
    """The one backend of `arrays` (numpy scalars go with any); an op given arrays of two
    backends or devices raises TypeError naming the op and both, never converting one."""
    first = None
    for a in arrays:
        if isinstance(a, np.generic):
            continue
        if first is None:
            first = a
            continue
        if type(a) is not type(first) or device_of(a) != device_of(first):
            raise TypeError(
                f"pyad.{op}: its inputs live on different backends or devices: "
                f"{describe(first)} and {describe(a)}. pyad never copies between them "
                f"implicitly: move one with .to(device) (Tensors, models) or "
                f"ad.device_put(x, device) first.")
    return CPU if first is None else backend_of(first)


def kernel_for(name, arrays, impl=None):
    """The forward kernel of primitive `name` on the backend of `arrays` (all on one
    backend and device, else TypeError). A primitive that is no row of the table (a user's
    own, whose `impl` is not the CPU's row kernel) runs its impl on any array."""
    backend = same_backend(name, arrays)
    if impl is not None and CPU.kernels.get(name) is not impl:
        return impl
    kernel = backend.kernels.get(name)
    if kernel is None:
        raise NotImplementedError(f"pyad.{name}: no kernel on the {backend.name} backend "
                                  f"(for {describe(arrays[0])})")
    return kernel


def register_kernels(kernels):
    """Give rows defined outside the backends (pyad.distributed's collectives, which work on
    any array by staging it through the host) the same kernel on every backend, present and
    future: name -> kernel."""
    from pyad.backend import array_api, cpu
    cpu.KERNELS.update(kernels)
    CPU.kernels.update(kernels)
    array_api.KERNELS.update(kernels)       # backends made from now on copy these
    for b in set(_BY_TYPE.values()) | set(_BY_NAMESPACE.values()):
        b.kernels.update(kernels)


# ------------------------------------------------------------------- creation and copies
def zeros_like(x, dtype=None):
    return backend_of(x).zeros_like(x, dtype)


def ones_like(x, dtype=None):
    return backend_of(x).ones_like(x, dtype)


def empty(shape, dtype, like):
    """An uninitialised array of `shape` and `dtype` on the backend and device of `like`."""
    return backend_of(like).empty(shape, dtype, like)


def empty_outside_graph(shape, dtype, like):
    """As empty(), for an array a CUDA graph being captured reads and the host writes between
    its launches: not from the capture's memory pool, which hands blocks that kernels early
    in the graph use to kernels after them (those would overwrite what the host wrote)."""
    return backend_of(like).empty_outside_graph(shape, dtype, like)


def zeros(shape, dtype, like):
    return backend_of(like).zeros(shape, dtype, like)


def ones(shape, dtype, like):
    return backend_of(like).ones(shape, dtype, like)


def eye(n, dtype, like):
    return backend_of(like).eye(n, dtype, like)


def asarray(obj, dtype=None, like=None, op="asarray"):
    """obj as an array on the backend and device of `like` (without like: obj's own, numpy
    for numbers and lists). Numbers and lists are converted; an array of another backend or
    device raises TypeError naming `op` (never an implicit copy: see to_backend)."""
    if is_foreign(obj) or isinstance(obj, np.ndarray):
        if like is not None:
            same_backend(op, [like, obj])
        return obj if dtype is None or dtype_of(obj) == numpy_dtype(dtype) else astype(obj, dtype)
    if like is None or type(like) is np.ndarray:
        return np.asarray(obj, dtype=dtype)
    return backend_of(like).asarray(obj, dtype, like)


def copy(x):
    """A new array with x's values, on x's backend."""
    if isinstance(x, (np.ndarray, np.generic)):
        return np.array(x)
    b = backend_of(x)
    return b.xp.asarray(x, copy=True)


def as_array(x):
    """x itself when it is an array of any backend, else numpy's np.asarray(x)."""
    return x if is_foreign(x) else np.asarray(x)


def to_host(x):
    """A numpy copy of array x (x itself when it is numpy): for small dense host work,
    such as a tridiagonal eigenproblem, and for printing and saving."""
    if not is_foreign(x):
        return np.asarray(x)        # numpy already, or numbers and lists
    return backend_of(x).to_host(x)


def to_backend(x, like):
    """Array x (any backend, or numpy) copied to the backend and device of `like`."""
    target = backend_of(like)
    if backend_of(x) is target and device_of(x) == device_of(like):
        return x
    return target.from_host(to_host(x), like)


def normalize_device(device):
    """'cpu', 'cuda' -> 'cuda:0', 'cuda:N'; anything else raises ValueError."""
    name = str(device)
    if name == "cpu":
        return name
    from pyad.backend import cuda
    return f"cuda:{cuda.device_index(name)}"


def to_device(x, device):
    """Array x (any backend) on `device` ('cpu', 'cuda', 'cuda:N'): x itself when it is
    there, else a copy (an explicit move, the only kind pyad makes)."""
    device = normalize_device(device)
    if device_of(x) == device:
        return x
    if device == "cpu":
        return np.array(to_host(x))
    from pyad.backend import cuda
    return cuda.backend().put(to_host(x) if not _is_cupy(x) else x, device)


def owns_memory(x):
    """Whether foreign array x shares its memory with no other array (a kernel's fresh
    result): backward() then hands it out as a .grad without a copy."""
    return backend_of(x).owns_memory(x)


def is_floating(x):
    """Whether x has a real floating dtype."""
    return backend_of(x).is_floating(x)


def is_foreign(x):
    """Whether x is an array of a backend other than numpy (CuPy's, or any with an Array API
    namespace)."""
    return not isinstance(x, (np.ndarray, np.generic)) and (has_namespace(x) or _is_cupy(x))


def _is_cupy(x):
    return type(x).__module__.partition(".")[0] == "cupy"


def dtype_of(x):
    """x's dtype as a numpy dtype, whatever backend x lives on (pyad's dtype logic, numpy's
    promotion rules included, runs on these for every backend)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype
    return numpy_dtype(x.dtype, backend_of(x).xp)


def astype(x, dtype):
    """x converted to `dtype` (a numpy dtype or name), on x's backend; a new array."""
    if isinstance(x, np.ndarray):
        return x.astype(dtype)
    b = backend_of(x)
    return b.xp.astype(x, b.dtype(dtype))


def namespace(x):
    """The array namespace (numpy for numpy arrays) of x."""
    return backend_of(x).xp


def graph_capture(like):
    """The CUDA-graph recorder of `like`'s backend and device, or None where the backend has
    none (the CPU, the other Array API backends): ``capture(run)`` returns ``(graph, run())``
    with every kernel run() launched recorded in `graph` rather than run;
    ``graph.launch(copies)`` first copies each ``(buffer, array)`` pair, then runs the
    recorded kernels (ad.compile's replay)."""
    capture = getattr(backend_of(like), "capture", None)
    return None if capture is None else (lambda run: capture(run, like))


def optimizer_update(name, like=None):
    """The in-place update kernel of optimizer `name` ("sgd", "rmsprop", "adam") for
    parameters like `like` (CPU's when like is None)."""
    backend = CPU if like is None else backend_of(like)
    return backend.updates[name]


def optimizer_update_many(name, like):
    """The update kernel of optimizer `name` over lists of parameters like `like` and their
    gradients and states, one call for all (see pyad._C.sgd_update_many), or None where
    like's backend has none. It returns False, updating nothing, for lists that need the
    one-parameter kernel's conversions or errors."""
    return backend_of(like).many_updates.get(name)


def optimizer_step_scalars(name, like):
    """Where the update kernel of optimizer `name` on like's backend can read the numbers
    that change with the step count from device memory (Adam's bias corrections, on CUDA):
    the function ``(dtype, *numbers) -> tuple`` giving them in the parameters' dtype from the
    kernel's own numbers (what follows the arrays); the kernel then takes ``scalars=``, an
    array holding them, which a CUDA graph's launches each refresh. None elsewhere."""
    return backend_of(like).step_scalars.get(name)


def set_from_host(dst, values):
    """Host (numpy) values written into array dst in place (on a GPU: ordered on the current
    stream after the work queued there, before what follows)."""
    backend_of(dst).set_from_host(dst, values)


UPDATES = CPU.updates   # the CPU's, by name


axpy_dot = _C.axpy_dot     # axpy_dot(y, x, a, z): y += a x, return z . y (float64, one pass)
pack_scaled = _C.pack_scaled   # pack_scaled(flat, arrays, starts, s): arrays * s into flat
_FUSIBLE = _C.fusible_kernels()     # {name: (id, array inputs, float params)}
fused_map = _C.fused_map            # fused_map(*inputs, program): see fusible()


def fusible(fn):
    """(kernel id, array inputs, float parameters) when the kernel function fn (a primitive's
    CPU kernel, as _select picks it) may run inside a fused elementwise program
    (``fused_map``, ad.compile's fusion), else None."""
    name = getattr(fn, "__name__", None)
    info = _FUSIBLE.get(name)
    return info if info is not None and fn is getattr(_C.kernels, name, None) else None


def set_num_threads(n):
    """Threads for the compiled kernels (OpenMP); BLAS keeps its own setting."""
    _C.set_num_threads(int(n))


def get_num_threads():
    return _C.get_num_threads()
