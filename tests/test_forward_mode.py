"""Forward mode (ad.jvp, ad.JvpTrace) and arbitrary nesting of forward and reverse mode:
numpy/Tensor in and out, pytrees, structure errors, zero tangents, dtypes, grad of grad of
grad, jvp of grad, grad of jvp, jvp of jvp, explicit nested tapes and perturbation confusion.

Every value is checked against a hand-derived numpy formula or central differences."""
import numpy as np
import pytest

import pyad as ad
from pyad import Tensor

RNG = np.random.default_rng(20240611)


def arr(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def val(a):
    return np.asarray(a.data if isinstance(a, Tensor) else a)


def close(a, b, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(val(a), val(b), rtol=rtol, atol=atol)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ============================================================================ jvp basics
def test_jvp_numpy_in_numpy_out():
    x, v = arr(5), arr(5)
    out, tan = ad.jvp(lambda x: ad.sin(x) * x, (x,), (v,))
    assert type(out) is np.ndarray and type(tan) is np.ndarray
    close(out, np.sin(x) * x)
    close(tan, (np.cos(x) * x + np.sin(x)) * v)


def test_jvp_scalar_output_is_numpy():
    x, v = arr(4), arr(4)
    out, tan = ad.jvp(lambda x: ad.sum(ad.exp(x)), (x,), (v,))
    assert not isinstance(out, Tensor) and not isinstance(tan, Tensor)
    assert np.shape(out) == () and np.shape(tan) == ()
    close(out, np.sum(np.exp(x)))
    close(tan, np.sum(np.exp(x) * v))


def test_jvp_tensor_in_tensor_out():
    x, v = arr(3, 2), arr(3, 2)
    out, tan = ad.jvp(lambda x: ad.tanh(x) ** 2, (ad.tensor(x),), (ad.tensor(v),))
    assert isinstance(out, Tensor) and isinstance(tan, Tensor)
    close(out, np.tanh(x) ** 2)
    close(tan, 2 * np.tanh(x) * (1 - np.tanh(x) ** 2) * v)


def test_jvp_does_not_modify_inputs():
    x, v = arr(4), arr(4)
    x0, v0 = x.copy(), v.copy()
    ad.jvp(lambda x: ad.exp(x) * 2.0 + x, (x,), (v,))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(v, v0)


def test_jvp_two_arguments_is_sum_of_partials():
    x, y, vx, vy = arr(4), arr(4), arr(4), arr(4)

    def f(x, y):
        return x * ad.exp(y) + x ** 2

    out, tan = ad.jvp(f, (x, y), (vx, vy))
    close(out, x * np.exp(y) + x ** 2)
    close(tan, (np.exp(y) + 2 * x) * vx + x * np.exp(y) * vy)
    # linearity in the tangent
    _, t1 = ad.jvp(f, (x, y), (vx, np.zeros(4)))
    _, t2 = ad.jvp(f, (x, y), (np.zeros(4), vy))
    close(val(t1) + val(t2), tan)
    _, t3 = ad.jvp(f, (x, y), (2.5 * vx, 2.5 * vy))
    close(t3, 2.5 * val(tan))


def test_jvp_accepts_lists():
    x, v = arr(3), arr(3)
    out, tan = ad.jvp(lambda x: x * x, [x], [v])
    close(tan, 2 * x * v)


def test_jvp_dict_primals_and_tangents():
    p = {"w": arr(3, 2), "b": arr(2)}
    t = {"w": arr(3, 2), "b": arr(2)}
    X = arr(5, 3)

    def f(p):
        return ad.sum(ad.tanh(X @ p["w"] + p["b"]))

    out, tan = ad.jvp(f, (p,), (t,))
    z = X @ p["w"] + p["b"]
    close(out, np.sum(np.tanh(z)))
    dz = X @ t["w"] + t["b"]
    close(tan, np.sum((1 - np.tanh(z) ** 2) * dz))


def test_jvp_nested_tuple_primals():
    a, b, c = arr(3), arr(3), arr(3)
    ta, tb, tc = arr(3), arr(3), arr(3)

    def f(tree):
        a, (b, c) = tree
        return a * b + ad.sin(c)

    out, tan = ad.jvp(f, ((a, (b, c)),), ((ta, (tb, tc)),))
    close(out, a * b + np.sin(c))
    close(tan, ta * b + a * tb + np.cos(c) * tc)


def test_jvp_pytree_outputs_keep_structure():
    x, v = arr(4), arr(4)

    def f(x):
        return {"sq": x * x, "pair": (ad.exp(x), [ad.sum(x)])}

    out, tan = ad.jvp(f, (x,), (v,))
    assert set(out) == {"sq", "pair"} and set(tan) == {"sq", "pair"}
    assert isinstance(tan["pair"], tuple) and isinstance(tan["pair"][1], list)
    close(out["sq"], x * x)
    close(out["pair"][0], np.exp(x))
    close(out["pair"][1][0], np.sum(x))
    close(tan["sq"], 2 * x * v)
    close(tan["pair"][0], np.exp(x) * v)
    close(tan["pair"][1][0], np.sum(v))
    assert type(tan["sq"]) is np.ndarray


def test_jvp_tangent_structure_mismatch_raises():
    p = {"w": arr(2), "b": arr(2)}
    with pytest.raises(ValueError):
        ad.jvp(lambda p: ad.sum(p["w"] * p["b"]), (p,), ({"w": arr(2)},))
    with pytest.raises(ValueError):
        ad.jvp(lambda p: ad.sum(p["w"] * p["b"]), (p,), ((arr(2), arr(2)),))
    with pytest.raises(ValueError):
        ad.jvp(lambda a: ad.sum(a[0] * a[1][0]), ((arr(2), (arr(2),)),), ((arr(2), arr(2)),))


def test_jvp_tangent_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        ad.jvp(lambda x: x * 2.0, (arr(3),), (arr(4),))
    with pytest.raises(ValueError):
        ad.jvp(lambda x: x * 2.0, (arr(2, 3),), (arr(3, 2),))
    with pytest.raises(ValueError):
        ad.jvp(lambda p: p["a"] * 2.0, ({"a": arr(3)},), ({"a": arr(1)},))


def test_jvp_wrong_number_of_tangents_raises():
    with pytest.raises(ValueError):
        ad.jvp(lambda x, y: x * y, (arr(3), arr(3)), (arr(3),))


def test_jvp_zero_tangent_where_output_does_not_depend_on_input():
    x, y, v = arr(3), arr(4), arr(3)

    def f(x, y):
        return {"dep": ad.sum(x * x), "indep": ad.sin(y), "const": ad.zeros((2,))}

    out, tan = ad.jvp(f, (x, y), (v, np.zeros(4)))
    close(tan["dep"], np.sum(2 * x * v))
    for k, shape in (("indep", (4,)), ("const", (2,))):
        assert np.shape(tan[k]) == shape
        np.testing.assert_array_equal(val(tan[k]), np.zeros(shape))
    close(out["indep"], np.sin(y))


def test_jvp_zero_tangent_float32_independent_output_dtype():
    x = arr(3, dtype=np.float32)
    y = arr(2, dtype=np.float32)
    _, tan = ad.jvp(lambda x, y: ad.exp(y), (x, y), (np.ones(3, np.float32),
                                                     np.zeros(2, np.float32)))
    assert tan.shape == (2,) and tan.dtype == np.float32
    np.testing.assert_array_equal(tan, 0)


def test_jvp_float32_stays_float32():
    x, v = arr(6, dtype=np.float32), arr(6, dtype=np.float32)

    def f(x):
        return ad.tanh(x) * ad.exp(x) + ad.sum(x * x)

    out, tan = ad.jvp(f, (x,), (v,))
    assert out.dtype == np.float32 and tan.dtype == np.float32
    x64, v64 = x.astype(np.float64), v.astype(np.float64)
    ref = ((1 - np.tanh(x64) ** 2) * np.exp(x64) + np.tanh(x64) * np.exp(x64)) * v64 \
        + np.sum(2 * x64 * v64)
    np.testing.assert_allclose(tan, ref, rtol=1e-5, atol=1e-5)
    # a float64 tangent for a float32 primal is taken in the primal's dtype
    out2, tan2 = ad.jvp(f, (x,), (v64,))
    assert out2.dtype == np.float32 and tan2.dtype == np.float32
    np.testing.assert_allclose(tan2, ref, rtol=1e-5, atol=1e-5)


def test_jvp_float32_tensor_stays_float32():
    x = ad.tensor(arr(3, 3, dtype=np.float32))
    out, tan = ad.jvp(lambda x: x @ x, (x,), (ad.tensor(np.eye(3, dtype=np.float32)),))
    assert out.dtype == np.float32 and tan.dtype == np.float32
    np.testing.assert_allclose(tan.data, 2 * x.data, rtol=1e-6)


def test_jvp_output_is_the_input():
    x, y, vx, vy = arr(3), arr(3), arr(3), arr(3)
    out, tan = ad.jvp(lambda x, y: (y, x), (x, y), (vx, vy))
    close(out[0], y)
    close(tan[0], vy)
    close(tan[1], vx)


def test_jvp_input_used_twice_and_broadcast():
    x, v = arr(3, 1), arr(3, 1)
    b = arr(1, 4)
    out, tan = ad.jvp(lambda x: x * x + x * b, (x,), (v,))
    assert np.shape(tan) == (3, 4)
    close(tan, 2 * x * v + v * b)


def test_jvp_many_primitives_against_central_differences():
    """One composite function over most primitive rows; the tangent must match central
    differences of the numpy reference in every direction of a few random ones."""
    X = arr(4, 3)
    W = arr(3, 5)
    mask = RNG.standard_normal((4, 5)) > 0

    def f(X, W):
        z = X @ W
        a = ad.tanh(z) + ad.sigmoid(z) * ad.softplus(z) - ad.log1p(ad.square(z))
        b = ad.log_softmax(a, axis=1) + ad.softmax(z, axis=0) * ad.logsumexp(z, axis=1,
                                                                                keepdims=True)
        c = ad.where(mask, b, ad.sqrt(ad.exp(z) + 1.0)) / (2.0 + ad.cos(z))
        d = ad.concatenate([c, ad.max(c, axis=1, keepdims=True) * ad.abs(z[:, :1])], axis=1)
        return ad.sum(d ** 2, axis=0) + ad.mean(ad.transpose(d) @ X[:, :1].reshape(4, 1))

    def f_np(X, W):
        z = X @ W
        sp = np.log1p(np.exp(z))
        a = np.tanh(z) + sigmoid(z) * sp - np.log1p(z ** 2)
        ls = a - (np.log(np.sum(np.exp(a - a.max(1, keepdims=True)), 1, keepdims=True))
                  + a.max(1, keepdims=True))
        sm = np.exp(z) / np.sum(np.exp(z), 0, keepdims=True)
        lse = np.log(np.sum(np.exp(z), 1, keepdims=True))
        b = ls + sm * lse
        c = np.where(mask, b, np.sqrt(np.exp(z) + 1.0)) / (2.0 + np.cos(z))
        d = np.concatenate([c, np.max(c, 1, keepdims=True) * np.abs(z[:, :1])], axis=1)
        return np.sum(d ** 2, 0) + np.mean(d.T @ X[:, :1])

    close(ad.jvp(f, (X, W), (X, W))[0], f_np(X, W), rtol=1e-12)
    for _ in range(3):
        vX, vW = arr(4, 3), arr(3, 5)
        _, tan = ad.jvp(f, (X, W), (vX, vW))
        h = 1e-5
        fd = (f_np(X + h * vX, W + h * vW) - f_np(X - h * vX, W - h * vW)) / (2 * h)
        np.testing.assert_allclose(tan, fd, rtol=1e-6, atol=1e-7)


def test_jvp_equals_vjp_transpose_identity():
    X = arr(6, 3)

    def f(w):
        return ad.log_softmax(ad.tanh(X @ w), axis=1)

    w, v = arr(3, 4), arr(3, 4)
    _, jv = ad.jvp(f, (w,), (v,))
    u = arr(6, 4)
    _, vjp_fn = ad.vjp(f, w)
    (jtu,) = vjp_fn(u)
    np.testing.assert_allclose(np.vdot(u, jv), np.vdot(jtu, v), rtol=1e-12)


def test_explicit_jvp_trace():
    x = ad.tensor(arr(3))
    v = arr(3)
    with ad.JvpTrace() as trace:
        trace.watch(x, v)
        y = ad.exp(x) * x
        z = ad.sum(y)
    close(trace.tangent(y), (np.exp(x.data) * x.data + np.exp(x.data)) * v)
    close(trace.tangent(z), np.sum((np.exp(x.data) * x.data + np.exp(x.data)) * v))
    assert trace.tangent(ad.tensor(arr(3))) is None
    with pytest.raises(ValueError):
        with ad.JvpTrace() as t2:
            t2.watch(x, arr(4))


def test_jvp_custom_primitive_without_jvp_rule_raises_type_error():
    @ad.custom_primitive
    def twice(x):
        return 2.0 * x
    twice.defvjp(lambda g, ans, x: g * 2.0)
    x = arr(3)
    close(ad.grad(lambda x: ad.sum(twice(x)))(x), 2 * np.ones(3))
    with pytest.raises(TypeError, match="twice"):
        ad.jvp(lambda x: twice(x), (x,), (arr(3),))


# ============================================================================ nesting
def test_grad_of_grad_of_grad_power():
    f = lambda x: x ** 4     # noqa: E731
    d3 = ad.grad(ad.grad(ad.grad(f)))
    for x in (0.5, -1.25, 2.0):
        close(d3(x), 24 * x)
    d4 = ad.grad(d3)
    close(d4(1.5), 24.0)


def test_grad_of_grad_of_grad_sin_array_input():
    def f(x):
        return ad.sum(ad.sin(x))

    x = arr(5)
    g1 = ad.grad(f)
    g2 = ad.grad(lambda x: ad.sum(g1(x)))       # diagonal of the Hessian, summed as a grad
    g3 = ad.grad(lambda x: ad.sum(g2(x)))
    close(g1(x), np.cos(x))
    close(g2(x), -np.sin(x))
    close(g3(x), -np.cos(x))


def test_jvp_of_grad_is_hessian_vector_product():
    A = arr(4, 4)
    A = A + A.T

    def f(x):
        return 0.5 * ad.sum(x * (A @ x)) + ad.sum(ad.sin(x))

    x, v = arr(4), arr(4)
    g, hv = ad.jvp(ad.grad(f), (x,), (v,))
    close(g, A @ x + np.cos(x))
    close(hv, A @ v - np.sin(x) * v)


def test_grad_of_jvp_is_hessian_vector_product():
    A = arr(4, 4)
    A = A + A.T

    def f(x):
        return 0.5 * ad.sum(x * (A @ x)) + ad.sum(ad.exp(x))

    x, v = arr(4), arr(4)
    hv = ad.grad(lambda x: ad.jvp(f, (x,), (v,))[1])(x)
    close(hv, A @ v + np.exp(x) * v)


def test_jvp_of_jvp_second_derivative():
    def f(x):
        return ad.sin(x) * x ** 3

    def f1(x):
        return ad.jvp(f, (x,), (np.ones_like(x),))[1]

    x = arr(6)
    _, d2 = ad.jvp(f1, (x,), (np.ones_like(x),))
    ref = -np.sin(x) * x ** 3 + 6 * np.cos(x) * x ** 2 + 6 * x * np.sin(x)
    close(d2, ref)
    # third derivative by three nested jvps
    f2 = lambda x: ad.jvp(f1, (x,), (np.ones_like(x),))[1]    # noqa: E731
    _, d3 = ad.jvp(f2, (x,), (np.ones_like(x),))
    ref3 = -np.cos(x) * x ** 3 - 9 * np.sin(x) * x ** 2 + 18 * x * np.cos(x) + 6 * np.sin(x)
    close(d3, ref3, rtol=1e-11)


def test_jvp_of_jvp_mixed_partial_with_different_directions():
    def f(x, y):
        return ad.sum(x ** 2 * ad.exp(y))

    x, y = arr(3), arr(3)
    u, w = arr(3), arr(3)
    # d/ds d/dt f(x + t u, y + s w) = sum(2 x u exp(y) w)
    inner = lambda x, y: ad.jvp(f, (x, y), (u, np.zeros(3)))[1]    # noqa: E731
    _, mixed = ad.jvp(inner, (x, y), (np.zeros(3), w))
    close(mixed, np.sum(2 * x * u * np.exp(y) * w))


def test_grad_of_grad_mixed_with_closure_tensors():
    y = 0.7

    def f(x):
        return ad.grad(lambda y: x * y * y)(y)        # 2 x y

    close(ad.grad(f)(1.3), 2 * y)


def test_explicit_tape_nested_in_tape():
    xv = arr(4)
    x = ad.tensor(xv)
    with ad.Tape() as outer:
        outer.watch(x)
        with ad.Tape() as inner:
            inner.watch(x)
            y = ad.sum(ad.sin(x) * x)
        (gx,) = inner.gradient(y, [x])          # recorded on the outer tape
        z = ad.sum(gx * gx)
    close(gx, np.cos(xv) * xv + np.sin(xv))
    (gz,) = outer.gradient(z, [x])
    g = np.cos(xv) * xv + np.sin(xv)
    dg = -np.sin(xv) * xv + 2 * np.cos(xv)
    close(gz, 2 * g * dg)


def test_explicit_tape_inside_jvp_trace_and_vice_versa():
    xv, v = arr(3), arr(3)
    x = ad.tensor(xv)
    # trace outer, tape inner: the gradient computation carries a tangent (H v)
    with ad.JvpTrace() as trace:
        trace.watch(x, v)
        with ad.Tape() as tape:
            tape.watch(x)
            y = ad.sum(ad.exp(x) * x)
        (g,) = tape.gradient(y, [x])
    close(g, np.exp(xv) * (xv + 1))
    close(trace.tangent(g), np.exp(xv) * (xv + 2) * v)
    # tape outer, trace inner: the tangent is recorded and differentiated
    x = ad.tensor(xv)
    with ad.Tape() as tape:
        tape.watch(x)
        with ad.JvpTrace() as trace:
            trace.watch(x, v)
            y = ad.sum(ad.exp(x) * x)
        dy = trace.tangent(y)                   # <grad, v>
    close(dy, np.sum(np.exp(xv) * (xv + 1) * v))
    (hv,) = tape.gradient(dy, [x])
    close(hv, np.exp(xv) * (xv + 2) * v)


# d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1 at any point. Confusing the two perturbations
# (letting the inner derivative see the outer one's x) gives 2.
X0, Y0 = 1.7, -0.4


def test_perturbation_confusion_grad_grad():
    f = lambda x: x * ad.grad(lambda y: x + y)(Y0)   # noqa: E731
    close(ad.grad(f)(X0), 1.0)


def test_perturbation_confusion_jvp_jvp():
    def f(x):
        return x * ad.jvp(lambda y: x + y, (Y0,), (1.0,))[1]
    _, d = ad.jvp(f, (X0,), (1.0,))
    close(d, 1.0)


def test_perturbation_confusion_jvp_outer_grad_inner():
    def f(x):
        return x * ad.grad(lambda y: x + y)(Y0)
    _, d = ad.jvp(f, (X0,), (1.0,))
    close(d, 1.0)


def test_perturbation_confusion_grad_outer_jvp_inner():
    def f(x):
        return x * ad.jvp(lambda y: x + y, (Y0,), (1.0,))[1]
    close(ad.grad(f)(X0), 1.0)


def test_perturbation_confusion_array_version_all_combinations():
    """d/dx sum(x * d/dy sum(x * y)) = d/dx sum(x * x) = 2 x: the inner derivative does
    depend on x here, and must be differentiated by the outer transform exactly once."""
    x0, y0 = arr(3), arr(3)
    ones = np.ones(3)

    def inner_grad(x):
        return ad.grad(lambda y: ad.sum(x * y))(y0)

    def inner_jvp(x, e):
        return ad.jvp(lambda y: ad.sum(x * y), (y0,), (e,))[1]

    # grad outer
    close(ad.grad(lambda x: ad.sum(x * inner_grad(x)))(x0), 2 * x0)
    # jvp outer, grad inner: directional derivative along ones of sum(x*x) = 2 sum(x)
    _, d = ad.jvp(lambda x: ad.sum(x * inner_grad(x)), (x0,), (ones,))
    close(d, 2 * np.sum(x0))
    # jvp outer, jvp inner: d/dx [x_i * x_i] for each basis direction of the inner jvp
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1.0
        _, d = ad.jvp(lambda x: x[i] * inner_jvp(x, e), (x0,), (e,))
        close(d, 2 * x0[i])
        g = ad.grad(lambda x: x[i] * inner_jvp(x, e))(x0)
        close(g, 2 * x0[i] * e)


def test_grad_of_hessian_diagonal_via_jvp_of_grad():
    """Third order mixing both modes: grad of <v, H v> for f = sum(x**4) is 24 x^2 v^2 / 2
    ... i.e. d/dx sum(12 x^2 v^2) = 24 x v^2."""
    def f(x):
        return ad.sum(x ** 4)
    v = arr(3)
    x = arr(3)

    def vhv(x):
        return ad.sum(ad.jvp(ad.grad(f), (x,), (v,))[1] * v)
    close(ad.grad(vhv)(x), 24 * x * v ** 2)


# ============================================================================ rules at edges
def test_jvp_conventions_at_kinks_and_ties():
    # relu'(0) = abs'(0) = 0
    _, t = ad.jvp(ad.relu, (np.array([0.0, 1.0, -1.0]),), (np.ones(3),))
    np.testing.assert_array_equal(t, [0.0, 1.0, 0.0])
    _, t = ad.jvp(ad.abs, (np.array([0.0, 1.0, -1.0]),), (np.ones(3),))
    np.testing.assert_array_equal(t, [0.0, 1.0, -1.0])
    # ties in max split the tangent evenly (the mean over the tied entries)
    _, t = ad.jvp(ad.max, (np.array([1.0, 1.0, 0.0]),), (np.array([1.0, 3.0, 5.0]),))
    close(t, 2.0)
    _, t = ad.jvp(lambda x: ad.min(x, axis=0), (np.array([[0.0, 2.0], [0.0, 1.0]]),),
                  (np.array([[1.0, 7.0], [3.0, 5.0]]),))
    close(t, [2.0, 5.0])
    _, t = ad.jvp(ad.maximum, (np.array([1.0, 2.0]), np.array([1.0, 1.0])),
                  (np.array([2.0, 5.0]), np.array([4.0, 7.0])))
    close(t, [3.0, 5.0])
    _, t = ad.jvp(lambda x: ad.clip(x, -1.0, 1.0), (np.array([-2.0, 0.5, 3.0]),), (np.ones(3),))
    np.testing.assert_array_equal(t, [0.0, 1.0, 0.0])


def test_jvp_shape_and_indexing_rows():
    x, v = np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0])
    _, t = ad.jvp(lambda x: ad.take(x, np.array([2, 0, 2])), (x,), (v,))
    close(t, [3.0, 1.0, 3.0])
    _, t = ad.jvp(lambda x: ad.stack([x, x * 2.0]), (x,), (v,))
    close(t, np.stack([v, 2 * v]))
    _, t = ad.jvp(lambda x: ad.concatenate([x, np.ones(2)]), (x,), (v,))
    close(t, [1.0, 2.0, 3.0, 0.0, 0.0])
    M, V = arr(2, 3), arr(2, 3)
    _, t = ad.jvp(lambda m: ad.swapaxes(ad.expand_dims(m, 0), 1, 2)[0, :, ::2], (M,), (V,))
    close(t, V.T[:, ::2])
    _, t = ad.jvp(lambda m: ad.squeeze(ad.broadcast_to(m[None], (1, 2, 3)), 0).sum(axis=1),
                  (M,), (V,))
    close(t, V.sum(1))


