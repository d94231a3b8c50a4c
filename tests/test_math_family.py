"""Hand-checked values for the math family (pyad/ops_math.py), beyond the generated tests:
second derivatives against closed forms, sinc's derivatives at 0, the zero derivative of the
piecewise-constant functions under every transform, tie and NaN conventions, numpy's weak
scalars and dtypes, and the errors bad input gets."""
import math

import numpy as np
import pytest

import pyad as ad

X = np.array([-1.25, -0.5, 0.25, 0.75])


def _second(f):
    """x -> f''(x) elementwise, by grad of grad of sum(f)."""
    return ad.grad(lambda x: ad.sum(ad.grad(lambda z: ad.sum(f(z)))(x)))


@pytest.mark.parametrize("f, d2, x", [
    (ad.arctan, lambda x: -2 * x / (1 + x * x) ** 2, X),
    (ad.sinh, np.sinh, X),
    (ad.cosh, np.cosh, X),
    (ad.tan, lambda x: 2 * np.tan(x) * (1 + np.tan(x) ** 2), X),
    (ad.arcsin, lambda x: x / (1 - x * x) ** 1.5, X / 2),
    (ad.arccos, lambda x: -x / (1 - x * x) ** 1.5, X / 2),
    (ad.arcsinh, lambda x: -x / (x * x + 1) ** 1.5, X),
    (ad.arccosh, lambda x: -x / (x * x - 1) ** 1.5, np.abs(X) + 1.25),
    (ad.arctanh, lambda x: 2 * x / (1 - x * x) ** 2, X / 2),
    (ad.exp2, lambda x: 2.0 ** x * math.log(2) ** 2, X),
    (ad.expm1, np.exp, X),
    (ad.log2, lambda x: -1 / (x * x * math.log(2)), np.abs(X)),
    (ad.log10, lambda x: -1 / (x * x * math.log(10)), np.abs(X)),
    (ad.cbrt, lambda x: -2.0 / 9.0 * np.cbrt(x) ** -5, X),
    (ad.reciprocal, lambda x: 2 / x ** 3, X),
    (ad.fabs, np.zeros_like, X),
    (ad.deg2rad, np.zeros_like, X),
    (ad.nan_to_num, np.zeros_like, X),
    (ad.floor, np.zeros_like, X),
])
def test_second_derivatives_match_closed_forms(f, d2, x):
    np.testing.assert_allclose(_second(f)(x), d2(x), rtol=1e-12, atol=1e-14)
    # forward over reverse: the diagonal Hessian of sum(f)
    h = ad.hessian(lambda z: ad.sum(f(z)))(x)
    np.testing.assert_allclose(h, np.diag(d2(x)), rtol=1e-12, atol=1e-14)


def test_sinc_derivatives_are_exact_at_zero():
    # sinc(x) = 1 - (pi x)^2/6 + (pi x)^4/120 - ...: derivatives at 0 are 0, -pi^2/3, 0, pi^4/5
    f1 = ad.grad(ad.sinc)
    f2 = ad.grad(f1)
    f3 = ad.grad(f2)
    f4 = ad.grad(f3)
    assert f1(0.0) == 0.0
    assert f2(0.0) == pytest.approx(-math.pi ** 2 / 3, rel=1e-14)
    assert f3(0.0) == 0.0
    assert f4(0.0) == pytest.approx(math.pi ** 4 / 5, rel=1e-13)
    # continuity of each derivative across the series/closed-form switch and at 0
    for f in (f1, f2, f3):
        for x0 in (0.0, 2.0 / math.pi, 3.0 / math.pi, 4.0 / math.pi, 5.0 / math.pi):
            left, right = f(x0 - 1e-9), f(x0 + 1e-9)
            assert abs(left - right) < 1e-6, (x0, left, right)
    x = np.array([0.0, 2.0 ** -20, -0.375, 1.0, 2.5, -4.0])
    ad.check_grads(ad.sinc, [x], order=2, rtol=1e-6)
    ad.check_grads(lambda z: ad.grad(lambda w: ad.sum(ad.sinc(w)))(z), [x], order=2)


@pytest.mark.parametrize("f", [
    ad.floor, ad.ceil, ad.rint, ad.trunc, ad.fix, ad.round, ad.around,
    lambda x: ad.round(x, 1), lambda x: ad.floor_divide(x, 0.75),
    lambda x: ad.floor_divide(2.5, x), lambda x: x // 0.75,
], ids=["floor", "ceil", "rint", "trunc", "fix", "round", "around", "round1",
        "floor_divide-x", "floor_divide-y", "floordiv-operator"])
