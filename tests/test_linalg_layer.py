"""pyad/linalg on any backend: the one vdot and ravel_pytree, Lanczos and CG, and the curvature
estimators built on them, run on array_api_strict arrays (the strictest Array API library)
and agree with numpy; the vectors stay on the operator's backend."""
import array_api_strict as xp
import numpy as np
import pytest

import pyad as ad
from pyad import backend
from pyad import curvature as cv
from pyad.linalg.cg import cg
from pyad.linalg.lanczos import lanczos, lanczos_quadrature
from pyad.linalg.vectors import ravel_pytree, vdot

RNG = np.random.default_rng(7)
N = 40


def strict(a):
    return xp.asarray(np.asarray(a, dtype=np.float64))


def host(a):
    return backend.to_host(a)


def is_strict(a):
    return type(a) is type(xp.asarray(0.0))


def sym_with(eigs, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((len(eigs), len(eigs))))
    return (q * np.asarray(eigs, dtype=float)) @ q.T, q


EIGS = np.linspace(-3.0, 5.0, N)
A, Q = sym_with(EIGS)
AX = strict(A)


# ============================================================================ vdot
def test_vdot_plain_tensor_and_strict():
    a = {"w": np.array([1.0, 2.0]), "b": np.array(3.0)}
    b = {"w": np.array([3.0, 4.0]), "b": np.array(2.0)}
    assert float(vdot(a, b)) == 17.0 and vdot is ad.vdot
    # Tensors: differentiable, also when mixed with plain leaves in one pytree
    g = ad.grad(lambda x: vdot([x, x], [np.array([1.0, 2.0]), x]))(np.array([3.0, 4.0]))
    np.testing.assert_allclose(g, [7.0, 10.0])
    # strict arrays: summed on their backend, never through numpy
    got = vdot({"w": strict([1.0, 2.0])}, {"w": strict([3.0, 4.0])})
    assert is_strict(got.data) and float(got) == 11.0
    assert float(vdot([strict([1.0, 2.0]), 2.0], [strict([3.0, 4.0]), 3.0])) == 17.0
    assert float(vdot({}, {})) == 0.0
    with pytest.raises(ValueError, match="structures"):
        vdot([np.ones(2)], {"a": np.ones(2)})
    with pytest.raises(TypeError, match="different backends"):
        vdot(np.ones(2), strict(np.ones(2)))


# ============================================================================ ravel
def test_ravel_pytree_on_strict_leaves():
    tree = {"w": strict(np.arange(4.0).reshape(2, 2)), "b": 5.0,
            "n": xp.asarray([1, 2], dtype=xp.int64)}
    flat, unravel = ravel_pytree(tree)
    assert is_strict(flat) and flat.dtype == xp.float64
    np.testing.assert_array_equal(host(flat), [5, 1, 2, 0, 1, 2, 3])
    back = unravel(flat * 2)
    assert is_strict(back["w"]) and back["w"].shape == (2, 2)
    assert back["n"].dtype == xp.int64 and back["b"].shape == ()
    np.testing.assert_array_equal(host(back["w"]), [[0, 2], [4, 6]])
    with pytest.raises(ValueError, match="length 7"):
        unravel(strict(np.ones(3)))


def test_detach_is_curvature_ravel():
    tree = {"a": ad.tensor([1.0, 2.0]), "b": np.ones((2, 2), np.float32)}
    flat, unravel = ravel_pytree(tree, detach=True)
    assert type(flat) is np.ndarray and flat.dtype == np.float64
    cflat, cunravel = cv.ravel(tree)
    np.testing.assert_array_equal(cflat, flat)
    assert cunravel(flat)["b"].dtype == np.float32
    assert isinstance(ravel_pytree(tree)[0], ad.Tensor)


