"""pyad.implicit: CG, response Jacobians and the implicit-function-theorem argmin (ridge)."""
import numpy as np
import pytest

import pyad as ad
from pyad.implicit import argmin, cg, response_jacobian

RNG = np.random.default_rng(0)
X = RNG.standard_normal((25, 5))
Y = RNG.standard_normal(25)
XV = RNG.standard_normal((15, 5))
YV = RNG.standard_normal(15)


def ridge_loss(w, lam):
    """1/2 ||X w - y||^2 + 1/2 sum_i lam_i w_i^2 (lam a scalar or one per weight)."""
    return 0.5 * ad.sum((X @ w - Y) ** 2) + 0.5 * ad.sum(lam * w * w)


def ridge_solver(lam):
    return np.linalg.solve(X.T @ X + np.diag(np.broadcast_to(lam, (5,))), X.T @ Y)


def ridge_response(lam):
    """Closed form: dw*/dlam = -(X^T X + diag(lam))^{-1} diag(w*) (vector lam), or
    -(X^T X + lam I)^{-1} w* (scalar lam)."""
    a = X.T @ X + np.diag(np.broadcast_to(lam, (5,)))
    w = np.linalg.solve(a, X.T @ Y)
    return -np.linalg.solve(a, w if np.ndim(lam) == 0 else np.diag(w))


# ------------------------------------------------------------------------------ cg
def test_cg_solves_spd_system_flat_and_pytree():
    m = RNG.standard_normal((8, 8))
    a = m @ m.T + 0.5 * np.eye(8)
    b = RNG.standard_normal(8)
    x, info = cg(lambda v: a @ v, b)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-8)
    assert info["converged"] and info["iterations"] <= 8 and info["residual"] <= 1e-10
    tree = {"u": b[:3], "v": b[3:].reshape(1, 5)}

    def mv(t):
        y = a @ np.concatenate([t["u"], t["v"].ravel()])
        return {"u": y[:3], "v": y[3:].reshape(1, 5)}
    xt, _ = cg(mv, tree, x0={"u": np.ones(3), "v": np.ones((1, 5))})
    np.testing.assert_allclose(np.concatenate([xt["u"], xt["v"].ravel()]),
                               np.linalg.solve(a, b), rtol=1e-8)


def test_cg_on_hvps_and_limits():
    f = lambda w: ridge_loss(w, 0.3)
    w0 = np.zeros(5)
    apply_h = ad.hvp_fn(f, w0)
    b = RNG.standard_normal(5)
    x, info = cg(apply_h, b)
    np.testing.assert_allclose(x, np.linalg.solve(X.T @ X + 0.3 * np.eye(5), b), rtol=1e-8)
    _, info = cg(apply_h, b, max_iter=2)
    assert info["iterations"] == 2 and not info["converged"]
    x, info = cg(apply_h, np.zeros(5), x0=np.ones(5))
    assert np.all(x == 0) and info["converged"]
    _, info = cg(lambda v: -v, b)                 # negative definite: stops at once
    assert info["negative_curvature"] and info["iterations"] == 0


# ------------------------------------------------------------------------------ response_jacobian
def test_response_jacobian_scalar_theta_closed_form():
    lam = 0.7
    w = ridge_solver(lam)
    jac = response_jacobian(ridge_loss, w, np.array(lam))
    assert jac.shape == (5,)
    np.testing.assert_allclose(jac, ridge_response(lam), rtol=1e-8, atol=1e-12)


def test_response_jacobian_vector_theta_both_orientations():
    lam = np.array([0.3, 1.0, 2.0, 0.5, 0.1])
    w = ridge_solver(lam)
    jac = response_jacobian(ridge_loss, w, lam)            # columns (theta.size == w.size)
    np.testing.assert_allclose(jac, ridge_response(lam), rtol=1e-8, atol=1e-12)
    # more hyperparameters than weights: row by row (one CG solve per weight)
    loss6 = lambda w, th: ridge_loss(w, th[:5]) + th[5] * ad.sum(w)
    th = np.append(lam, 0.2)
    a = X.T @ X + np.diag(lam)
    w6 = np.linalg.solve(a, X.T @ Y - 0.2)
    jac6 = response_jacobian(loss6, w6, th)
    assert jac6.shape == (5, 6)
    ref = -np.linalg.solve(a, np.c_[np.diag(w6), np.ones(5)])
    np.testing.assert_allclose(jac6, ref, rtol=1e-8, atol=1e-12)


