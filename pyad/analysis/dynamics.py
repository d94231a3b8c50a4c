"""Quadratic dynamics: GD and momentum on w^T A w / 2 + b^T w + c in closed form; lr regimes."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from pyad import backend
from pyad.linalg.vectors import on_backend_of
from pyad._typing import ArrayLike

__all__ = ["QuadraticModel", "gd_regime", "max_stable_lr", "condition_number"]

_EPS = np.finfo(np.float64).eps


def _host(x):
    """x as a float64 numpy array: these are small dense host computations (an eigh of A and
    elementwise closed forms), so arrays of other backends are copied here explicitly."""
    return np.asarray(backend.to_host(x), dtype=np.float64)


def _chebyshev_s(t, beta, ks):
    """s_k with s_0 = 0, s_1 = 1, s_{k+1} = t s_k - beta s_{k-1} for k in ks (rows) and each
    (t, beta) pair (columns): the (1, 0) entry of M^k for M = [[t, -beta], [1, 0]], so that
    M^k = s_k M - beta s_{k-1} I. Closed form from M's eigenvalues r = (t +- sqrt(t^2 -
    4 beta)) / 2: s_k = rho^(k-1) U_{k-1}(t / (2 rho)) with rho = sqrt(beta) (U: Chebyshev of
    the second kind, sin(k th)/sin(th) for complex r, sinh(k ph)/sinh(ph) for real r), which
    stays accurate at and near the double root where (r1^k - r2^k)/(r1 - r2) cancels."""
    t = np.asarray(t, dtype=np.float64)[None, :]
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), t.shape[1:])[None, :]
    k = np.asarray(ks, dtype=np.float64)[:, None]
    out = np.zeros(np.broadcast_shapes(k.shape, t.shape))
    zero = (beta == 0)[0]
    with np.errstate(all="ignore"):
        if np.any(zero):                 # roots t and 0: s_k = t^(k-1)
            tz = t[:, zero]
            out[:, zero] = np.where(k >= 1, tz ** np.maximum(k - 1, 0), 0.0)
        pos = ~zero
        if np.any(pos):
            tp, rho = t[:, pos], np.sqrt(beta[:, pos])
            x = tp / (2 * rho)
            sgn = np.where(x < 0, -1.0, 1.0)
            y = np.abs(x)
            sign_k = sgn ** (k - 1)
            # |x| <= 1: complex conjugate roots rho e^{+-i th}
            th = np.arccos(np.minimum(y, 1.0))
            sin_th = np.sin(th)
            trig = np.where(sin_th > 0, np.sin(k * th) / np.where(sin_th > 0, sin_th, 1.0), k)
            trig = rho ** (k - 1) * trig
            # |x| > 1: real roots of one sign, magnitudes rho e^{+-ph}
            ph = np.arccosh(np.maximum(y, 1.0))
            den = np.expm1(-2 * ph)
            ratio = np.where(den != 0, np.expm1(-2 * k * ph) / np.where(den != 0, den, 1.0), k)
            hyp = np.exp((k - 1) * (np.log(rho) + ph)) * ratio
            out[:, pos] = sign_k * np.where(y <= 1, trig, hyp)
    out[k[:, 0] == 0] = 0.0
    return out


def gd_regime(alpha: float, lambdas: ArrayLike, bt: Optional[ArrayLike] = None,
              zero_tol: float = 0.0) -> np.ndarray:
    """Per eigen-direction label of gradient descent w <- w - alpha (A w + b) on a quadratic
    with curvatures lambdas: the error along direction j is multiplied by 1 - alpha lambda_j
    each step.

    "decaying":    0 < alpha lambda <= 1 (monotone; alpha lambda = 1 lands in one step),
    "oscillating": 1 < alpha lambda <= 2 (sign flips each step; it decays below 2, and at
                   alpha lambda = 2 exactly it oscillates forever with constant amplitude),
    "diverging":   alpha lambda > 2 (growing oscillation) or lambda < 0 (monotone growth),
    "stationary" / "drifting": lambda = 0 (|lambda| <= zero_tol): the direction never moves
                   when its component of b, bt_j, is 0, and moves by -alpha bt_j every step
                   forever ("drifting") otherwise; without bt these are all "stationary".
    Products within 1e-12 of 1 or 2 count as exactly 1 or 2.

    Parameters
    ----------
    alpha : float
        The learning rate, > 0.
    lambdas : array_like
        The curvatures (Hessian eigenvalues).
    bt : array_like, optional
        The linear term's components along the same directions (tells drifting from
        stationary flat directions).
    zero_tol : float, default 0
        Curvatures with ``|lambda| <= zero_tol`` count as zero.

    Returns
    -------
    numpy.ndarray
        One label (str, object dtype) per curvature.

    Raises
    ------
    ValueError
        When ``alpha <= 0``.

    Examples
    --------
    >>> ad.curvature.gd_regime(0.5, [1.0, 3.0, 5.0, 0.0, -1.0]).tolist()
    ['decaying', 'oscillating', 'diverging', 'stationary', 'diverging']
    """
    alpha = float(alpha)
    if not alpha > 0:
        raise ValueError(f"pyad.gd_regime: alpha must be > 0, got {alpha}")
    lam = _host(lambdas)
    p = alpha * lam
    labels = np.full(lam.shape, "oscillating", dtype=object)
    labels[p <= 1 + 1e-12] = "decaying"
    labels[p > 2 + 1e-12] = "diverging"
    labels[lam < -zero_tol] = "diverging"
    zero = np.abs(lam) <= zero_tol
    drift = zero & (np.abs(_host(bt)) > 0 if bt is not None else False)
    labels[zero] = "stationary"
    labels[drift] = "drifting"
    return labels


def max_stable_lr(lambdas: ArrayLike) -> float:
    """2 / lambda_max: gradient descent converges along every positive-curvature direction
    iff alpha < 2 / lambda_max. inf when no eigenvalue is positive (directions with
    lambda < 0 diverge for every alpha > 0 regardless).

    Parameters
    ----------
    lambdas : array_like
        The curvatures.

    Returns
    -------
    float
        2 / max(lambdas), or inf.

    Examples
    --------
    >>> ad.curvature.max_stable_lr([0.5, 4.0])
    0.5
    """
    lmax = float(np.max(_host(lambdas)))
    return 2.0 / lmax if lmax > 0 else np.inf


def condition_number(lambdas: ArrayLike) -> float:
    """lambda_max / lambda_min for a positive definite spectrum; inf when lambda_min <= 0.

    Parameters
    ----------
    lambdas : array_like
        The eigenvalues.

    Returns
    -------
    float
        The condition number.

    Examples
    --------
    >>> ad.curvature.condition_number([0.5, 4.0]), ad.curvature.condition_number([0.0, 1.0])
    (8.0, inf)
    """
    lam = _host(lambdas)
    lmin = float(np.min(lam))
    return float(np.max(lam)) / lmin if lmin > 0 else np.inf


class QuadraticModel:
    """J(w) = 1/2 w^T A w + b^T w + c with A symmetric, and the exact dynamics of gradient
    descent and heavy-ball momentum on it.

    In the eigenbasis A = Q diag(a) Q^T, u = Q^T w and b~ = Q^T b, the directions decouple:
    gradient descent gives u_j <- (1 - alpha a_j) u_j - alpha b~_j, so for a_j != 0
    u_j(k) = u*_j + (1 - alpha a_j)^k (u_j(0) - u*_j) with the fixed point u*_j = -b~_j / a_j,
    and for a_j = 0 (|a_j| <= zero_tol, default n eps max|a|) u_j(k) = u_j(0) - k alpha b~_j:
    it drifts linearly forever when b~_j != 0 (b outside A's range: J unbounded below) and
    never moves when b~_j = 0.

    A and b may be arrays of any backend: the model is a small dense host computation (numpy
    eigh), and the arrays its methods return go back to A's backend (numpy for numpy).

    Parameters
    ----------
    A : array_like
        The symmetric (n, n) curvature matrix.
    b : array_like
        The linear term, n entries.
    c : float, default 0
        The constant term.
    zero_tol : float, optional
        Eigenvalues with ``|a_j| <= zero_tol`` count as zero (default n eps max|a|).

    Raises
    ------
    ValueError
        When A is not square, does not match b, or is not symmetric.

    Examples
    --------
    >>> q = ad.curvature.QuadraticModel(np.diag([1.0, 4.0]), np.array([-1.0, 0.0]))
    >>> float(q.value(np.array([1.0, 0.0]))), q.grad(np.zeros(2))
    (-0.5, array([-1.,  0.]))
    >>> q.gd_regime(0.4).tolist()                # alpha a = 0.4 and 1.6
    ['decaying', 'oscillating']
    >>> q.gd_trajectory(np.array([0.0, 1.0]), 0.4, 2)
    array([[ 0.  ,  1.  ],
           [ 0.4 , -0.6 ],
           [ 0.64,  0.36]])
    """

    def __init__(self, A: ArrayLike, b: ArrayLike, c: float = 0.0,
                 zero_tol: Optional[float] = None) -> None:
        # computed on the host; what the methods return goes back to A's backend
        self._like = A if backend.is_foreign(A) else None
        A, b = _host(A), _host(b).ravel()
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] != b.size:
            raise ValueError(f"pyad.QuadraticModel: A must be (n, n) and b (n,), "
                             f"got {A.shape} and {b.shape}")
        scale = max(np.max(np.abs(A)), np.finfo(float).tiny) if A.size else 1.0
        if np.max(np.abs(A - A.T), initial=0.0) > 1e-10 * scale:
            raise ValueError("pyad.QuadraticModel: A must be symmetric")
        self.A, self.b, self.c = 0.5 * (A + A.T), b, float(c)
        self.lambdas, self.Q = np.linalg.eigh(self.A)
        self.zero_tol = (A.shape[0] * _EPS * max(np.max(np.abs(self.lambdas), initial=0.0), 1e-300)
                         if zero_tol is None else float(zero_tol))
        self.bt = self.Q.T @ self.b

    @property
    def eig(self) -> Tuple[Any, Any]:
        """(eigenvalues ascending, orthonormal eigenvectors as columns) of A (numpy eigh)."""
        return self._out(self.lambdas), self._out(self.Q)

    def _out(self, x):
        return on_backend_of(x, self._like)

    def value(self, w: ArrayLike) -> float:
        """J(w) = 1/2 w^T A w + b^T w + c.

        Parameters
        ----------
        w : array_like
            A point, n entries.

        Returns
        -------
        float
            The value.

        Examples
        --------
        >>> float(ad.curvature.QuadraticModel(np.eye(2), np.ones(2), c=1.0).value(np.ones(2)))
        4.0
        """
        w = _host(w)
        return 0.5 * w @ self.A @ w + self.b @ w + self.c

    def grad(self, w: ArrayLike) -> np.ndarray:
        """grad J(w) = A w + b.

        Parameters
        ----------
        w : array_like
            A point, n entries.

        Returns
        -------
        array
            The gradient.

        Examples
        --------
        >>> ad.curvature.QuadraticModel(np.diag([1.0, 4.0]), np.ones(2)).grad(np.ones(2))
        array([2., 5.])
        """
        return self._out(self._grad(_host(w)))

    def _grad(self, w):
        return self.A @ w + self.b

    def _zero(self):
        return np.abs(self.lambdas) <= self.zero_tol

    def gd_regime(self, alpha: float) -> np.ndarray:
        """gd_regime(alpha, eigenvalues of A, b~) (ascending-eigenvalue order).

        Parameters
        ----------
        alpha : float
            The learning rate, > 0.

        Returns
        -------
        numpy.ndarray
            One label per eigen-direction: see :func:`gd_regime`.

        Examples
        --------
        >>> q = ad.curvature.QuadraticModel(np.diag([0.0, 1.0]), np.array([1.0, 0.0]))
        >>> q.gd_regime(2.5).tolist()
        ['drifting', 'diverging']
        """
        bt = np.where(np.abs(self.bt) > 1e-12 * max(np.linalg.norm(self.b), 1e-300), self.bt, 0)
        return gd_regime(alpha, self.lambdas, bt=bt, zero_tol=self.zero_tol)

    def gd_trajectory(self, w0: ArrayLike, alpha: float, steps: int) -> np.ndarray:
        """Iterates w_0 .. w_steps of w <- w - alpha grad J(w), as a (steps + 1, n) array, in
        closed form (no iteration): per eigen-direction the error from the fixed point is
        multiplied by (1 - alpha a_j)^k; zero-curvature directions move by -k alpha b~_j.

        Parameters
        ----------
        w0 : array_like
            The start, n entries.
        alpha : float
            The learning rate.
        steps : int
            The number of steps.

        Returns
        -------
        array
            Shape (steps + 1, n), row k the k-th iterate.

        Examples
        --------
        >>> q = ad.curvature.QuadraticModel(np.diag([1.0, 4.0]), np.array([-1.0, 0.0]))
        >>> q.gd_trajectory(np.zeros(2), 0.5, 3)[:, 0]       # 1 - 0.5^k
        array([0.   , 0.5  , 0.75 , 0.875])
        """
        u0 = self.Q.T @ _host(w0)
        k = np.arange(int(steps) + 1, dtype=np.float64)[:, None]
        a, zero = self.lambdas, self._zero()
        a_safe = np.where(zero, 1.0, a)
        ustar = -self.bt / a_safe
        with np.errstate(over="ignore", invalid="ignore"):
            u = np.where(zero, u0 - k * alpha * self.bt,
                         ustar + (1 - alpha * a) ** k * (u0 - ustar))
        return self._out(u @ self.Q.T)

    def momentum_trajectory(self, w0: ArrayLike, alpha: float, beta: float,
                            steps: int) -> np.ndarray:
        """Iterates w_0 .. w_steps of heavy-ball momentum v <- beta v - alpha grad J(w),
        w <- w + v, v_0 = 0, in closed form. Per eigen-direction the error e_k = u_k - u*_j obeys
        e_{k+1} = t e_k - beta e_{k-1} with t = 1 + beta - alpha a_j, i.e. a 2x2 matrix
        M = [[t, -beta], [1, 0]] acting on (e_k, e_{k-1}); by Cayley-Hamilton
        M^k = s_k M - beta s_{k-1} I with s_k from M's eigenvalues (see _chebyshev_s), so
        e_k = (s_{k+1} - beta s_k) e_0 (as e_{-1} = e_0). Zero-curvature directions move by
        -alpha b~_j (k - beta (1 - beta^k) / (1 - beta)) / (1 - beta) (k (k + 1) / 2 for
        beta = 1).

        Parameters
        ----------
        w0 : array_like
            The start, n entries.
        alpha : float
            The learning rate.
        beta : float
            The momentum, >= 0.
        steps : int
            The number of steps.

        Returns
        -------
        array
            Shape (steps + 1, n), row k the k-th iterate.

        Raises
        ------
        ValueError
            When ``beta < 0``.

        Examples
        --------
        >>> q = ad.curvature.QuadraticModel(np.diag([1.0, 4.0]), np.array([-1.0, 0.0]))
        >>> q.momentum_trajectory(np.array([0.0, 1.0]), 0.1, 0.5, 2)
        array([[0.  , 1.  ],
               [0.1 , 0.6 ],
               [0.24, 0.16]])
        """
        alpha, beta = float(alpha), float(beta)
        if beta < 0:
            raise ValueError(f"pyad.QuadraticModel.momentum_trajectory: beta must be >= 0, "
                             f"got {beta}")
        u0 = self.Q.T @ _host(w0)
        K = int(steps)
        a, zero = self.lambdas, self._zero()
        t = 1 + beta - alpha * a
        s = _chebyshev_s(t, beta, np.arange(K + 2))
        factor = s[1:] - beta * s[:-1]                       # rows k = 0..K
        a_safe = np.where(zero, 1.0, a)
        ustar = -self.bt / a_safe
        k = np.arange(K + 1, dtype=np.float64)[:, None]
        if beta == 1.0:
            drift = k * (k + 1) / 2
        else:
            drift = (k - beta * (1 - beta ** k) / (1 - beta)) / (1 - beta)
        with np.errstate(over="ignore", invalid="ignore"):
            u = np.where(zero, u0 - alpha * self.bt * drift, ustar + factor * (u0 - ustar))
        return self._out(u @ self.Q.T)

    def simulate_gd(self, w0: ArrayLike, alpha: float, steps: int) -> np.ndarray:
        """The same iterates as gd_trajectory by running the loop (for checking).

        Parameters
        ----------
        w0 : array_like
            The start.
        alpha : float
            The learning rate.
        steps : int
            The number of steps.

        Returns
        -------
        array
            Shape (steps + 1, n).

        Examples
        --------
        >>> q = ad.curvature.QuadraticModel(np.diag([1.0, 4.0]), np.array([-1.0, 0.0]))
        >>> np.allclose(q.simulate_gd(np.ones(2), 0.3, 5), q.gd_trajectory(np.ones(2), 0.3, 5))
        True
        """
        w = _host(w0).copy()
        out = [w.copy()]
        for _ in range(int(steps)):
            w = w - alpha * self._grad(w)
            out.append(w.copy())
        return self._out(np.array(out))

    def simulate_momentum(self, w0: ArrayLike, alpha: float, beta: float,
                          steps: int) -> np.ndarray:
        """The same iterates as momentum_trajectory by running the loop (for checking).

        Parameters
        ----------
        w0 : array_like
            The start.
        alpha : float
            The learning rate.
        beta : float
            The momentum.
        steps : int
            The number of steps.

        Returns
        -------
        array
            Shape (steps + 1, n).

        Examples
        --------
        >>> q = ad.curvature.QuadraticModel(np.diag([1.0, 4.0]), np.array([-1.0, 0.0]))
        >>> np.allclose(q.simulate_momentum(np.ones(2), 0.1, 0.9, 6),
        ...             q.momentum_trajectory(np.ones(2), 0.1, 0.9, 6))
        True
        """
        w = _host(w0).copy()
        v = np.zeros_like(w)
        out = [w.copy()]
        for _ in range(int(steps)):
            v = beta * v - alpha * self._grad(w)
            w = w + v
            out.append(w.copy())
        return self._out(np.array(out))
