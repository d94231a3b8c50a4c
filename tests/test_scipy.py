"""pyad.scipy beyond the generated row checks (tests/specs_special.py): the distributions of
pyad.scipy.stats and the composite special functions against scipy, their derivatives against
finite differences, the derivatives pyad does not have, scipy's ufuncs on Tensors, and
autograd's tutorial programs ported (gradients equal to autograd's where it is installed)."""
import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as ss

import pyad as ad
from pyad.scipy import special as S, stats as ST

X = np.array([0.3, 0.6, 1.7])
P = X / 2.0                           # in (0, 1)
K = np.array([0.0, 2.0, 5.0])
C = np.array([[2.0, 0.3], [0.3, 1.0]])
M = np.array([0.1, -0.2])
XS = np.random.default_rng(0).standard_normal((4, 2))
ALPHA = np.array([1.5, 2.0, 3.0])
SIMPLEX = np.array([0.2, 0.3, 0.5])

# name -> (pyad call, scipy call, the arguments, which arguments are differentiated)
STATS = {
    "norm.logpdf": (ST.norm.logpdf, ss.norm.logpdf, (X, 0.2, 1.3), (0, 1, 2)),
    "norm.pdf": (ST.norm.pdf, ss.norm.pdf, (X, 0.2, 1.3), (0, 1, 2)),
    "norm.cdf": (ST.norm.cdf, ss.norm.cdf, (X, 0.2, 1.3), (0, 1, 2)),
    "norm.logcdf": (ST.norm.logcdf, ss.norm.logcdf, (X - 9.0, 0.2, 1.3), (0, 1, 2)),
    "norm.sf": (ST.norm.sf, ss.norm.sf, (X, 0.2, 1.3), (0, 1, 2)),
    "norm.logsf": (ST.norm.logsf, ss.norm.logsf, (X, 0.2, 1.3), (0, 1, 2)),
    "t.logpdf": (ST.t.logpdf, ss.t.logpdf, (X, 3.5, 0.1, 2.0), (0, 1, 2, 3)),
    "t.pdf": (ST.t.pdf, ss.t.pdf, (X, 3.5, 0.1, 2.0), (0, 1, 2, 3)),
    "t.cdf": (ST.t.cdf, ss.t.cdf, (X, 3.5, 0.1, 2.0), (0, 2, 3)),
    "t.logcdf": (ST.t.logcdf, ss.t.logcdf, (X, 3.5), (0,)),
    "t.sf": (ST.t.sf, ss.t.sf, (X, 3.5), (0,)),
    "beta.logpdf": (ST.beta.logpdf, ss.beta.logpdf, (P, 2.5, 1.5), (0, 1, 2)),
    "beta.pdf": (ST.beta.pdf, ss.beta.pdf, (P, 2.5, 1.5), (0, 1, 2)),
    "beta.cdf": (ST.beta.cdf, ss.beta.cdf, (P, 2.5, 1.5), (0,)),
    "beta.sf": (ST.beta.sf, ss.beta.sf, (P, 2.5, 1.5), (0,)),
    "beta.logsf": (ST.beta.logsf, ss.beta.logsf, (P, 2.5, 1.5), (0,)),
    "gamma.logpdf": (ST.gamma.logpdf, ss.gamma.logpdf, (X, 2.5, 0.1, 1.5), (0, 1, 2, 3)),
    "gamma.pdf": (ST.gamma.pdf, ss.gamma.pdf, (X, 2.5), (0, 1)),
    "gamma.cdf": (ST.gamma.cdf, ss.gamma.cdf, (X, 2.5, 0.1, 1.5), (0, 2, 3)),
    "gamma.logcdf": (ST.gamma.logcdf, ss.gamma.logcdf, (X, 2.5), (0,)),
    "gamma.sf": (ST.gamma.sf, ss.gamma.sf, (X, 2.5), (0,)),
    "chi2.logpdf": (ST.chi2.logpdf, ss.chi2.logpdf, (X, 3.0), (0, 1)),
    "chi2.pdf": (ST.chi2.pdf, ss.chi2.pdf, (X, 3.0), (0, 1)),
    "chi2.cdf": (ST.chi2.cdf, ss.chi2.cdf, (X, 3.0), (0,)),
    "chi2.sf": (ST.chi2.sf, ss.chi2.sf, (X, 3.0), (0,)),
    "poisson.logpmf": (ST.poisson.logpmf, ss.poisson.logpmf, (K, 1.7), (1,)),
    "poisson.pmf": (ST.poisson.pmf, ss.poisson.pmf, (K, 1.7), (1,)),
    "poisson.cdf": (ST.poisson.cdf, ss.poisson.cdf, (K, 1.7), (1,)),
    "poisson.sf": (ST.poisson.sf, ss.poisson.sf, (K, 1.7), (1,)),
    "multivariate_normal.logpdf": (ST.multivariate_normal.logpdf,
                                   ss.multivariate_normal.logpdf, (XS, M, C), (0, 1, 2)),
    "multivariate_normal.logpdf-point": (ST.multivariate_normal.logpdf,
                                         ss.multivariate_normal.logpdf, (XS[0], M, C), (0, 1, 2)),
    "multivariate_normal.logpdf-diagonal": (ST.multivariate_normal.logpdf,
                                            ss.multivariate_normal.logpdf,
                                            (XS, M, np.array([2.0, 0.5])), (0, 1, 2)),
    "multivariate_normal.logpdf-isotropic": (ST.multivariate_normal.logpdf,
                                             ss.multivariate_normal.logpdf, (XS, M, 1.5), (0, 1)),
    "multivariate_normal.pdf": (ST.multivariate_normal.pdf, ss.multivariate_normal.pdf,
                                (XS, M, C), (0, 1, 2)),
    "multivariate_normal.entropy": (ST.multivariate_normal.entropy,
                                    ss.multivariate_normal.entropy, (M, C), (1,)),
    "dirichlet.logpdf": (ST.dirichlet.logpdf, ss.dirichlet.logpdf, (SIMPLEX, ALPHA), (0, 1)),
    "dirichlet.logpdf-columns": (ST.dirichlet.logpdf, ss.dirichlet.logpdf,
                                 (np.array([[0.2, 0.1], [0.3, 0.6], [0.5, 0.3]]), ALPHA), (0, 1)),
    "dirichlet.pdf": (ST.dirichlet.pdf, ss.dirichlet.pdf, (SIMPLEX, ALPHA), (0, 1)),
}


