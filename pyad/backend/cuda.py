"""CUDA backend (CuPy): the generic Array API kernels on CuPy arrays, with one-pass CUDA
kernels for the fused backward ops and the optimizer updates, and cuBLAS products.

Importing this module imports nothing from CuPy: `import pyad` on a machine without CuPy, or
without a GPU, costs nothing. CuPy is imported when a CUDA array or device is first used
(backend()), and "CuPy imports" is not "a GPU is usable": is_available() asks CuPy.
"""
import numpy as np

from pyad.backend import array_api, array_api_updates, namespace

INSTALL_HINT = ('pip install "pyad[cuda12]" (CUDA 12) or "pyad[cuda13]" (CUDA 13), which '
                'bring CuPy')

# One-pass elementwise kernels (cupy.ElementwiseKernel: inputs, outputs, body), by the row
# or update they compute; T is the float dtype. The bodies follow the CPU's C++ exactly
# (relu'(0) = 0, abs'(0) = 0, NaN propagates).
FUSED = {
    "tanh_backward": ("T g, T y", "T out", "out = g * (T(1) - y * y)"),
    "sigmoid_backward": ("T g, T y", "T out", "out = g * y * (T(1) - y)"),
    "relu_backward": ("T g, T x", "T out", "out = x > T(0) ? g : T(0)"),
    "abs_backward": ("T g, T x", "T out",
                     "out = g * (x > T(0) ? T(1) : (x < T(0) ? T(-1) : (x == T(0) ? T(0) : x)))"),
    # sigmoid(x), stable for any x: exp of a non-positive number only
    "softplus_backward": ("T g, T x", "T out",
                          "T e = exp(-fabs(x)); "
                          "out = g * (x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e))"),
    "sqrt_backward": ("T g, T y", "T out", "out = g * T(0.5) / y"),
}
# in place, one launch per parameter; hyperparameters rounded to the parameter's dtype
UPDATE_KERNELS = {
    "sgd": ("T g, T lr, T wd", "T p", "p = p - lr * (g + wd * p)"),
    "sgd_momentum": (
        "T g, T lr, T mu, T damp, T wd, int32 first, int32 nesterov", "T p, T buf",
        "T d = g + wd * p; T m = first ? d : mu * buf + damp * d; buf = m; "
        "p = p - lr * (nesterov ? d + mu * m : m)"),
    "adam": (
        "T g, T step_size, T b1, T b2, T b1c, T b2c, T eps, T wd, T decay, T bc2s, "
        "int32 decoupled", "T p, T m, T v",
        "T gg = decoupled ? g : g + wd * p; T q = p * decay; "
        "m = m + b1c * (gg - m); v = b2 * v + b2c * gg * gg; "
        "p = q - step_size * (m / (sqrt(v) / bc2s + eps))"),
    "rmsprop": ("T g, T lr, T a, T ac, T eps, T wd", "T p, T sq",
                "T gg = g + wd * p; sq = a * sq + ac * gg * gg; "
                "p = p - lr * (gg / (sqrt(sq) + eps))"),
}
# every row of the table has a kernel here: the generic ones, these overriding them
KERNEL_NAMES = frozenset(array_api.KERNELS) | frozenset(FUSED) | {"matmul_sum"}

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
        from array_api_compat import cupy as xp     # the standard's names over CuPy
        namespace.register(cupy.ndarray, xp)
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
        kernels["matmul_sum"] = self._matmul_sum
        self._updates = {name: cupy.ElementwiseKernel(*spec, name=f"pyad_{name}_update")
                         for name, spec in UPDATE_KERNELS.items()}
        super().__init__(xp, name="cuda", kernels=kernels,
                         updates={"sgd": self._sgd, "adam": self._adam,
                                  "rmsprop": self._rmsprop})
        self.cupy = cupy

    # ------------------------------------------------------------------- devices
    def device_of(self, x):
        return f"cuda:{x.device.id}"

    def device(self, name):
        return self.cupy.cuda.Device(device_index(name))

    def to_host(self, x):
        return self.cupy.asnumpy(x)

    def from_host(self, a, like):
        with like.device:
            return self.cupy.asarray(np.asarray(a))

    def put(self, a, device):
        """Host or CUDA array a on CUDA device `device` ('cuda', 'cuda:N')."""
        with self.device(device):
            return self.cupy.asarray(a)

    # ------------------------------------------------------------------- kernels
    def _matmul_sum(self, a, b, c, d):
        """a @ b + c @ d: the second product accumulates into the first (beta = 1)."""
        out = self.cupy.matmul(a, b)
        if (out.ndim == 2 and c.ndim == 2 and d.ndim == 2 and out.flags.c_contiguous
                and c.dtype == out.dtype and d.dtype == out.dtype):
            self.cupy.cublas.gemm("N", "N", c, d, out=out, alpha=1.0, beta=1.0)
            return out
        return out + self.cupy.matmul(c, d)

    # ------------------------------------------------------------------- optimizer updates
    def _hyper(self, p, *values):
        t = p.dtype.type
        return [t(v) for v in values]

    def _sgd(self, param, grad, buf, lr, momentum, dampening, nesterov, weight_decay,
             first_step):
        if buf is None:
            self._updates["sgd"](grad, *self._hyper(param, lr, weight_decay), param)
            return
        lr, mu, damp, wd = self._hyper(param, lr, momentum, 1.0 - float(param.dtype.type(
            dampening)), weight_decay)
        self._updates["sgd_momentum"](grad, lr, mu, damp, wd, np.int32(bool(first_step)),
                                      np.int32(bool(nesterov)), param, buf)

    def _adam(self, param, grad, m, v, vmax, lr, beta1, beta2, eps, weight_decay, step,
              decoupled):
        if vmax is not None:        # AMSGrad: the generic update (several passes)
            array_api_updates.adam_update(param, grad, m, v, vmax, lr, beta1, beta2, eps,
                                          weight_decay, step, decoupled)
            return
        t = param.dtype.type
        bc1, bc2s = 1.0 - beta1 ** step, float(np.sqrt(1.0 - beta2 ** step))
        b1, b2 = t(beta1), t(beta2)
        decay = t(1.0 - float(t(lr * weight_decay))) if decoupled else t(1.0)
        self._updates["adam"](grad, t(lr / bc1), b1, b2, t(1.0 - b1), t(1.0 - b2), t(eps),
                              t(weight_decay), decay, t(bc2s), np.int32(bool(decoupled)),
                              param, m, v)

    def _rmsprop(self, param, grad, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay,
                 momentum):
        if grad_avg is not None or buf is not None:     # centered or momentum: generic
            array_api_updates.rmsprop_update(param, grad, square_avg, grad_avg, buf, lr,
                                             alpha, eps, weight_decay, momentum)
            return
        t = param.dtype.type
        a = t(alpha)
        self._updates["rmsprop"](grad, t(lr), a, t(1.0 - a), t(eps), t(weight_decay), param,
                                 square_avg)
