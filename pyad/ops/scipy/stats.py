"""pyad.scipy.stats: the distributions autograd.scipy.stats differentiates, written in pyad ops.

Each distribution is an object with scipy's methods and signatures (``norm.logpdf(x, loc=0,
scale=1)``), differentiable in the data and in every parameter, except where the function
needs a derivative of a regularised incomplete function in a shape parameter (the CDFs of t,
beta, gamma and chi2 in df, a, b; poisson in k): that raises NotImplementedError, as in
autograd. Values are scipy's (tests/test_scipy.py compares them).
"""
from __future__ import annotations

import math
from typing import Any, Optional

from pyad.ops import core as o
from pyad.ops import special as sp
from pyad.ops.linalg import slogdet, solve
from pyad._typing import ArrayLike
from pyad import backend
from pyad.engine._tape import Tensor
from pyad.ops.custom import custom_primitive

__all__ = ["norm", "t", "beta", "gamma", "chi2", "poisson", "multivariate_normal", "dirichlet"]

_LOG_2PI = math.log(2.0 * math.pi)


def _standard(x, loc, scale):
    """(x - loc) / scale as a Tensor (any argument may be an array, Tensor or number); the
    default loc 0 and scale 1 cost no op."""
    z = o._t(x)
    if not (isinstance(loc, (int, float)) and loc == 0):
        z = z - loc
    if not (isinstance(scale, (int, float)) and scale == 1):
        z = z / scale
    return z


def _log_scale(scale):
    return o.log(o._t(scale)) if not isinstance(scale, (int, float)) else math.log(scale)


class _Distribution:
    """Shared methods: pdf = exp(logpdf), sf = 1 - cdf, logcdf = log(cdf), logsf = log(sf),
    unless the distribution has a better-conditioned form."""
    name = "distribution"

    def pdf(self, x: ArrayLike, *args: Any, **kwargs: Any) -> Tensor:
        """The density: exp(logpdf(x, ...))."""
        return o.exp(self.logpdf(x, *args, **kwargs))

    def logcdf(self, x: ArrayLike, *args: Any, **kwargs: Any) -> Tensor:
        """log cdf(x, ...)."""
        return o.log(self.cdf(x, *args, **kwargs))

    def sf(self, x: ArrayLike, *args: Any, **kwargs: Any) -> Tensor:
        """The survival function 1 - cdf(x, ...)."""
        return 1.0 - self.cdf(x, *args, **kwargs)

    def logsf(self, x: ArrayLike, *args: Any, **kwargs: Any) -> Tensor:
        """log sf(x, ...)."""
        return o.log(self.sf(x, *args, **kwargs))

    def __repr__(self):
        return f"<pyad.scipy.stats.{self.name}>"


class _Norm(_Distribution):
    """The normal distribution (``scipy.stats.norm``): logpdf, pdf, cdf, logcdf, sf, logsf of
    x with loc (the mean) and scale (the standard deviation), all differentiable.

    Examples
    --------
    >>> from pyad.scipy.stats import norm
    >>> norm.logpdf(np.array([0.0]), 0.0, 1.0)
    tensor([-0.91893853])
    >>> float(ad.grad(lambda m: ad.sum(norm.logpdf(np.array([1.0, 3.0]), m, 1.0)))(2.0))
    0.0
    """
    name = "norm"

    def logpdf(self, x: ArrayLike, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0) -> Tensor:
        """log density: -z**2/2 - log(scale) - log(2 pi)/2, z = (x - loc) / scale."""
        z = _standard(x, loc, scale)
        return -0.5 * o.square(z) - (_log_scale(scale) + 0.5 * _LOG_2PI)

    def cdf(self, x: ArrayLike, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0) -> Tensor:
        """ndtr(z)."""
        return sp.ndtr(_standard(x, loc, scale))

    def logcdf(self, x: ArrayLike, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0) -> Tensor:
        """log_ndtr(z): accurate far in the left tail."""
        return sp.log_ndtr(_standard(x, loc, scale))

    def sf(self, x: ArrayLike, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0) -> Tensor:
        """ndtr(-z)."""
        return sp.ndtr(-_standard(x, loc, scale))

    def logsf(self, x: ArrayLike, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0) -> Tensor:
        """log_ndtr(-z)."""
        return sp.log_ndtr(-_standard(x, loc, scale))


