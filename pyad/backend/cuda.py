"""CUDA backend (CuPy): the generic Array API kernels on CuPy arrays, with one-pass CUDA
kernels for the fused backward ops and the optimizer updates, row kernels for the softmax
family and the softmax cross-entropy, and cuBLAS products.

Importing this module imports nothing from CuPy: `import pyad` on a machine without CuPy, or
without a GPU, costs nothing. CuPy is imported when a CUDA array or device is first used
(backend()), and "CuPy imports" is not "a GPU is usable": is_available() asks CuPy.
"""
import functools
import operator
import pathlib

import numpy as np

from pyad.backend import array_api
from pyad.backend.cuda_gemm import Gemm
from pyad.backend.namespaces import register as register_namespace

INSTALL_HINT = ('pip install "pyad[cuda12]" (CUDA 12) or "pyad[cuda13]" (CUDA 13), which '
                'bring CuPy')

# One-pass elementwise kernels (cupy.ElementwiseKernel: inputs, outputs, body), by the row
# or update they compute; T is the float dtype. The bodies follow the CPU's C++ exactly
# (relu'(0) = 0, abs'(0) = 0, NaN propagates).
FUSED = {
    "tanh_backward": ("T g, T y", "T out", "out = g * (T(1) - y * y)"),
    "sigmoid_backward": ("T g, T y", "T out", "out = g * y * (T(1) - y)"),
    # the forward relu in one pass where the generic where(x < 0, 0, x) makes three (NaN stays)
    "relu": ("T x", "T out", "out = x < T(0) ? T(0) : x"),
    "relu_backward": ("T g, T x", "T out", "out = x > T(0) ? g : T(0)"),
    "abs_backward": ("T g, T x", "T out",
                     "out = g * (x > T(0) ? T(1) : (x < T(0) ? T(-1) : (x == T(0) ? T(0) : x)))"),
    # sigmoid(x), stable for any x: exp of a non-positive number only
    "softplus_backward": ("T g, T x", "T out",
                          "T e = exp(-fabs(x)); "
                          "out = g * (x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e))"),
    "sqrt_backward": ("T g, T y", "T out", "out = g * T(0.5) / y"),
    "tanh_backward_tangent": ("T g, T y, T dg, T dy", "T out",
                              "out = dg * (T(1) - y * y) - T(2) * g * y * dy"),
    # the bounds inclusive, as on the CPU (given in g's dtype: see CudaBackend.__init__)
    "clip_backward": ("T g, T x, T lo, T hi", "T out", "out = (x >= lo && x <= hi) ? g : T(0)"),
}
# in place, one launch per parameter; hyperparameters rounded to the parameter's dtype
UPDATE_KERNELS = {
    "sgd": ("T g, T lr, T wd", "T p", "p = p - lr * (g + wd * p)"),
    "sgd_momentum": (
        "T g, T lr, T mu, T damp, T wd, int32 first, int32 nesterov", "T p, T buf",
        "T d = g + wd * p; T m = first ? d : mu * buf + damp * d; buf = m; "
        "p = p - lr * (nesterov ? d + mu * m : m)"),
}


def _adam_spec(amsgrad, scalars_in_memory=False):
    """Adam/AdamW (decoupled) in one pass; AMSGrad steps with the running max of v (a NaN v
    wins the compare, as in the C++). scalars_in_memory: the numbers that change every step
    (step_size = lr / bc1 and bc2s, see adam_step_scalars) are read from a device array
    instead of given, so that a CUDA graph's launches each see the step's own (the same
    arithmetic on the same values: bitwise the eager kernel's results)."""
    vhat = "vmax = vmax > v ? vmax : v; " if amsgrad else ""
    stepped = ("raw T scalars, " if scalars_in_memory else "T step_size, ")
    read = "const T step_size = scalars[0]; const T bc2s = scalars[1]; "
    return ("T g, " + stepped + "T b2, T b1c, T b2c, T eps, T wd, T decay, " +
            ("" if scalars_in_memory else "T bc2s, ") + "int32 decoupled",
            "T p, T m, T v" + (", T vmax" if amsgrad else ""),
            (read if scalars_in_memory else "") +
            "T gg = decoupled ? g : g + wd * p; T q = p * decay; "
            "m = m + b1c * (gg - m); v = b2 * v + b2c * gg * gg; " + vhat +
            f"p = q - step_size * (m / (sqrt({'vmax' if amsgrad else 'v'}) / bc2s + eps))")