# ============================================================================ Lanczos
@pytest.mark.parametrize("which", ["largest", "smallest", "both"])
def test_lanczos_on_strict_matches_numpy(which):
    v0 = RNG.standard_normal(N)
    vals, vecs, info = lanczos(lambda v: A @ v, v0, k=3, which=which)
    svals, svecs, sinfo = lanczos(lambda v: AX @ v, strict(v0), k=3, which=which)
    assert is_strict(svals) and is_strict(svecs) and svecs.shape == (N, vals.size)
    assert sinfo["converged"] and sinfo["iterations"] == info["iterations"]
    np.testing.assert_allclose(host(svals), vals, rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.abs(host(svecs)), np.abs(vecs), rtol=0, atol=1e-8)
    ref = np.sort(EIGS)
    want = {"largest": ref[::-1][:3], "smallest": ref[:3],
            "both": np.concatenate([ref[:3], ref[-3:]])}[which]
    np.testing.assert_allclose(host(svals), want, rtol=0, atol=1e-8)
    y = host(svecs)
    np.testing.assert_allclose(y.T @ y, np.eye(y.shape[1]), atol=1e-10)


def test_lanczos_dimension_like_and_restart_on_strict():
    vals, vecs, _ = lanczos(lambda v: AX @ v, N, k=2, like=AX)
    assert is_strict(vecs)
    np.testing.assert_allclose(host(vals), EIGS[::-1][:2], atol=1e-8)
    # a start in a 2-dimensional invariant subspace: the rest is found after a restart
    start = strict(Q[:, 0] + Q[:, -1])
    vals, vecs, info = lanczos(lambda v: AX @ v, start, k=2, which="both")
    assert info["restarts"] >= 1 and is_strict(vecs)
    np.testing.assert_allclose(host(vals), EIGS[[0, 1, -2, -1]], atol=1e-6)
    with pytest.raises(TypeError, match="different backends"):
        lanczos(lambda v: A @ host(v), strict(np.ones(N)))
    with pytest.raises(FloatingPointError, match="NaN or Inf"):
        lanczos(lambda v: v * float("nan"), strict(np.ones(N)))


def test_lanczos_operator_returning_its_input():
    # the identity hands back the basis row itself: it must not be updated in place
    vals, vecs, info = lanczos(lambda v: v, 5, k=2)
    np.testing.assert_allclose(vals, [1.0, 1.0])
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(2), atol=1e-12)


def test_quadrature_and_estimators_on_strict():
    v = RNG.standard_normal(N)
    nodes, weights = lanczos_quadrature(lambda u: A @ u, v, 12)
    snodes, sweights = lanczos_quadrature(lambda u: AX @ u, strict(v), 12)
    np.testing.assert_allclose(snodes, nodes, atol=1e-10)
    np.testing.assert_allclose(sweights, weights, atol=1e-10)
    grid, density = cv.spectral_density(lambda u: A @ u, N, num_probes=2, num_steps=10)
    sgrid, sdensity = cv.spectral_density(lambda u: AX @ u, N, num_probes=2, num_steps=10,
                                          like=AX)
    np.testing.assert_allclose(sgrid, grid, atol=1e-10)
    np.testing.assert_allclose(sdensity, density, rtol=1e-8, atol=1e-12)
    trace = cv.hutchinson_trace(lambda u: A @ u, N, num_probes=5)
    np.testing.assert_allclose(cv.hutchinson_trace(lambda u: AX @ u, N, num_probes=5, like=AX),
                               trace, rtol=1e-12)
    diag = cv.hutchinson_diag(lambda u: AX @ u, N, num_probes=5, like=AX)
    assert is_strict(diag)
    np.testing.assert_allclose(host(diag), cv.hutchinson_diag(lambda u: A @ u, N, num_probes=5),
                               rtol=1e-12, atol=1e-12)