def test_jvp_power_in_both_arguments_and_var():
    _, t = ad.jvp(lambda x, y: x ** y, (np.array([2.0]), np.array([3.0])),
                  (np.array([1.0]), np.array([1.0])))
    close(t, [3 * 4 + 8 * np.log(2)])
    x, v = np.array([1.0, 2.0, 4.0]), arr(3)
    _, t = ad.jvp(ad.var, (x,), (v,))
    close(t, np.sum(2 * (x - x.mean()) * v) / 3)


def test_jvp_through_numpy_dispatch_on_tensors():
    x = ad.tensor(np.array([0.0, 1.0]))
    out, t = ad.jvp(lambda x: np.tanh(x) + np.sum(x), (x,), (np.ones(2),))
    close(t, 1 - np.tanh([0.0, 1.0]) ** 2 + 2.0)


def test_jvp_of_constant_outputs():
    out, t = ad.jvp(lambda x: 3.0, (np.array([1.0, 2.0]),), (np.ones(2),))
    close(out, 3.0)
    close(t, 0.0)
    out, t = ad.jvp(lambda x: (np.ones(2), x), (np.array([1.0, 2.0]),), (np.ones(2),))
    np.testing.assert_array_equal(t[0], [0.0, 0.0])
    np.testing.assert_array_equal(t[1], [1.0, 1.0])