def test_piecewise_constant_functions_have_zero_derivatives_everywhere(f):
    x = np.array([[0.3, -1.2, 2.7], [1.1, -0.6, 0.4]])
    v = np.ones_like(x)
    loss = lambda z: ad.sum(f(z) * z)          # noqa: E731  d/dz = f(z), d2/dz2 = 0
    fx = np.asarray(f(ad.tensor(x)).data)
    np.testing.assert_array_equal(ad.grad(lambda z: ad.sum(f(z)))(x), np.zeros_like(x))
    np.testing.assert_array_equal(ad.grad(loss)(x), fx)
    out, tangent = ad.jvp(f, (x,), (v,))
    np.testing.assert_array_equal(tangent, np.zeros_like(x))
    for mode in ("fwd-rev", "rev-rev", "rev-fwd"):
        np.testing.assert_array_equal(ad.hvp(loss, (x,), (v,), mode=mode), np.zeros_like(x))
    np.testing.assert_array_equal(ad.jacobian(f, mode="fwd")(x), np.zeros(x.shape * 2))
    np.testing.assert_array_equal(ad.jacobian(f, mode="rev")(x), np.zeros(x.shape * 2))
    np.testing.assert_array_equal(ad.hessian(loss)(x), np.zeros(x.shape * 2))
    g32 = ad.grad(lambda z: ad.sum(f(z)))(x.astype(np.float32))
    assert g32.dtype == np.float32


def test_fmax_fmin_split_ties_and_give_nans_to_the_number():
    x = np.array([1.0, 2.0, np.nan, 0.5, np.nan])
    y = np.array([1.0, 1.0, 3.0, np.nan, np.nan])
    for op, x_wins in ((ad.fmax, [0.5, 1, 0, 1, 1]), (ad.fmin, [0.5, 0, 0, 1, 1])):
        gx, gy = ad.grad(lambda a, b: ad.sum(op(a, b)), argnums=(0, 1))(x, y)
        np.testing.assert_array_equal(gx, x_wins)
        np.testing.assert_array_equal(gy, 1.0 - np.array(x_wins))
        _, t = ad.jvp(op, (x, y), (np.full(5, 2.0), np.full(5, 3.0)))
        np.testing.assert_array_equal(t[:4], 2.0 * np.array(x_wins[:4])
                                      + 3.0 * (1 - np.array(x_wins[:4])))


