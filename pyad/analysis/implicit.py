"""Implicit differentiation: response Jacobians and a differentiable argmin (CG on HVPs)."""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np

from pyad import backend
from pyad.ops import core as ops
from pyad.engine._tape import Tape, Tensor, sweep, wrap
from pyad.ops.custom import custom_primitive
from pyad.linalg.cg import cg
from pyad.linalg.vectors import vdot
from pyad.transforms.core import grad
from pyad._typing import ArrayLike

__all__ = ["cg", "response_jacobian", "argmin", "implicit_argmin"]


# ------------------------------------------------------------------------------ helpers
# Arrays stay on the backend of the arrays given (numpy, or any Array API library's): the
# numpy branches are the original code; only scalars (CG's dot products) reach the host.
def _array(x, like=None, op="implicit"):
    """The array behind a Tensor, array or number (numpy's np.asarray for numbers and lists,
    or on like's backend; an array of another backend than like's raises TypeError)."""
    x = x.data if isinstance(x, Tensor) else x
    if like is None:
        return backend.as_array(x)
    if type(like) is np.ndarray and type(x) is np.ndarray:
        return x
    return backend.asarray(x, like=like, op=op)


def _on_numpy(x):
    return isinstance(x, (np.ndarray, np.generic))


def _reshape(a, shape):
    return a.reshape(shape) if _on_numpy(a) else backend.namespace(a).reshape(
        a, tuple(shape))


# ------------------------------------------------------------------------------ linearisation
class _Linearisation:
    """Second derivatives of inner_loss(w, theta) at one point from ONE recording of its
    gradient (no dense Hessian): H_ww v, the mixed product B t = (d grad_w / d theta) t and
    its transpose B^T u, each one reverse sweep of that recording."""

    def __init__(self, inner_loss, w, theta):
        w = _array(w)
        theta = _array(theta, like=w, op="implicit")     # on w's backend, or TypeError
        # integer solutions (rare, e.g. a solver returning exact zeros) are computed in float64
        if _on_numpy(w):
            self.w = wrap(np.array(w, dtype=w.dtype if w.dtype.kind == "f" else np.float64))
            self.theta = wrap(np.array(theta, dtype=self.w.data.dtype))
        else:
            dtype = backend.dtype_of(w)
            dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
            self.w = wrap(backend.astype(w, dtype))      # copies, like np.array
            self.theta = wrap(backend.astype(theta, dtype))
        self.dtype = backend.dtype_of(self.w.data)
        self.tape = Tape(persistent=True)
        with self.tape:
            self.tape.watch(self.w, self.theta)
            self.g_w, self.g_theta = grad(inner_loss, argnums=(0, 1))(self.w, self.theta)

    def _sweep(self, target, seed, source):
        if _on_numpy(target.data):
            # np.array, not np.ascontiguousarray: the latter turns a 0-d seed into shape (1,)
            seed = wrap(np.array(np.asarray(seed, dtype=target.data.dtype).reshape(
                target.shape), order="C"))
            ct, = sweep(self.tape, [target], [seed], [source])
            return np.zeros_like(source.data) if ct is None else np.asarray(ct.data)
        seed = wrap(_reshape(backend.asarray(seed, backend.dtype_of(target.data),
                                             like=target.data, op="implicit"), target.shape))
        ct, = sweep(self.tape, [target], [seed], [source])
        return backend.zeros_like(source.data) if ct is None else ct.data

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
        w = self.w.data
        b = (np.asarray(b, dtype=w.dtype) if _on_numpy(w)
             else backend.asarray(b, self.dtype, like=w, op="implicit"))
        x, info = cg(self.hww, b, tol=tol, max_iter=max_iter)
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
                      max_iter: Optional[int] = None) -> Any:
    """dw*/dtheta = -H_ww^{-1} H_w_theta at a minimiser w_star of inner_loss(w, theta), as a
    dense array of shape w.shape + theta.shape (for small problems).

    The work and the result stay on w_star's backend (numpy, or the Array API library of its
    arrays, such as CuPy); theta must live there too (numbers and lists are converted).

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
    array
        dw*/dtheta, shape ``w.shape + theta.shape``, of w_star's array type.

    Raises
    ------
    numpy.linalg.LinAlgError
        When CG on H_ww does not converge (w_star is not a strict local minimum).
    TypeError
        When w_star and theta are arrays of two backends or devices.

    Examples
    --------
    >>> inner = lambda w, t: 0.5 * ad.sum((w - 3.0) ** 2) + 0.5 * t * ad.sum(w ** 2)
    >>> ad.implicit.response_jacobian(inner, np.array([1.5, 1.5]), np.array(1.0))
    array([-0.75, -0.75])
    """
    w_star = _array(w_star)
    theta = _array(theta, like=w_star, op="implicit.response_jacobian")
    lin = _Linearisation(inner_loss, w_star, theta)
    if not _on_numpy(w_star):
        return _response_jacobian_on_backend(lin, w_star, theta, tol, max_iter)
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