class _T(_Distribution):
    """Student's t distribution (``scipy.stats.t``): logpdf, pdf, cdf, logcdf, sf, logsf of x
    with df, loc and scale; the CDFs have no derivative in df.

    Examples
    --------
    >>> from pyad.scipy.stats import t
    >>> t.cdf(np.array([0.0]), 4.0)
    tensor([0.5])
    """
    name = "t"

    def logpdf(self, x: ArrayLike, df: ArrayLike, loc: ArrayLike = 0.0,
               scale: ArrayLike = 1.0) -> Tensor:
        """log density of t with df degrees of freedom at (x - loc) / scale."""
        z = _standard(x, loc, scale)
        df = _like(df, z)
        half = (df + 1.0) * 0.5
        return (sp.gammaln(half) - sp.gammaln(df * 0.5) - 0.5 * o.log(df * math.pi)
                - half * o.log1p(o.square(z) / df) - _log_scale(scale))

    def cdf(self, x: ArrayLike, df: ArrayLike, loc: ArrayLike = 0.0,
            scale: ArrayLike = 1.0) -> Tensor:
        """stdtr(df, z)."""
        z = _standard(x, loc, scale)
        return sp.stdtr(_like(df, z), z)

    def sf(self, x: ArrayLike, df: ArrayLike, loc: ArrayLike = 0.0,
           scale: ArrayLike = 1.0) -> Tensor:
        """stdtr(df, -z)."""
        z = _standard(x, loc, scale)
        return sp.stdtr(_like(df, z), -z)


class _Beta(_Distribution):
    """The beta distribution (``scipy.stats.beta``): logpdf, pdf, cdf, logcdf, sf, logsf of x
    with shapes a, b, loc and scale; the CDFs have no derivative in a or b.

    Examples
    --------
    >>> from pyad.scipy.stats import beta
    >>> beta.pdf(np.array([0.5]), 2.0, 2.0)
    tensor([1.5])
    """
    name = "beta"

    def logpdf(self, x: ArrayLike, a: ArrayLike, b: ArrayLike, loc: ArrayLike = 0.0,
               scale: ArrayLike = 1.0) -> Tensor:
        """(a-1) log z + (b-1) log(1-z) - betaln(a, b) - log(scale)."""
        z = _standard(x, loc, scale)
        a, b = _like(a, z), _like(b, z)
        return (sp.xlogy(a - 1.0, z) + sp.xlog1py(b - 1.0, -z) - sp.betaln(a, b)
                - _log_scale(scale))

    def cdf(self, x: ArrayLike, a: ArrayLike, b: ArrayLike, loc: ArrayLike = 0.0,
            scale: ArrayLike = 1.0) -> Tensor:
        """betainc(a, b, z)."""
        z = _standard(x, loc, scale)
        return sp.betainc(_like(a, z), _like(b, z), z)

    def sf(self, x: ArrayLike, a: ArrayLike, b: ArrayLike, loc: ArrayLike = 0.0,
           scale: ArrayLike = 1.0) -> Tensor:
        """betainc(b, a, 1 - z): no cancellation near z = 1."""
        z = _standard(x, loc, scale)
        return sp.betainc(_like(b, z), _like(a, z), 1.0 - z)


class _Gamma(_Distribution):
    """The gamma distribution (``scipy.stats.gamma``): logpdf, pdf, cdf, logcdf, sf, logsf of x
    with shape a, loc and scale; the CDFs have no derivative in a.

    Examples
    --------
    >>> from pyad.scipy.stats import gamma
    >>> gamma.pdf(np.array([1.0]), 1.0)        # exp(-1)
    tensor([0.36787944])
    """
    name = "gamma"

    def logpdf(self, x: ArrayLike, a: ArrayLike, loc: ArrayLike = 0.0,
               scale: ArrayLike = 1.0) -> Tensor:
        """(a-1) log z - z - gammaln(a) - log(scale)."""
        z = _standard(x, loc, scale)
        a = _like(a, z)
        return sp.xlogy(a - 1.0, z) - z - sp.gammaln(a) - _log_scale(scale)

    def cdf(self, x: ArrayLike, a: ArrayLike, loc: ArrayLike = 0.0,
            scale: ArrayLike = 1.0) -> Tensor:
        """gammainc(a, z)."""
        z = _standard(x, loc, scale)
        return sp.gammainc(_like(a, z), z)

    def sf(self, x: ArrayLike, a: ArrayLike, loc: ArrayLike = 0.0,
           scale: ArrayLike = 1.0) -> Tensor:
        """gammaincc(a, z)."""
        z = _standard(x, loc, scale)
        return sp.gammaincc(_like(a, z), z)