def test_mod_and_fmod_derivatives():
    x = np.array([5.5, -5.5, 5.5, -5.5])
    y = np.array([2.0, 2.0, -2.0, -2.0])
    gx, gy = ad.grad(lambda a, b: ad.sum(ad.mod(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, 1.0)
    np.testing.assert_array_equal(gy, -np.floor(x / y))        # -(2, -3, -3, 2)
    gx, gy = ad.grad(lambda a, b: ad.sum(ad.fmod(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, 1.0)
    np.testing.assert_array_equal(gy, -np.trunc(x / y))
    # broadcasting: the cotangent of a (1,) divisor sums over the (4,) output
    gy = ad.grad(lambda b: ad.sum(ad.remainder(x, b)))(np.array([2.0]))
    np.testing.assert_array_equal(gy, [-np.sum(np.floor(x / 2.0))])
    np.testing.assert_array_equal(ad.grad(lambda a: ad.sum(a % 2.0))(x), 1.0)


def test_copysign_and_fabs_conventions():
    x = np.array([1.5, -2.0, 0.0, 3.0])
    y = np.array([-1.0, -0.0, 1.0, 0.0])
    gx, gy = ad.grad(lambda a, b: ad.sum(ad.copysign(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [-1.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(gy, 0.0)
    np.testing.assert_array_equal(ad.grad(lambda a: ad.sum(ad.fabs(a)))(x), [1, -1, 0, 1])


def test_nan_to_num_derivative_is_one_where_finite():
    x = np.array([np.nan, 1.5, np.inf, -np.inf, -2.0])
    for dt in (np.float64, np.float32):
        g = ad.grad(lambda z: ad.sum(ad.nan_to_num(z, nan=1.0, posinf=2.0) * 3.0))(x.astype(dt))
        assert g.dtype == dt
        np.testing.assert_array_equal(g, [0.0, 3.0, 0.0, 0.0, 3.0])
    # a mask from the predicates carries no derivative and leaves the gradient intact
    g = ad.grad(lambda z: ad.sum(ad.where(ad.isfinite(z), ad.nan_to_num(z), 0.0) ** 2))(x)
    np.testing.assert_array_equal(g, [0.0, 3.0, 0.0, 0.0, -4.0])


def test_binary_hessians():
    x, y = np.array([0.3, -1.1]), np.array([0.8, 0.6])
    h = ad.hessian(lambda v: ad.sum(ad.logaddexp(v[:2], v[2:])))(np.concatenate([x, y]))
    p = 1 / (1 + np.exp(y - x))                 # d/dx logaddexp = sigmoid(x - y)
    c = p * (1 - p)
    want = np.block([[np.diag(c), -np.diag(c)], [-np.diag(c), np.diag(c)]])
    np.testing.assert_allclose(h, want, rtol=1e-12)
    # arctan2(a, b) = atan(a / b): its Hessian in (a, b) is [[-2ab, a^2-b^2], [a^2-b^2, 2ab]] / r^4
    a, b = 0.7, -0.4
    h = ad.hessian(lambda v: ad.arctan2(v[0], v[1]))(np.array([a, b]))
    r4 = (a * a + b * b) ** 2
    np.testing.assert_allclose(h, np.array([[-2 * a * b, a * a - b * b],
                                            [a * a - b * b, 2 * a * b]]) / r4, rtol=1e-12)
    # hypot: the Hessian of |v| is (I - u u^T) / |v|
    v = np.array([3.0, 4.0])
    h = ad.hessian(lambda w: ad.hypot(w[0], w[1]))(v)
    u = v / 5.0
    np.testing.assert_allclose(h, (np.eye(2) - np.outer(u, u)) / 5.0, rtol=1e-12)


def test_weak_python_scalars_and_numpy_dtypes():
    f32 = ad.tensor(np.array([1.5, -2.0], dtype=np.float32))
    for op in (ad.hypot, ad.arctan2, ad.logaddexp, ad.fmax, ad.mod, ad.copysign):
        assert op(f32, 2.0).dtype == np.float32, op
        assert op(2, f32).dtype == np.float32, op
    i8 = ad.tensor(np.array([5, -7], dtype=np.int8))
    assert ad.mod(i8, 3).dtype == np.int8
    np.testing.assert_array_equal(ad.mod(i8, 3).data, [2, 2])
    assert ad.floor_divide(i8, 2.0).dtype == np.float64
    b = ad.tensor(np.array([True, False]))
    assert ad.mod(b, 3).dtype == np.mod(np.array([True, False]), 3).dtype
    assert ad.fmax(b, b).dtype == np.bool_
    assert ad.sinh(b).dtype == np.float16          # numpy's choice for bool
    assert ad.floor(ad.tensor([3, -2])).dtype == np.int64
    assert ad.hypot(3, 4).dtype == np.float64 and float(ad.hypot(3, 4)) == 5.0
    assert ad.logical_and(ad.tensor([1, 0]), 0.5).data.tolist() == [True, False]
    with pytest.raises(OverflowError, match="pyad.mod"):
        ad.mod(i8, 1000)


def test_numpy_functions_dispatch_to_the_family():
    t = ad.tensor([0.25, -1.5, 2.5])
    for np_f, ad_f in ((np.sinh, ad.sinh), (np.fix, ad.fix), (np.radians, ad.radians),
                       (np.nan_to_num, ad.nan_to_num), (np.isnan, ad.isnan),
                       (np.around, ad.around), (np.round, ad.round)):
        out = np_f(t)
        assert isinstance(out, ad.Tensor), np_f
        np.testing.assert_array_equal(out.data, ad_f(t).data)
    assert isinstance(np.mod(t, 2.0), ad.Tensor) and isinstance(np.arctan2(1.0, t), ad.Tensor)
    np.testing.assert_array_equal(np.round(t, 1).data, np.round(t.data, 1))
    g = ad.grad(lambda z: np.sum(np.sinh(z) * np.mod(z, 2.0) + np.logaddexp(z, 0.0)))(t.data)
    s = t.data
    want = np.cosh(s) * np.mod(s, 2.0) + np.sinh(s) + 1 / (1 + np.exp(-s))
    np.testing.assert_allclose(g, want, rtol=1e-12)


def test_aliases():
    assert ad.radians is ad.deg2rad and ad.degrees is ad.rad2deg
    assert ad.around is ad.round and ad.remainder is ad.mod
    assert ad.true_divide is ad.divide
    assert ad.tensor([3.0]).round().data.tolist() == [3.0]


def test_bad_inputs_name_the_op_and_the_fix():
    with pytest.raises(TypeError, match=r"pyad\.sinh: .*dtype <U1.*np\.asarray"):
        ad.sinh(np.array(["a"]))
    with pytest.raises(TypeError, match=r"pyad\.arctan2: complex inputs are not supported"):
        ad.arctan2(np.array([1j]), 1.0)
    with pytest.raises(ValueError, match=r"pyad\.hypot: .*\(3,\) and \(4,\)"):
        ad.hypot(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"pyad\.logical_and: .*\(2,\) and \(3,\)"):
        ad.logical_and(np.ones(2), np.ones(3))
    with pytest.raises(TypeError, match=r"pyad\.round: decimals must be an integer"):
        ad.round(np.ones(2), 1.5)
    with pytest.raises(TypeError, match=r"pyad\.fix: out= is not supported"):
        ad.fix(np.ones(2), out=np.ones(2))
    with pytest.raises(TypeError, match=r"pyad\.nan_to_num: posinf must be a real number"):
        ad.nan_to_num(np.ones(2), posinf="big")
    with pytest.raises(TypeError, match="out="):
        np.sinh(ad.tensor([1.0]), out=np.ones(1))
    with pytest.raises(TypeError, match="float32 or float64"):
        ad.grad(lambda z: ad.sum(ad.sinh(z)))(np.array([1, 2]))
