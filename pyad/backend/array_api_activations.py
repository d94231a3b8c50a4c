"""Array API kernels of the activation family (see backend/array_api.py and, for the formulas,
backend/numpy_activations.py): the array's own namespace, no numpy on array data. The exact
gelu's normal CDF is the special family's ndtr kernel (cupyx.scipy.special on CuPy arrays,
scipy.special on a host copy for other arrays, which the standard gives no erf for)."""
from pyad.backend.array_api_core import _sigmoid
from pyad.backend.array_api_special import KERNELS as _SPECIAL
from pyad.backend.namespaces import namespace_of as _xp
from pyad.backend.numpy_activations import _TWO_BETA, _TWO_BETA_KAPPA

_NDTR = _SPECIAL["ndtr"]


def _gelu(x, approximate):
    if approximate == "tanh":
        return x * _sigmoid(x * ((x * x) * _TWO_BETA_KAPPA + _TWO_BETA))
    return x * _NDTR(x)


def _leaky_relu(x, negative_slope):
    return _xp(x).where(x > 0, x, x * negative_slope)


def _elu(x, alpha):
    xp = _xp(x)
    neg = xp.expm1(xp.minimum(x, xp.zeros_like(x))) * alpha     # no overflow for large x
    return xp.where(x > 0, x, neg)


def _log_sigmoid(x):
    xp = _xp(x)
    return -xp.logaddexp(xp.zeros_like(x), -x)


KERNELS = {
    "gelu": _gelu,
    "silu": lambda x: x * _sigmoid(x),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "log_sigmoid": _log_sigmoid,
}
