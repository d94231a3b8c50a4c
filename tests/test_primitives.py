"""Correctness tests generated from tests/op_specs.py: forward vs numpy, VJPs vs finite
differences (first and second order), float32 vs float64, no input mutation, non-contiguous
inputs, and meta-tests that keep the primitive table, the kernels and the specs in sync."""
import numpy as np
import pytest

import pyad as ad
from pyad.backend.cpu import KERNELS
from pyad.testing import _dyadic, check_grads, check_vjp

from op_specs import SPECS, traced

CASES = [c for cases in SPECS.values() for c in cases]
GRAD_CASES = [c for c in CASES if c.grad]
GRAD32_CASES = [c for c in GRAD_CASES if np.float32 in c.dtypes]
FORWARD = [pytest.param(c, np.dtype(dt), id=f"{c.id}-{np.dtype(dt).name}")
           for c in CASES for dt in c.dtypes]
FLOAT_FORWARD = [p for p in FORWARD if p.values[1].kind in "fc"]


def _ids(cases):
    return [c.id for c in cases]


def _data(out):
    assert isinstance(out, ad.Tensor), f"expected a pyad Tensor, got {type(out).__name__}"
    assert isinstance(out.data, np.ndarray), type(out.data)
    return out.data


def _assert_close(got, want, rtol, what=""):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != numpy's {want.shape}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    scale = float(np.max(np.abs(want))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(scale, 1e-3),
                               err_msg=what)


def _strided(x):
    """The same values as a non-contiguous view (NaN between the elements it uses)."""
    axes = [i for i, n in enumerate(x.shape) if n > 1]
    if not axes:
        return x.copy()
    ax = axes[-1]
    shape = list(x.shape)
    shape[ax] *= 2
    base = np.full(shape, np.nan, dtype=x.dtype)
    index = [slice(None)] * x.ndim
    index[ax] = slice(None, None, 2)
    view = base[tuple(index)]
    view[...] = x
    assert x.size == 0 or not view.flags.c_contiguous
    return view


# --------------------------------------------------------------------------- per-case checks
@pytest.mark.parametrize("case,dtype", FORWARD)
def test_forward_matches_numpy(case, dtype):
    xs = case.inputs(dtype)
    want = np.asarray(case.ref(*[x.copy() for x in xs]))
    got = _data(case.fn(*[ad.tensor(x) for x in xs]))
    assert got.dtype == want.dtype, f"{case.id}: dtype {got.dtype}, numpy gives {want.dtype}"
    single = {np.dtype(np.float32), np.dtype(np.complex64)}      # complex64: float32 parts
    rtol = 1e-5 if {np.dtype(want.dtype), np.dtype(dtype)} & single else 1e-12
    _assert_close(got, want, rtol, case.id)


def _wide(case):
    """The case's inputs in float64 (complex128 for a complex case): derivative checks."""
    return case.inputs(np.complex128 if case.complex else np.float64)


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids(GRAD_CASES))
def test_vjp_vs_finite_differences(case):
    check_vjp(traced(case), _wide(case), rtol=1e-6)


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids(GRAD_CASES))
def test_second_order(case):
    check_grads(traced(case), _wide(case), order=2, rtol=1e-6)


@pytest.mark.parametrize("case", GRAD32_CASES, ids=_ids(GRAD32_CASES))
def test_float32_grads_match_float64(case):
    f = traced(case)
    x64 = case.inputs(np.float64)
    x32 = [x.astype(np.float32) for x in x64]
    out64, vjp64 = ad.vjp(f, *x64)
    out32, vjp32 = ad.vjp(f, *x32)
    # single precision in, single precision out (complex64 for a transform to frequencies)
    assert np.asarray(out32).dtype in (np.float32, np.complex64), case.id
    u = _dyadic(np.random.default_rng(1), np.shape(out64))
    cts64 = vjp64(u.astype(np.asarray(out64).dtype))
    cts32 = vjp32(u.astype(np.asarray(out32).dtype))
    for k, (c32, c64) in enumerate(zip(cts32, cts64)):
        assert isinstance(c32, np.ndarray) and c32.dtype == np.float32, \
            f"{case.id}: cotangent {k} has dtype {np.asarray(c32).dtype}, want float32"
        _assert_close(c32.astype(np.float64), np.asarray(c64, dtype=np.float64), 1e-4,
                      f"{case.id}: float32 cotangent {k}")


