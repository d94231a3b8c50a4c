"""Functional transforms: ad.grad / value_and_grad / vjp, argnums, has_aux, pytrees, the
numpy-in-numpy-out contract, higher order, and two small models against hand formulas and
central differences."""
import numpy as np

import pyad as ad
from pyad import Tensor

RNG = np.random.default_rng(7)


def arr(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def close(a, b, rtol=1e-10, atol=1e-12):
    a = a.data if isinstance(a, Tensor) else a
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def f2(x, y):
    return ad.sum(x * y ** 2)


# ------------------------------------------------------------------------- argnums
def test_grad_argnums_0_1_and_tuple():
    x, y = arr(3), arr(3)
    close(ad.grad(f2)(x, y), y ** 2)
    close(ad.grad(f2, argnums=1)(x, y), 2 * x * y)
    close(ad.grad(f2, argnums=-1)(x, y), 2 * x * y)
    g = ad.grad(f2, argnums=(0, 1))(x, y)
    assert isinstance(g, tuple) and len(g) == 2
    close(g[0], y ** 2)
    close(g[1], 2 * x * y)
    g1 = ad.grad(f2, argnums=(1,))(x, y)
    assert isinstance(g1, tuple) and len(g1) == 1
    close(g1[0], 2 * x * y)


def test_non_differentiated_argument_may_be_anything():
    def f(x, scale, name):
        assert name == "label"
        return ad.sum(x * x) * scale
    x = arr(4)
    close(ad.grad(f)(x, 3, "label"), 6 * x)


def test_kwargs_are_passed_through():
    def f(x, *, power):
        return ad.sum(x ** power)
    x = np.array([1.0, 2.0])
    close(ad.grad(f)(x, power=3), 3 * x ** 2)


def test_value_and_grad():
    x, y = arr(3), arr(3)
    v, g = ad.value_and_grad(f2)(x, y)
    close(v, np.sum(x * y ** 2))
    close(g, y ** 2)
    v, (gx, gy) = ad.value_and_grad(f2, argnums=(0, 1))(x, y)
    close(v, np.sum(x * y ** 2))
    close(gx, y ** 2)
    close(gy, 2 * x * y)


def test_has_aux():
    def f(x):
        loss = ad.sum(ad.sin(x))
        return loss, {"cos": ad.cos(x), "note": "hello"}
    x = arr(3)
    g, aux = ad.grad(f, has_aux=True)(x)
    close(g, np.cos(x))
    assert aux["note"] == "hello"
    close(np.asarray(aux["cos"]), np.cos(x))
    (v, aux2), g2 = ad.value_and_grad(f, has_aux=True)(x)
    close(v, np.sum(np.sin(x)))
    close(g2, np.cos(x))
    assert aux2["note"] == "hello"


def test_grad_of_size_one_output():
    x = arr(3)
    close(ad.grad(lambda x: ad.sum(x * x, axis=0, keepdims=True))(x), 2 * x)


def test_independent_argument_gives_zeros():
    x, y = arr(3), arr(2, 2)
    gx, gy = ad.grad(lambda x, y: ad.sum(x * x), argnums=(0, 1))(x, y)
    close(gx, 2 * x)
    assert isinstance(gy, np.ndarray) and gy.shape == (2, 2)
    close(gy, np.zeros((2, 2)))


# ------------------------------------------------------------------------- vjp
def test_vjp_pytree_output_and_repeated_calls():
    x0 = arr(3)

    def f(x):
        return {"double": x * 2.0, "pair": (ad.sin(x), ad.sum(x * x))}

    out, vjp_fn = ad.vjp(f, x0)
    assert set(out) == {"double", "pair"}
    close(out["double"], 2 * x0)
    close(out["pair"][0], np.sin(x0))
    close(out["pair"][1], np.sum(x0 * x0))
    for _ in range(2):              # each call is independent (nothing accumulates)
        ct1 = {"double": np.ones(3), "pair": (np.zeros(3), np.array(0.0))}
        ct2 = {"double": np.zeros(3), "pair": (np.array([1.0, 2.0, 3.0]), np.array(2.0))}
        g1 = vjp_fn(ct1)
        g2 = vjp_fn(ct2)
        assert isinstance(g1, tuple) and len(g1) == 1
        close(g1[0], np.full(3, 2.0))
        close(g2[0], np.array([1.0, 2.0, 3.0]) * np.cos(x0) + 2.0 * 2 * x0)


def test_vjp_two_primals_and_output_that_is_an_input():
    a0, b0 = arr(2, 3), arr(3, 4)
    out, vjp_fn = ad.vjp(lambda a, b: (ad.matmul(a, b), a), a0, b0)
    close(out[0], a0 @ b0)
    ct = (arr(2, 4), arr(2, 3))
    ga, gb = vjp_fn(ct)
    close(ga, ct[0] @ b0.T + ct[1])
    close(gb, a0.T @ ct[0])


def test_vjp_intermediate_output_chain():
    x0 = arr(3)

    def f(x):
        y = x * 2.0
        return y, y * 3.0
    _, vjp_fn = ad.vjp(f, x0)
    a, b = arr(3), arr(3)
    g, = vjp_fn((a, b))
    close(g, 2 * a + 6 * b)


def test_vjp_equals_grad_for_scalar():
    x0 = arr(4)
    f = lambda x: ad.sum(ad.tanh(x) ** 2)
    _, vjp_fn = ad.vjp(f, x0)
    close(vjp_fn(np.array(1.0))[0], ad.grad(f)(x0))
    close(vjp_fn(np.array(2.5))[0], 2.5 * ad.grad(f)(x0))


# ------------------------------------------------------------------------- pytrees and types
def test_pytree_inputs_nested():
    params = {"w": [arr(3), (arr(3), arr(2))], "b": arr(2)}

    def f(p):
        w0, (w1, w2) = p["w"]
        return ad.sum(w0 * w1) + ad.sum(ad.exp(w2) * p["b"])

    g = ad.grad(f)(params)
    assert isinstance(g, dict) and set(g) == {"w", "b"}
    assert isinstance(g["w"], list) and isinstance(g["w"][1], tuple)
    for leaf in (g["w"][0], g["w"][1][0], g["w"][1][1], g["b"]):
        assert type(leaf) is np.ndarray
    w0, (w1, w2) = params["w"]
    close(g["w"][0], w1)
    close(g["w"][1][0], w0)
    close(g["w"][1][1], np.exp(w2) * params["b"])
    close(g["b"], np.exp(w2))


def test_python_float_inputs():
    g = ad.grad(lambda x: x ** 2)(3.0)
    assert not isinstance(g, Tensor)
    assert np.ndim(g) == 0
    assert isinstance(g, (float, np.floating))
    assert float(g) == 6.0
    gx, gy = ad.grad(lambda x, y: x * y + ad.sin(x), argnums=(0, 1))(2.0, 5.0)
    close(gx, 5.0 + np.cos(2.0))
    close(gy, 2.0)
    v, g = ad.value_and_grad(lambda x: x * x * x)(2.0)
    assert not isinstance(v, Tensor) and float(v) == 8.0
    assert float(g) == 12.0


def test_numpy_in_numpy_out():
    x = arr(3)
    g = ad.grad(lambda x: ad.sum(ad.exp(x)))(x)
    assert type(g) is np.ndarray
    assert g.dtype == np.float64 and g.shape == (3,)
    close(g, np.exp(x))
    v, g = ad.value_and_grad(lambda x: ad.sum(ad.exp(x)))(x)
    assert not isinstance(v, Tensor) and not isinstance(g, Tensor)
    close(v, np.sum(np.exp(x)))
    out, vjp_fn = ad.vjp(lambda x: ad.exp(x), x)
    assert type(out) is np.ndarray
    assert type(vjp_fn(np.ones(3))[0]) is np.ndarray


def test_tensor_in_tensor_out():
    x = ad.tensor(arr(3))
    g = ad.grad(lambda x: ad.sum(ad.exp(x)))(x)
    assert isinstance(g, Tensor)
    close(g, np.exp(x.data))
    v, g = ad.value_and_grad(lambda x: ad.sum(ad.exp(x)))(x)
    assert isinstance(v, Tensor) and isinstance(g, Tensor)
    out, vjp_fn = ad.vjp(lambda x: ad.exp(x), x)
    assert isinstance(out, Tensor)
    assert isinstance(vjp_fn(np.ones(3))[0], Tensor)


def test_float32_in_float32_out():
    x = arr(4, dtype=np.float32)
    g = ad.grad(lambda x: ad.sum(ad.tanh(x) * 2.0))(x)
    assert g.dtype == np.float32
    close(g, 2 * (1 - np.tanh(x.astype(np.float64)) ** 2), rtol=1e-5, atol=1e-6)


def test_input_arrays_not_modified():
    x = arr(3)
    before = x.copy()
    ad.grad(lambda x: ad.sum(x * x))(x)
    ad.vjp(lambda x: x * 2.0, x)[1](np.ones(3))
    np.testing.assert_array_equal(x, before)


# ------------------------------------------------------------------------- higher order
def test_grad_of_grad_of_grad():
    f = lambda x: x ** 4
    g3 = ad.grad(ad.grad(ad.grad(f)))
    for x in (0.5, 2.0, -1.5):
        np.testing.assert_allclose(g3(x), 24 * x, rtol=1e-12)


def test_grad_of_grad_elementwise_functions():
    x = 0.7
    d2 = lambda f: ad.grad(ad.grad(f))(x)
    np.testing.assert_allclose(d2(ad.tanh), -2 * np.tanh(x) * (1 - np.tanh(x) ** 2), rtol=1e-12)
    np.testing.assert_allclose(d2(ad.sin), -np.sin(x), rtol=1e-12)
    np.testing.assert_allclose(d2(ad.exp), np.exp(x), rtol=1e-12)
    np.testing.assert_allclose(d2(ad.log), -1 / x ** 2, rtol=1e-12)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(d2(ad.sigmoid), s * (1 - s) * (1 - 2 * s), rtol=1e-12)


def test_nested_grad_closing_over_outer_variable():
    # d/dx [ d/dy (x * y^2) at y=2 ] = d/dx [4x] = 4
    def inner(x):
        return ad.grad(lambda y: x * y * y)(np.array(2.0))
    np.testing.assert_allclose(ad.grad(inner)(3.0), 4.0)


def test_hessian_vector_product_by_nested_grad():
    # f(x) = sum(x^3) + (sum x)^2  ->  H = diag(6x) + 2 * ones  ->  Hv = 6 x v + 2 sum(v)
    x0, v = arr(4), arr(4)
    f = lambda x: ad.sum(x ** 3) + ad.sum(x) ** 2
    hv = ad.grad(lambda x: ad.sum(ad.grad(f)(x) * v))(x0)
    assert type(hv) is np.ndarray
    close(hv, 6 * x0 * v + 2 * v.sum(), rtol=1e-12)


def test_grad_inside_tape_is_recorded_for_outer_tape():
    x0 = arr(3)
    x = ad.tensor(x0)
    with ad.Tape() as tape:
        tape.watch(x)
        g = ad.grad(lambda y: ad.sum(ad.sin(y)))(x)       # cos(x), still on the outer tape
        s = ad.sum(g)
    close(g, np.cos(x0))
    d, = tape.gradient(s, [x])
    close(d, -np.sin(x0))


# ------------------------------------------------------------------------- models
def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_logistic_regression_gradient_matches_hand_formula():
    n, d = 40, 5
    X = arr(n, d)
    t = (RNG.random(n) > 0.5).astype(np.float64)
    w, b = arr(d) * 0.3, np.array(0.1)

    def loss(w, b):
        p = ad.sigmoid(ad.matmul(X, w) + b)
        return -ad.mean(t * ad.log(p) + (1.0 - t) * ad.log(1.0 - p))

    v, (gw, gb) = ad.value_and_grad(loss, argnums=(0, 1))(w, b)
    p = _sigmoid(X @ w + b)
    close(v, -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))
    close(gw, X.T @ (p - t) / n, rtol=1e-9)
    close(gb, np.mean(p - t), rtol=1e-9)
    assert np.shape(gb) == ()