@pytest.mark.parametrize("name", STATS)
def test_stats_values_match_scipy(name):
    ours, theirs, args, _ = STATS[name]
    got = ours(*args)
    want = theirs(*args)
    assert isinstance(got, ad.Tensor)
    assert got.shape == np.shape(want), name
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-14, err_msg=name)


def _as_arrays(args, which):
    return [np.asarray(args[k], dtype=np.float64) for k in which]


@pytest.mark.parametrize("name", STATS)
def test_stats_derivatives(name):
    """First and second order in the data and every differentiated parameter."""
    ours, _, args, which = STATS[name]

    def f(*diff):
        full = list(args)
        for k, v in zip(which, diff):
            full[k] = v
        return ours(*full)
    ad.check_grads(f, _as_arrays(args, which), order=2, rtol=1e-6)


@pytest.mark.parametrize("call,argument", [
    (lambda df: ST.t.cdf(X, df), "df"),
    (lambda a: ST.beta.cdf(P, a, 1.5), "a"),
    (lambda b: ST.beta.cdf(P, 2.5, b), "b"),
    (lambda a: ST.gamma.cdf(X, a), "a"),
    (lambda df: ST.chi2.sf(X, df), "a"),
    (lambda k: ST.poisson.logpmf(k, 1.7), "count k"),
    (lambda k: ST.poisson.cdf(k, 1.7), "k"),
])
def test_derivatives_pyad_does_not_have_raise(call, argument):
    with pytest.raises(NotImplementedError, match=argument):
        ad.grad(lambda p: ad.sum(call(p)))(np.array([3.0, 4.0]).mean())
    with pytest.raises(NotImplementedError, match=argument):
        ad.jvp(lambda p: call(p), (3.0,), (1.0,))


# ---------------------------------------------------------------------- composite special
COMPOSITES = {
    "psi": (S.psi, sc.psi, (X + 0.5,)),
    "expit": (S.expit, sc.expit, (X - 1.0,)),
    "betaln": (S.betaln, sc.betaln, (X + 0.5, X[::-1] + 1.0)),
    "beta": (S.beta, sc.beta, (X + 0.5, X[::-1] + 1.0)),
    "multigammaln": (lambda a: S.multigammaln(a, 3), lambda a: sc.multigammaln(a, 3),
                     (X + 2.0,)),
    "logsumexp": (S.logsumexp, sc.logsumexp, (np.array([[0.5, -1.0, 2.0], [0.1, 0.2, 0.3]]),)),
    "logsumexp-axis-b": (lambda a, b: S.logsumexp(a, axis=1, b=b, keepdims=True),
                         lambda a, b: sc.logsumexp(a, axis=1, b=b, keepdims=True),
                         (np.array([[0.5, -1.0, 2.0], [0.1, 0.2, 0.3]]),
                          np.array([0.5, 2.0, 1.5]))),
}