def test_jvp_is_not_disabled_by_no_grad():
    """no_grad stops recording for reverse mode; a forward-mode tangent asked for
    explicitly inside it must still be right (as torch.autograd.forward_ad under no_grad),
    never silently zero."""
    x, v = arr(3), arr(3)
    with ad.no_grad():
        _, t = ad.jvp(lambda x: x * x, (x,), (v,))
    close(t, 2 * x * v)


def test_backward_through_a_jvp_tangent():
    """Tensors with requires_grad=True: the tangent is itself differentiable by the implicit
    tape (grad of jvp in PyTorch style)."""
    xv = np.array([1.0, 2.0])
    x = ad.tensor(xv, requires_grad=True)
    out, t = ad.jvp(lambda x: ad.sum(x * x * x), (x,), (np.ones(2),))
    close(out, np.sum(xv ** 3))
    close(t, np.sum(3 * xv ** 2))
    t.backward()
    close(x.grad, 6 * xv)


def test_jvp_repeated_calls_are_independent():
    x = arr(4)
    f = lambda x: ad.exp(x) * ad.sin(x)     # noqa: E731
    a = [ad.jvp(f, (x,), (np.eye(4)[i],))[1] for i in range(4)]
    b = [ad.jvp(f, (x,), (np.eye(4)[i],))[1] for i in range(4)]
    for i in range(4):
        np.testing.assert_array_equal(a[i], b[i])
        ref = np.zeros(4)
        ref[i] = np.exp(x[i]) * (np.sin(x[i]) + np.cos(x[i]))
        close(a[i], ref)