# ------------------------------------------------------------------------------ argmin
def test_argmin_forward_is_the_solver():
    w_of = argmin(ridge_loss, ridge_solver)
    np.testing.assert_allclose(np.asarray(w_of(0.5)), ridge_solver(0.5))


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_argmin_jacobian_both_modes(mode):
    w_of = argmin(ridge_loss, ridge_solver)
    np.testing.assert_allclose(ad.jacobian(w_of, mode=mode)(0.7), ridge_response(0.7),
                               rtol=1e-8, atol=1e-12)
    lam = np.array([0.3, 1.0, 2.0, 0.5, 0.1])
    np.testing.assert_allclose(ad.jacobian(w_of, mode=mode)(lam), ridge_response(lam),
                               rtol=1e-8, atol=1e-12)


def test_argmin_jvp_and_vjp():
    w_of = argmin(ridge_loss, ridge_solver)
    lam = np.array([0.3, 1.0, 2.0, 0.5, 0.1])
    t = RNG.standard_normal(5)
    u = RNG.standard_normal(5)
    ref = ridge_response(lam)
    w, jv = ad.jvp(w_of, (lam,), (t,))
    np.testing.assert_allclose(jv, ref @ t, rtol=1e-8)
    np.testing.assert_allclose(w, ridge_solver(lam))
    _, pullback = ad.vjp(w_of, lam)
    np.testing.assert_allclose(pullback(u)[0], u @ ref, rtol=1e-8)


def _val_loss(w_of):
    return lambda lam: ad.mean((XV @ w_of(ad.exp(lam)) - YV) ** 2)   # log-parametrised


def test_hypergradient_vs_finite_differences():
    w_of = argmin(ridge_loss, ridge_solver)
    val = _val_loss(w_of)
    for lam in (np.array(-0.5), np.array([0.1, -1.0, 0.5, 0.0, -0.3])):
        g = np.asarray(ad.grad(val)(lam))
        value_at = lambda l: float(np.asarray(val(l).data))
        eps = 1e-6
        fd = np.array([(value_at(lam + eps * e) - value_at(lam - eps * e)) / (2 * eps)
                       for e in np.eye(lam.size).reshape((lam.size,) + lam.shape)])
        np.testing.assert_allclose(g.reshape(-1), fd.reshape(-1), rtol=1e-6, atol=1e-9)
        # forward mode through the composition agrees
        t = np.ones_like(lam)
        _, dv = ad.jvp(val, (lam,), (t,))
        np.testing.assert_allclose(float(np.asarray(dv)), float(np.sum(g * t)), rtol=1e-8)


def test_argmin_inside_gradient_descent_on_hyperparameter():
    w_of = argmin(ridge_loss, ridge_solver)
    val = _val_loss(w_of)
    lam = np.array(1.0)
    start = float(np.asarray(val(lam).data))
    for _ in range(30):
        lam = lam - 0.5 * np.asarray(ad.grad(val)(lam))
    assert float(np.asarray(val(lam).data)) < start


def test_argmin_reports_a_non_minimum():
    # the solver returns a point where H_ww is indefinite: CG cannot solve, and says so
    loss = lambda w, th: ad.sum(w[:1] ** 2) - ad.sum(w[1:] ** 2) + th * ad.sum(w)
    w_of = argmin(loss, lambda th: np.array([-th / 2, th / 2]))
    with pytest.raises(np.linalg.LinAlgError, match="CG"):
        ad.grad(lambda th: ad.sum(w_of(th)))(1.0)


# ------------------------------------------------------------------------------ second order
def _ridge_val_derivatives(lam):
    """Closed-form first and second derivatives of mean((XV w*(lam) - YV)^2) in a scalar lam:
    w' = -A^{-1} w*, w'' = 2 A^{-2} w* with A = X^T X + lam I."""
    a = X.T @ X + lam * np.eye(5)
    w = np.linalg.solve(a, X.T @ Y)
    w1 = -np.linalg.solve(a, w)
    w2 = 2.0 * np.linalg.solve(a, np.linalg.solve(a, w))
    r, n = XV @ w - YV, len(YV)
    return 2 / n * r @ XV @ w1, 2 / n * ((XV @ w1) @ (XV @ w1) + r @ XV @ w2)