def _mlp_loss_np(p, X, Y):
    h = np.tanh(X @ p["W1"] + p["b1"])
    z = h @ p["W2"] + p["b2"]
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -np.mean(np.sum(Y * logp, axis=1))


def _mlp_loss(p, X, Y):
    h = ad.tanh(ad.matmul(X, p["W1"]) + p["b1"])          # bias broadcasts over rows
    z = h @ p["W2"] + p["b2"]
    return -ad.mean(ad.sum(Y * ad.log_softmax(z, axis=1), axis=1))


def test_mlp_gradient_matches_central_differences():
    n, d, hdim, k = 16, 4, 8, 3
    X = arr(n, d)
    Y = np.eye(k)[RNG.integers(0, k, n)]
    params = {"W1": arr(d, hdim) * 0.5, "b1": arr(hdim) * 0.1,
              "W2": arr(hdim, k) * 0.5, "b2": arr(k) * 0.1}
    v, g = ad.value_and_grad(_mlp_loss)(params, X, Y)
    close(v, _mlp_loss_np(params, X, Y), rtol=1e-12)
    eps = 1e-6
    for name, p in params.items():
        assert g[name].shape == p.shape
        num = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            plus = {k2: v2.copy() for k2, v2 in params.items()}
            minus = {k2: v2.copy() for k2, v2 in params.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            num[idx] = (_mlp_loss_np(plus, X, Y) - _mlp_loss_np(minus, X, Y)) / (2 * eps)
        close(g[name], num, rtol=1e-6, atol=1e-8)


def test_mlp_with_tensors_and_backward_agrees_with_grad():
    n, d, hdim, k = 8, 3, 5, 4
    X = arr(n, d)
    Y = np.eye(k)[RNG.integers(0, k, n)]
    params = {"W1": arr(d, hdim), "b1": arr(hdim), "W2": arr(hdim, k), "b2": arr(k)}
    g = ad.grad(_mlp_loss)(params, X, Y)
    tp = {name: ad.tensor(v, requires_grad=True) for name, v in params.items()}
    _mlp_loss(tp, X, Y).backward()
    for name in params:
        close(tp[name].grad, g[name], rtol=1e-12)
