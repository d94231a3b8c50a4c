"""Curvature of functions and operators: Lanczos eigenpairs of Hessians and Gauss-Newton
matrices, spectral densities, trace and diagonal estimates and stationary-point classification.

Every routine takes a symmetric linear operator as a *matvec*: a function of one flat vector
returning A @ v (an explicit matrix, ``ad.hvp_fn``, ``ad.gnvp``, ...). The ``hessian_*`` and
``gn_*`` wrappers build that matvec from a function and a pytree of parameters, flattening and
unflattening vectors with :func:`ravel`; the vectors live on the parameters' backend (numpy
for numpy). Work is done in float64 whatever the operator's dtype (a float32 HVP limits the
attainable residual to ~1e-7 relative).

The names users know as ``ad.curvature.X`` from the other layers are here too: ``lanczos``
and ``cg`` (pyad.linalg), the quadratic dynamics (pyad.analysis.dynamics), ``argmin`` and
``response_jacobian`` (pyad.analysis.implicit).
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from pyad import backend
from pyad.analysis.dynamics import (QuadraticModel, condition_number, gd_regime,  # noqa: F401
                                    max_stable_lr)
from pyad.analysis.implicit import argmin, response_jacobian  # noqa: F401
from pyad.engine._tape import Tensor
from pyad.engine.pytree import tree_flatten
from pyad.linalg.cg import cg  # noqa: F401
from pyad.linalg.lanczos import (Matvec, across_ranks, lanczos, lanczos_quadrature,
                                 operator_product)
from pyad.linalg.vectors import on_backend_of, ravel_pytree, vdot
from pyad.transforms.core import grad
from pyad.transforms.products import _hvp_fn, gnvp
from pyad.transforms.dense import hessian
from pyad._typing import ArrayLike, PyTree

__all__ = [
    "ravel", "lanczos", "hessian_eigs", "gn_eigs", "spectral_density", "hessian_density",
    "hutchinson_trace", "hutchinson_diag", "classify_stationary_point", "StationaryPoint",
    "QuadraticModel", "gd_regime", "max_stable_lr", "condition_number", "response_jacobian",
    "argmin", "cg",
]


# ============================================================================ pytrees <-> flat
def ravel(tree: PyTree) -> Tuple[Any, Callable[[Any], PyTree]]:
    """(flat, unravel): the leaves of a pytree of arrays/Tensors concatenated into one 1-D
    vector (dtype: the leaves' common floating dtype; Tensors read as their arrays), and the
    inverse map: ``ad.ravel_pytree(tree, detach=True)``.

    unravel(vec) rebuilds the pytree: from a numpy vector it gives numpy leaves of the original
    shapes and dtypes; from a Tensor it slices and reshapes with pyad ops, so it can sit inside
    a differentiated function (e.g. ``ad.hessian(lambda x: f(unravel(x)))(flat)``). Leaves of
    another backend give a vector of that backend, and unravel of such a vector its arrays.

    Parameters
    ----------
    tree : pytree
        Arrays or Tensors in nested lists, tuples and dicts (dict leaves in sorted key
        order).

    Returns
    -------
    flat : numpy.ndarray or array of the leaves' backend
        The 1-D concatenation of the leaves (never a Tensor).
    unravel : callable
        ``unravel(vector) -> pytree`` of the original structure; raises ValueError for a
        vector of the wrong shape.

    Raises
    ------
    TypeError
        When a leaf is not numeric.

    Examples
    --------
    >>> flat, unravel = ad.curvature.ravel({"w": np.ones((2, 2)), "b": np.array([5.0])})
    >>> flat
    array([5., 1., 1., 1., 1.])
    >>> unravel(np.arange(5.0))
    {'b': array([0.]), 'w': array([[1., 2.],
           [3., 4.]])}
    """
    return ravel_pytree(tree, detach=True)


def _flat(tree):
    """The leaves of a pytree (arrays or Tensors) as one flat vector of their backend."""
    return ravel_pytree(tree, detach=True)[0]


# ============================================================================ eigenpairs
def _eigs_of_operator(matvec, flat, unravel, k, which, v0, lanczos_kw):
    """lanczos on a flat matvec, with a pytree (or flat) start vector and pytree eigenvectors;
    the vectors live on the parameters' backend."""
    start = flat.shape[0] if v0 is None else _flat(v0)
    vals, vecs, info = lanczos(matvec, start, k=k, which=which, like=flat, **lanczos_kw)
    trees = [unravel(vecs[:, i]) for i in range(vecs.shape[1])]
    return vals, trees, info


def _hessian_matvec(f, params, args):
    """(matvec on flat vectors, flat params, unravel) for the Hessian of f(params, *args): one
    ad.hvp_fn recording, made by the first product, and one replay of it per later product."""
    flat, unravel = ravel(params)
    fun = lambda p: f(p, *args)      # noqa: E731
    recorded = []
    # numpy parameters of one dtype: the products are written straight into a flat vector
    # (each weight's by the GEMM that makes it), with no copy to flatten them
    leaves = tree_flatten(params)[0]
    in_place = type(flat) is np.ndarray and all(
        type(a) is np.ndarray and a.dtype == flat.dtype
        for a in (x.data if isinstance(x, Tensor) else x for x in leaves))

    def matvec(v):
        if not recorded:
            # the first product makes the recording, with v as its tangent: its own result
            # is H v, one replay fewer than recording with a zero vector first (_flat copies)
            apply, into, hv = _hvp_fn(fun, (params,), (unravel(v),))
            recorded.extend((apply, into))
            return _flat(hv)
        apply, into = recorded
        if in_place and into is not None and type(v) is np.ndarray:
            out = np.empty_like(flat)
            into(tree_flatten(unravel(v))[0], tree_flatten(unravel(out))[0])
            return out
        return _flat(apply(unravel(v)))
    return matvec, flat, unravel


def hessian_eigs(f: Callable[..., Any], params: PyTree, k: int = 1, which: str = "largest",
                 args: Sequence[Any] = (), v0: Optional[PyTree] = None,
                 distributed: bool = False,
                 **lanczos_kw: Any) -> Tuple[np.ndarray, List[PyTree], Dict[str, Any]]:
    """Extreme eigenpairs of the Hessian of scalar f(params, *args) w.r.t. the pytree params.

    The forward and gradient passes are recorded once (ad.hvp_fn); each Lanczos iteration is
    one reverse sweep of that recording. Returns (eigenvalues, eigenvectors as a list of
    pytrees shaped like params, info); lanczos_kw go to :func:`lanczos` (tol, max_iter, seed).
    v0 is an optional start vector (pytree like params, or flat).

    Parameters
    ----------
    f : callable
        ``f(params, *args) -> scalar``, written in pyad ops.
    params : pytree
        The point (arrays or Tensors).
    k : int, default 1
        Eigenpairs wanted (per end for "both").
    which : {"largest", "smallest", "both"}, default "largest"
        Which end(s) of the spectrum.
    args : tuple, default ()
        Further (not differentiated) arguments of f, e.g. a batch of data.
    v0 : pytree or array_like, optional
        A start vector.
    distributed : bool, default False
        Under ``mpiexec`` (after ``dist.init()``): the parameters are the same on every
        rank, f is this rank's share of the objective (e.g. its shard's sum of squares over
        the global sample count), and the Hessian is the sum over the ranks of theirs.
        Every rank returns the same values.
    **lanczos_kw
        tol, max_iter, seed: see :func:`lanczos`.

    Returns
    -------
    eigenvalues : array
        As :func:`lanczos` orders them, on the parameters' backend.
    eigenvectors : list of pytree
        One pytree shaped like params per eigenvalue.
    info : dict
        As :func:`lanczos`.

    Examples
    --------
    >>> f = lambda p: ad.sum(p["a"] ** 2) + 3.0 * ad.sum(p["b"] ** 2)     # H = diag(2, 2, 6)
    >>> vals, vecs, info = ad.curvature.hessian_eigs(f, {"a": np.ones(2), "b": np.ones(1)})
    >>> vals, np.abs(vecs[0]["b"]).round(6)
    (array([6.]), array([1.]))
    """
    matvec, flat, unravel = _hessian_matvec(f, params, args)
    return _eigs_of_operator(matvec, flat, unravel, k, which, v0,
                             dict(lanczos_kw, distributed=distributed))


def gn_eigs(model: Callable[[PyTree], Any], loss: Callable[[Any], Any], params: PyTree,
            k: int = 1, which: str = "largest", v0: Optional[PyTree] = None,
            distributed: bool = False,
            **lanczos_kw: Any) -> Tuple[np.ndarray, List[PyTree], Dict[str, Any]]:
    """Extreme eigenpairs of the Gauss-Newton matrix J^T H_L J of loss(model(params)) (one
    ad.gnvp per iteration); returns and options as :func:`hessian_eigs`.

    Parameters
    ----------
    model : callable
        ``model(params) -> z``.
    loss : callable
        ``loss(z) -> scalar`` (a loss object with ``output_hessian_vp`` is used in closed
        form, see :func:`pyad.gnvp`).
    params : pytree
        The point.
    k, which, v0, distributed, **lanczos_kw
        As for :func:`hessian_eigs` (distributed: each rank's loss is its share, the
        Gauss-Newton matrix the sum over ranks).

    Returns
    -------
    eigenvalues : array
        As :func:`lanczos` orders them, on the parameters' backend.
    eigenvectors : list of pytree
        Shaped like params.
    info : dict
        As :func:`lanczos`.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])                # J^T J = diag(1, 4)
    >>> vals, vecs, info = ad.curvature.gn_eigs(lambda w: X @ w,
    ...                                         lambda z: 0.5 * ad.sum(z ** 2), np.ones(2))
    >>> vals, np.abs(vecs[0]).round(6)
    (array([4.]), array([0., 1.]))
    """
    flat, unravel = ravel(params)

    def matvec(v):
        return _flat(gnvp(model, loss, params, unravel(v)))
    return _eigs_of_operator(matvec, flat, unravel, k, which, v0,
                             dict(lanczos_kw, distributed=distributed))


# ============================================================================ estimators
def _probe(rng, n, kind):
    if kind == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=n)
    if kind == "gaussian":
        return rng.standard_normal(n)
    raise ValueError(f"pyad.curvature: probe={kind!r}; use 'rademacher' or 'gaussian'")