def _second_order_vjp(f, xs):
    """The VJP of x -> sum_k <(J(x)^T u)_k, w_k>, at xs (fixed u, w)."""
    out = np.asarray(f(*xs))
    u = _dyadic(np.random.default_rng(4), out.shape).astype(out.dtype)
    ws = [_dyadic(np.random.default_rng(5 + k), x.shape).astype(x.dtype)
          for k, x in enumerate(xs)]

    def vjp_dot(*ys):
        _, vjp_fn = ad.vjp(f, *ys)
        return ad.sum(ad.stack([ad.sum(ad.multiply(c, w)) for c, w in zip(vjp_fn(u), ws)]))
    _, vjp_fn = ad.vjp(vjp_dot, *xs)
    return vjp_fn(np.array(1.0, dtype=xs[0].dtype))


@pytest.mark.parametrize("case", GRAD32_CASES, ids=_ids(GRAD32_CASES))
def test_float32_second_order_matches_float64(case):
    x64 = case.inputs(np.float64)
    h64 = _second_order_vjp(traced(case), x64)
    h32 = _second_order_vjp(traced(case), [x.astype(np.float32) for x in x64])
    for k, (c32, c64) in enumerate(zip(h32, h64)):
        assert c32.dtype == np.float32, f"{case.id}: second-order cotangent {k} is {c32.dtype}"
        _assert_close(c32.astype(np.float64), np.asarray(c64, dtype=np.float64), 1e-4,
                      f"{case.id}: float32 second-order cotangent {k}")


@pytest.mark.parametrize("case,dtype", FLOAT_FORWARD)
def test_inputs_not_mutated(case, dtype):
    xs = case.inputs(dtype)
    before = [x.copy() for x in xs]
    out, vjp_fn = ad.vjp(traced(case), *xs)      # arrays are wrapped, not copied
    if case.grad:
        u = _dyadic(np.random.default_rng(2), np.shape(out)).astype(np.asarray(out).dtype)
        u_before = u.copy()
        first = [np.array(c, copy=True) for c in vjp_fn(u)]
        second = vjp_fn(u)
        np.testing.assert_array_equal(u, u_before, err_msg=f"{case.id}: cotangent mutated")
        for k, (a, b) in enumerate(zip(first, second)):
            np.testing.assert_array_equal(a, b, err_msg=f"{case.id}: a second vjp call "
                                                        f"changed cotangent {k}")
    for k, (x, b) in enumerate(zip(xs, before)):
        np.testing.assert_array_equal(x, b, err_msg=f"{case.id}: input {k} mutated")


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_noncontiguous_inputs(case):
    dtype = next((d for d in case.dtypes if np.dtype(d).kind in "fc"), np.float64)
    xs = case.inputs(dtype)
    views = [_strided(x) for x in xs]
    out, vjp_fn = ad.vjp(traced(case), *xs)          # arrays are wrapped, not copied
    out_v, vjp_v = ad.vjp(traced(case), *views)
    if case.grad:
        u = _dyadic(np.random.default_rng(3), np.shape(out)).astype(np.asarray(out).dtype)
        for k, (a, b) in enumerate(zip(vjp_fn(u), vjp_v(u))):
            _assert_close(np.asarray(b), np.asarray(a), 1e-12, f"{case.id}: cotangent {k}")
    _assert_close(np.asarray(out_v), np.asarray(out), 1e-12, f"{case.id}: value")


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_case_reaches_its_primitive(case):
    """A spec that never runs its primitive's kernel tests nothing about it."""
    prim = ad.PRIMITIVES[case.prim]
    calls = []

    def counting(fn):
        def wrapper(*a):
            calls.append(1)
            return fn(*a)
        return wrapper

    impl, fallback = prim.impl, prim.fallback
    prim.impl = counting(impl)
    if fallback is not None:
        prim.fallback = counting(fallback)
    try:
        case.fn(*[ad.tensor(x) for x in case.inputs(case.dtypes[0])])
    finally:
        prim.impl, prim.fallback = impl, fallback
    assert calls, f"{case.id} never runs the {case.prim} primitive"


# --------------------------------------------------------------------------- meta-tests
def test_every_primitive_has_a_spec_and_a_kernel():
    prims = set(ad.PRIMITIVES)
    assert sorted(prims - set(SPECS)) == [], "primitives without a spec in tests/op_specs.py"
    assert sorted(prims - set(KERNELS)) == [], "primitives without a CPU kernel"
    assert sorted(set(SPECS) - prims) == [], "specs for names that are not primitives"
    for name, prim in ad.PRIMITIVES.items():
        assert prim.name == name
        assert SPECS[name], f"{name}: empty spec"
        differentiated = any(c.grad for c in SPECS[name])
        assert differentiated == prim.differentiable, (
            f"{name}: differentiable={prim.differentiable} but its spec "
            f"{'has' if differentiated else 'has no'} derivative cases")


def _custom(name, impl, *rules):
    """A primitive outside the table, and a function (named like it) that applies it."""
    prim = ad.Primitive(name, impl, list(rules))

    def f(*xs):
        return ad.bind(prim, *[x if isinstance(x, ad.Tensor) else ad.tensor(x) for x in xs])
    f.__qualname__ = f.__name__ = name
    return prim, f