# ============================================================================ linearize
def test_linearize_matches_jvp_for_pytrees_without_rerunning_fun():
    W = arr(6, 4)
    calls = [0]

    def f(x, p):
        calls[0] += 1
        return {"h": ad.tanh(W @ x) * p["s"], "n": ad.sum(x ** 3) + p["b"]}
    x, p = arr(4), {"s": arr(), "b": arr(2)}
    out, f_jvp = ad.linearize(f, x, p)
    close(out["h"], np.tanh(W @ x) * p["s"])
    for _ in range(3):
        v = (arr(4), {"s": arr(), "b": arr(2)})
        got, want = f_jvp(*v), ad.jvp(f, (x, p), v)[1]
        assert set(got) == {"h", "n"} and isinstance(got["h"], np.ndarray)
        close(got["h"], want["h"])
        close(got["n"], want["n"])
    assert calls[0] == 1 + 3          # once for linearize, once per reference ad.jvp


def test_linearize_is_linear_and_exact_on_a_linear_map():
    A = arr(5, 3)
    _, f_jvp = ad.linearize(lambda x: A @ x + 1.0, arr(3))
    v1, v2 = arr(3), arr(3)
    close(f_jvp(v1), A @ v1)
    close(f_jvp(2.0 * v1 - v2), 2.0 * f_jvp(v1) - f_jvp(v2))