def spectral_density(matvec: Matvec, dim: int, num_probes: int = 10, num_steps: int = 50,
                     grid: Optional[ArrayLike] = None, sigma: Optional[float] = None,
                     seed: int = 0, probe: str = "rademacher",
                     num_points: int = 1001, like: Optional[Any] = None,
                     distributed: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Spectral density of a symmetric operator by stochastic Lanczos quadrature.

    For each of num_probes random probes (Rademacher or Gaussian, normalised) num_steps
    Lanczos steps give Gauss quadrature nodes theta_i and weights tau_i (summing to 1); the
    density is the average over probes of sum_i tau_i N(t; theta_i, sigma^2). sigma defaults
    to 1% of the node range; the default grid spans [min node - 5 sigma, max node + 5 sigma]
    with num_points points, so the density integrates to ~1 on it. Moments: sum tau theta^p
    is an unbiased estimate of tr(A^p) / n for p < 2 num_steps (the broadening adds sigma^2
    to the second moment). Returns (grid, density).

    Parameters
    ----------
    matvec : callable
        ``matvec(v) -> A v`` on flat vectors (symmetric A).
    dim : int
        The dimension n.
    num_probes : int, default 10
        Random probes averaged.
    num_steps : int, default 50
        Lanczos steps (quadrature nodes) per probe.
    grid : array_like, optional
        Where to evaluate the density (default: spanning the nodes, num_points points).
    sigma : float, optional
        The Gaussian broadening (default: 1% of the node range).
    seed : int, default 0
        Seed of the probes.
    probe : {"rademacher", "gaussian"}, default "rademacher"
        The probes' distribution.
    num_points : int, default 1001
        Points of the default grid.
    like : array, optional
        An array on the backend and device the operator's vectors live on (default numpy).
    distributed : bool, default False
        Under ``mpiexec`` (after ``dist.init()``): each rank's matvec is its share and the
        operator is their sum over the ranks; every rank returns the same result.

    Returns
    -------
    grid : numpy.ndarray
        The evaluation points (on the host, with the quadrature nodes).
    density : numpy.ndarray
        The smoothed spectral density there (integrates to ~1).

    Raises
    ------
    ValueError
        For ``dim < 1``, ``sigma <= 0`` or an unknown probe.

    Examples
    --------
    >>> A = np.diag([1.0, 2.0, 3.0, 4.0])
    >>> grid, density = ad.curvature.spectral_density(lambda v: A @ v, 4, num_probes=2,
    ...                                                num_steps=4)
    >>> grid.shape, round(float(np.sum(density) * (grid[1] - grid[0])), 3)
    ((1001,), 1.0)
    """
    n = int(dim)
    if n < 1:
        raise ValueError(f"pyad.curvature.spectral_density: dim must be >= 1, got {dim}")
    if distributed:
        matvec = across_ranks("pyad.spectral_density", matvec)[0]
    rng = np.random.default_rng(seed)
    nodes, weights = [], []
    for _ in range(int(num_probes)):
        probe_n = on_backend_of(_probe(rng, n, probe), like)
        theta, tau = lanczos_quadrature(matvec, probe_n, num_steps)
        nodes.append(theta)
        weights.append(tau / num_probes)
    nodes, weights = np.concatenate(nodes), np.concatenate(weights)
    lo, hi = float(np.min(nodes)), float(np.max(nodes))
    if sigma is None:
        span = hi - lo
        sigma = 0.01 * span if span > 0 else 1e-3 * max(1.0, abs(hi))
    sigma = float(sigma)
    if sigma <= 0:
        raise ValueError(f"pyad.curvature.spectral_density: sigma must be > 0, got {sigma}")
    if grid is None:
        grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, int(num_points))
    grid = np.asarray(backend.to_host(grid), dtype=np.float64)
    z = (grid[:, None] - nodes[None, :]) / sigma
    density = np.exp(-0.5 * z * z) @ weights / (sigma * np.sqrt(2 * np.pi))
    return grid, density


def hessian_density(f: Callable[..., Any], params: PyTree, args: Sequence[Any] = (),
                    **kw: Any) -> Tuple[np.ndarray, np.ndarray]:
    """spectral_density of the Hessian of scalar f(params, *args) at the pytree params (one
    recording by ad.hvp_fn, one reverse sweep per Lanczos step); kw as spectral_density.

    Parameters
    ----------
    f : callable
        ``f(params, *args) -> scalar``.
    params : pytree
        The point.
    args : tuple, default ()
        Further (not differentiated) arguments of f.
    **kw
        num_probes, num_steps, grid, sigma, seed, probe, num_points, distributed (f is this
        rank's share; the Hessian the sum over ranks): see :func:`spectral_density`.

    Returns
    -------
    grid, density : numpy.ndarray
        As :func:`spectral_density`.

    Examples
    --------
    >>> f = lambda p: ad.sum(p ** 2)                           # H = 2 I
    >>> grid, density = ad.curvature.hessian_density(f, np.ones(3), num_probes=2, num_steps=3)
    >>> round(float(grid[np.argmax(density)]), 2)
    2.0
    """
    matvec, flat, _ = _hessian_matvec(f, params, args)
    return spectral_density(matvec, flat.shape[0], like=flat, **kw)


def hutchinson_trace(matvec: Matvec, dim: int, num_probes: int = 100, seed: int = 0,
                     like: Optional[Any] = None, distributed: bool = False) -> Tuple[float, float]:
    """(estimate, standard error) of tr(A) from num_probes Rademacher probes z: the mean of
    z^T A z (unbiased; variance 2 sum_{i != j} A_ij^2 per probe) and its standard error.

    Parameters
    ----------
    matvec : callable
        ``matvec(v) -> A v`` on flat vectors.
    dim : int
        The dimension n.
    num_probes : int, default 100
        Probes averaged.
    seed : int, default 0
        Seed of the probes.
    like : array, optional
        An array on the backend and device the operator's vectors live on (default numpy).
    distributed : bool, default False
        Under ``mpiexec`` (after ``dist.init()``): each rank's matvec is its share and the
        operator is their sum over the ranks; every rank returns the same result.

    Returns
    -------
    estimate : float
        The mean of z^T A z.
    stderr : float
        Its standard error (inf for a single probe).

    Examples
    --------
    >>> A = np.diag([1.0, 2.0, 3.0, 4.0])            # exact for a diagonal A
    >>> ad.curvature.hutchinson_trace(lambda v: A @ v, 4, num_probes=10)
    (10.0, 0.0)
    """
    if distributed:
        matvec = across_ranks("pyad.hutchinson_trace", matvec)[0]
    rng = np.random.default_rng(seed)
    samples = np.empty(int(num_probes))
    for i in range(samples.size):
        z = on_backend_of(_probe(rng, int(dim), "rademacher"), like)
        samples[i] = float(vdot(z, operator_product(matvec, z, int(dim),
                                                    "pyad.hutchinson_trace")))
    se = samples.std(ddof=1) / np.sqrt(samples.size) if samples.size > 1 else np.inf
    return float(samples.mean()), float(se)


def hutchinson_diag(matvec: Matvec, dim: int, num_probes: int = 100, seed: int = 0,
                    like: Optional[Any] = None, distributed: bool = False) -> Any:
    """Estimate of diag(A): the mean of z * (A z) over num_probes Rademacher probes (unbiased;
    entry i has variance sum_{j != i} A_ij^2 per probe, so it is sharp when A is diagonally
    dominant).

    Parameters
    ----------
    matvec : callable
        ``matvec(v) -> A v`` on flat vectors.
    dim : int
        The dimension n.
    num_probes : int, default 100
        Probes averaged.
    seed : int, default 0
        Seed of the probes.
    like : array, optional
        An array on the backend and device the operator's vectors live on (default numpy).
    distributed : bool, default False
        Under ``mpiexec`` (after ``dist.init()``): each rank's matvec is its share and the
        operator is their sum over the ranks; every rank returns the same result.

    Returns
    -------
    array
        The estimated diagonal, shape (n,), on the vectors' backend.

    Examples
    --------
    >>> A = np.diag([1.0, 2.0, 3.0, 4.0])
    >>> ad.curvature.hutchinson_diag(lambda v: A @ v, 4, num_probes=10)
    array([1., 2., 3., 4.])
    """
    if distributed:
        matvec = across_ranks("pyad.hutchinson_diag", matvec)[0]
    rng = np.random.default_rng(seed)
    total = on_backend_of(np.zeros(int(dim)), like)
    for _ in range(int(num_probes)):
        z = on_backend_of(_probe(rng, int(dim), "rademacher"), like)
        total = total + z * operator_product(matvec, z, int(dim), "pyad.hutchinson_diag")
    return total / num_probes


# ============================================================================ stationary points
StationaryPoint = namedtuple("StationaryPoint", ["kind", "eigenvalues", "grad_norm"])
StationaryPoint.__doc__ = """What :func:`classify_stationary_point` found (a namedtuple).

Parameters
----------
kind : str
    "minimum", "maximum", "saddle", "degenerate" or "not stationary".
eigenvalues : numpy.ndarray or None
    The Hessian eigenvalues used (all of them, ascending, when dense; [lambda_min,
    lambda_max] from Lanczos; None when not stationary).
grad_norm : float
    ||grad f(x)||.

Examples
--------
>>> p = ad.curvature.classify_stationary_point(lambda x: x[0] ** 2 - x[1] ** 2, np.zeros(2))
>>> p.kind, p.eigenvalues, p.grad_norm
('saddle', array([-2.,  2.]), 0.0)
"""


def classify_stationary_point(f: Callable[..., Any], x: PyTree, tol: float = 1e-8,
                              grad_tol: Optional[float] = None, dense_max: int = 200,
                              **lanczos_kw: Any) -> StationaryPoint:
    """Classify x for scalar f (x an array or pytree) by the second-order test.

    x is stationary when ||grad f(x)|| <= grad_tol (default tol); otherwise the kind is
    "not stationary". At a stationary point the Hessian's eigenvalues decide: all > tol ->
    "minimum" (strict local minimum), all < -tol -> "maximum", some > tol and some < -tol ->
    "saddle", otherwise (none of opposite sign, some within tol of 0) -> "degenerate" (the
    second-order test is inconclusive, e.g. x^4 + y^2 at 0). Up to dense_max parameters the
    dense Hessian (ad.hessian) is diagonalised; above, Lanczos finds both ends of the
    spectrum, which is all the test needs.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``, written in pyad ops.
    x : array_like or pytree
        The candidate point.
    tol : float, default 1e-8
        Eigenvalues within tol of 0 count as zero.
    grad_tol : float, optional
        The gradient norm below which x is stationary (default ``tol``).
    dense_max : int, default 200
        Up to this many parameters the dense Hessian is used.
    **lanczos_kw
        Options of :func:`lanczos` for larger problems.

    Returns
    -------
    StationaryPoint
        (kind, eigenvalues, grad_norm).

    Examples
    --------
    >>> classify = ad.curvature.classify_stationary_point
    >>> classify(lambda x: x[0] ** 2 - x[1] ** 2, np.zeros(2)).kind
    'saddle'
    >>> classify(lambda x: x[0] ** 4 + x[1] ** 2, np.zeros(2)).kind
    'degenerate'
    >>> classify(lambda x: ad.sum(x ** 2), np.ones(2)).kind
    'not stationary'
    """
    grad_tol = tol if grad_tol is None else grad_tol
    flat, unravel = ravel(x)
    g = _flat(grad(f)(x))
    gnorm = float(np.sqrt(float(vdot(g, g))))
    if not gnorm <= grad_tol:
        return StationaryPoint("not stationary", None, gnorm)
    n = flat.shape[0]
    if n <= dense_max:
        # a small dense eigenproblem: on the host, whatever x's backend
        H = backend.to_host(hessian(lambda v: f(unravel(v)))(flat)).astype(np.float64)
        eigs = np.linalg.eigvalsh(0.5 * (H + H.T))
    else:
        matvec, flat, _ = _hessian_matvec(f, x, ())
        eigs = backend.to_host(lanczos(matvec, n, k=1, which="both", like=flat,
                                       **lanczos_kw)[0])
    lo, hi = float(np.min(eigs)), float(np.max(eigs))
    if lo > tol:
        kind = "minimum"
    elif hi < -tol:
        kind = "maximum"
    elif lo < -tol and hi > tol:
        kind = "saddle"
    else:
        kind = "degenerate"
    return StationaryPoint(kind, eigs, gnorm)


