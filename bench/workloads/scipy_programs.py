"""Workload `scipy_programs`: gradients of autograd's tutorial programs that use scipy (pyad vs
HIPS autograd, each with its own numpy/scipy wrappers), and forward special functions against
the scipy calls pyad's kernels wrap. float64.

- `gp grad`: the Gaussian-process marginal likelihood (multivariate_normal.logpdf of 200
  points, RBF kernel) in its 3 log hyperparameters;
- `logistic grad`: a Bayesian logistic regression (norm.logpdf prior + likelihood), 2000
  samples, 20 features;
- `conv grad`: a convolutional layer (signal.convolve with axes/dot_axes, valid mode), batch
  16 of 3 x 28 x 28 images, 8 filters of 5 x 5, in the filters;
- `fourier grad`: a Fourier-feature fit (numpy.fft: irfft of 64 padded coefficients, rfft and
  fft penalties) of a 4096-point signal, in its 2 x 64 coefficients;
- `gammaln fwd`, `convolve fwd`, `fft fwd`: gammaln of 1M values; a 2-d convolution of
  256 x 256 with 9 x 9; the FFT of 1M complex values (scipy's or numpy's own call is the
  reference).
"""
import numpy as np

from bench.workloads import framework

UNIT, PER_CALL = "us", 1
BASELINE, REFERENCE = "autograd", "scipy"
FRAMEWORKS = {}

_rng = np.random.default_rng(7)
GP_X = np.sort(_rng.uniform(-3, 3, 200))
GP_Y = np.sin(GP_X) + 0.1 * _rng.standard_normal(200)
GP_P = np.array([0.1, 0.3, -1.0])
LR_X = _rng.standard_normal((2000, 20))
LR_Y = (LR_X @ _rng.standard_normal(20) > 0).astype(float)
LR_W = 0.1 * _rng.standard_normal(20)
IMAGES = _rng.standard_normal((16, 3, 28, 28))
FILTERS = 0.1 * _rng.standard_normal((3, 8, 5, 5))
SPECIAL_X = _rng.uniform(0.5, 5.0, 1_000_000)
SIG_A, SIG_B = _rng.standard_normal((256, 256)), _rng.standard_normal((9, 9))
FOURIER_N, FOURIER_K = 4096, 64
FOURIER_Y = np.sin(np.linspace(0, 40, FOURIER_N)) + 0.1 * _rng.standard_normal(FOURIER_N)
FOURIER_W = 0.1 * _rng.standard_normal(2 * FOURIER_K)
FFT_X = _rng.standard_normal(1 << 20) + 1j * _rng.standard_normal(1 << 20)


def gp(np_, mvn, p):
    amp, length, noise = np_.exp(p[0]), np_.exp(p[1]), np_.exp(p[2])
    d = (GP_X[:, None] - GP_X[None, :]) / length
    cov = amp * np_.exp(-0.5 * d ** 2) + (noise + 1e-6) * np_.eye(len(GP_X))
    return mvn.logpdf(GP_Y, np_.zeros(len(GP_X)), cov)


def logistic(np_, norm, w):
    logits = np_.dot(LR_X, w)
    return np_.sum(norm.logpdf(w, 0.0, 1.0)) + np_.sum(LR_Y * logits
                                                      - np_.logaddexp(0.0, logits))


def conv(np_, convolve, w):
    out = convolve(IMAGES, w, axes=([2, 3], [2, 3]), dot_axes=([1], [0]), mode="valid")
    return np_.sum(np_.tanh(out) ** 2)