@pytest.mark.parametrize("name", COMPOSITES)
def test_composite_special_functions(name):
    ours, theirs, args = COMPOSITES[name]
    np.testing.assert_allclose(ours(*args).data, theirs(*args), rtol=1e-12, err_msg=name)
    ad.check_grads(ours, list(args), order=2, rtol=1e-6)


def test_logsumexp_with_signs_matches_scipy():
    a, b = np.array([0.5, 2.5]), np.array([1.0, -0.5])
    value, sign = S.logsumexp(a, b=b, return_sign=True)
    want_value, want_sign = sc.logsumexp(a, b=b, return_sign=True)
    np.testing.assert_allclose(value.data, want_value, rtol=1e-13)
    assert float(sign) == want_sign == -1.0
    g = ad.grad(lambda a: S.logsumexp(a, b=b, return_sign=True)[0])(a)
    np.testing.assert_allclose(g, b * np.exp(a) / np.sum(b * np.exp(a)), rtol=1e-12)


def test_bad_orders_and_shapes():
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        S.polygamma(-1, X)
    with pytest.raises(TypeError, match="must be a Python number"):
        S.jv(np.array([1.0, 2.0]), X)
    with pytest.raises(ValueError, match="do not broadcast"):
        S.xlogy(np.ones(3), np.ones(4))
    with pytest.raises(TypeError, match="complex"):
        S.gammaln(np.array([1.0 + 1.0j]))
    with pytest.raises(ValueError, match="d must be >= 1"):
        S.multigammaln(X, 0)


def test_scipy_ufuncs_on_tensors_run_the_rows():
    """scipy.special.gammaln(t) keeps its derivative (numpy's ufunc protocol); scipy functions
    pyad has not get an error naming pyad.scipy, never a silent zero."""
    f = lambda x: ad.sum(sc.gammaln(x) + sc.xlogy(x, x) + sc.iv(1, x))       # noqa: E731
    g = lambda x: ad.sum(S.gammaln(x) + S.xlogy(x, x) + S.iv(1, x))          # noqa: E731
    np.testing.assert_array_equal(ad.grad(f)(X), ad.grad(g)(X))
    with pytest.raises(TypeError, match=r"scipy\.special\.zeta .*pyad\.scipy\.special"):
        ad.grad(lambda x: ad.sum(sc.zeta(x, 1.0)))(X + 1.0)
    with pytest.raises(TypeError, match=r"pyad\.scipy"):
        ad.grad(lambda x: ad.sum(ss.norm.logpdf(x)))(X)


def test_import_pyad_loads_no_scipy_and_scipy_ufuncs_dispatch_once_imported():
    """`import pyad` imports no scipy module (~0.25 s saved); scipy.special imported after
    pyad still dispatches its ufuncs on Tensors to the rows, derivatives kept."""
    import subprocess
    import sys
    code = (
        "import sys, numpy as np, pyad as ad\n"
        "assert not [m for m in sys.modules if m.startswith('scipy')], 'scipy imported'\n"
        "import scipy.special as sc\n"
        "x = np.array([0.5, 2.0, 3.5])\n"
        "got = ad.grad(lambda x: ad.sum(sc.gammaln(x)))(x)\n"
        "np.testing.assert_allclose(got, sc.digamma(x), rtol=1e-12)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------------- autograd's programs
def _gp_data():
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(-3, 3, 12))
    y = np.sin(x) + 0.1 * rng.standard_normal(12)
    return x, y, np.array([0.1, 0.3, -1.0])       # log amplitude, log length, log noise


def _gp_log_marginal(np_, mvn, params, x, y):
    """autograd's examples/gaussian_process.py: the GP marginal likelihood with an RBF kernel."""
    amp, length, noise = np_.exp(params[0]), np_.exp(params[1]), np_.exp(params[2])
    d = (x[:, None] - x[None, :]) / length
    cov = amp * np_.exp(-0.5 * d ** 2) + (noise + 1e-6) * np_.eye(len(x))
    return mvn.logpdf(y, np_.zeros(len(x)), cov)


