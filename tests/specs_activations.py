"""Op specs of the activation family, pyad/ops/activations.py (see tests/op_specs.py, which
imports this file). References are numpy/scipy formulas independent of the kernels' (gelu
through erfc, the tanh gelu as torch writes it, log_sigmoid as min(x, 0) - log1p(exp(-|x|))),
computed in the case's dtype. Kinks (leaky_relu, elu at 0) are kept out of the derivative
cases by the "nokink" domain; tests/test_activations.py checks the conventions there against
PyTorch. The "large" cases (|x| in [30, 50]) are forward-only: no overflow, NaN or log(0)."""
import math

import numpy as np
import scipy.special as sc

import pyad as ad
from op_specs import C, spec

_BETA = math.sqrt(2.0 / math.pi)


def _in_dtype(f):
    """f's result in the input's float dtype (integer inputs: float64, as pyad's)."""
    def ref(x):
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        with np.errstate(over="ignore"):
            return np.asarray(f(x.astype(dtype))).astype(dtype)
    return ref


def np_gelu(x):
    return 0.5 * x * sc.erfc(-x / math.sqrt(2.0))


def np_gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(_BETA * (x + 0.044715 * x ** 3)))


def np_silu(x):
    return x / (1.0 + np.exp(-x))


def np_leaky_relu(x, slope=0.01):
    return np.where(x > 0, x, slope * x)


def np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(x) - 1.0))


def np_log_sigmoid(x):
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def _cases(name, f, r, domain, tag=""):
    """The shapes every row runs: 2-D, 0-d, a transposed and a strided view, a 37-element
    SIMD tail, and integer inputs (forward only: they become float64)."""
    r = _in_dtype(r)
    p = f"{tag}:" if tag else ""
    return [C(name, f, r, [(3, 4)], domain=domain, label=f"{p}3x4"),
            C(name, f, r, [()], domain=domain, label=f"{p}0d"),
            C(name, lambda x: f(x.T), lambda x: r(x.T), [(4, 3)], domain=domain,
              label=f"{p}transposed"),
            C(name, lambda x: f(x[:, ::2]), lambda x: r(x[:, ::2]), [(3, 8)], domain=domain,
              label=f"{p}strided"),
            C(name, f, r, [(37,)], domain=domain, label=f"{p}37-simd-tail")]


def _int_case(name, f, r):
    return C(name, f, _in_dtype(r), [(3, 4)], domain="positive", label="int64", grad=False,
             dtypes=(np.int64,))


def _large(name, f, r, tag=""):
    return C(name, f, _in_dtype(r), [(5, 8)], domain="large",
             label=f"{tag}:large" if tag else "large", grad=False)


def _gelu_tanh(x):
    return ad.gelu(x, approximate="tanh")


spec("gelu",
     *_cases("gelu", ad.gelu, np_gelu, "real"),
     *_cases("gelu", _gelu_tanh, np_gelu_tanh, "real", tag="tanh"),
     _large("gelu", ad.gelu, np_gelu),
     _large("gelu", _gelu_tanh, np_gelu_tanh, tag="tanh"),
     _int_case("gelu", ad.gelu, np_gelu))

spec("silu",
     *_cases("silu", ad.silu, np_silu, "real"),
     _large("silu", ad.silu, np_silu),
     _int_case("silu", ad.silu, np_silu))

spec("leaky_relu",
     *_cases("leaky_relu", ad.leaky_relu, np_leaky_relu, "nokink"),
     C("leaky_relu", lambda x: ad.leaky_relu(x, 0.2), _in_dtype(lambda x: np_leaky_relu(x, 0.2)),
       [(3, 4)], domain="nokink", label="slope=0.2"),
     C("leaky_relu", lambda x: ad.leaky_relu(x[:, ::2], negative_slope=-0.5),
       _in_dtype(lambda x: np_leaky_relu(x[:, ::2], -0.5)), [(3, 8)], domain="nokink",
       label="slope=-0.5,strided"),
     _large("leaky_relu", ad.leaky_relu, np_leaky_relu),
     _int_case("leaky_relu", ad.leaky_relu, np_leaky_relu))

spec("elu",
     *_cases("elu", ad.elu, np_elu, "nokink"),
     C("elu", lambda x: ad.elu(x, 0.5), _in_dtype(lambda x: np_elu(x, 0.5)), [(3, 4)],
       domain="nokink", label="alpha=0.5"),
     C("elu", lambda x: ad.elu(x[:, ::2], alpha=2.0), _in_dtype(lambda x: np_elu(x[:, ::2], 2.0)),
       [(3, 8)], domain="nokink", label="alpha=2,strided"),
     _large("elu", ad.elu, np_elu),
     _int_case("elu", ad.elu, np_elu))

spec("log_sigmoid",
     *_cases("log_sigmoid", ad.log_sigmoid, np_log_sigmoid, "real"),
     _large("log_sigmoid", ad.log_sigmoid, np_log_sigmoid),
     _int_case("log_sigmoid", ad.log_sigmoid, np_log_sigmoid))
