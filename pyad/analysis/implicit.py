"""Implicit differentiation: response Jacobians and a differentiable argmin (CG on HVPs)."""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from pyad.ops import core as ops
from pyad.engine._tape import Tape, Tensor, sweep, wrap
from pyad.ops.custom import custom_primitive
from pyad.linalg.cg import cg
from pyad.linalg.vectors import vdot
from pyad.transforms.core import grad
from pyad._typing import ArrayLike

__all__ = ["cg", "response_jacobian", "argmin", "implicit_argmin"]


# ------------------------------------------------------------------------------ helpers
def _array(x):
    """The numpy array behind a Tensor, array or number."""
    return np.asarray(x.data if isinstance(x, Tensor) else x)


# ------------------------------------------------------------------------------ linearisation
class _Linearisation:
    """Second derivatives of inner_loss(w, theta) at one point from ONE recording of its
    gradient (no dense Hessian): H_ww v, the mixed product B t = (d grad_w / d theta) t and
    its transpose B^T u, each one reverse sweep of that recording."""

    def __init__(self, inner_loss, w, theta):
        w = _array(w)
        # integer solutions (rare, e.g. a solver returning exact zeros) are computed in float64
        self.w = wrap(np.array(w, dtype=w.dtype if w.dtype.kind == "f" else np.float64))
        self.theta = wrap(np.array(_array(theta), dtype=self.w.data.dtype))
        self.tape = Tape(persistent=True)
        with self.tape:
            self.tape.watch(self.w, self.theta)
            self.g_w, self.g_theta = grad(inner_loss, argnums=(0, 1))(self.w, self.theta)

    def _sweep(self, target, seed, source):
        # np.array, not np.ascontiguousarray: the latter turns a 0-d seed into shape (1,)
        seed = wrap(np.array(np.asarray(seed, dtype=target.data.dtype).reshape(target.shape),
                             order="C"))
        ct, = sweep(self.tape, [target], [seed], [source])
        return np.zeros_like(source.data) if ct is None else np.asarray(ct.data)

    def hww(self, v):
        """H_ww v (w-shaped)."""
        return self._sweep(self.g_w, v, self.w)

    def mixed(self, t):
        """(d grad_w / d theta) t (w-shaped): by symmetry of mixed partials, the sweep of
        grad_theta seeded with t onto w."""
        return self._sweep(self.g_theta, t, self.w)

    def mixed_t(self, u):
        """(d grad_w / d theta)^T u (theta-shaped)."""
        return self._sweep(self.g_w, u, self.theta)

    def solve(self, b, tol, max_iter):
        """H_ww^{-1} b by CG on HVPs."""
        x, info = cg(self.hww, np.asarray(b, dtype=self.w.data.dtype), tol=tol,
                     max_iter=max_iter)
        if not info["converged"] and info["residual"] > max(1e-6, 1e3 * tol):
            raise np.linalg.LinAlgError(
                f"pyad.analysis.implicit: CG on H_ww did not converge (relative residual "
                f"{info['residual']:.3g} after {info['iterations']} iterations"
                f"{', negative curvature met' if info['negative_curvature'] else ''}); "
                f"is w a strict local minimum of inner_loss?")
        return x