_X = np.linspace(-1.0, 1.5, 12).reshape(3, 4)
_Y = np.array([0.5, -1.25, 2.0, 0.75])


@pytest.mark.parametrize("scale", [1.00001, 0.99999])
def test_checker_rejects_vjp_off_by_1e5(scale):
    _, f = _custom("scaled_square", np.square, lambda g, ans, x: g * x * (2.0 * scale))
    with pytest.raises(AssertionError) as info:
        check_vjp(f, [_X])
    msg = str(info.value)
    for part in ("scaled_square", "argument 0", "mode rev", "order 1", "relative error",
                 "rtol=1e-06"):
        assert part in msg, msg
    # and with the exact rule the error is far below the tolerance (100x margin)
    _, good = _custom("square_ok", np.square, lambda g, ans, x: g * x * 2.0)
    check_vjp(good, [_X], rtol=1e-8)


def test_checker_accepts_correct_rules_with_margin():
    check_grads(lambda x: ad.tanh(x) * ad.exp(x), [_X], order=2, rtol=1e-8)
    check_grads(lambda x: ad.log_softmax(x, axis=1), [_X], order=2, rtol=1e-8)


def test_checker_rejects_wrong_broadcasting():
    """x (3, 3) + y (3,): dy must sum g over axis 0; rules that reduce the wrong axis, average,
    or do not reduce at all are rejected, the right one passes (to second order)."""
    x = _X[:, :3].copy()
    y = _Y[:3].copy()

    def bcast_add(name, dy_rule):
        return _custom(name, np.add, lambda g, ans, x, y: g, dy_rule)[1]

    check_grads(bcast_add("ok", lambda g, ans, x, y: ad.sum(g, axis=0)), [x, y], order=2,
                modes=("rev",))
    for wrong in (lambda g, ans, x, y: ad.sum(g, axis=1),      # same shape, wrong axis
                  lambda g, ans, x, y: ad.mean(g, axis=0),     # averaged, not summed
                  lambda g, ans, x, y: g[0]):                  # first row only
        with pytest.raises(AssertionError, match="argument 1, mode rev, order 1"):
            check_vjp(bcast_add("bad", wrong), [x, y])
    with pytest.raises(AssertionError, match="argument 1.*shape"):
        check_vjp(bcast_add("unreduced", lambda g, ans, x, y: g), [x, y])


def test_checker_rejects_rule_wrong_only_at_second_order():
    # the rule detaches x: first derivatives are right, second derivatives are zero
    _, f = _custom("detached_square", np.square,
                   lambda g, ans, x: g * (2.0 * ad.stop_gradient(x)))
    check_grads(f, [_X], order=1, modes=("rev",))
    with pytest.raises(AssertionError, match="order 2"):
        check_grads(f, [_X], order=2, modes=("rev",))


def test_checker_rejects_rule_wrong_only_in_its_cotangent():
    # right first derivatives and right x-derivatives of the VJP, but the VJP is treated as a
    # constant in g: only differentiating the VJP with respect to its cotangent shows it
    _, f = _custom("detached_cotangent", np.square,
                   lambda g, ans, x: ad.stop_gradient(g) * (2.0 * x))
    check_grads(f, [_X], order=1, modes=("rev",))
    with pytest.raises(AssertionError, match="cotangent"):
        check_grads(f, [_X], order=2, modes=("rev",))


def test_check_grads_rejects_unknown_modes():
    with pytest.raises(ValueError, match="backward"):
        check_grads(ad.tanh, [_X], modes=("fwd", "backward"))
    with pytest.raises(ValueError, match="order"):
        check_grads(ad.tanh, [_X], order=3)


def test_kink_conventions():
    """relu'(0) = abs'(0) = 0; ties in maximum/minimum/max/min split the gradient evenly."""
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(ad.grad(lambda z: ad.sum(ad.relu(z)))(x), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(ad.grad(lambda z: ad.sum(ad.abs(z)))(x), [-1.0, 0.0, 1.0])
    y = np.array([0.0, 0.0, 3.0])
    for op in (ad.maximum, ad.minimum):
        gx, gy = ad.grad(lambda a, b: ad.sum(op(a, b)), argnums=(0, 1))(x, y)
        np.testing.assert_array_equal(gx[1], 0.5)
        np.testing.assert_array_equal(gy[1], 0.5)
        np.testing.assert_array_equal(gx + gy, 1.0)
    t = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    np.testing.assert_allclose(ad.grad(lambda z: ad.sum(ad.max(z, axis=1)))(t),
                               [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-15)
    np.testing.assert_array_equal(ad.grad(lambda z: ad.min(z))(t), [[1.0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(ad.grad(lambda z: ad.min(z))(t[1]), [1 / 3] * 3)