def test_argmin_second_derivatives_scalar_closed_form():
    w_of = argmin(ridge_loss, ridge_solver)
    val = lambda lam: ad.mean((XV @ w_of(lam) - YV) ** 2)
    lam = 0.7
    d1, d2 = _ridge_val_derivatives(lam)
    np.testing.assert_allclose(ad.grad(val)(lam), d1, rtol=1e-9)
    np.testing.assert_allclose(ad.hessian(val)(np.array(lam)), d2, rtol=1e-8)
    np.testing.assert_allclose(ad.grad(ad.grad(val))(lam), d2, rtol=1e-8)   # hypergrad's grad
    for mode in ("fwd-rev", "rev-rev", "rev-fwd"):
        np.testing.assert_allclose(ad.hvp(val, (np.array(lam),), (np.array(1.0),), mode=mode),
                                   d2, rtol=1e-8, err_msg=mode)
    np.testing.assert_allclose(ad.jacobian(ad.grad(val), mode="fwd")(np.array(lam)), d2,
                               rtol=1e-8)
    # the closed-form first derivative's central difference agrees too
    eps = 1e-5
    fd = (_ridge_val_derivatives(lam + eps)[0] - _ridge_val_derivatives(lam - eps)[0]) / (2 * eps)
    np.testing.assert_allclose(ad.hessian(val)(np.array(lam)), fd, rtol=1e-6)


def test_argmin_third_derivative_scalar():
    # the rules' own rules are differentiable as well: grad of grad of grad
    w_of = argmin(ridge_loss, ridge_solver)
    val = lambda lam: ad.mean((XV @ w_of(lam) - YV) ** 2)
    lam, eps = 0.7, 1e-4
    fd = (_ridge_val_derivatives(lam + eps)[1] - _ridge_val_derivatives(lam - eps)[1]) / (2 * eps)
    np.testing.assert_allclose(ad.grad(ad.grad(ad.grad(val)))(lam), fd, rtol=1e-6)


def test_argmin_hessian_vector_theta_vs_finite_differences_of_gradient():
    w_of = argmin(ridge_loss, ridge_solver)
    val = _val_loss(w_of)
    lam = np.array([0.1, -1.0, 0.5, 0.0, -0.3])
    h = ad.hessian(val)(lam)
    g = ad.grad(val)
    eps = 1e-5
    fd = np.array([(np.asarray(g(lam + eps * e)) - np.asarray(g(lam - eps * e))) / (2 * eps)
                   for e in np.eye(5)])
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-15)
    v = RNG.standard_normal(5)
    for mode in ("fwd-rev", "rev-rev", "rev-fwd"):
        np.testing.assert_allclose(ad.hvp(val, (lam,), (v,), mode=mode), h @ v,
                                   rtol=1e-9, atol=1e-12, err_msg=mode)


def test_argmin_rules_are_recorded_by_an_enclosing_tape():
    # a rule's own transforms record on an outer tape: the hypergradient is a function of lam
    # that tape can differentiate
    w_of = argmin(ridge_loss, ridge_solver)
    lam = ad.tensor(0.7)
    with ad.Tape() as tape:
        tape.watch(lam)
        g = ad.grad(lambda l: ad.mean((XV @ w_of(l) - YV) ** 2))(lam)
    d2, = tape.gradient(g, [lam])
    np.testing.assert_allclose(float(d2.data), _ridge_val_derivatives(0.7)[1], rtol=1e-8)
    # d^2 w*/dlam^2 = 2 A^{-2} w*: jvp of jvp, and jvp of a vjp (u^T w'')
    a = X.T @ X + 0.7 * np.eye(5)
    w2 = 2 * np.linalg.solve(a, np.linalg.solve(a, ridge_solver(0.7)))
    one = np.array(1.0)
    _, jj = ad.jvp(lambda l: ad.jvp(w_of, (l,), (one,))[1], (np.array(0.7),), (one,))
    np.testing.assert_allclose(jj, w2, rtol=1e-8)
    u = RNG.standard_normal(5)
    _, jv = ad.jvp(lambda l: ad.vjp(w_of, l)[1](u)[0], (np.array(0.7),), (one,))
    np.testing.assert_allclose(jv, u @ w2, rtol=1e-8)