class _Chi2(_Distribution):
    """The chi-squared distribution (``scipy.stats.chi2``): a gamma distribution of shape
    df / 2 and scale 2 (times scale); logpdf, pdf, cdf, logcdf, sf, logsf.

    Examples
    --------
    >>> from pyad.scipy.stats import chi2
    >>> chi2.cdf(np.array([2.0]), 2.0)         # 1 - exp(-1)
    tensor([0.63212056])
    """
    name = "chi2"

    def logpdf(self, x: ArrayLike, df: ArrayLike, loc: ArrayLike = 0.0,
               scale: ArrayLike = 1.0) -> Tensor:
        """gamma.logpdf(x, df / 2, loc, 2 scale)."""
        return gamma.logpdf(x, _half(df), loc, _twice(scale))

    def cdf(self, x: ArrayLike, df: ArrayLike, loc: ArrayLike = 0.0,
            scale: ArrayLike = 1.0) -> Tensor:
        """gammainc(df / 2, z / 2)."""
        return gamma.cdf(x, _half(df), loc, _twice(scale))

    def sf(self, x: ArrayLike, df: ArrayLike, loc: ArrayLike = 0.0,
           scale: ArrayLike = 1.0) -> Tensor:
        """gammaincc(df / 2, z / 2)."""
        return gamma.sf(x, _half(df), loc, _twice(scale))


class _Poisson(_Distribution):
    """The Poisson distribution (``scipy.stats.poisson``): logpmf, pmf, cdf, logcdf, sf, logsf
    of the count k with mean mu (and loc), differentiable in mu (k is a count).

    Examples
    --------
    >>> from pyad.scipy.stats import poisson
    >>> poisson.pmf(np.array([0.0]), 1.0)
    tensor([0.36787944])
    """
    name = "poisson"

    def logpmf(self, k: ArrayLike, mu: ArrayLike, loc: ArrayLike = 0.0) -> Tensor:
        """k log(mu) - mu - gammaln(k + 1), k counted from loc (not differentiated)."""
        k = _count(k, loc)
        mu = _like(mu, k)
        return sp.xlogy(k, mu) - mu - sp.gammaln(k + 1.0)

    def pmf(self, k: ArrayLike, mu: ArrayLike, loc: ArrayLike = 0.0) -> Tensor:
        """exp(logpmf)."""
        return o.exp(self.logpmf(k, mu, loc))

    def cdf(self, k: ArrayLike, mu: ArrayLike, loc: ArrayLike = 0.0) -> Tensor:
        """pdtr(k - loc, mu): P(K <= k)."""
        k = _count(k, loc)
        return sp.pdtr(k, _like(mu, k))


def _count(k, loc):
    """k - loc as a float Tensor; differentiating in it raises (counts have no derivative)."""
    return _COUNT(o._t(k) - loc + 0.0)


def _no_count_derivative(*_):
    raise NotImplementedError("pyad.scipy.stats.poisson: no derivative with respect to the "
                              "count k (autograd has none either); differentiate in mu")


_COUNT = custom_primitive(lambda k: backend.copy(k), name="poisson_count")
_COUNT.defvjp(_no_count_derivative)
_COUNT.defjvp(_no_count_derivative)


