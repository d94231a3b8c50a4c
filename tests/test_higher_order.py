"""Second-order and dense derivatives: ad.hvp (three modes), ad.hvp_fn, ad.jacobian,
ad.hessian, ad.gnvp, custom primitives with VJP and JVP rules, ad.check_grads catching wrong
rules, and memory hygiene of the HVP paths (no reference cycles, no growth).

References are dense numpy matrices: analytic Hessians, central differences of analytic
gradients, and (when installed) torch.func."""
import gc
import importlib
import os
import time
import weakref

import numpy as np
import pytest

import pyad as ad
from pyad import Tensor

RNG = np.random.default_rng(11)
MODES = ("fwd-rev", "rev-rev", "rev-fwd")


def arr(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def val(a):
    return np.asarray(a.data if isinstance(a, Tensor) else a)


def close(a, b, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(val(a), val(b), rtol=rtol, atol=atol)


def rel_err(a, b):
    a, b = val(a), val(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def fd_jacobian(g, x, h=1e-5):
    """Central-difference Jacobian of a numpy function g at x: shape g(x).shape + x.shape."""
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        e = e.reshape(x.shape)
        cols.append((np.asarray(g(x + e)) - np.asarray(g(x - e))) / (2 * h))
    out_shape = np.shape(g(x))
    return np.stack(cols, axis=-1).reshape(out_shape + x.shape)


# ============================================================================ problems
# small tanh MLP with a softmax cross-entropy loss; parameters flattened into one vector
N, D, H, C = 6, 3, 4, 3
XDATA = RNG.standard_normal((N, D))
LABELS = RNG.integers(0, C, N)
YONEHOT = np.eye(C)[LABELS]
SHAPES = {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}
KEYS = sorted(SHAPES)                       # pytree order of a dict
SIZES = [int(np.prod(SHAPES[k])) for k in KEYS]
P = sum(SIZES)


def unflatten(theta):
    out, i = {}, 0
    for k, n in zip(KEYS, SIZES):
        out[k] = theta[i:i + n].reshape(SHAPES[k])
        i += n
    return out


def flatten_np(d):
    return np.concatenate([np.asarray(val(d[k])).ravel() for k in KEYS])


def init_params():
    return {k: 0.7 * RNG.standard_normal(s) for k, s in SHAPES.items()}


def mlp_logits(p):
    return ad.tanh(XDATA @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]


def xent(z):
    return -ad.sum(YONEHOT * ad.log_softmax(z, axis=1)) / N


def mlp_loss(W1, b1, W2, b2):
    return xent(mlp_logits({"W1": W1, "b1": b1, "W2": W2, "b2": b2}))


def mlp_loss_flat(theta):
    return xent(mlp_logits(unflatten(theta)))


def mlp_grad_np(theta):
    """Hand-written backprop of mlp_loss_flat."""
    p = unflatten(theta)
    a = XDATA @ p["W1"] + p["b1"]
    h = np.tanh(a)
    z = h @ p["W2"] + p["b2"]
    s = np.exp(z - z.max(1, keepdims=True))
    s /= s.sum(1, keepdims=True)
    dz = (s - YONEHOT) / N
    da = (dz @ p["W2"].T) * (1 - h ** 2)
    g = {"W2": h.T @ dz, "b2": dz.sum(0), "W1": XDATA.T @ da, "b1": da.sum(0)}
    return flatten_np(g)


def rosenbrock(x):
    return ad.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_hessian_np(x):
    n = x.size
    Hm = np.zeros((n, n))
    for i in range(n - 1):
        a, b = x[i], x[i + 1]
        Hm[i, i] += 1200 * a * a - 400 * b + 2
        Hm[i, i + 1] += -400 * a
        Hm[i + 1, i] += -400 * a
        Hm[i + 1, i + 1] += 200
    return Hm


# ============================================================================ hvp
def test_mlp_gradient_reference_is_right():
    """The hand-written gradient used as a reference below agrees with pyad's grad."""
    theta = flatten_np(init_params())
    close(ad.grad(mlp_loss_flat)(theta), mlp_grad_np(theta), rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_hvp_mlp_matches_finite_difference_hessian(mode):
    theta = flatten_np(init_params())
    Hfd = fd_jacobian(mlp_grad_np, theta)
    for _ in range(2):
        v = arr(P)
        hv = ad.hvp(mlp_loss_flat, (theta,), (v,), mode=mode)
        assert isinstance(hv, np.ndarray) and hv.shape == (P,)
        np.testing.assert_allclose(hv, Hfd @ v, rtol=1e-6, atol=1e-8)


def test_hvp_modes_agree_mlp_float64():
    theta = flatten_np(init_params())
    Hd = ad.hessian(mlp_loss_flat)(theta)
    for _ in range(3):
        v = arr(P)
        res = [ad.hvp(mlp_loss_flat, (theta,), (v,), mode=m) for m in MODES]
        for r in res[1:]:
            assert rel_err(r, res[0]) < 1e-10
        assert rel_err(res[0], Hd @ v) < 1e-10


def test_hvp_rosenbrock_all_modes_equal_analytic_hessian():
    x = np.array([-1.2, 1.0, 0.3, 0.8, -0.5])
    Ha = rosenbrock_hessian_np(x)
    close(ad.hessian(rosenbrock)(x), Ha, rtol=1e-12)
    for _ in range(3):
        v = arr(5)
        res = [ad.hvp(rosenbrock, (x,), (v,), mode=m) for m in MODES]
        for r in res:
            assert rel_err(r, Ha @ v) < 1e-10
        for r in res[1:]:
            assert rel_err(r, res[0]) < 1e-10


@pytest.mark.parametrize("mode", MODES)
def test_hvp_multiple_primals_returns_tuple(mode):
    p = init_params()
    primals = tuple(p[k] for k in ("W1", "b1", "W2", "b2"))
    tangents = tuple(arr(*x.shape) for x in primals)
    res = ad.hvp(mlp_loss, primals, tangents, mode=mode)
    assert isinstance(res, tuple) and len(res) == 4
    for r, x in zip(res, primals):
        assert np.shape(r) == x.shape
    # reference: the dense Hessian of the flattened loss, in KEYS order (W1, W2, b1, b2)
    order = ("W1", "b1", "W2", "b2")
    theta = flatten_np(p)
    vflat = flatten_np(dict(zip(order, tangents)))
    ref = unflatten(ad.hessian(mlp_loss_flat)(theta) @ vflat)
    for r, k in zip(res, order):
        assert rel_err(r, ref[k]) < 1e-10, k


def test_hvp_pytree_primal():
    p = init_params()
    v = {k: arr(*s) for k, s in SHAPES.items()}
    loss = lambda p: xent(mlp_logits(p))       # noqa: E731
    res = [ad.hvp(loss, (p,), (v,), mode=m) for m in MODES]
    ref = unflatten(ad.hessian(mlp_loss_flat)(flatten_np(p)) @ flatten_np(v))
    for r in res:
        assert isinstance(r, dict) and set(r) == set(SHAPES)
        for k in SHAPES:
            assert rel_err(r[k], ref[k]) < 1e-10


# fwd-rev leaves each weight's cotangent uncomputed and keeps only its tangent (deferred
# primals); these cases would catch a placeholder leaking into a result.
def _shared_weight_loss(W):
    X = np.linspace(-1.0, 1.0, 15).reshape(5, 3)
    h = ad.tanh(X @ W)                  # W (3, 3) used three times, once transposed
    return ad.sum(ad.tanh(h @ W) @ W.T ** 2)


def test_hvp_shared_weight_all_modes_match_dense_hessian():
    W = arr(3, 3)
    H = ad.hessian(_shared_weight_loss)(W).reshape(9, 9)
    for _ in range(2):
        v = arr(3, 3)
        for m in MODES:
            assert rel_err(ad.hvp(_shared_weight_loss, (W,), (v,), mode=m),
                           (H @ v.ravel()).reshape(3, 3)) < 1e-10, m


def test_hvp_deferred_product_read_later_in_its_rule_is_materialized():
    # a rule marked deferrable whose product feeds a later op in the same rule: that op
    # must see the product's real value
    def rule_b(g, ans, a, b):
        p = ad.matmul(a.T, g)
        return p * 2.0 + ad.sin(p) - ad.sin(p)
    rule_b.deferrable = True
    prim = ad.Primitive("double_matmul", lambda a, b: 2.0 * (a @ b),
                        [lambda g, ans, a, b: 2.0 * ad.matmul(g, b.T), rule_b],
                        jvp=lambda dots, ans, a, b: 2.0 * (
                            (0.0 if dots[0] is None else ad.matmul(dots[0], b))
                            + (0.0 if dots[1] is None else ad.matmul(a, dots[1]))))
    X = arr(6, 4)

    def f(W):
        return ad.sum(ad.tanh(ad.bind(prim, X, W)) ** 2)
    W, v = arr(4, 3), arr(4, 3)
    want = ad.hvp(f, (W,), (v,), mode="rev-rev")
    assert rel_err(ad.hvp(f, (W,), (v,), mode="fwd-rev"), want) < 1e-10


def test_grad_of_fwd_rev_hvp_matches_rev_rev():
    # third order through the deferred products: d/dW <v, H(W) v>
    X, v = arr(7, 4), arr(4, 3)

    def f(W):
        return ad.sum(ad.tanh(X @ W) ** 3)

    def vhv(W, mode):
        return ad.vdot(ad.hvp(f, (W,), (v,), mode=mode), v)
    W = arr(4, 3)
    want = ad.grad(lambda w: vhv(w, "rev-rev"))(W)
    assert rel_err(ad.grad(lambda w: vhv(w, "fwd-rev"))(W), want) < 1e-10


def test_hvp_batched_matmul_weights():
    X = arr(2, 5, 4)

    def f(W):
        return ad.sum(ad.tanh(ad.matmul(X, W)) ** 2)
    W, v = arr(2, 4, 3), arr(2, 4, 3)
    H = ad.hessian(f)(W).reshape(24, 24)
    for m in MODES:
        assert rel_err(ad.hvp(f, (W,), (v,), mode=m), (H @ v.ravel()).reshape(W.shape)) < 1e-10


def test_hvp_unknown_mode_raises():
    with pytest.raises(ValueError, match="mode"):
        ad.hvp(rosenbrock, (np.ones(3),), (np.ones(3),), mode="fwd-fwd")
    with pytest.raises(ValueError):
        ad.hvp(rosenbrock, (np.ones(3),), (np.ones(3),), mode="")


def test_hvp_fn_reuses_one_linearization():
    theta = flatten_np(init_params())
    calls = [0]

    def counted(t):
        calls[0] += 1
        return mlp_loss_flat(t)

    apply = ad.hvp_fn(counted, theta)
    assert calls[0] == 1
    Hd = ad.hessian(mlp_loss_flat)(theta)
    for _ in range(5):
        v = arr(P)
        hv = apply(v)
        assert rel_err(hv, Hd @ v) < 1e-10
        assert rel_err(hv, ad.hvp(mlp_loss_flat, (theta,), (v,))) < 1e-10
    assert calls[0] == 1          # the function was recorded once, not re-run per vector
    # linear in v
    v1, v2 = arr(P), arr(P)
    close(apply(2.0 * v1 - v2), 2.0 * val(apply(v1)) - val(apply(v2)), rtol=1e-9)


def _rosen_like(x):
    return ad.sum(ad.tanh(x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _counted(f):
    """f, and a one-entry list that counts its calls."""
    calls = [0]

    def counted(*args):
        calls[0] += 1
        return f(*args)
    return counted, calls


def test_hvp_fn_replays_without_running_fun_and_is_exact():
    x = arr(6)
    H = ad.hessian(_rosen_like)(x)
    counted, calls = _counted(_rosen_like)
    apply = ad.hvp_fn(counted, x)
    n = calls[0]
    for _ in range(4):
        v = arr(6)
        assert rel_err(apply(v), H @ v) < 1e-12
        assert rel_err(apply(v), ad.hvp(_rosen_like, (x,), (v,))) < 1e-13
    assert calls[0] == n                     # replays only: fun never ran again
    with pytest.raises(ValueError, match="shape"):
        apply(arr(5))


def test_hvp_fn_recorded_with_its_first_vector_gives_that_product():
    """The private first-vector form (hessian_eigs' matvec): the recording made at v0 returns
    H v0 itself, and its replays are the products at other vectors."""
    from pyad.transforms.products import _hvp_fn
    x = arr(6)
    H = ad.hessian(_rosen_like)(x)
    counted, calls = _counted(_rosen_like)
    v0 = arr(6)
    keep = v0.copy()
    apply, into, hv0 = _hvp_fn(counted, (x,), (v0,))
    assert calls[0] == 1
    assert rel_err(hv0, H @ v0) < 1e-12
    assert np.array_equal(v0, keep)                # the vector is read, never written
    for _ in range(3):
        v = arr(6)
        assert rel_err(apply(v), H @ v) < 1e-12
    assert calls[0] == 1
    # the same bits as the zero-vector recording's replay at v0
    np.testing.assert_array_equal(apply(v0), ad.hvp_fn(_rosen_like, x)(v0))
    # and written into a given array (hessian_eigs' flat vectors)
    dest = np.full(6, np.nan)
    into([v0], [dest])
    np.testing.assert_array_equal(dest, apply(v0))
    with pytest.raises(ValueError, match="shape"):
        _hvp_fn(_rosen_like, (x,), (arr(5),))
    # a vector an outer transform differentiates: the product through the recorded gradient
    got = ad.grad(lambda v: ad.vdot(_hvp_fn(_rosen_like, (x,), (v,))[2], v))(v0)
    close(got, 2.0 * H @ v0, rtol=1e-10)


def test_hvp_fn_falls_back_when_a_comparison_reads_the_tangent():
    @ad.custom_primitive
    def cube(x):
        return x ** 3

    cube.defvjp(lambda g, ans, x: g * 3.0 * x ** 2)
    # linear in t, but the mask reads t: a replay of the recording made at v = 0 would lose it
    cube.defjvp(lambda t, ans, x: ad.where(t > 0, t * 3.0 * x ** 2, t * 3.0 * x ** 2))
    x = arr(5)
    f = lambda z: ad.sum(cube(z) * ad.sin(z))      # noqa: E731
    apply = ad.hvp_fn(f, x)
    for _ in range(2):
        v = arr(5)
        assert rel_err(apply(v), ad.hvp(f, (x,), (v,), mode="rev-rev")) < 1e-10


def test_hvp_fn_differentiates_through_its_vector_and_primals():
    x, v0 = arr(5), arr(5)
    H = ad.hessian(_rosen_like)(x)
    apply = ad.hvp_fn(_rosen_like, x)
    # d/dv <v, H v> = 2 H v (through the replay's fallback, which records)
    close(ad.grad(lambda v: ad.vdot(apply(v), v))(v0), 2.0 * H @ v0, rtol=1e-10)
    # inside a transform of the primals: d/dx <v, H(x) v> against the rev-rev third order
    want = ad.grad(lambda z: ad.vdot(ad.hvp(_rosen_like, (z,), (v0,), mode="rev-rev"), v0))(x)
    got = ad.grad(lambda z: ad.vdot(ad.hvp_fn(_rosen_like, z)(v0), v0))(x)
    assert rel_err(got, want) < 1e-10


def test_hvp_fn_multiple_primals():
    p = init_params()
    order = ("W1", "b1", "W2", "b2")
    primals = tuple(p[k] for k in order)
    apply = ad.hvp_fn(mlp_loss, *primals)
    for _ in range(2):
        vs = tuple(arr(*x.shape) for x in primals)
        got = apply(*vs)
        ref = ad.hvp(mlp_loss, primals, vs)
        assert isinstance(got, tuple) and len(got) == 4
        for a, b in zip(got, ref):
            assert rel_err(a, b) < 1e-10


def test_hvp_float32_stays_float32():
    x = np.array([-1.2, 1.0, 0.3], dtype=np.float32)
    v = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    ref = rosenbrock_hessian_np(x.astype(np.float64)) @ v.astype(np.float64)
    for m in MODES:
        hv = ad.hvp(rosenbrock, (x,), (v,), mode=m)
        assert hv.dtype == np.float32, m
        np.testing.assert_allclose(hv, ref, rtol=1e-4, atol=1e-3)


def test_hvp_against_torch_func():
    torch = pytest.importorskip("torch")
    from torch.func import grad as tgrad, jvp as tjvp
    theta = flatten_np(init_params())
    Xt = torch.tensor(XDATA)
    Yt = torch.tensor(YONEHOT)

    def loss_t(th):
        idx, p = 0, {}
        for k, n in zip(KEYS, SIZES):
            p[k] = th[idx:idx + n].reshape(SHAPES[k])
            idx += n
        z = torch.tanh(Xt @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
        return -(Yt * torch.log_softmax(z, dim=1)).sum() / N

    for _ in range(2):
        v = arr(P)
        _, ref = tjvp(tgrad(loss_t), (torch.tensor(theta),), (torch.tensor(v),))
        ref = ref.numpy()
        for m in MODES:
            assert rel_err(ad.hvp(mlp_loss_flat, (theta,), (v,), mode=m), ref) < 1e-10, m
    x = np.array([-1.2, 1.0, 0.3, 0.8])
    v = arr(4)

    def rosen_t(x):
        return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()
    _, ref = tjvp(tgrad(rosen_t), (torch.tensor(x),), (torch.tensor(v),))
    for m in MODES:
        assert rel_err(ad.hvp(rosenbrock, (x,), (v,), mode=m), ref.numpy()) < 1e-10


def test_hvp_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    x = np.array([-1.2, 1.0, 0.3, 0.8])
    v = arr(4)

    def rosen_j(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    ref = np.asarray(jax.jvp(jax.grad(rosen_j), (jnp.asarray(x),), (jnp.asarray(v),))[1])
    for m in MODES:
        assert rel_err(ad.hvp(rosenbrock, (x,), (v,), mode=m), ref) < 1e-10


# ============================================================================ jacobian
def f_3_to_2x4(x):
    parts = ad.concatenate([ad.sin(x), x * x[0], ad.exp(x[:2]) * x[2]])
    return ad.reshape(parts, (2, 4))


def f_3_to_2x4_np(x):
    return np.concatenate([np.sin(x), x * x[0], np.exp(x[:2]) * x[2]]).reshape(2, 4)


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
def test_jacobian_shape_and_values(mode):
    x = arr(3)
    J = ad.jacobian(f_3_to_2x4, mode=mode)(x)
    assert isinstance(J, np.ndarray) and J.shape == (2, 4, 3)
    np.testing.assert_allclose(J, fd_jacobian(f_3_to_2x4_np, x), rtol=1e-8, atol=1e-9)


def test_jacobian_modes_agree_exactly_enough():
    x = arr(3)
    Jf = ad.jacobian(f_3_to_2x4, mode="fwd")(x)
    Jr = ad.jacobian(f_3_to_2x4, mode="rev")(x)
    Ja = ad.jacobian(f_3_to_2x4)(x)
    close(Jf, Jr, rtol=1e-13, atol=1e-14)
    close(Ja, Jr, rtol=1e-13, atol=1e-14)
    # hand-derived: row blocks sin, x*x0, exp(x[:2]) * x2
    ref = np.zeros((8, 3))
    ref[np.arange(3), np.arange(3)] = np.cos(x)
    ref[3:6] = np.diag(np.full(3, x[0]))
    ref[3:6, 0] += x
    ref[6, 0], ref[7, 1] = np.exp(x[0]) * x[2], np.exp(x[1]) * x[2]
    ref[6:8, 2] = np.exp(x[:2])
    close(Jr, ref.reshape(2, 4, 3), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
def test_jacobian_argnums_tuple(mode):
    x, y = arr(3), arr(2, 2)

    def f(x, s, y):
        return ad.tanh(ad.reshape(y, (4,))[:3] * x) * s

    Jx, Jy = ad.jacobian(f, argnums=(0, 2), mode=mode)(x, 2.0, y)
    assert Jx.shape == (3, 3) and Jy.shape == (3, 2, 2)
    fx = lambda x: 2.0 * np.tanh(y.reshape(4)[:3] * x)    # noqa: E731
    fy = lambda y: 2.0 * np.tanh(y.reshape(4)[:3] * x)    # noqa: E731
    np.testing.assert_allclose(Jx, fd_jacobian(fx, x), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(Jy, fd_jacobian(fy, y), rtol=1e-8, atol=1e-9)
    J1 = ad.jacobian(f, argnums=2, mode=mode)(x, 2.0, y)
    close(J1, Jy, rtol=1e-13)


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
def test_jacobian_pytree_argument(mode):
    """A dict argument gives a dict of Jacobians, each out.shape + leaf.shape (as JAX)."""
    a, b = arr(3), arr(2)

    def f(p):
        return ad.concatenate([p["a"] * p["a"], ad.sin(p["b"])])

    J = ad.jacobian(f, mode=mode)({"a": a, "b": b})
    assert isinstance(J, dict) and set(J) == {"a", "b"}
    assert np.shape(J["a"]) == (5, 3) and np.shape(J["b"]) == (5, 2)
    ref_a = np.zeros((5, 3))
    ref_a[:3] = np.diag(2 * a)
    ref_b = np.zeros((5, 2))
    ref_b[3:] = np.diag(np.cos(b))
    close(J["a"], ref_a)
    close(J["b"], ref_b)


def test_jacobian_unknown_mode_raises():
    with pytest.raises(ValueError, match="mode"):
        ad.jacobian(f_3_to_2x4, mode="forward")


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
@pytest.mark.parametrize("make", [lambda x: x > 0, lambda x: ad.argmax(x, axis=0),
                                  lambda x: ad.astype(x, np.int64)])
def test_jacobian_of_a_non_float_output_raises(make, mode):
    """A comparison or an integer result has no derivative: no Jacobian of bool zeros."""
    with pytest.raises(TypeError, match="output has dtype .*float32/float64"):
        ad.jacobian(make, mode=mode)(arr(4))


def test_jacobian_scalar_output_is_gradient():
    x = arr(4)
    for m in ("fwd", "rev", "auto"):
        J = ad.jacobian(rosenbrock, mode=m)(x)
        assert J.shape == (4,)
        close(J, ad.grad(rosenbrock)(x), rtol=1e-12)


def _counting_square():
    counts = {"fwd": 0, "jvp": 0, "vjp": 0}

    @ad.custom_primitive
    def csquare(x):
        counts["fwd"] += 1
        return x * x

    def vjp(g, ans, x):
        counts["vjp"] += 1
        return g * x * 2.0

    def jvp(t, ans, x):
        counts["jvp"] += 1
        return t * x * 2.0

    csquare.defvjp(vjp)
    csquare.defjvp(jvp)
    return csquare, counts


@pytest.mark.parametrize("n_out, n_in, auto, other", [
    (2, 8, "rev", "fwd"),     # R^8 -> R^2: 2 reverse sweeps beat 8 forward passes
    (8, 2, "fwd", "rev"),     # R^2 -> R^8: 2 forward passes beat 8 reverse sweeps
])
def test_jacobian_auto_picks_the_mode_with_fewer_passes(n_out, n_in, auto, other):
    csquare, counts = _counting_square()
    M = arr(n_out, n_in)
    rule = {"fwd": "jvp", "rev": "vjp"}

    def f(x):
        return M @ csquare(x)

    x = arr(n_in)
    close(ad.jacobian(f, mode="auto")(x), M * (2 * x), rtol=1e-13)
    assert counts[rule[auto]] == min(n_in, n_out)
    assert counts[rule[other]] == 0
    # the forced other mode: one pass per element on its side
    counts.update(fwd=0, jvp=0, vjp=0)
    close(ad.jacobian(f, mode=other)(x), M * (2 * x), rtol=1e-13)
    assert counts[rule[other]] == max(n_in, n_out) and counts[rule[auto]] == 0
    if other == "rev":
        assert counts["fwd"] == 1      # reverse mode records the function once


def test_jacobian_evaluates_the_function_once_per_mode():
    """Forward mode is one batched pass, reverse mode one recording; auto adds at most the
    recording it sizes the output with."""
    calls = [0]

    def wide(x):
        calls[0] += 1
        return ad.stack([ad.sum(x * x), ad.sum(ad.sin(x))])

    def n_calls(mode):
        calls[0] = 0
        ad.jacobian(wide, mode=mode)(arr(10))
        return calls[0]

    assert n_calls("fwd") == 1 and n_calls("rev") == 1 and n_calls("auto") <= 2


def test_jacobian_fwd_applies_each_jvp_rule_once_for_the_whole_basis(monkeypatch):
    """Vectorised over the basis: sin's JVP rule runs once on all 50 directions, not 50
    times (no Python loop per column)."""
    sin = ad.PRIMITIVES["sin"]
    calls = [0]
    rule = sin.jvp

    def counted(*a):
        calls[0] += 1
        return rule(*a)
    monkeypatch.setattr(sin, "jvp", counted)
    x = arr(50)
    J = ad.jacobian(lambda v: ad.sin(v) * 2.0, mode="fwd")(x)
    assert calls[0] == 1
    close(J, np.diag(2.0 * np.cos(x)), rtol=1e-14)


# ============================================================================ hessian
def test_hessian_symmetric_and_matches_fd_of_analytic_gradient():
    theta = flatten_np(init_params())
    Hd = ad.hessian(mlp_loss_flat)(theta)
    assert Hd.shape == (P, P)
    scale = np.max(np.abs(Hd))
    assert np.max(np.abs(Hd - Hd.T)) <= 1e-12 * scale
    Hfd = fd_jacobian(mlp_grad_np, theta)
    np.testing.assert_allclose(Hd, Hfd, rtol=1e-6, atol=1e-8 * scale)
    # and the dense Jacobian of pyad's own gradient, both modes
    for m in ("fwd", "rev"):
        close(ad.jacobian(ad.grad(mlp_loss_flat), mode=m)(theta), Hd, rtol=1e-9, atol=1e-12)


def test_hessian_matrix_input_shape_and_argnums():
    A = arr(2, 3)

    def f(s, X):
        return s * ad.sum(ad.exp(X) * A)

    X = arr(2, 3)
    Hx = ad.hessian(f, argnums=1)(1.5, X)
    assert Hx.shape == (2, 3, 2, 3)
    ref = np.diag((1.5 * np.exp(X) * A).ravel()).reshape(2, 3, 2, 3)
    close(Hx, ref, rtol=1e-12)


def test_hessian_of_softmax_cross_entropy_is_analytic():
    z = arr(N, C)
    Hz = ad.hessian(xent)(z)
    assert Hz.shape == (N, C, N, C)
    s = np.exp(z - z.max(1, keepdims=True))
    s /= s.sum(1, keepdims=True)
    ref = np.zeros((N, C, N, C))
    for i in range(N):
        ref[i, :, i, :] = (np.diag(s[i]) - np.outer(s[i], s[i])) / N
    close(Hz, ref, rtol=1e-10, atol=1e-14)


# ============================================================================ gnvp
def dense_gn(loss):
    """(G, theta): the dense Gauss-Newton matrix J^T H_L J of loss(mlp_logits(params))."""
    p = init_params()
    theta = flatten_np(p)
    J = ad.jacobian(lambda t: mlp_logits(unflatten(t)))(theta)       # (N, C, P)
    z = val(mlp_logits(p))
    HL = ad.hessian(loss)(z)                                          # (N, C, N, C)
    Jm = J.reshape(N * C, P)
    G = Jm.T @ HL.reshape(N * C, N * C) @ Jm
    return G, p


TARGETS = RNG.standard_normal((N, C))


def sq_err(z):
    return 0.5 * ad.sum((z - TARGETS) ** 2) / N


@pytest.mark.parametrize("loss", [xent, sq_err], ids=["xent", "sq_err"])
def test_gnvp_equals_dense_jt_h_j(loss):
    G, p = dense_gn(loss)
    for _ in range(3):
        v = {k: arr(*s) for k, s in SHAPES.items()}
        out = ad.gnvp(mlp_logits, loss, p, v)
        assert isinstance(out, dict) and set(out) == set(SHAPES)
        for k in SHAPES:
            assert np.shape(out[k]) == SHAPES[k]
        assert rel_err(flatten_np(out), G @ flatten_np(v)) < 1e-10


def test_gnvp_squared_error_is_jt_j_over_n():
    p = init_params()
    theta = flatten_np(p)
    J = ad.jacobian(lambda t: mlp_logits(unflatten(t)), mode="rev")(theta).reshape(N * C, P)
    v = {k: arr(*s) for k, s in SHAPES.items()}
    out = ad.gnvp(mlp_logits, sq_err, p, v)
    assert rel_err(flatten_np(out), J.T @ (J @ flatten_np(v)) / N) < 1e-10


@pytest.mark.parametrize("loss", [xent, sq_err], ids=["xent", "sq_err"])
def test_gnvp_is_psd_for_convex_losses(loss):
    G, p = dense_gn(loss)
    assert np.max(np.abs(G - G.T)) <= 1e-12 * np.max(np.abs(G))
    assert np.min(np.linalg.eigvalsh(0.5 * (G + G.T))) >= -1e-10
    for _ in range(20):
        v = {k: arr(*s) for k, s in SHAPES.items()}
        gv = ad.gnvp(mlp_logits, loss, p, v)
        assert float(np.dot(flatten_np(v), flatten_np(gv))) >= -1e-12


def test_gnvp_uses_output_hessian_vp():
    class SqErr:
        """0.5 * |z - T|^2 / N, with its closed-form output Hessian (scaled by 3 here, so
        that using it is visible in the result)."""
        def __init__(self):
            self.calls = 0

        def __call__(self, z):
            return sq_err(z)

        def output_hessian_vp(self, z, u):
            self.calls += 1
            assert np.shape(z) == (N, C) and np.shape(u) == (N, C)
            np.testing.assert_allclose(val(z), val(mlp_logits(p)), rtol=1e-14)
            return 3.0 * u / N

    p = init_params()
    theta = flatten_np(p)
    J = ad.jacobian(lambda t: mlp_logits(unflatten(t)))(theta).reshape(N * C, P)
    loss = SqErr()
    v = {k: arr(*s) for k, s in SHAPES.items()}
    out = ad.gnvp(mlp_logits, loss, p, v)
    assert loss.calls == 1
    assert rel_err(flatten_np(out), 3.0 * J.T @ (J @ flatten_np(v)) / N) < 1e-10


def test_gnvp_structure_mismatch_raises():
    p = init_params()
    with pytest.raises(ValueError):
        ad.gnvp(mlp_logits, xent, p, {"W1": arr(D, H)})


# ============================================================================ custom_primitive
def _make_softplus():
    @ad.custom_primitive
    def stable_softplus(x):
        return np.logaddexp(0.0, x)
    stable_softplus.defvjp(lambda g, ans, x: g * ad.sigmoid(x))
    stable_softplus.defjvp(lambda t, ans, x: t * ad.sigmoid(x))
    return stable_softplus


def test_custom_softplus_values_and_extremes():
    sp = _make_softplus()
    x = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    y = val(sp(x))
    np.testing.assert_allclose(y, np.logaddexp(0, x), rtol=1e-15)
    assert np.all(np.isfinite(y))
    g = ad.grad(lambda x: ad.sum(sp(x)))(x)
    close(g, 1 / (1 + np.exp(-np.clip(x, -700, 700))), rtol=1e-14)
    _, t = ad.jvp(sp, (x,), (np.ones(5),))
    close(t, g, rtol=1e-14)


def test_custom_softplus_passes_check_grads_order2_both_modes():
    sp = _make_softplus()
    x = arr(5)
    ad.check_grads(lambda x: sp(x) * ad.sin(x), [x], order=2, modes=("fwd", "rev"))
    ad.check_grads(lambda x: ad.sum(sp(x) ** 2), [x], order=2, modes=("fwd", "rev"))


def test_custom_cube_two_inputs_check_grads():
    @ad.custom_primitive
    def xy2(x, y):
        return x * y ** 2
    xy2.defvjp(lambda g, ans, x, y: g * y ** 2, lambda g, ans, x, y: g * 2.0 * x * y)
    xy2.defjvp(lambda t, ans, x, y: t * y ** 2, lambda t, ans, x, y: t * 2.0 * x * y)
    x, y = arr(4), arr(4)
    close(xy2(x, y), x * y ** 2)
    _, t = ad.jvp(xy2, (x, y), (np.ones(4), 2 * np.ones(4)))
    close(t, y ** 2 + 4 * x * y)
    ad.check_grads(lambda x, y: ad.tanh(xy2(x, y)), [x, y], order=2, modes=("fwd", "rev"))


def test_custom_primitive_under_hessian_and_hvp():
    sp = _make_softplus()

    def f(x):
        return ad.sum(sp(x) * x)

    x = arr(5)
    s = 1 / (1 + np.exp(-x))
    # d/dx [sp(x) x] = s x + sp;  d2 = s(1-s) x + 2 s
    Ha = np.diag(s * (1 - s) * x + 2 * s)
    close(ad.hessian(f)(x), Ha, rtol=1e-12)
    for m in MODES:
        v = arr(5)
        assert rel_err(ad.hvp(f, (x,), (v,), mode=m), Ha @ v) < 1e-12, m
    close(ad.hvp_fn(f, x)(v), Ha @ v, rtol=1e-12)


def test_custom_primitive_kwargs_reach_forward_and_rules():
    seen = {"fwd": [], "vjp": [], "jvp": []}

    @ad.custom_primitive
    def scaled_cube(x, *, scale, shift=0.0):
        seen["fwd"].append((scale, shift))
        return scale * x ** 3 + shift

    def vjp(g, ans, x, *, scale, shift=0.0):
        seen["vjp"].append((scale, shift))
        return g * (x * x) * (3.0 * scale)

    def jvp(t, ans, x, *, scale, shift=0.0):
        seen["jvp"].append((scale, shift))
        return t * (x * x) * (3.0 * scale)

    scaled_cube.defvjp(vjp)
    scaled_cube.defjvp(jvp)
    x = arr(3)
    close(scaled_cube(x, scale=2.0, shift=1.0), 2.0 * x ** 3 + 1.0)
    assert seen["fwd"][-1] == (2.0, 1.0)
    close(ad.grad(lambda x: ad.sum(scaled_cube(x, scale=-1.5)))(x), -4.5 * x ** 2)
    assert seen["vjp"] == [(-1.5, 0.0)]
    _, t = ad.jvp(lambda x: scaled_cube(x, scale=0.5, shift=2.0), (x,), (np.ones(3),))
    close(t, 1.5 * x ** 2)
    assert seen["jvp"] == [(0.5, 2.0)]
    v = arr(3)
    for m in MODES:
        close(ad.hvp(lambda x: ad.sum(scaled_cube(x, scale=3.0)), (x,), (v,), mode=m),
              18.0 * x * v, rtol=1e-12)
    ad.check_grads(lambda x: scaled_cube(x, scale=1.25, shift=-0.5), [x], order=2)


def test_custom_primitive_missing_jvp_raises_type_error():
    @ad.custom_primitive
    def cube_novjp(x):
        return x ** 3
    cube_novjp.defvjp(lambda g, ans, x: g * 3.0 * x ** 2)
    x = arr(3)
    close(ad.grad(lambda x: ad.sum(cube_novjp(x)))(x), 3 * x ** 2)
    with pytest.raises(TypeError, match=r"cube_novjp.*(JVP|forward)|(JVP|forward).*cube_novjp"):
        ad.jvp(cube_novjp, (x,), (np.ones(3),))
    with pytest.raises(TypeError, match="cube_novjp"):
        ad.hvp(lambda x: ad.sum(cube_novjp(x)), (x,), (np.ones(3),), mode="fwd-rev")
    # reverse-over-reverse needs no JVP rule
    close(ad.hvp(lambda x: ad.sum(cube_novjp(x)), (x,), (np.ones(3),), mode="rev-rev"), 6 * x)


def _cube(vjp_scale=1.0, jvp_scale=1.0, detach_vjp=False):
    @ad.custom_primitive
    def cube(x):
        return x ** 3
    if detach_vjp:
        # right first derivative, but a constant to every outer transform: second order is 0
        cube.defvjp(lambda g, ans, x: g * ad.tensor(3.0 * x.data ** 2))
    else:
        cube.defvjp(lambda g, ans, x: g * (x * x) * (3.0 * vjp_scale))
    cube.defjvp(lambda t, ans, x: t * (x * x) * (3.0 * jvp_scale))
    return cube


def test_check_grads_accepts_correct_cube():
    cube = _cube()
    ad.check_grads(lambda x: ad.sin(cube(x)), [arr(4)], order=2, modes=("fwd", "rev"))


def test_check_grads_rejects_slightly_wrong_jvp_rule():
    cube = _cube(jvp_scale=1 + 1e-5)
    x = arr(4)
    with pytest.raises(AssertionError) as info:
        ad.check_grads(lambda x: cube(x), [x], order=1, modes=("fwd", "rev"))
    msg = str(info.value)
    assert "order 1" in msg and "fwd" in msg and "relative error" in msg
    with pytest.raises(AssertionError, match=r"mode fwd.*order 1.*relative error"):
        ad.check_grads(lambda x: cube(x), [x], order=2, modes=("fwd",))
    # reverse mode alone never uses the JVP rule, and the VJP rule is right
    ad.check_grads(lambda x: cube(x), [x], order=2, modes=("rev",))


def test_check_grads_rejects_slightly_wrong_vjp_rule():
    cube = _cube(vjp_scale=1 + 1e-5)
    x = arr(4)
    with pytest.raises(AssertionError, match=r"mode rev.*order 1.*relative error"):
        ad.check_grads(lambda x: cube(x), [x], order=1, modes=("rev",))
    with pytest.raises(AssertionError, match="relative error"):
        ad.check_grads(lambda x: cube(x), [x], order=2, modes=("fwd", "rev"))
    ad.check_grads(lambda x: cube(x), [x], order=2, modes=("fwd",))


def test_check_grads_transpose_identity_catches_wrong_jvp():
    cube = _cube(jvp_scale=1 + 1e-5)
    from pyad.testing import check_transpose
    with pytest.raises(AssertionError, match="transpose"):
        check_transpose(lambda x: cube(x), [arr(4)])
    check_transpose(lambda x: _cube()(x), [arr(4)])


def test_check_grads_error_names_second_order():
    cube = _cube(detach_vjp=True)
    x = arr(4)
    ad.check_grads(lambda x: cube(x), [x], order=1, modes=("rev",))
    with pytest.raises(AssertionError) as info:
        ad.check_grads(lambda x: cube(x), [x], order=2, modes=("rev",))
    msg = str(info.value)
    assert "order 2" in msg and "mode rev" in msg and "relative error" in msg
    rel = float(msg.split("relative error ")[1].split(",")[0].split(";")[0])
    assert rel > 0.5          # the second derivative is lost entirely


def test_check_grads_bad_arguments():
    with pytest.raises(ValueError):
        ad.check_grads(lambda x: x * x, [arr(2)], modes=("forward",))
    with pytest.raises(ValueError):
        ad.check_grads(lambda x: x * x, [arr(2)], order=3)


# ============================================================================ hygiene
def _tiny(x):
    return ad.sum(ad.tanh(x) * x)


def _collect_fully():
    """Collect until nothing is left: garbage of earlier tests held only by objects the
    cycle collector does not traverse (tape records) is freed one collection later."""
    for _ in range(10):
        if gc.collect() == 0:
            break
    gc.garbage.clear()


@pytest.mark.parametrize("mode", MODES)
def test_hvp_creates_no_reference_cycles(mode):
    x, v = arr(3), arr(3)
    ad.hvp(_tiny, (x,), (v,), mode=mode)      # warm up caches
    _collect_fully()
    old = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        hv = ad.hvp(_tiny, (x,), (v,), mode=mode)
        p = init_params()
        vv = {k: arr(*s) for k, s in SHAPES.items()}
        ad.hvp(lambda p: xent(mlp_logits(p)), (p,), (vv,), mode=mode)
        del hv
        gc.collect()
        garbage = list(gc.garbage)
    finally:
        gc.set_debug(old)
        gc.garbage.clear()
    assert garbage == [], [type(g).__name__ for g in garbage[:20]]


def test_hvp_fn_gnvp_jacobian_create_no_reference_cycles():
    x, v = arr(3), arr(3)
    p = init_params()
    vv = {k: arr(*s) for k, s in SHAPES.items()}
    _collect_fully()
    old = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        apply = ad.hvp_fn(_tiny, x)
        apply(v)
        apply(2 * v)
        del apply
        ad.gnvp(mlp_logits, xent, p, vv)
        ad.jacobian(f_3_to_2x4, mode="fwd")(x)
        ad.jacobian(f_3_to_2x4, mode="rev")(x)
        ad.hessian(_tiny)(x)
        gc.collect()
        garbage = list(gc.garbage)
    finally:
        gc.set_debug(old)
        gc.garbage.clear()
    assert garbage == [], [type(g).__name__ for g in garbage[:20]]


@pytest.mark.parametrize("mode", MODES)
def test_hvp_releases_its_tensors(mode):
    """Tensors are invisible to the cycle collector, so a cycle through one would leak
    silently: check by weak references that inputs and results are freed by refcounting."""
    x = ad.tensor(arr(3))
    v = ad.tensor(arr(3))
    hv = ad.hvp(_tiny, (x,), (v,), mode=mode)
    assert isinstance(hv, Tensor)
    refs = [weakref.ref(t) for t in (x, v, hv)]
    del x, v, hv
    assert [r() is None for r in refs] == [True, True, True]


def _rss_bytes():
    """Current resident set size (Linux /proc), else the peak from getrusage."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource
        import sys
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def test_no_memory_growth_over_10000_hvps():
    x, v = arr(3), arr(3)
    ref = ad.hvp(_tiny, (x,), (v,))
    per_mode = 10_000 // len(MODES) + 1
    for m in MODES:                          # warm up: freelists, caches, allocator pools
        for _ in range(300):
            ad.hvp(_tiny, (x,), (v,), mode=m)
    gc.collect()
    before = _rss_bytes()
    start = time.perf_counter()
    for m in MODES:
        for _ in range(per_mode):
            hv = ad.hvp(_tiny, (x,), (v,), mode=m)
    elapsed = time.perf_counter() - start
    gc.collect()
    growth = _rss_bytes() - before
    close(hv, ref, rtol=1e-12)
    assert growth < 2 * 1024 * 1024, f"RSS grew by {growth / 1e6:.2f} MB over 10k HVPs"
    assert elapsed < 20.0, f"10k tiny HVPs took {elapsed:.1f} s"


def test_jacobian_of_jacobian_is_the_hessian():
    """jacobian nests (JAX's jacfwd(jacrev(f))): the inner Jacobian stays differentiable."""
    x = np.array([0.3, -0.5, 0.7])
    f = lambda z: ad.sum(ad.sin(z) ** 3) * z[0]
    for outer, inner in (("fwd", "rev"), ("rev", "fwd"), ("fwd", "fwd"), ("rev", "rev")):
        nested = ad.jacobian(ad.jacobian(f, mode=inner), mode=outer)(x)
        np.testing.assert_allclose(nested, ad.hessian(f)(x), rtol=1e-12, atol=1e-14)


def test_jacobian_fwd_in_chunks_equals_one_pass(monkeypatch):
    jacobian_module = importlib.import_module("pyad.transforms.dense")
    x = arr(20)
    W = arr(5, 20)

    def f(v):
        return ad.tanh(W @ v) * ad.sum(v * v)
    whole = ad.jacobian(f, mode="fwd")(x)
    monkeypatch.setattr(jacobian_module, "CHUNK", 7)      # 3 passes: 7 + 7 + 6 directions
    close(ad.jacobian(f, mode="fwd")(x), whole, rtol=1e-14)
    close(ad.hessian(lambda v: ad.sum(f(v)))(x),
          ad.jacobian(ad.grad(lambda v: ad.sum(f(v))), mode="rev")(x), rtol=1e-10)
    close(whole, ad.jacobian(f, mode="rev")(x), rtol=1e-12)
    g = lambda v: ad.concatenate([f(v), f(v) ** 2, ad.sin(v)])     # noqa: E731  (30 outputs)
    close(ad.jacobian(g, mode="rev")(x), ad.jacobian(g, mode="fwd")(x), rtol=1e-12)


def test_tape_replay_reevaluates_with_new_inputs_and_refuses_what_it_cannot_see():
    from pyad.engine._tape import wrap
    x, c = wrap(np.array([1.0, -2.0, 3.0])), np.array([0.5, 2.0, -1.0])
    with ad.Tape(persistent=True) as tape:
        tape.watch(x)
        y = ad.sin(x) * c + ad.sum(x)
    new = np.array([0.1, 0.2, 0.3])
    got, = tape.replay([x], [new], [y])
    close(got, np.sin(new) * c + new.sum(), rtol=1e-15)
    close(y, np.sin(x.data) * c + x.data.sum(), rtol=1e-15)     # the recording is unchanged
    assert tape.replayable
    with ad.Tape(persistent=True) as masked:
        masked.watch(x)
        z = ad.where(x > 0, x, 0.0)        # the mask is not recorded: a replay would reuse it
    assert not masked.replayable
    with pytest.raises(RuntimeError, match="non-differentiable"):
        masked.replay([x], [new], [z])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tape_replay_writes_outputs_into_given_arrays(dtype):
    """Tape.replay(into=...): an output made by a matrix product (matmul, matmul_sum) is
    written there by its GEMM, any other output and one the replay does not recompute is
    copied there; the values are the plain replay's bits."""
    from pyad.engine._tape import wrap
    from pyad.ops.prims import PRIMITIVES
    rng = np.random.default_rng(5)
    a, b = wrap(rng.standard_normal((4, 3)).astype(dtype)), rng.standard_normal((3, 5)).astype(dtype)
    d = rng.standard_normal((4, 5)).astype(dtype)
    with ad.Tape(persistent=True) as tape:
        tape.watch(a)
        prod = a @ b
        both = ad.bind(PRIMITIVES["matmul_sum"], a, b, a * 2.0, b)     # a b + 2 a b
        elementwise = ad.tanh(a)
        constant = ad.tensor(d) * 3.0                  # not recomputed: no watched input
    outputs = [prod, both, elementwise, constant]
    new = rng.standard_normal((4, 3)).astype(dtype)
    plain = tape.replay([a], [new], outputs)
    dests = [np.full(o.shape, np.nan, dtype) for o in outputs]
    written = []
    saved = {n: PRIMITIVES[n].into for n in ("matmul", "matmul_sum")}
    try:
        for n, f in saved.items():
            PRIMITIVES[n].into = lambda dest, *arrays, f=f, n=n: written.append(n) or f(dest, *arrays)
        got = tape.replay([a], [new], outputs, into=dests)
    finally:
        for n, f in saved.items():
            PRIMITIVES[n].into = f
    assert written == ["matmul", "matmul_sum"]     # the products' GEMMs wrote there
    for g, p_, dest in zip(got, plain, dests):
        assert g is dest
        np.testing.assert_array_equal(g, p_)
    close(plain[1], 3.0 * plain[0], rtol=1e-6 if dtype == np.float32 else 1e-14)
    # None leaves an output to the plain replay
    got = tape.replay([a], [new], outputs, into=[None, dests[1], None, None])
    assert got[0] is not dests[0] and got[1] is dests[1]