def fourier(np_, w):
    n, k = FOURIER_N, FOURIER_K
    coeffs = (w[:k] + 1j * w[k:]) * n / 2.0
    model = np_.fft.irfft(np_.concatenate([coeffs, np_.zeros(n // 2 + 1 - k)]), n=n)
    energy = np_.sum(np_.abs(np_.fft.rfft(model, norm="ortho")) ** 2)
    return np_.sum((model - FOURIER_Y) ** 2) + 1e-3 * energy + 1e-6 * np_.sum(
        np_.abs(np_.fft.fft(model)))


def _central(f, x, h=1e-6):
    """Central-difference gradient of f at x (numpy, for verification only)."""
    g = np.zeros_like(x)
    flat = g.reshape(-1)
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        e = e.reshape(x.shape)
        flat[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


_REF = {}


def _numpy_programs():
    import scipy.signal
    import scipy.stats
    return {"gp grad": (lambda p: gp(np, scipy.stats.multivariate_normal, p), GP_P),
            "logistic grad": (lambda w: logistic(np, scipy.stats.norm, w), LR_W),
            "conv grad": (lambda w: _np_conv(scipy.signal, w), FILTERS[:, :1]),
            "fourier grad": (lambda w: fourier(np, w), FOURIER_W)}


def _np_conv(signal, w):
    """The conv program in plain numpy/scipy (for the reference gradient)."""
    out = np.zeros((IMAGES.shape[0], w.shape[1], 24, 24))
    for b in range(IMAGES.shape[0]):
        for o in range(w.shape[1]):
            for c in range(IMAGES.shape[1]):
                out[b, o] += signal.convolve(IMAGES[b, c], w[c, o], mode="valid")
    return np.sum(np.tanh(out) ** 2)


def verify(case, fw, out):
    if case == "gammaln fwd":
        import scipy.special
        want = scipy.special.gammaln(SPECIAL_X)
    elif case == "convolve fwd":
        import scipy.signal
        want = scipy.signal.convolve(SIG_A, SIG_B)
    elif case == "fft fwd":
        want = np.fft.fft(FFT_X)
    else:
        if case not in _REF:
            f, x = _numpy_programs()[case]
            _REF[case] = _central(f, x)
        want = _REF[case]
        if case == "conv grad":       # the reference covers filters[:, :1] (cheaper)
            out = out.reshape(FILTERS.shape)[:, :1]
    np.testing.assert_allclose(np.asarray(out).reshape(np.shape(want)), want, rtol=1e-5,
                               atol=1e-7 * max(1.0, float(np.max(np.abs(want)))),
                               err_msg=f"scipy_programs/{case}/{fw}")


@framework(FRAMEWORKS, "pyad", needs=("scipy",))
def pyad_setup():
    import pyad as ad
    import pyad.numpy as pnp
    from pyad.scipy import signal, special, stats
    g_gp = ad.grad(lambda p: gp(pnp, stats.multivariate_normal, p))
    g_lr = ad.grad(lambda w: logistic(pnp, stats.norm, w))
    g_conv = ad.grad(lambda w: conv(pnp, signal.convolve, w))
    g_fourier = ad.grad(lambda w: fourier(pnp, w))
    fft_x = ad.tensor(FFT_X)
    return {"gp grad": lambda: g_gp(GP_P), "logistic grad": lambda: g_lr(LR_W),
            "conv grad": lambda: g_conv(FILTERS), "fourier grad": lambda: g_fourier(FOURIER_W),
            "gammaln fwd": lambda: special.gammaln(SPECIAL_X).data,
            "convolve fwd": lambda: signal.convolve(SIG_A, SIG_B).data,
            "fft fwd": lambda: pnp.fft.fft(fft_x).data}


@framework(FRAMEWORKS, "pyad-compiled", needs=("scipy",))
def pyad_compiled_setup():
    """The same gradients under ad.compile (recorded once, replayed without Python's
    per-op work); the forward calls as in `pyad`."""
    import pyad as ad
    import pyad.numpy as pnp
    from pyad.scipy import signal, stats
    cases = pyad_setup()
    g_gp = ad.compile(ad.grad(lambda p: gp(pnp, stats.multivariate_normal, p)))
    g_lr = ad.compile(ad.grad(lambda w: logistic(pnp, stats.norm, w)))
    g_conv = ad.compile(ad.grad(lambda w: conv(pnp, signal.convolve, w)))
    g_fourier = ad.compile(ad.grad(lambda w: fourier(pnp, w)))
    cases.update({"gp grad": lambda: g_gp(GP_P), "logistic grad": lambda: g_lr(LR_W),
                  "conv grad": lambda: g_conv(FILTERS),
                  "fourier grad": lambda: g_fourier(FOURIER_W)})
    return cases


@framework(FRAMEWORKS, "autograd", needs=("autograd",))
def autograd_setup():
    import autograd
    import autograd.numpy as anp
    from autograd.scipy import signal, special, stats
    g_gp = autograd.grad(lambda p: gp(anp, stats.multivariate_normal, p))
    g_lr = autograd.grad(lambda w: logistic(anp, stats.norm, w))
    g_conv = autograd.grad(lambda w: conv(anp, signal.convolve, w))
    g_fourier = autograd.grad(lambda w: fourier(anp, w))
    return {"gp grad": lambda: g_gp(GP_P), "logistic grad": lambda: g_lr(LR_W),
            "conv grad": lambda: g_conv(FILTERS), "fourier grad": lambda: g_fourier(FOURIER_W),
            "gammaln fwd": lambda: special.gammaln(SPECIAL_X),
            "convolve fwd": lambda: signal.convolve(SIG_A, SIG_B),
            "fft fwd": lambda: anp.fft.fft(FFT_X)}


@framework(FRAMEWORKS, "scipy", needs=("scipy",))
def scipy_setup():
    import scipy.signal
    import scipy.special
    return {"gammaln fwd": lambda: scipy.special.gammaln(SPECIAL_X),
            "convolve fwd": lambda: scipy.signal.convolve(SIG_A, SIG_B),
            "fft fwd": lambda: np.fft.fft(FFT_X)}