# ------------------------------------------------------------------------------ dense response
def response_jacobian(inner_loss: Callable[[Any, Any], Any], w_star: ArrayLike,
                      theta: ArrayLike, tol: float = 1e-10,
                      max_iter: Optional[int] = None) -> np.ndarray:
    """dw*/dtheta = -H_ww^{-1} H_w_theta at a minimiser w_star of inner_loss(w, theta), as a
    dense array of shape w.shape + theta.shape (for small problems).

    Built from min(w.size, theta.size) CG solves on Hessian-vector products of one recording
    and as many mixed second-derivative products: column by column (one solve per theta
    element) or row by row (one solve per w element, H_ww being symmetric).

    Parameters
    ----------
    inner_loss : callable
        ``inner_loss(w, theta) -> scalar``, in pyad ops.
    w_star : array_like
        A minimiser of ``inner_loss(., theta)`` (H_ww positive definite there).
    theta : array_like
        The outer parameters.
    tol : float, default 1e-10
        CG's relative tolerance.
    max_iter : int, optional
        CG's iteration limit.

    Returns
    -------
    numpy.ndarray
        dw*/dtheta, shape ``w.shape + theta.shape``.

    Raises
    ------
    numpy.linalg.LinAlgError
        When CG on H_ww does not converge (w_star is not a strict local minimum).

    Examples
    --------
    >>> inner = lambda w, t: 0.5 * ad.sum((w - 3.0) ** 2) + 0.5 * t * ad.sum(w ** 2)
    >>> ad.implicit.response_jacobian(inner, np.array([1.5, 1.5]), np.array(1.0))
    array([-0.75, -0.75])
    """
    w_star, theta = _array(w_star), _array(theta)
    lin = _Linearisation(inner_loss, w_star, theta)
    dtype = lin.w.data.dtype
    jac = np.zeros((w_star.size, theta.size), dtype=dtype)
    if theta.size <= w_star.size:
        for j in range(theta.size):
            e = np.zeros(theta.size, dtype=dtype)
            e[j] = 1.0
            jac[:, j] = -lin.solve(lin.mixed(e.reshape(theta.shape)), tol, max_iter).ravel()
    else:
        for i in range(w_star.size):
            e = np.zeros(w_star.size, dtype=dtype)
            e[i] = 1.0
            u = lin.solve(e.reshape(w_star.shape), tol, max_iter)
            jac[i, :] = -lin.mixed_t(u).ravel()
    return jac.reshape(w_star.shape + theta.shape)


# ------------------------------------------------------------------------------ argmin
class _ImplicitRules:
    """The implicit-function-theorem derivatives of w*(theta) = argmin_w inner_loss(w, theta),
    written with pyad transforms on the Tensors the rules receive, so an enclosing transform
    records them too (second and higher derivatives through argmin).

    With r_u(w, theta) = <u, grad_w L(w, theta)>:  grad_w r_u = H_ww u,  grad_theta r_u = B^T u
    (B = d grad_w / d theta), and every product below is a gradient of such a scalar."""

    def __init__(self, inner_loss, tol, max_iter):
        self.inner_loss, self.tol, self.max_iter = inner_loss, tol, max_iter
        self.solve = custom_primitive(self._solve_forward, name="implicit_hessian_solve")
        self.solve.defvjp(self._solve_vjp_b, self._solve_vjp_w, self._solve_vjp_theta)
        self.solve.prim.jvp = self._solve_jvp
        self._cache = None      # (g, ans, w, theta, H^{-1} g): one solve for all inputs' VJPs

    # ---------------------------------------------------------------- products
    def r(self, u, w, theta):
        """<u, grad_w inner_loss(w, theta)>."""
        return vdot(u, grad(self.inner_loss, argnums=0)(w, theta))

    def mixed(self, t, w, theta):
        """B t = grad_w <t, grad_theta inner_loss(w, theta)> (w-shaped)."""
        return grad(lambda w_: vdot(t, grad(self.inner_loss, argnums=1)(w_, theta)))(w)

    def mixed_t(self, u, w, theta):
        """B^T u = grad_theta r_u (theta-shaped)."""
        return grad(lambda th: self.r(u, w, th))(theta)

    # ---------------------------------------------------------------- u = H_ww(w, theta)^{-1} b
    def _solve_forward(self, b, w, theta):
        """numpy: CG on Hessian-vector products of one recording of grad_w."""
        lin = _Linearisation(self.inner_loss, w, theta)
        return np.asarray(lin.solve(b, self.tol, self.max_iter)).reshape(np.shape(w))

    def _solve_again(self, g, ans, w, theta):
        """v = H^{-1} g for the VJP rules (computed once for the three inputs)."""
        c = self._cache
        if c is None or not (c[0] is g and c[1] is ans and c[2] is w and c[3] is theta):
            c = self._cache = (g, ans, w, theta, self.solve(g, w, theta))
        return c[4]

    # d u = H^{-1} (d b - (dH) u): in reverse, with v = H^{-1} g,
    #   b-bar = v,  (w, theta)-bar = -grad <v, H(w, theta) u> = -grad_(w, theta) <v, grad_w r_u>
    def _solve_vjp_b(self, g, ans, b, w, theta):
        return self._solve_again(g, ans, w, theta)

    def _solve_vjp_w(self, g, ans, b, w, theta):
        v = self._solve_again(g, ans, w, theta)
        return ops.negative(grad(lambda w_: vdot(v, grad(
            lambda w2: self.r(ans, w2, theta))(w_)))(w))

    def _solve_vjp_theta(self, g, ans, b, w, theta):
        v = self._solve_again(g, ans, w, theta)
        return ops.negative(grad(lambda th: vdot(v, grad(
            lambda w2: self.r(ans, w2, th))(w)))(theta))

    def _solve_jvp(self, dots, ans, b, w, theta, kwargs):
        """All tangents at once, one solve: H^{-1} (b-dot - d/de[H(w + e w-dot, theta +
        e theta-dot)] u), the last being grad_w of r_u's directional derivative."""
        b_dot, w_dot, th_dot = dots
        rhs = b_dot
        if w_dot is not None or th_dot is not None:
            def directional(w_):
                gw, gth = grad(lambda a, c: self.r(ans, a, c), argnums=(0, 1))(w_, theta)
                terms = [vdot(d, gr) for d, gr in ((w_dot, gw), (th_dot, gth))
                         if d is not None]
                return terms[0] if len(terms) == 1 else ops.add(terms[0], terms[1])
            dhu = grad(directional)(w)
            rhs = ops.negative(dhu) if rhs is None else ops.subtract(rhs, dhu)
        return self.solve(rhs, w, theta)