def adam_step_scalars(dtype, lr, beta1, beta2, eps, weight_decay, step, decoupled):
    """The numbers of Adam's kernel that change with the step count, in the parameters'
    dtype: (lr / (1 - beta1**step), sqrt(1 - beta2**step)) (the arguments are the update's
    own, after the arrays)."""
    t = np.dtype(dtype).type
    return t(lr / (1.0 - beta1 ** step)), t(np.sqrt(1.0 - beta2 ** step))


def _rmsprop_spec(centered, momentum):
    """RMSprop in one pass: centered keeps the gradients' mean ga, momentum a buffer."""
    body = "T gg = g + wd * p; sq = a * sq + ac * gg * gg; "
    body += ("ga = a * ga + ac * gg; T avg = sqrt(sq - ga * ga) + eps; " if centered
             else "T avg = sqrt(sq) + eps; ")
    body += ("buf = mu * buf + gg / avg; p = p - lr * buf" if momentum
             else "p = p - lr * (gg / avg)")
    return ("T g, T lr, T a, T ac, T eps, T wd" + (", T mu" if momentum else ""),
            "T p, T sq" + (", T ga" if centered else "") + (", T buf" if momentum else ""),
            body)


for _amsgrad in (False, True):
    for _in_memory in (False, True):
        UPDATE_KERNELS["adam" + "_amsgrad" * _amsgrad + "_graph" * _in_memory] = \
            _adam_spec(_amsgrad, _in_memory)
for _centered in (False, True):
    for _momentum in (False, True):
        UPDATE_KERNELS["rmsprop" + "_centered" * _centered + "_momentum" * _momentum] = \
            _rmsprop_spec(_centered, _momentum)
# Row kernels (CUDA C++, one block per row; see the file's header): the rows they compute, by
# name. The source is package data beside this module (pyproject's package-data and
# MANIFEST.in ship it in wheels and sdists) rather than in csrc/, which only the C++ build
# reads and no installed pyad has: the backend reads it at run time and compiles it with
# NVRTC (cupy.RawModule) on first use. Each row's kernels are `<row>_f32` and `<row>_f64`;
# other dtypes take the generic kernels.
ROW_SOURCE = pathlib.Path(__file__).with_name("cuda_kernels") / "softmax.cu"
ROWS = ("softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
        "softmax_cross_entropy", "softmax_cross_entropy_backward")
ROW_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
ROW_KERNEL_NAMES = tuple(f"{row}_{suffix}" for row in ROWS for suffix in ROW_SUFFIX.values())
# NVRTC options beside the ones CuPy adds (-arch for the device, -std=c++17 and
# --device-as-default-execution-space); tests/test_cuda_sources.py compiles with these too
ROW_OPTIONS = ()
_MAX_GRID = 2 ** 31 - 1        # the kernels stride over the rows: any grid covers them all
_DEVICE_NAMES = {i: f"cuda:{i}" for i in range(64)}


# Vectorised elementwise kernels for the hot rows of a training step (16-byte loads, a
# grid-stride loop; see the file's header): the names cuda.py launches, each `<name>_f32` and
# `<name>_f64`, on C-contiguous, 16-byte aligned arrays (else the ElementwiseKernels above)
VEC_SOURCE = ROW_SOURCE.with_name("elementwise.cu")
VEC_KERNELS = ("relu", "relu_backward", "tanh_backward", "add", "add_row", "sgd")
VEC_KERNEL_NAMES = tuple(f"{k}_{suffix}" for k in VEC_KERNELS for suffix in ROW_SUFFIX.values())
_VEC_WIDTH = {np.dtype(np.float32): 4, np.dtype(np.float64): 2}     # elements per 16 bytes
_VEC_BLOCK, _VEC_MAX_GRID = 256, 4096
# below this many elements an array's pass costs the GPU a few microseconds either way, while
# a raw launch with its checks costs the host more than an ElementwiseKernel's (measured on an
# H200 host: 13 against 10 us): small arrays take the ElementwiseKernels
VEC_MIN_SIZE = 2 ** 20


def row_source():
    """The CUDA C++ source of the row kernels (ROW_KERNEL_NAMES), as NVRTC compiles it."""
    return ROW_SOURCE.read_text()


def vec_source():
    """The CUDA C++ source of the vectorised kernels (VEC_KERNEL_NAMES)."""
    return VEC_SOURCE.read_text()