class _MultivariateNormal:
    """The multivariate normal (``scipy.stats.multivariate_normal``): logpdf, pdf and entropy,
    differentiable in x, mean and cov (through a solve and a log-determinant).

    cov may be a matrix, a vector (its diagonal) or a number (times the identity); x holds
    points on its last axis, and a single point gives a 0-d result, as in scipy.

    Examples
    --------
    >>> from pyad.scipy.stats import multivariate_normal
    >>> multivariate_normal.logpdf(np.zeros(2), np.zeros(2), np.eye(2))
    tensor(-1.83787707)
    """

    def logpdf(self, x: ArrayLike, mean: Optional[ArrayLike] = None, cov: ArrayLike = 1.0,
               allow_singular: bool = False) -> Tensor:
        """-(k log(2 pi) + log det cov + (x - mean)^T cov^-1 (x - mean)) / 2."""
        x = o._t(x)
        d = x if mean is None else x - mean
        k = d.shape[-1] if d.ndim else 1
        if d.ndim == 0:
            d = o.reshape(d, (1,))
        c = _square_cov(cov, k, d)
        flat = o.reshape(d, (-1, k))
        maha = o.sum(flat * o.transpose(solve(c, o.transpose(flat))), axis=-1)
        logdet = slogdet(c)[1]
        out = -0.5 * (k * _LOG_2PI + logdet + maha)
        return o.reshape(out, d.shape[:-1])

    def pdf(self, x: ArrayLike, mean: Optional[ArrayLike] = None, cov: ArrayLike = 1.0,
            allow_singular: bool = False) -> Tensor:
        """exp(logpdf)."""
        return o.exp(self.logpdf(x, mean, cov))

    def entropy(self, mean: Optional[ArrayLike] = None, cov: ArrayLike = 1.0) -> Tensor:
        """(k (1 + log(2 pi)) + log det cov) / 2."""
        k = 1 if mean is None else o._t(mean).shape[-1]
        c = _square_cov(cov, k, o._t(0.0 if mean is None else mean))
        k = c.shape[-1]
        return 0.5 * (k * (1.0 + _LOG_2PI) + slogdet(c)[1])

    def __repr__(self):
        return "<pyad.scipy.stats.multivariate_normal>"


def _square_cov(cov, k, like):
    """cov as a (k, k) Tensor: a matrix as it is, a vector as its diagonal, a number times
    the identity."""
    c = o._t(cov)
    if c.ndim == 2:
        return c
    eye = o._t(_eye(k, like))
    return eye * c if c.ndim == 0 else eye * o.reshape(c, (1, k))


def _eye(k, like):
    from pyad import backend
    return backend.eye(k, like.dtype if like.dtype.kind == "f" else "float64", like.data)


class _Dirichlet:
    """The Dirichlet distribution (``scipy.stats.dirichlet``): logpdf and pdf of x with
    concentrations alpha, differentiable in both. As in scipy, the components of x run along
    its first axis (x of shape (k,) or (k, n)).

    Examples
    --------
    >>> from pyad.scipy.stats import dirichlet
    >>> dirichlet.pdf(np.array([0.5, 0.5]), np.array([1.0, 1.0]))
    tensor(1.)
    """

    def logpdf(self, x: ArrayLike, alpha: ArrayLike) -> Tensor:
        """sum((alpha - 1) log x) + gammaln(sum alpha) - sum gammaln(alpha)."""
        x, alpha = o._t(x), o._t(alpha)
        a = alpha if x.ndim == 1 else o.reshape(alpha, (-1,) + (1,) * (x.ndim - 1))
        return (o.sum(sp.xlogy(a - 1.0, x), axis=0) + sp.gammaln(o.sum(alpha))
                - o.sum(sp.gammaln(alpha)))

    def pdf(self, x: ArrayLike, alpha: ArrayLike) -> Tensor:
        """exp(logpdf)."""
        return o.exp(self.logpdf(x, alpha))

    def __repr__(self):
        return "<pyad.scipy.stats.dirichlet>"


def _like(p, z):
    """A parameter as a Tensor broadcast-compatible with z (a number: z's shape and dtype)."""
    if isinstance(p, (int, float)):
        base = o.zeros_like(z) if z.dtype.kind == "f" else o.zeros_like(z, dtype="float64")
        return base + float(p)
    return o._t(p)


def _half(df):
    return df * 0.5 if not isinstance(df, (int, float)) else float(df) * 0.5


def _twice(scale):
    return scale * 2.0 if not isinstance(scale, (int, float)) else float(scale) * 2.0


norm, t, beta, gamma, chi2, poisson = _Norm(), _T(), _Beta(), _Gamma(), _Chi2(), _Poisson()
multivariate_normal, dirichlet = _MultivariateNormal(), _Dirichlet()