# ============================================================================ CG
def test_cg_on_strict_matches_numpy():
    spd = A @ A + np.eye(N)
    sx = strict(spd)
    b = RNG.standard_normal(N)
    x, info = cg(lambda v: spd @ v, b, tol=1e-12, max_iter=200)
    sx_sol, sinfo = cg(lambda v: sx @ v, strict(b), tol=1e-12, max_iter=200)
    assert is_strict(sx_sol) and sinfo["converged"] and info["converged"]
    np.testing.assert_allclose(host(sx_sol), x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(host(sx_sol), np.linalg.solve(spd, b), rtol=1e-8, atol=1e-10)
    # a pytree with a start, float32 kept
    d = np.array([2.0, 4.0], np.float32)
    tree, tinfo = cg(lambda t: {"a": sx @ t["a"], "d": xp.asarray(d) * t["d"]},
                     {"a": strict(b), "d": xp.asarray([2.0, 8.0], dtype=xp.float32)},
                     x0={"a": strict(np.zeros(N)), "d": xp.ones(2, dtype=xp.float32)},
                     tol=1e-6, max_iter=200)
    assert tinfo["converged"] and is_strict(tree["a"]) and tree["d"].dtype == xp.float32
    np.testing.assert_allclose(host(tree["d"]), [1.0, 2.0], rtol=1e-5)
    zero, zinfo = cg(lambda v: sx @ v, strict(np.zeros(N)))
    assert is_strict(zero) and zinfo["iterations"] == 0
    with pytest.raises(TypeError, match="different backends"):
        cg(lambda v: spd @ host(v), strict(b))


# ============================================================================ quadratic model
def test_quadratic_model_returns_to_the_backend_of_a():
    a, b = np.diag([1.0, 4.0]), np.array([-1.0, 0.0])
    q, sq = cv.QuadraticModel(a, b), cv.QuadraticModel(strict(a), strict(b))
    w0 = np.array([0.0, 1.0])
    for got, want in ((sq.gd_trajectory(strict(w0), 0.4, 3), q.gd_trajectory(w0, 0.4, 3)),
                      (sq.momentum_trajectory(strict(w0), 0.1, 0.5, 3),
                       q.momentum_trajectory(w0, 0.1, 0.5, 3)),
                      (sq.simulate_gd(strict(w0), 0.4, 3), q.simulate_gd(w0, 0.4, 3)),
                      (sq.grad(strict(w0)), q.grad(w0)), (sq.eig[1], q.eig[1])):
        assert is_strict(got)
        np.testing.assert_allclose(host(got), want, rtol=1e-12, atol=1e-14)
    assert sq.gd_regime(0.4).tolist() == ["decaying", "oscillating"]
    assert cv.max_stable_lr(strict([0.5, 4.0])) == 0.5


# ============================================================================ pytree operators
def test_curvature_of_strict_params_stays_on_their_backend():
    f = lambda p: ad.sum(p["a"] ** 2) + 3.0 * ad.sum(p["b"] ** 2)      # noqa: E731  (2, 2, 6)
    params = {"a": strict(np.ones(2)), "b": strict(np.ones(1))}
    vals, vecs, _ = cv.hessian_eigs(f, params, k=1)
    assert is_strict(vals) and is_strict(vecs[0]["b"])
    np.testing.assert_allclose(host(vals), [6.0])
    np.testing.assert_allclose(np.abs(host(vecs[0]["b"])), [1.0])
    start = {"a": strict(np.ones(2)), "b": strict(np.ones(1))}
    np.testing.assert_allclose(host(cv.hessian_eigs(f, params, k=1, v0=start)[0]), [6.0])
    grid, density = cv.hessian_density(f, params, num_probes=2, num_steps=3)
    assert type(density) is np.ndarray and abs(grid[np.argmax(density)] - 2.0) < 0.05
    X = strict(np.diag([1.0, 2.0]))                                    # J^T J = diag(1, 4)
    vals, vecs, _ = cv.gn_eigs(lambda w: ad.matmul(X, w), lambda z: 0.5 * ad.sum(z ** 2),
                               strict(np.ones(2)))
    assert is_strict(vecs[0])
    np.testing.assert_allclose(host(vals), [4.0])
    point = cv.classify_stationary_point(lambda x: ad.sum(x ** 2), strict(np.zeros(3)),
                                         dense_max=1)                  # the Lanczos path
    assert point.kind == "minimum"
    np.testing.assert_allclose(point.eigenvalues, [2.0, 2.0])
    point = cv.classify_stationary_point(lambda x: x[0] ** 2 - x[1] ** 2, strict(np.zeros(2)))
    assert point.kind == "saddle"                                       # the dense path
    np.testing.assert_allclose(point.eigenvalues, [-2.0, 2.0])