def _threads(n):
    """Threads per block for rows of n entries: the power of two >= n, from 32 to 1024."""
    return min(1024, max(32, 1 << (max(n, 1) - 1).bit_length()))


def kernel_names():
    """The rows with a kernel here (the generic ones, the fused ones overriding them, and
    rows registered later: backend.register_kernels), known without CuPy."""
    return frozenset(array_api.KERNELS) | frozenset(FUSED) | {"matmul_sum"}

_BACKEND = None


def is_available() -> bool:
    """Whether pyad can compute on a CUDA GPU here: CuPy imports and sees a usable device.

    Returns
    -------
    bool
        False without CuPy, without a GPU or without a working driver; never raises.

    Examples
    --------
    >>> isinstance(ad.cuda.is_available(), bool)
    True
    """
    try:
        import cupy
        return bool(cupy.is_available())
    except Exception:       # no cupy, or a cupy that cannot load the CUDA runtime
        return False


def _cupy():
    try:
        import cupy
    except ImportError as e:
        raise ImportError(f"pyad: CUDA arrays need CuPy, which is not installed: {INSTALL_HINT}") \
            from e
    return cupy


def backend():
    """The CUDA backend (created on first use; raises when CuPy or a GPU is missing)."""
    global _BACKEND
    if _BACKEND is None:
        cupy = _cupy()
        if not cupy.is_available():
            raise RuntimeError("pyad: CuPy is installed but finds no usable CUDA GPU "
                               "(cupy.is_available() is False): check the driver and "
                               "CUDA_VISIBLE_DEVICES, or use device='cpu'")
        import cupy.cublas      # noqa: F401  (loads libcublas, which cuda_gemm.Gemm calls)
        from array_api_compat import cupy as xp     # the standard's names over CuPy
        register_namespace(cupy.ndarray, xp)
        _BACKEND = CudaBackend(xp, cupy)
    return _BACKEND


def device_index(device):
    """'cuda' -> 0, 'cuda:1' -> 1; anything else raises ValueError."""
    name = str(device)
    if name == "cuda":
        return 0
    kind, _, index = name.partition(":")
    if kind == "cuda" and index.isdigit():
        return int(index)
    raise ValueError(f"pyad: unknown device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")