def test_linearize_unused_input_and_dtype():
    x32 = arr(3, dtype=np.float32)
    _, f_jvp = ad.linearize(lambda x, y: ad.sin(x), x32, arr(2, dtype=np.float32))
    t = f_jvp(arr(3, dtype=np.float32), arr(2, dtype=np.float32))
    assert t.dtype == np.float32
    _, g_jvp = ad.linearize(lambda x, y: ad.sum(y) * 0.0 + 1.0, arr(3), arr(2))
    close(g_jvp(arr(3), np.ones(2)), 0.0)


def test_linearize_rejects_wrong_tangent_structure_and_shape():
    _, f_jvp = ad.linearize(lambda x, y: x * y, arr(3), arr(3))
    with pytest.raises(ValueError, match="structure"):
        f_jvp(arr(3))
    with pytest.raises(ValueError, match="shape"):
        f_jvp(arr(3), arr(4))


def test_linearize_under_an_enclosing_grad_stays_differentiable():
    x, v, w = arr(5), arr(5), arr(5)
    got = ad.grad(lambda z: ad.vdot(ad.linearize(ad.tanh, z)[1](v), w))(x)
    # d/dx sum(w * v * (1 - tanh(x)^2)) = w * v * (-2 tanh(x) (1 - tanh(x)^2))
    t = np.tanh(x)
    close(got, w * v * (-2.0 * t * (1.0 - t * t)))
    _, f_jvp = ad.linearize(ad.sin, x)
    close(ad.grad(lambda u: ad.sum(f_jvp(u) * w))(v), np.cos(x) * w)