def _response_jacobian_on_backend(lin, w_star, theta, tol, max_iter):
    """response_jacobian on another backend than numpy: the basis vectors are rows of an
    identity made there, the columns (rows) are stacked there, nothing is written in place
    (some backends forbid writes)."""
    xp = backend.namespace(w_star)
    w_shape, th_shape = tuple(w_star.shape), tuple(theta.shape)
    w_size, th_size = math.prod(w_shape), math.prod(th_shape)
    like = lin.w.data
    if th_size <= w_size:
        basis = backend.eye(th_size, lin.dtype, like=like)
        cols = [-xp.reshape(lin.solve(lin.mixed(_reshape(basis[j, :], th_shape)), tol,
                                      max_iter), (-1,))
                for j in range(th_size)]
        jac = (xp.stack(cols, axis=1) if cols
               else backend.zeros((w_size, 0), lin.dtype, like=like))
    else:
        basis = backend.eye(w_size, lin.dtype, like=like)
        rows = [-xp.reshape(lin.mixed_t(lin.solve(_reshape(basis[i, :], w_shape), tol,
                                                  max_iter)), (-1,))
                for i in range(w_size)]
        jac = (xp.stack(rows, axis=0) if rows
               else backend.zeros((0, th_size), lin.dtype, like=like))
    return xp.reshape(jac, w_shape + th_shape)


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
        """Arrays (of w's backend): CG on Hessian-vector products of one recording of grad_w."""
        lin = _Linearisation(self.inner_loss, w, theta)
        if _on_numpy(w):
            return np.asarray(lin.solve(b, self.tol, self.max_iter)).reshape(np.shape(w))
        return _reshape(lin.solve(b, self.tol, self.max_iter), w.shape)

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


def argmin(inner_loss: Callable[[Any, Any], Any], solver: Callable[[Any], ArrayLike],
           tol: float = 1e-10, max_iter: Optional[int] = None) -> Callable[[Any], Any]:
    """theta -> w*(theta) = argmin_w inner_loss(w, theta) as a differentiable pyad function.

    solver(theta) (arrays in, arrays out, never traced) finds the minimiser; it receives
    theta's array (numpy, or the Array API library's, such as CuPy) and returns w* on that
    backend, where all the derivative work stays. The derivatives follow the implicit
    function theorem at the returned point, grad_w inner_loss = 0:
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
        ``solver(theta) -> w*`` on theta's arrays (any method: closed form, scipy, ...); a
        number or list is converted to theta's backend, an array of another backend raises
        TypeError.
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
        if _on_numpy(theta):
            return np.asarray(solver(theta))
        # the solver's answer on theta's backend (numbers and lists converted; an array of
        # another backend raises TypeError)
        return backend.asarray(solver(theta), like=theta, op="implicit.argmin")

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