def argmin(inner_loss: Callable[[Any, Any], Any], solver: Callable[[np.ndarray], ArrayLike],
           tol: float = 1e-10, max_iter: Optional[int] = None) -> Callable[[Any], Any]:
    """theta -> w*(theta) = argmin_w inner_loss(w, theta) as a differentiable pyad function.

    solver(theta) (numpy in, numpy out, never traced) finds the minimiser; its derivatives
    follow the implicit function theorem at the returned point, grad_w inner_loss = 0:
      VJP  g -> -B^T H_ww^{-1} g   (CG solve with H_ww, then a mixed second-derivative product)
      JVP  t -> -H_ww^{-1} B t     (mixed product, then a CG solve)
    with B = d grad_w / d theta. It is a custom primitive, so it composes with other ops under
    ad.grad, ad.vjp, ad.jvp and ad.jacobian (e.g. a validation loss of w*(theta)).

    w and theta are arrays (or floats). The rules are themselves differentiable: the CG solve
    is a primitive whose own rules are again solves with H_ww plus third-derivative products
    of inner_loss, so second derivatives work in every mode (ad.hessian of a validation loss,
    the gradient of a hypergradient, hvp in fwd-rev / rev-rev / rev-fwd). inner_loss must be
    written in pyad ops and be three times differentiable for them.

    Parameters
    ----------
    inner_loss : callable
        ``inner_loss(w, theta) -> scalar``, in pyad ops.
    solver : callable
        ``solver(theta) -> w*`` on numpy arrays (any method: closed form, scipy, ...).
    tol : float, default 1e-10
        CG's relative tolerance in the derivative rules.
    max_iter : int, optional
        CG's iteration limit.

    Returns
    -------
    CustomPrimitive
        ``w_of(theta) -> w*(theta)``, a Tensor, differentiable in theta.

    Examples
    --------
    Ridge-like inner problem with w*(t) = 3 / (1 + t), so dw*/dt = -3 / (1 + t)^2:

    >>> inner = lambda w, t: 0.5 * ad.sum((w - 3.0) ** 2) + 0.5 * t * ad.sum(w ** 2)
    >>> w_of = ad.implicit.argmin(inner, lambda t: np.full(2, 3.0 / (1.0 + t)))
    >>> w_of(np.array(1.0))
    tensor([1.5, 1.5])
    >>> float(ad.grad(lambda t: ad.sum(w_of(t)))(np.array(1.0)))
    -1.5
    """
    def solve_forward(theta):
        return np.asarray(solver(theta))

    prim = custom_primitive(solve_forward, name=f"argmin_{getattr(solver, '__name__', 'solver')}")
    rules = _ImplicitRules(inner_loss, tol, max_iter)

    def vjp_rule(g, ans, theta):
        u = rules.solve(g, ans, theta)
        return ops.negative(rules.mixed_t(u, ans, theta))

    def jvp_rule(t, ans, theta):
        return ops.negative(rules.solve(rules.mixed(t, ans, theta), ans, theta))

    prim.defvjp(vjp_rule)
    prim.defjvp(jvp_rule)
    return prim


implicit_argmin = argmin