def _logistic_data():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 3))
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.standard_normal(30) > 0).astype(float)
    return x, y, np.array([0.2, -0.4, 0.1])


def _bayes_logistic(np_, norm, w, x, y):
    """autograd's examples/bayesian_neural_net.py style: log prior + log likelihood."""
    logits = np_.dot(x, w)
    loglik = np_.sum(y * logits - np_.logaddexp(0.0, logits))
    return np_.sum(norm.logpdf(w, 0.0, 1.0)) + loglik


def test_gaussian_process_marginal_likelihood():
    import pyad.numpy as pnp
    x, y, params = _gp_data()
    f = lambda p: _gp_log_marginal(pnp, ST.multivariate_normal, p, x, y)   # noqa: E731
    value = f(params)
    want = _gp_log_marginal(np, ss.multivariate_normal, params, x, y)
    np.testing.assert_allclose(float(value), want, rtol=1e-10)
    ad.check_grads(f, [params], order=2, rtol=1e-6)
    autograd = pytest.importorskip("autograd", reason="compared with autograd where installed")
    import autograd.numpy as anp
    import autograd.scipy.stats as ast
    g = autograd.grad(lambda p: _gp_log_marginal(anp, ast.multivariate_normal, p, x, y))
    np.testing.assert_allclose(ad.grad(f)(params), g(params), rtol=1e-9)


def test_bayesian_logistic_regression():
    import pyad.numpy as pnp
    x, y, w = _logistic_data()
    f = lambda w: _bayes_logistic(pnp, ST.norm, w, x, y)     # noqa: E731
    np.testing.assert_allclose(float(f(w)), _bayes_logistic(np, ss.norm, w, x, y), rtol=1e-12)
    ad.check_grads(f, [w], order=2, rtol=1e-6)
    autograd = pytest.importorskip("autograd", reason="compared with autograd where installed")
    import autograd.numpy as anp
    import autograd.scipy.stats as ast
    g = autograd.grad(lambda w: _bayes_logistic(anp, ast.norm, w, x, y))
    np.testing.assert_allclose(ad.grad(f)(w), g(w), rtol=1e-12)
    h = autograd.hessian(lambda w: _bayes_logistic(anp, ast.norm, w, x, y))
    np.testing.assert_allclose(ad.hessian(f)(w), h(w), rtol=1e-10)


def _conv_layer(np_, convolve, filters, images):
    """autograd's examples/convnet.py layer: images (batch, channels, h, w) convolved with
    filters (channels, out, fh, fw) over the image axes, summed over channels, then tanh."""
    out = convolve(images, filters, axes=([2, 3], [2, 3]), dot_axes=([1], [0]), mode="valid")
    return np_.sum(np_.tanh(out) ** 2)


def test_convolutional_layer():
    import pyad.numpy as pnp
    from pyad.scipy.signal import convolve
    rng = np.random.default_rng(3)
    images, filters = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((3, 4, 3, 3)) * 0.3
    f = lambda w: _conv_layer(pnp, convolve, w, images)          # noqa: E731
    ad.check_grads(f, [filters], order=2, rtol=1e-6)
    autograd = pytest.importorskip("autograd", reason="compared with autograd where installed")
    import autograd.numpy as anp
    from autograd.scipy.signal import convolve as aconvolve
    np.testing.assert_allclose(float(f(filters)), _conv_layer(anp, aconvolve, filters, images),
                               rtol=1e-12)
    g = autograd.grad(lambda w: _conv_layer(anp, aconvolve, w, images))
    np.testing.assert_allclose(ad.grad(f)(filters), g(filters), rtol=1e-10)


def test_convolve_errors():
    from pyad.scipy.signal import convolve, fftconvolve
    with pytest.raises(ValueError, match="same dimensionality"):
        convolve(np.ones(3), np.ones((2, 2)))
    with pytest.raises(ValueError, match="mode must be one of"):
        convolve(np.ones(3), np.ones(2), "middle")
    with pytest.raises(ValueError, match="at least as large"):
        convolve(np.ones((3, 1)), np.ones((1, 3)), "valid")
    with pytest.raises(ValueError, match="out of range"):
        fftconvolve(np.ones(3), np.ones(2), axes=3)
    with pytest.raises(ValueError, match="differ"):
        convolve(np.ones((2, 3)), np.ones((4, 3)), axes=([1], [1]), dot_axes=([0], [0]))
