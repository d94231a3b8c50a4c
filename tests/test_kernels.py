"""Kernel-level tests of pyad._C against numpy/scipy: every kernel in float32 and float64,
0-d/empty/small/threaded sizes, special values, broadcasting, axes, bad inputs, threads."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.special as sps

from pyad import _C

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-6, np.float64: 1e-13}
# 100001 crosses the 32768-element OpenMP grain and the 4096-element GIL-release threshold
SIZES = [(), (0,), (1,), (16,), (1000,), (100001,), (7, 9), (3, 4, 5)]


def rng(seed=0):
    return np.random.default_rng(seed)


def data(shape, dtype, lo=-5.0, hi=5.0, seed=0):
    return rng(seed).uniform(lo, hi, shape).astype(dtype)


def ref64(f, *xs):
    """Reference computed in float64 from the (possibly float32) inputs, rounded to the dtype."""
    with np.errstate(all="ignore"):
        return np.asarray(f(*[np.asarray(x, np.float64) for x in xs])).astype(xs[0].dtype)


def close(got, want, dtype, rtol=None, atol=0.0):
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol or RTOL[dtype], atol=atol, equal_nan=True)


# ----------------------------------------------------------------------------- unary
UNARY = {
    "exp": (np.exp, (-20, 20)),
    "log": (np.log, (1e-3, 50)),
    "log1p": (np.log1p, (-0.999, 50)),
    "sqrt": (np.sqrt, (0, 50)),
    "square": (np.square, (-5, 5)),
    "abs": (np.abs, (-5, 5)),
    "sin": (np.sin, (-20, 20)),
    "cos": (np.cos, (-20, 20)),
    "tanh": (np.tanh, (-10, 10)),
    "sigmoid": (sps.expit, (-30, 30)),
    "relu": (lambda v: np.maximum(v, 0), (-5, 5)),
    "softplus": (lambda v: np.logaddexp(0, v), (-30, 30)),
    "negative": (np.negative, (-5, 5)),
    "sign": (np.sign, (-5, 5)),
}
# sin/cos near their roots are compared with a small absolute tolerance too
UNARY_ATOL = {"sin": {np.float32: 1e-7, np.float64: 1e-15}, "cos": {np.float32: 1e-7, np.float64: 1e-15}}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SIZES)
def test_unary_matches_numpy(name, dtype, shape):
    f, (lo, hi) = UNARY[name]
    x = data(shape, dtype, lo, hi)
    x_copy = x.copy()
    got = getattr(_C.kernels, name)(x)
    close(got, ref64(f, x), dtype, atol=UNARY_ATOL.get(name, {}).get(dtype, 0.0))
    np.testing.assert_array_equal(x, x_copy)  # inputs are never written


SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1e-30, -1e-30, 50.0, -50.0, 88.0, -88.0, 89.0, -104.0,
           700.0, -700.0, 710.0, -746.0, 1e4, -1e4, np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_special_values(name, dtype):
    f, _ = UNARY[name]
    x = np.array(SPECIAL, dtype=dtype)
    with np.errstate(all="ignore"):
        want = np.asarray(f(x.astype(np.float64))).astype(dtype)
    got = getattr(_C.kernels, name)(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    fin = np.isfinite(want)
    tiny = np.finfo(dtype).tiny  # results that underflow to subnormals: absolute comparison
    np.testing.assert_allclose(got[fin], want[fin], rtol=RTOL[dtype], atol=tiny * 8)


def test_documented_special_cases():
    for dt in DTYPES:
        inf = np.array([np.inf], dt)
        assert _C.kernels.tanh(np.array([50.0, -50.0], dt)).tolist() == [1.0, -1.0]
        assert _C.kernels.exp(np.array([700.0], np.float64)).tolist() == [np.exp(700.0)]
        assert _C.kernels.exp(np.array([-800.0, 800.0], dt)).tolist() == [0.0, np.inf]
        assert _C.kernels.log(np.array([0.0], dt))[0] == -inf[0]
        assert np.isnan(_C.kernels.log(np.array([-1.0], dt))[0])
        assert np.isnan(_C.kernels.sqrt(np.array([-1.0], dt))[0])
        assert _C.kernels.log1p(np.array([-1.0], dt))[0] == -np.inf
        assert np.isnan(_C.kernels.relu(np.array([np.nan], dt))[0])
        assert _C.kernels.sigmoid(np.array([-1000.0, 1000.0], dt)).tolist() == [0.0, 1.0]
        assert _C.kernels.softplus(np.array([1000.0], dt))[0] == 1000.0
        assert _C.kernels.softplus(np.array([-1000.0], dt))[0] == 0.0
        for name in UNARY:
            if name not in ("relu", "abs", "square", "negative", "sign"):
                assert np.isnan(getattr(_C.kernels, name)(np.array([np.nan], dt))[0]), name


@pytest.mark.parametrize("dtype", DTYPES)
def test_trig_large_arguments_use_exact_reduction(dtype):
    x = np.array([1e5, -3e5, 1e9, 1e15, 12345.678], dtype)
    close(_C.kernels.sin(x), ref64(np.sin, x), dtype, atol=1e-7)
    close(_C.kernels.cos(x), ref64(np.cos, x), dtype, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_accurate_in_tails(dtype):
    x = np.linspace(-80, 80, 1001).astype(dtype)
    close(_C.kernels.sigmoid(x), ref64(sps.expit, x), dtype, rtol=4 * RTOL[dtype])
    close(_C.kernels.softplus(x), ref64(lambda v: np.logaddexp(0, v), x), dtype, rtol=4 * RTOL[dtype])


def ulp_error(got, x, f, dtype):
    """Error of got = f(x) in units of the dtype's spacing at the exact result (long double
    reference; x86 long double has 64 mantissa bits)."""
    with np.errstate(all="ignore"):
        want = f(x.astype(np.longdouble))
        spacing = np.spacing(np.abs(want.astype(dtype))).astype(np.longdouble)
        return np.abs(got.astype(np.longdouble) - want) / spacing


def sweep(dtype, lo, hi, n=200001, signed=True):
    """Magnitudes spread log-uniformly over [lo, hi] (both signs), so every binade is covered."""
    m = np.geomspace(lo, hi, n).astype(dtype)
    return np.concatenate([m, -m]) if signed else m


# (name, reference on long double, input sweep) for the polynomial kernels
ULP_CASES = {
    "exp": (np.exp, lambda dt: np.concatenate([sweep(dt, 1e-30, 87 if dt == np.float32 else 708),
                                               np.linspace(-80, 80, 100001).astype(dt)])),
    "log": (np.log, lambda dt: sweep(dt, np.finfo(dt).tiny, np.finfo(dt).max / 4, signed=False)),
    "tanh": (np.tanh, lambda dt: np.concatenate([sweep(dt, np.finfo(dt).smallest_subnormal, 30),
                                                np.linspace(-12, 12, 100001).astype(dt)])),
}


@pytest.mark.parametrize("name", sorted(ULP_CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_math_ulp_error(name, dtype):
    f, make = ULP_CASES[name]
    x = make(dtype)
    err = ulp_error(getattr(_C.kernels, name)(x), x, f, dtype)
    # tanh = E/(E+2) adds two roundings to E = expm1(2|x|): 2.42 ulp worst case over all float32
    bound = 2.5 if name == "tanh" else 2.0
    assert err.max() <= bound, (x[np.argmax(err)], err.max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_math_at_range_edges(dtype):
    fi = np.finfo(dtype)
    sub = np.array([fi.smallest_subnormal, fi.tiny / 3, fi.tiny * 0.999, fi.tiny], dtype)
    close(_C.kernels.log(sub), ref64(np.log, sub), dtype)
    close(_C.kernels.log(np.array([fi.max, 1.0, np.nextafter(dtype(1), dtype(2))], dtype)),
          ref64(np.log, np.array([fi.max, 1.0, np.nextafter(dtype(1), dtype(2))], dtype)), dtype)
    for v in (-fi.smallest_subnormal, -fi.tiny, -1.0, -fi.max, -np.inf):
        assert np.isnan(_C.kernels.log(np.array([v], dtype))[0]), v
    assert _C.kernels.log(np.array([-0.0], dtype))[0] == -np.inf
    assert _C.kernels.log(np.array([np.inf], dtype))[0] == np.inf
    # tanh of subnormals and signed zeros is exact; the sign of zero is kept
    assert _C.kernels.tanh(sub).tolist() == sub.tolist()
    assert np.signbit(_C.kernels.tanh(np.array([-0.0], dtype))[0])
    assert _C.kernels.tanh(np.array([np.inf, -np.inf, fi.max, -fi.max], dtype)).tolist() == [1, -1, 1, -1]
    # exp across the subnormal-result and overflow boundaries (handled outside the vector loop)
    hi = 88.72 if dtype == np.float32 else 709.78
    x = np.concatenate([np.linspace(-hi - 20, -hi + 20, 4001), np.linspace(hi - 5, hi + 1, 601)]).astype(dtype)
    tiny = np.finfo(dtype).tiny
    np.testing.assert_allclose(_C.kernels.exp(x), ref64(np.exp, x), rtol=RTOL[dtype], atol=tiny * 8)
    assert np.isinf(_C.kernels.exp(np.array([hi + 1], dtype))[0])


@pytest.mark.parametrize("name", ["exp", "log", "tanh", "sin", "cos"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
def test_special_values_inside_large_arrays(name, dtype, threads):
    """exp/log/sin/cos fix up out-of-range elements after the vector loop, per 2048-element block
    and per thread: scattered special values must come out as they do on their own."""
    x = data((100001,), dtype, 0.1, 5.0)
    idx = rng(1).choice(x.size, 300, replace=False)
    x[idx] = np.resize(np.array(SPECIAL + [np.finfo(dtype).tiny / 7, -np.finfo(dtype).tiny / 7], dtype), idx.size)
    n0 = _C.get_num_threads()
    _C.set_num_threads(threads)
    try:
        got = getattr(_C.kernels, name)(x)
    finally:
        _C.set_num_threads(n0)
    one_by_one = np.array([getattr(_C.kernels, name)(x[i:i + 1])[0] for i in idx], dtype)
    np.testing.assert_allclose(got[idx], one_by_one, rtol=RTOL[dtype], atol=np.finfo(dtype).tiny * 8)
    mask = np.ones(x.size, bool)
    mask[idx] = False
    close(got[mask], ref64(getattr(np, name), x[mask]), dtype)


# ----------------------------------------------------------------------------- scalar ops
SCALAR = {
    "add_scalar": lambda x, c: x + c,
    "mul_scalar": lambda x, c: x * c,
    "rsub_scalar": lambda x, c: c - x,
    "rdiv_scalar": lambda x, c: c / x,
    "pow_scalar": lambda x, c: x ** c,
    "rpow_scalar": lambda x, c: c ** x,
}


@pytest.mark.parametrize("name", sorted(SCALAR))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SIZES)
def test_scalar_ops(name, dtype, shape):
    x = data(shape, dtype, 0.1, 4.0)
    for c in (2.5, -1.5):
        close(getattr(_C.kernels, name)(x, c), ref64(lambda v: SCALAR[name](v, c), x), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", [2.0, 0.5, -1.0, 1.0, 3.0, 0.0, -2.0, 1.7])
def test_pow_scalar_fast_paths(dtype, c):
    x = np.array([-3.0, -1.0, -0.0, 0.0, 0.25, 1.0, 2.0, 7.5, np.inf, -np.inf, np.nan], dtype)
    with np.errstate(all="ignore"):
        want = (x.astype(np.float64) ** c).astype(dtype)
    close(_C.kernels.pow_scalar(x, c), want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SIZES)
def test_clip(dtype, shape):
    x = data(shape, dtype)
    close(_C.kernels.clip(x, -1.0, 2.0), np.clip(x, -1.0, 2.0), dtype)
    close(_C.kernels.clip(x, -np.inf, 0.5), np.minimum(x, dtype(0.5)), dtype)
    s = np.array([np.nan, -np.inf, np.inf, 0.0], dtype)
    close(_C.kernels.clip(s, -1.0, 1.0), np.clip(s, -1.0, 1.0), dtype)


# ----------------------------------------------------------------------------- binary
BINARY = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "power": np.power,
}
BROADCAST = [
    ((), ()),
    ((0,), (0,)),
    ((0, 3), (1, 3)),
    ((16,), (16,)),
    ((100001,), (100001,)),
    ((100001,), (1,)),
    ((1,), (100001,)),
    ((300, 200), (1, 200)),   # bias add
    ((300, 200), (300, 1)),
    ((1, 200), (300, 1)),     # outer
    ((300, 1), (300, 200)),
    ((4, 1, 5), (1, 3, 5)),
    ((2, 3, 4, 5), (2, 1, 4, 1)),
    ((1, 1, 1), (1, 1, 1)),
    ((5, 40000), (5, 1)),
    ((1, 70000), (2, 1)),
]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", BROADCAST)
def test_binary_broadcasting(name, dtype, sa, sb):
    lo = 0.5 if name == "power" else -5
    a, b = data(sa, dtype, lo, 3.0, seed=1), data(sb, dtype, lo, 3.0, seed=2)
    got = getattr(_C.kernels, name)(a, b)
    close(got, ref64(BINARY[name], a, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_maximum_minimum_propagate_nan(dtype):
    a = np.array([np.nan, 1.0, np.nan, 2.0, -np.inf], dtype)
    b = np.array([1.0, np.nan, np.nan, 3.0, np.inf], dtype)
    close(_C.kernels.maximum(a, b), np.maximum(a, b), dtype)
    close(_C.kernels.minimum(a, b), np.minimum(a, b), dtype)


def test_binary_shape_errors():
    a, b = np.zeros((3, 4)), np.zeros((5, 4))
    with pytest.raises(ValueError, match=r"pyad\._C\.add: shapes \(3,4\) and \(5,4\) do not broadcast"):
        _C.kernels.add(a, b)
    with pytest.raises(ValueError, match=r"shapes \(3,4\) and \(5,\) do not broadcast"):
        _C.kernels.multiply(np.zeros((3, 4)), np.zeros((5,)))


@pytest.mark.parametrize("sa,sb", [((3, 4), (4,)), ((4,), (2, 3, 4)), ((), (5, 1)), ((2, 1, 3), (4, 1))])
def test_binary_pads_lower_ndim_like_numpy(sa, sb):
    a, b = data(sa, np.float64, seed=1), data(sb, np.float64, seed=2)
    close(_C.kernels.subtract(a, b), a - b, np.float64)


# ----------------------------------------------------------------------------- fused backward
BACKWARD = {
    "tanh_backward": (lambda g, y: g * (1 - y * y), (-1, 1)),
    "sigmoid_backward": (lambda g, y: g * y * (1 - y), (0, 1)),
    "relu_backward": (lambda g, x: np.where(x > 0, g, 0.0), (-2, 2)),
    "abs_backward": (lambda g, x: g * np.sign(x), (-2, 2)),
    "softplus_backward": (lambda g, x: g * sps.expit(x), (-30, 30)),
    "sqrt_backward": (lambda g, y: g * 0.5 / y, (0.1, 5)),
}


@pytest.mark.parametrize("name", sorted(BACKWARD))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SIZES)
def test_fused_backward(name, dtype, shape):
    f, (lo, hi) = BACKWARD[name]
    g, v = data(shape, dtype, seed=3), data(shape, dtype, lo, hi, seed=4)
    # FMA contraction (1 - y*y in one rounding) differs from numpy's 3 roundings near y = +-1
    close(getattr(_C.kernels, name)(g, v), ref64(f, g, v), dtype, rtol=4 * RTOL[dtype], atol=4 * RTOL[dtype] * 1e-2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_conventions_at_zero(dtype):
    g = np.array([2.0, 2.0, 2.0, 2.0], dtype)
    x = np.array([0.0, -0.0, 1.0, -1.0], dtype)
    assert _C.kernels.relu_backward(g, x).tolist() == [0.0, 0.0, 2.0, 0.0]
    assert _C.kernels.abs_backward(g, x).tolist() == [0.0, 0.0, 2.0, -2.0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SIZES)
def test_clip_backward(dtype, shape):
    g, x = data(shape, dtype, seed=5), data(shape, dtype, seed=6)
    x.reshape(-1)[:2] = [-1.0, 2.0][: x.size]  # bounds themselves pass the gradient
    close(_C.kernels.clip_backward(g, x, -1.0, 2.0), np.where((x >= -1) & (x <= 2), g, 0).astype(dtype), dtype)
    close(_C.kernels.clip_backward(g, x, -np.inf, np.inf), g, dtype)


def test_backward_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        _C.kernels.tanh_backward(np.zeros(3), np.zeros(4))


# ----------------------------------------------------------------------------- reductions
AXIS_SHAPES = [(), (0,), (1,), (16,), (1000,), (100001,), (7, 9), (3, 4, 5), (2, 0, 3), (40, 3000), (3000, 40),
               (2, 70000), (5, 300, 7)]


def axes_of(shape):
    return [None] + list(range(len(shape)))


def reduce_cases():
    for shape in AXIS_SHAPES:
        for axis in axes_of(shape):
            yield shape, axis


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", list(reduce_cases()))
def test_sum(dtype, shape, axis):
    x = data(shape, dtype)
    want = np.sum(x.astype(np.float64), axis=axis)
    got = _C.kernels.sum(x, axis)
    assert got.shape == np.shape(want) and got.dtype == dtype
    # absolute error relative to sum(|x|): summation of mixed signs may cancel
    scale = np.sum(np.abs(x.astype(np.float64)), axis=axis) + 1e-300
    assert np.all(np.abs(got - want) <= 4 * RTOL[dtype] * scale)


def test_sum_float32_is_accurate():
    x = rng(7).uniform(0, 1, 1_000_000).astype(np.float32)
    exact = np.sum(x.astype(np.float64))
    assert abs(float(_C.kernels.sum(x)) - exact) / exact < 1e-6
    m = x.reshape(1000, 1000)
    np.testing.assert_allclose(_C.kernels.sum(m, 0), m.astype(np.float64).sum(0), rtol=1e-6)
    np.testing.assert_allclose(_C.kernels.sum(m, 1), m.astype(np.float64).sum(1), rtol=1e-6)


@pytest.mark.parametrize("name,npf", [("max", np.max), ("min", np.min)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", [c for c in reduce_cases() if 0 not in c[0]])
def test_max_min(name, npf, dtype, shape, axis):
    x = data(shape, dtype)
    close(getattr(_C.kernels, name)(x, axis), np.asarray(npf(x, axis=axis)), dtype)


@pytest.mark.parametrize("name,npf", [("max", np.max), ("min", np.min)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_min_nan_and_inf(name, npf, dtype):
    x = data((50, 70), dtype)
    x[3, 5] = np.nan
    x[10, 69] = np.nan
    x[20, 0] = np.inf
    x[21, 1] = -np.inf
    for axis in (None, 0, 1):
        close(getattr(_C.kernels, name)(x, axis), np.asarray(npf(x, axis=axis)), dtype)
    big = data((100001,), dtype)
    big[77777] = np.nan
    assert np.isnan(getattr(_C.kernels, name)(big))


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_empty_raises(name):
    with pytest.raises(ValueError, match="zero-size array to reduction operation"):
        getattr(_C.kernels, name)(np.zeros((0,)))
    with pytest.raises(ValueError, match="which has no identity"):
        getattr(_C.kernels, name)(np.zeros((3, 0), np.float32), 1)
    assert getattr(_C.kernels, name)(np.zeros((0, 3)), 1).shape == (0,)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", list(reduce_cases()))
def test_logsumexp(dtype, shape, axis):
    x = data(shape, dtype, -10, 10)
    if x.size == 0:  # scipy cannot reduce empty arrays; the sum of no exps is 0
        want = np.full(np.sum(x, axis=axis).shape, -np.inf, dtype)
    else:
        want = np.asarray(sps.logsumexp(x.astype(np.float64), axis=axis)).astype(dtype)
    close(_C.kernels.logsumexp(x, axis), want, dtype, rtol=4 * RTOL[dtype], atol=4 * RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp_extremes(dtype):
    big = 1e4 if dtype == np.float64 else 80.0
    x = np.array([[big, big - 1, -big], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0], [np.nan, 0.0, 1.0]], dtype)
    with np.errstate(all="ignore"):
        want = sps.logsumexp(x.astype(np.float64), axis=1).astype(dtype)
    close(_C.kernels.logsumexp(x, 1), want, dtype)
    close(_C.kernels.logsumexp(x.T.copy(), 0), want, dtype)


def np_softmax(x, axis):
    x = x.astype(np.float64)
    return sps.softmax(x, axis=axis)


def np_log_softmax(x, axis):
    return sps.log_softmax(x.astype(np.float64), axis=axis)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", list(reduce_cases()))
def test_softmax_family(dtype, shape, axis):
    x = data(shape, dtype, -10, 10)
    g = data(shape, dtype, seed=9)
    tol = dict(rtol=8 * RTOL[dtype], atol=8 * RTOL[dtype])
    if x.size == 0:
        for name in ("softmax", "log_softmax"):
            assert getattr(_C.kernels, name)(x, axis).shape == shape
        for name in ("softmax_backward", "log_softmax_backward"):
            assert getattr(_C.kernels, name)(g, x, axis).shape == shape
        return
    y = _C.kernels.softmax(x, axis)
    close(y, np_softmax(x, axis).astype(dtype), dtype, **tol)
    ly = _C.kernels.log_softmax(x, axis)
    close(ly, np_log_softmax(x, axis).astype(dtype), dtype, **tol)
    y64, g64, ly64 = y.astype(np.float64), g.astype(np.float64), ly.astype(np.float64)
    want = y64 * (g64 - np.sum(g64 * y64, axis=axis, keepdims=True))
    close(_C.kernels.softmax_backward(g, y, axis), want.astype(dtype), dtype, **tol)
    want = g64 - np.exp(ly64) * np.sum(g64, axis=axis, keepdims=True)
    close(_C.kernels.log_softmax_backward(g, ly, axis), want.astype(dtype), dtype, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_stable_for_large_logits(dtype):
    big = 1e4 if dtype == np.float64 else 80.0
    x = np.array([[big, -big, 0.0, big / 2], [-big, -big, -big, -big]], dtype)
    for axis, xx in ((1, x), (0, x.T.copy())):
        y, ly = _C.kernels.softmax(xx, axis), _C.kernels.log_softmax(xx, axis)
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(ly))
        close(y, np_softmax(xx, axis).astype(dtype), dtype)
        close(ly, np_log_softmax(xx, axis).astype(dtype), dtype)


def test_axis_errors():
    with pytest.raises(ValueError, match="out of bounds"):
        _C.kernels.sum(np.zeros((2, 3)), 2)
    with pytest.raises(TypeError, match="axis must be an int or None"):
        _C.kernels.softmax(np.zeros((2, 3)), "x")


def test_reduction_out_shape_removes_axis():
    x = np.ones((2, 3, 4), np.float32)
    assert _C.kernels.sum(x, 1).shape == (2, 4)
    assert _C.kernels.sum(x).shape == ()
    out = np.empty((2, 3), np.float32)
    assert _C.kernels.max(x, 2, out=out) is out
    with pytest.raises(ValueError, match="out has shape"):
        _C.kernels.sum(x, 1, out=np.empty((2, 3), np.float32))


# ----------------------------------------------------------------------------- index_add
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rest", [(), (1,), (3,), (4, 5), (300,), (20000,)])
@pytest.mark.parametrize("idx_dtype", [np.int64, np.intp, np.int32])
def test_index_add(dtype, rest, idx_dtype):
    N, K = 6, 13
    r = rng(11)
    out = r.standard_normal((N,) + rest).astype(dtype)
    index = r.integers(-N, N, K).astype(idx_dtype)
    index[:4] = [2, 2, -4, 5]  # repeated, and -4 aliases 2
    src = r.standard_normal((K,) + rest).astype(dtype)
    want = out.astype(np.float64)
    np.add.at(want, index, src.astype(np.float64))
    got = _C.index_add(out, index, src)
    assert got is out
    close(out, want.astype(dtype), dtype, rtol=8 * RTOL[dtype], atol=8 * RTOL[dtype])


def test_index_add_empty_and_errors():
    out = np.zeros((4, 2))
    _C.index_add(out, np.zeros(0, np.int64), np.zeros((0, 2)))
    assert not out.any()
    with pytest.raises(IndexError, match="index 4 is out of bounds for axis 0 with size 4"):
        _C.index_add(out, np.array([0, 4]), np.ones((2, 2)))
    with pytest.raises(IndexError, match="index -5 is out of bounds"):
        _C.index_add(out, np.array([-5]), np.ones((1, 2)))
    assert not out.any()  # indices are validated before any write
    with pytest.raises(ValueError, match="src has shape"):
        _C.index_add(out, np.array([0]), np.ones((1, 3)))
    with pytest.raises(TypeError, match="index must be an int64"):
        _C.index_add(out, np.array([0.0]), np.ones((1, 2)))
    with pytest.raises(TypeError, match="expected float32 or float64 arrays of one dtype"):
        _C.index_add(out, np.array([0]), np.ones((1, 2), np.float32))


# ----------------------------------------------------------------------------- common rules
def one_call(name, x):
    """Call any kernel with arrays like x (for the generic checks below)."""
    if name in UNARY:
        return getattr(_C.kernels, name)(x)
    if name in SCALAR:
        return getattr(_C.kernels, name)(x, 2.0)
    if name in BINARY or name in BACKWARD:
        return getattr(_C.kernels, name)(x, x)
    if name == "clip":
        return _C.kernels.clip(x, -1.0, 1.0)
    if name == "clip_backward":
        return _C.kernels.clip_backward(x, x, -1.0, 1.0)
    if name in ("softmax_backward", "log_softmax_backward"):
        return getattr(_C.kernels, name)(x, x, 0)
    return getattr(_C.kernels, name)(x, 0)


ALL = sorted(set(UNARY) | set(SCALAR) | set(BINARY) | set(BACKWARD)
             | {"clip", "clip_backward", "sum", "max", "min", "logsumexp", "softmax", "log_softmax",
                "softmax_backward", "log_softmax_backward"})
SAME_SHAPE = [n for n in ALL if n not in ("sum", "max", "min", "logsumexp")]


@pytest.mark.parametrize("name", ALL)
def test_rejects_int_and_mixed_dtypes(name):
    with pytest.raises(TypeError, match=rf"pyad\._C\.{name}: expected float32 or float64 arrays of one dtype, got int64"):
        one_call(name, np.arange(6, dtype=np.int64).reshape(2, 3))
    if name in BINARY or name in BACKWARD or name in ("clip_backward", "softmax_backward", "log_softmax_backward"):
        a, b = np.ones(3, np.float32), np.ones(3, np.float64)
        with pytest.raises(TypeError, match="got float32 and float64"):
            if name == "clip_backward":
                _C.kernels.clip_backward(a, b, 0.0, 1.0)
            elif "softmax" in name:
                getattr(_C.kernels, name)(a, b, 0)
            else:
                getattr(_C.kernels, name)(a, b)


@pytest.mark.parametrize("name", ALL)
def test_rejects_non_contiguous(name):
    x = np.ones((4, 6))[:, ::2]
    with pytest.raises(ValueError, match=rf"pyad\._C\.{name}: input must be C-contiguous; call np\.ascontiguousarray"):
        one_call(name, x)
    with pytest.raises(ValueError, match="C-contiguous"):
        one_call(name, np.ones((4, 3)).T)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        one_call(name, [1.0, 2.0])


@pytest.mark.parametrize("name", SAME_SHAPE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_out_argument(name, dtype):
    x = data((3, 5), dtype, 0.1, 0.9)
    want = one_call(name, x)
    out = np.full((3, 5), 7.0, dtype)
    kw = dict(out=out)
    if name in UNARY:
        got = getattr(_C.kernels, name)(x, **kw)
    elif name in SCALAR:
        got = getattr(_C.kernels, name)(x, 2.0, **kw)
    elif name in BINARY or name in BACKWARD:
        got = getattr(_C.kernels, name)(x, x, **kw)
    elif name == "clip":
        got = _C.kernels.clip(x, -1.0, 1.0, **kw)
    elif name == "clip_backward":
        got = _C.kernels.clip_backward(x, x, -1.0, 1.0, **kw)
    elif "backward" in name:
        got = getattr(_C.kernels, name)(x, x, 0, **kw)
    else:
        got = getattr(_C.kernels, name)(x, 0, **kw)
    assert got is out
    np.testing.assert_array_equal(out, want)


def call_with_out(name, x, out):
    if name in UNARY:
        return getattr(_C.kernels, name)(x, out=out)
    if name in BINARY:
        return getattr(_C.kernels, name)(x, x, out=out)
    return getattr(_C.kernels, name)(x, 0, out=out)


@pytest.mark.parametrize("name", ["exp", "add", "softmax", "sum"])
def test_bad_out(name):
    x = np.ones((4, 6))
    shape = (6,) if name == "sum" else (4, 6)
    with pytest.raises(ValueError, match="out has shape"):
        call_with_out(name, x, np.empty((5, 5)))
    with pytest.raises(ValueError, match="out has dtype float32, expected float64"):
        call_with_out(name, x, np.empty(shape, np.float32))
    big = np.empty(shape[:-1] + (2 * shape[-1],))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        call_with_out(name, x, big[..., ::2])
    ro = np.empty(shape)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is not writeable"):
        call_with_out(name, x, ro)


def test_in_place_out_is_input():
    x = np.linspace(-1, 1, 100001)
    want = np.tanh(x)
    assert _C.kernels.tanh(x, out=x) is x
    np.testing.assert_allclose(x, want, rtol=1e-13)


def test_argument_parsing():
    x = np.ones(3)
    np.testing.assert_array_equal(_C.kernels.add_scalar(x=x, c=1.0), 2 * x)
    with pytest.raises(TypeError, match="missing required argument 'c'"):
        _C.kernels.add_scalar(x)
    with pytest.raises(TypeError, match="unexpected keyword argument 'y'"):
        _C.kernels.exp(x, y=1)
    with pytest.raises(TypeError, match="must be a Python float"):
        _C.kernels.mul_scalar(x, "a")
    with pytest.raises(TypeError, match="at most"):
        _C.kernels.exp(x, None, None)


def test_zero_d_inputs():
    x = np.array(0.5)
    assert _C.kernels.exp(x).shape == ()
    assert _C.kernels.add(x, x).shape == ()
    assert float(_C.kernels.sum(x)) == 0.5
    assert _C.kernels.softmax(x).shape == () and float(_C.kernels.softmax(x)) == 1.0


# ----------------------------------------------------------------------------- threads
def test_threads_on_off_same_results():
    n0 = _C.get_num_threads()
    r = rng(12)
    x = r.standard_normal(300001).astype(np.float32)
    m = r.standard_normal((700, 500))
    b = r.standard_normal((1, 500))
    idx = r.integers(0, 50, 700)
    calls = [lambda: _C.kernels.tanh(x), lambda: _C.kernels.exp(x), lambda: _C.kernels.tanh_backward(x, x), lambda: _C.kernels.add(m, b),
             lambda: _C.kernels.sum(x), lambda: _C.kernels.max(x), lambda: _C.kernels.sum(m, 0), lambda: _C.kernels.softmax(m, 1),
             lambda: _C.kernels.logsumexp(m, 0), lambda: _C.index_add(np.zeros((50, 500)), idx, m)]
    try:
        _C.set_num_threads(1)
        assert _C.get_num_threads() == 1
        single = [f() for f in calls]
        _C.set_num_threads(max(2, n0))
        multi = [f() for f in calls]
    finally:
        _C.set_num_threads(n0)
    for s, t in zip(single, multi):
        np.testing.assert_allclose(t, s, rtol=1e-6)
    with pytest.raises(ValueError):
        _C.set_num_threads(0)


def _mkl_installed():
    from pyad.backend._blas_lib import mkl_runtime
    return os.environ.get("PYAD_BLAS", "").lower() != "openblas" and mkl_runtime() is not None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.parametrize("blas", ["openblas", pytest.param("mkl", marks=pytest.mark.skipif(
    not _mkl_installed(), reason="the mkl wheel is not installed (or PYAD_BLAS=openblas)"))])
def test_a_forked_child_computes_after_its_parent_used_threads(blas):
    """GNU OpenMP's pool does not survive fork: a multiprocessing worker forked after a large
    kernel (or, with MKL, a threaded product) hung at its first one. The child now runs
    kernels and products on its own thread, with the parent's results, and the parent keeps
    its threads."""
    code = textwrap.dedent("""
        import multiprocessing as mp
        import numpy as np
        import pyad as ad
        from pyad import _C
        from pyad.backend import _blas
        x = np.linspace(-3, 3, 1_000_001).astype(np.float32)
        a = np.random.default_rng(0).standard_normal((400, 400))
        want = (_C.kernels.tanh(x), _blas.matmul(a, a), float(ad.grad(lambda t: ad.sum(ad.tanh(t)))(x)[7]))

        def child(_):
            got = (_C.kernels.tanh(x), _blas.matmul(a, a), float(ad.grad(lambda t: ad.sum(ad.tanh(t)))(x)[7]))
            return _C.pool_lost(), all(np.array_equal(g, w) for g, w in zip(got[:2], want[:2])), got[2] == want[2]

        with mp.get_context("fork").Pool(2) as pool:
            results = pool.map(child, range(2))
        assert results == [(True, True, True)] * 2, results
        assert not _C.pool_lost() and _C.get_num_threads() >= 1
        print("ok")
    """)
    env = dict(os.environ, PYAD_BLAS="openblas" if blas == "openblas" else "")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-2000:]


def test_simd_level_and_signatures():
    assert _C.simd_level() in ("avx512f", "avx2", "default")
    import inspect
    assert str(inspect.signature(_C.kernels.add)) == "(a, b, out=None)"
    assert str(inspect.signature(_C.kernels.sum)) == "(x, axis=None, out=None)"
    assert str(inspect.signature(_C.index_add)) == "(out, index, src)"


@pytest.mark.parametrize("n", [0, 5, 8, 1000, 300_001])       # tails, vector body, threads
def test_axpy_dot_updates_and_dots_in_one_pass(n):
    rng = np.random.default_rng(n)
    y, x, z = (rng.standard_normal(n) for _ in range(3))
    y0 = y.copy()
    d = _C.axpy_dot(y, x, -0.75, z)
    np.testing.assert_allclose(y, y0 - 0.75 * x, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(d, z @ y, rtol=1e-12, atol=1e-12)
    d = _C.axpy_dot(y, x, 0.5, y)                                 # z = y: the squared norm
    np.testing.assert_allclose(d, y @ y, rtol=1e-12, atol=1e-12)


def test_axpy_dot_errors():
    y, x = np.ones(4), np.ones(4)
    with pytest.raises(ValueError, match="float64 vector of y's length"):
        _C.axpy_dot(y, np.ones(3), 1.0, x)
    with pytest.raises(ValueError, match="float64 vector"):
        _C.axpy_dot(y.astype(np.float32), x, 1.0, x)
    with pytest.raises(ValueError, match="must not be y"):
        _C.axpy_dot(y, y, 1.0, x)
    y.flags.writeable = False
    with pytest.raises(ValueError, match="not writeable"):
        _C.axpy_dot(y, x, 1.0, x)


@pytest.mark.parametrize("ctype", [np.complex128, np.complex64])
@pytest.mark.parametrize("shape", [(), (0,), (5,), (5000,), (3, 4)])
def test_abs_complex_backward_is_numpys_expression_in_one_pass(ctype, shape):
    r = np.random.default_rng(1)
    z = np.asarray(r.standard_normal(shape) + 1j * r.standard_normal(shape), ctype)
    if z.size:
        z.reshape(-1)[0] = 0                          # |z| = 0 counts as 1
    ans = np.asarray(np.abs(z))
    real = ans.dtype
    tol = 1e-6 if ctype == np.complex64 else 1e-15
    for g in (r.standard_normal(shape).astype(real), np.array(1.5, real),
              np.broadcast_to(np.array(-2.0, real), shape), np.ones((1,) * len(shape), real)):
        want = np.conj(z) * (g / np.where(ans == 0, 1, ans))
        got = _C.abs_complex_backward(g, z, ans)
        assert got.dtype == ctype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_abs_complex_backward_errors():
    z = np.ones(4, np.complex128)
    with pytest.raises(TypeError, match="precision"):
        _C.abs_complex_backward(np.ones(4, np.float32), z, np.ones(4))
    with pytest.raises(TypeError, match="precision"):
        _C.abs_complex_backward(np.ones(4), np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="same shape"):
        _C.abs_complex_backward(np.ones(3), z, np.ones(4))
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.abs_complex_backward(np.ones(8)[::2], z, np.ones(4))


@pytest.mark.parametrize("src,shape", [((), (3,)), ((3,), (2, 3)), ((1, 3), (4, 3)),
                                       ((2, 1), (2, 5)), ((3,), (3,)), ((0,), (2, 0)),
                                       ((1,), (0,)), ((2, 1, 3), (4, 2, 6, 3))])
@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.complex64, np.bool_])
def test_broadcast_view_is_numpys_broadcast_to(src, shape, dtype):
    x = np.arange(int(np.prod(src)), dtype=np.int64).reshape(src).astype(dtype)
    for x_ in (x, np.asarray(x.T) if x.ndim > 1 else x):
        if x_.shape != src:
            continue
        want = np.broadcast_to(x_, shape)
        got = _C.broadcast_view(x_, shape)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert got.strides == want.strides and not got.flags.writeable
        assert np.shares_memory(got, x_) or x_.size == 0 or got.size == 0
        np.testing.assert_array_equal(got, want)
    s = np.float64(2.5)                               # a numpy scalar
    np.testing.assert_array_equal(_C.broadcast_view(s, (2, 2)), np.full((2, 2), 2.5))


def test_broadcast_view_errors():
    with pytest.raises(ValueError, match=r"cannot broadcast shape \(3,\) to \(2,4\)"):
        _C.broadcast_view(np.ones(3), (2, 4))
    with pytest.raises(ValueError, match="cannot broadcast"):
        _C.broadcast_view(np.ones((2, 3)), (3,))
    with pytest.raises(ValueError, match="cannot broadcast"):
        _C.broadcast_view(np.ones(1), (-1,))
    with pytest.raises(TypeError, match="integers"):
        _C.broadcast_view(np.ones(1), (2.0,))
    with pytest.raises(TypeError, match="tuple"):
        _C.broadcast_view(np.ones(1), [2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_logaddexp_against_zero_is_softplus_at_numpys_values(dtype):
    with np.errstate(invalid="ignore"):          # numpy warns at inf - inf
        from pyad.backend.cpu import KERNELS
        x = np.concatenate([data((5000,), dtype, -40, 40), np.array(
            [0, -800, 800, 1e-30, -1e-30, 36, -36, np.inf, -np.inf, np.nan], dtype)])
        zero = np.zeros((), dtype)
        want = np.logaddexp(zero, x)
        for got in (KERNELS["logaddexp"](zero, x), KERNELS["logaddexp"](x, zero)):
            assert got.dtype == dtype and got.shape == x.shape
            np.testing.assert_allclose(got, want, rtol=RTOL[dtype] * 10, atol=0)
        one, y = np.ones((), dtype), x[::2]             # not zero, or strided: numpy's own call
        np.testing.assert_array_equal(KERNELS["logaddexp"](one, x), np.logaddexp(one, x))
        np.testing.assert_array_equal(KERNELS["logaddexp"](zero, y), np.logaddexp(zero, y))


@pytest.mark.parametrize("dtype", DTYPES)
def test_pack_scaled_fills_a_bucket_in_one_call(dtype):
    r = np.random.default_rng(3)
    arrays = [r.standard_normal(s).astype(dtype) for s in [(3, 4), (5,), (70000,)]]
    flat = np.full(12 + 5 + 70000 + 2, -1.0, dtype)
    _C.pack_scaled(flat, arrays, [0, 12, 17], 1.0 / 3.0)
    want = np.concatenate([a.reshape(-1) * dtype(1.0 / 3.0) for a in arrays])
    np.testing.assert_array_equal(flat[:-2], want)          # numpy's multiply, bit for bit
    np.testing.assert_array_equal(flat[-2:], [-1.0, -1.0])  # nothing past the parts
    with pytest.raises(ValueError, match="does not fit"):
        _C.pack_scaled(flat, [arrays[2]], [100], 1.0)
    with pytest.raises(TypeError, match="dtype"):
        _C.pack_scaled(flat, [arrays[0].astype(np.float16)], [0], 1.0)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.pack_scaled(flat, [arrays[0].T], [0], 1.0)
    with pytest.raises(ValueError, match="overlaps"):
        _C.pack_scaled(flat, [flat[5:9]], [6], 1.0)
    with pytest.raises(TypeError, match="lists of one length"):
        _C.pack_scaled(flat, arrays, [0], 1.0)