class CudaBackend(array_api.ArrayAPIBackend):
    """CuPy arrays: the generic kernels, with the fused ones and cuBLAS's beta=1 GEMM."""

    def __init__(self, xp, cupy):
        kernels = dict(array_api.KERNELS)
        fused = {name: cupy.ElementwiseKernel(*spec, name=f"pyad_{name}")
                 for name, spec in FUSED.items()}
        kernels.update(fused)
        self._fused = fused
        clip = fused["clip_backward"]       # its Python-float bounds, in g's dtype
        kernels["clip_backward"] = lambda g, x, lo, hi: clip(g, x, g.dtype.type(lo),
                                                             g.dtype.type(hi))
        generic_relu = array_api.KERNELS["relu"]
        kernels["relu"] = lambda x: (self._vec_map("relu", x) if x.dtype.kind == "f"
                                     else generic_relu(x))      # ints: int64, as numpy
        for name in ("relu_backward", "tanh_backward"):
            kernels[name] = functools.partial(self._vec_map, name)
        kernels["add"] = self._add
        kernels["sum_to"] = self._sum_to
        kernels["matmul"] = self._matmul
        kernels["matmul_sum"] = self._matmul_sum
        self._generic = dict(array_api.KERNELS)         # the row kernels' fallback
        self._row_module = None                         # compiled on first use
        self._row_kernels = {}
        self._vec_module = None                         # compiled on first use
        self._vec_kernels = {}
        self.vec_min_size = VEC_MIN_SIZE                # the vectorised kernels' smallest array
        self._ones = {}                 # (rows, dtype, device) -> a (1, rows) row of ones
        self._last_labels = None        # (a copy of the last host labels, on the GPU): _labels
        self._graph_reads = None        # under a capture: arrays from outside that it reads
        self._outside_graph = None      # under a capture: (the stream, the allocator) before it
        kernels.update({row: getattr(self, f"_{row}") for row in ROWS})
        self._updates = {name: cupy.ElementwiseKernel(*spec, name=f"pyad_{name}_update")
                         for name, spec in UPDATE_KERNELS.items()}
        super().__init__(xp, name="cuda", kernels=kernels,
                         updates={"sgd": self._sgd, "adam": self._adam,
                                  "rmsprop": self._rmsprop})
        self.step_scalars = {"adam": adam_step_scalars}
        self.cupy = cupy
        try:        # cuBLAS called directly: products a CUDA graph can capture (cuda_gemm.py)
            self._gemm = Gemm(cupy)
        except (OSError, AttributeError):     # no libcublas to find: CuPy's matmul only
            self._gemm = None

    # ------------------------------------------------------------------- devices
    def device_of(self, x):
        try:        # the memory's device id is an attribute; x.device makes an object
            return _DEVICE_NAMES[x.data.device_id]
        except (AttributeError, KeyError):
            return f"cuda:{x.device.id}"

    def device(self, name):
        return self.cupy.cuda.Device(device_index(name))

    def owns_memory(self, x):
        return x.base is None        # CuPy's views keep their base; fresh arrays have none

    def to_host(self, x):
        return self.cupy.asnumpy(x)

    def from_host(self, a, like):
        with like.device:
            return self.cupy.asarray(np.asarray(a))

    def set_from_host(self, dst, values):
        """Host values written into dst in place: an asynchronous copy on the current stream,
        after the work queued there and before what follows (a graph launch that reads
        them), without waiting for either."""
        with dst.device:
            dst.set(np.ascontiguousarray(values, dst.dtype),
                    stream=self.cupy.cuda.get_current_stream())

    def put(self, a, device):
        """Host or CUDA array a on CUDA device `device` ('cuda', 'cuda:N')."""
        with self.device(device):
            return self.cupy.asarray(a)

    # ------------------------------------------------------------------- CUDA graphs
    def capture(self, run, like):
        """run() with the kernels it launches recorded into a CUDA graph instead of run:
        (CudaGraph, what run returned), on the device of array `like` (the graph launches
        there too). Capture happens on a stream of its own, and every
        array made meanwhile comes from a memory pool that only the graph uses, so no later
        allocation is handed memory the graph writes. Raises what CuPy raises for work a graph
        cannot hold: its own cuBLAS calls (batched products; pyad's 2-D products call cuBLAS
        directly, see cuda_gemm.py), copies from the host, synchronisation."""
        cp = self.cupy
        self._graph_reads = []
        try:
            with like.device:
                self._outside_graph = (cp.cuda.get_current_stream(),
                                       cp.cuda.memory.get_allocator())
                stream, pool = cp.cuda.Stream(non_blocking=True), cp.cuda.MemoryPool()
                with stream, cp.cuda.using_allocator(pool.malloc):
                    stream.begin_capture()
                    try:
                        result = run()
                    finally:
                        graph = stream.end_capture()
            return CudaGraph(graph, pool, like.device, self._graph_reads), result
        finally:
            self._graph_reads = self._outside_graph = None

    def empty_outside_graph(self, shape, dtype, like):
        """An uninitialised array that, under a capture, comes from the stream and memory
        pool in use before it (see backend.empty_outside_graph)."""
        outside = self._outside_graph
        if outside is None:
            return self.empty(shape, dtype, like)
        stream, allocator = outside
        with like.device, stream, self.cupy.cuda.using_allocator(allocator):
            return self.cupy.empty(tuple(shape), dtype)

    # ------------------------------------------------------------------- kernels
    def _matmul(self, a, b):
        """a @ b: cuBLAS directly for 2-D float products (capturable), else CuPy's matmul."""
        out = None if self._gemm is None else self._gemm(a, b)
        return out if out is not None else self._generic["matmul"](a, b)

    def _capturing(self):
        """Whether the current stream is being captured into a CUDA graph (ad.compile):
        then nothing may be cached from, or reused in place of, work the graph records."""
        return self.cupy.cuda.get_current_stream().is_capturing()

    def _sum_to(self, x, shape):
        """x summed to `shape`; a C-contiguous float matrix's column sums (a bias gradient)
        as ones @ x, one cuBLAS call that reads x once, coalesced (CuPy's axis-0 reduction
        is many times slower on tall matrices)."""
        shape = tuple(shape)
        if (self._gemm is not None and x.ndim == 2 and x.shape[0] > 1 and x.dtype.kind == "f"
                and shape in ((x.shape[1],), (1, x.shape[1])) and x.flags.c_contiguous):
            key = (x.shape[0], x.dtype, x.device.id)
            ones = self._ones.get(key)
            if ones is None:
                with x.device:
                    ones = self.cupy.ones((1, x.shape[0]), x.dtype)
                if not self._capturing():      # under capture its fill runs only in the graph
                    self._ones[key] = ones
            with x.device:      # the sums' own array (a (1, n) view of it is the GEMM's out)
                out = self.cupy.empty(shape, x.dtype)
            if self._gemm(ones, x, out=out.reshape(1, -1), accumulate=False) is not None:
                return out
        return self._generic["sum_to"](x, shape)

    def _matmul_sum(self, a, b, c, d):
        """a @ b + c @ d: the second product accumulates into the first (beta = 1)."""
        out = self._matmul(a, b)
        if self._gemm is not None and self._gemm(c, d, out=out) is not None:
            return out
        return out + self._matmul(c, d)

    # ------------------------------------------------------------------- vectorised kernels
    def _vec_kernel(self, name, dtype):
        """The compiled vectorised kernel `name` for float dtype `dtype`."""
        key = (name, dtype)
        kernel = self._vec_kernels.get(key)
        if kernel is None:
            if self._vec_module is None:
                self._vec_module = self.cupy.RawModule(code=vec_source(), options=ROW_OPTIONS)
            kernel = self._vec_kernels[key] = self._vec_module.get_function(
                f"{name}_{ROW_SUFFIX[dtype]}")
        return kernel

    def _vectorisable(self, *arrays):
        """The dtype of arrays when they are C-contiguous CuPy arrays of one float32 or
        float64 dtype on one device whose data start on a 16-byte boundary (what the
        vectorised kernels load), the first of at least vec_min_size elements; else None."""
        first = arrays[0]
        dtype, ndarray = first.dtype, self.cupy.ndarray
        if first.size < self.vec_min_size or dtype not in _VEC_WIDTH:
            return None
        device = first.data.device_id
        for a in arrays:
            if (type(a) is not ndarray or a.dtype != dtype or a.data.ptr % 16
                    or a.data.device_id != device or not a.flags.c_contiguous):
                return None
        return dtype

    def _vec_launch(self, name, dtype, args, n, tail=()):
        """Run vectorised kernel `name` over n elements (args: its arguments before n, tail:
        after it)."""
        blocks = -(-n // (_VEC_BLOCK * _VEC_WIDTH[dtype]))
        self._vec_kernel(name, dtype)((min(max(blocks, 1), _VEC_MAX_GRID),), (_VEC_BLOCK,),
                                      tuple(args) + (np.int64(n),) + tuple(tail))

    def _vec_map(self, name, *arrays):
        """Row `name` (relu, relu_backward, tanh_backward) on same-shape arrays: the
        vectorised kernel where it applies, else the ElementwiseKernel."""
        x = arrays[0]
        if (self._vectorisable(*arrays) is None
                or any(a.shape != x.shape for a in arrays[1:])):
            return self._fused[name](*arrays)
        with x.device:
            out = self.cupy.empty(x.shape, x.dtype)
        if x.size:
            self._vec_launch(name, x.dtype, arrays + (out,), x.size)
        return out

    def _add(self, x, y):
        """x + y: the vectorised kernel for two same-shape float arrays, or a matrix and a row
        of its last axis's length (a bias), else CuPy's broadcasting add."""
        ndarray = self.cupy.ndarray
        if type(x) is not ndarray or type(y) is not ndarray or x.ndim == 0 or y.ndim == 0:
            return self._generic["add"](x, y)
        big, row = (x, y) if x.size >= y.size else (y, x)     # a + b == b + a in floating point
        dtype = self._vectorisable(big, row)
        if dtype is None:
            return self._generic["add"](x, y)
        cols = big.shape[-1]
        if big.shape == row.shape:
            kind, tail = "add", ()
        elif row.ndim == 1 and big.ndim > 1 and row.shape[0] == cols \
                and cols % _VEC_WIDTH[dtype] == 0:
            kind, tail = "add_row", (np.int64(cols),)
        else:
            return self._generic["add"](x, y)
        with big.device:
            out = self.cupy.empty(big.shape, dtype)
        if out.size:
            self._vec_launch(kind, dtype, (big, row, out), out.size, tail)
        return out

    # ------------------------------------------------------------------- row kernels
    def _row_kernel(self, row, dtype):
        """The compiled kernel of `row` for float dtype `dtype` (the module compiles once)."""
        name = f"{row}_{ROW_SUFFIX[dtype]}"
        kernel = self._row_kernels.get(name)
        if kernel is None:
            if self._row_module is None:
                self._row_module = self.cupy.RawModule(code=row_source(), options=ROW_OPTIONS)
            kernel = self._row_kernels[name] = self._row_module.get_function(name)
        return kernel

    def _floats(self, *arrays):
        """The dtype the row kernels take for `arrays` (CuPy arrays of one shape and one float
        dtype, float32 or float64, with at least one axis), else None: the generic kernel."""
        first = arrays[0]
        if not all(isinstance(a, self.cupy.ndarray) for a in arrays) or first.ndim == 0:
            return None
        dtype = first.dtype
        if dtype not in ROW_SUFFIX or any(a.dtype != dtype or a.shape != first.shape
                                          for a in arrays[1:]):
            return None
        return dtype

    def _launch(self, row, dtype, args, rows, n):
        """Run `row`'s kernel on rows x n arrays (args: arrays, then rows and n appended)."""
        grid = min(rows, _MAX_GRID)
        self._row_kernel(row, dtype)((grid,), (_threads(n),),
                                     tuple(args) + (np.int64(rows), np.int64(n)))

    def _along(self, row, arrays, axis):
        """Row kernel `row` of the softmax family on same-shape arrays along `axis` (None:
        all elements as one row): the axis is moved last and the arrays made C-contiguous,
        the kernel runs on the (rows, n) view, and the result's axis is moved back."""
        dtype = self._floats(*arrays)
        if dtype is None:
            return self._generic[row](*arrays, axis)
        cp = self.cupy
        x = arrays[0]
        with x.device:
            if axis is None:
                moved = [cp.ascontiguousarray(a).reshape(1, -1) for a in arrays]
            else:
                ax = operator.index(axis) % x.ndim
                moved = [cp.ascontiguousarray(a if ax == x.ndim - 1 else cp.moveaxis(a, ax, -1))
                         for a in arrays]
            out = cp.empty(moved[0].shape, dtype)
            n = out.shape[-1]
            if out.size:
                self._launch(row, dtype, moved + [out], out.size // n, n)
        if axis is None:
            return out.reshape(x.shape)
        return out if ax == x.ndim - 1 else cp.moveaxis(out, -1, ax)

    def _softmax(self, x, axis):
        return self._along("softmax", [x], axis)

    def _log_softmax(self, x, axis):
        return self._along("log_softmax", [x], axis)

    def _softmax_backward(self, g, y, axis):
        return self._along("softmax_backward", [g, y], axis)

    def _log_softmax_backward(self, g, y, axis):
        return self._along("log_softmax_backward", [g, y], axis)

    def _labels(self, labels, z):
        """Integer labels (a numpy param, or an array already on the GPU) as C-contiguous
        int64 on z's device, or None where they are no (N,) integer array for z (N, C)."""
        if not hasattr(labels, "dtype") or np.dtype(labels.dtype).kind not in "iu":
            return None
        last = self._last_labels
        if (isinstance(labels, np.ndarray) and last is not None
                and last[1].device.id == z.device.id and np.array_equal(last[0], labels)):
            # the same values as the last host labels (the loss's backward gets the forward's;
            # a training loop often passes one batch's labels again): no copy (~20 us of host
            # time each)
            lab = last[1]
            if self._graph_reads is not None and self._capturing():
                self._graph_reads.append(lab)       # the graph keeps them (the cache may not)
        elif isinstance(labels, np.ndarray) and self._capturing():
            # a copy from the host cannot go into a graph (it would read its pinned staging
            # buffer at every launch): it is made now, on a stream of its own, and the graph
            # reads the copy (ad.compile checks the host labels for changes at each launch)
            cp = self.cupy
            with z.device, cp.cuda.Stream(non_blocking=True) as side:
                lab = cp.ascontiguousarray(cp.asarray(labels, dtype=np.int64))
                side.synchronize()
            self._graph_reads.append(lab)
        else:
            with z.device:
                lab = self.cupy.ascontiguousarray(self.cupy.asarray(labels, dtype=np.int64))
            if isinstance(labels, np.ndarray):
                self._last_labels = (labels.copy(), lab)
        return lab if lab.shape == z.shape[:1] else None

    def _softmax_cross_entropy(self, z, labels):
        dtype = self._floats(z)
        lab = None if dtype is None or z.ndim != 2 or z.shape[1] == 0 else self._labels(labels, z)
        if lab is None:
            return self._generic["softmax_cross_entropy"](z, labels)
        with z.device:
            z = self.cupy.ascontiguousarray(z)
            out = self.cupy.empty(z.shape[:1], dtype)
            if z.shape[0]:
                self._launch("softmax_cross_entropy", dtype, [z, lab, out], *z.shape)
        return out

    def _softmax_cross_entropy_backward(self, g, z, labels):
        dtype = self._floats(z)
        ok = (dtype is not None and z.ndim == 2 and z.shape[1] > 0
              and isinstance(g, self.cupy.ndarray) and g.dtype == dtype
              and g.shape == z.shape[:1])
        lab = self._labels(labels, z) if ok else None
        if lab is None:
            return self._generic["softmax_cross_entropy_backward"](g, z, labels)
        with z.device:
            z, g = self.cupy.ascontiguousarray(z), self.cupy.ascontiguousarray(g)
            out = self.cupy.empty(z.shape, dtype)
            if z.shape[0]:
                self._launch("softmax_cross_entropy_backward", dtype, [g, z, lab, out],
                             *z.shape)
        return out

    # ------------------------------------------------------------------- optimizer updates
    def _hyper(self, p, *values):
        t = p.dtype.type
        return [t(v) for v in values]

    def _sgd(self, param, grad, buf, lr, momentum, dampening, nesterov, weight_decay,
             first_step):
        if buf is None:
            hyper = self._hyper(param, lr, weight_decay)
            if self._vectorisable(param, grad) is not None and grad.shape == param.shape:
                if param.size:
                    self._vec_launch("sgd", param.dtype, (param, grad, *hyper), param.size)
            else:
                self._updates["sgd"](grad, *hyper, param)
            return
        lr, mu, damp, wd = self._hyper(param, lr, momentum, 1.0 - float(param.dtype.type(
            dampening)), weight_decay)
        self._updates["sgd_momentum"](grad, lr, mu, damp, wd, np.int32(bool(first_step)),
                                      np.int32(bool(nesterov)), param, buf)

    def _adam(self, param, grad, m, v, vmax, lr, beta1, beta2, eps, weight_decay, step,
              decoupled, scalars=None):
        """scalars: a device array of the parameter's dtype holding adam_step_scalars of
        these arguments (a CUDA graph's, rewritten before each launch), read by the kernel
        where given."""
        t = param.dtype.type
        b1, b2 = t(beta1), t(beta2)
        decay = t(1.0 - float(t(lr * weight_decay))) if decoupled else t(1.0)
        states = (param, m, v) if vmax is None else (param, m, v, vmax)
        name = "adam" if vmax is None else "adam_amsgrad"
        fixed = (b2, t(1.0 - b1), t(1.0 - b2), t(eps), t(weight_decay), decay)
        if scalars is not None:
            self._updates[name + "_graph"](grad, scalars, *fixed, np.int32(bool(decoupled)),
                                           *states)
            return
        step_size, bc2s = adam_step_scalars(param.dtype, lr, beta1, beta2, eps, weight_decay,
                                            step, decoupled)
        self._updates[name](grad, step_size, *fixed, bc2s, np.int32(bool(decoupled)), *states)

    def _rmsprop(self, param, grad, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay,
                 momentum):
        t = param.dtype.type
        a = t(alpha)
        name = "rmsprop" + "_centered" * (grad_avg is not None) + "_momentum" * (buf is not None)
        hyper = (t(lr), a, t(1.0 - a), t(eps), t(weight_decay)) + (
            (t(momentum),) if buf is not None else ())
        states = [x for x in (param, square_avg, grad_avg, buf) if x is not None]
        self._updates[name](grad, *hyper, *states)


class CudaGraph:
    """A captured CUDA graph, with the private memory pool its arrays live in, its device,
    and the arrays made before the capture that it reads (kept alive with it)."""

    def __init__(self, graph, pool, device, reads=()):
        self.graph, self.pool, self.device, self.reads = graph, pool, device, list(reads)

    def launch(self, copies=()):
        """Copy each (buffer, array) pair (device to device, on the current stream), then run
        the recorded kernels on the current stream."""
        with self.device:
            for buf, x in copies:
                if x.nbytes:
                    buf.data.copy_from_device_async(x.data, x.nbytes)
            self.graph.launch()
