"""pyad.numpy.fft beyond the generated row checks (tests/specs_fft.py): a Fourier-feature fit
ported from autograd-style code (gradients equal autograd's where installed), numpy.fft on
Tensors, numpy arrays in and out, and errors."""
import numpy as np
import pytest

import pyad as ad
import pyad.numpy as pnp

N, K = 64, 6
_rng = np.random.default_rng(5)
T = np.arange(N) / N
Y = np.sin(2 * np.pi * 3 * T) + 0.5 * np.cos(2 * np.pi * 5 * T) + 0.1 * _rng.standard_normal(N)
W = 0.1 * _rng.standard_normal(2 * K)


def fourier_fit(np_, w):
    """Fit K low Fourier coefficients (real and imaginary parts in w) to the signal Y: the
    model is the inverse real FFT of the padded coefficients, plus a spectral penalty."""
    coeffs = (w[:K] + 1j * w[K:]) * N / 2.0
    spectrum = np_.concatenate([coeffs, np_.zeros(N // 2 + 1 - K)])
    model = np_.fft.irfft(spectrum, n=N)
    energy = np_.sum(np_.abs(np_.fft.rfft(model, norm="ortho")) ** 2)
    shifted = np_.fft.fftshift(np_.abs(np_.fft.fft(model)))
    return np_.sum((model - Y) ** 2) + 1e-3 * energy + 1e-4 * np_.sum(shifted * np_.arange(N))


def test_fourier_fit_gradients():
    f = lambda w: fourier_fit(pnp, w)                # noqa: E731
    np.testing.assert_allclose(float(f(W)), fourier_fit(np, W), rtol=1e-12)
    ad.check_grads(f, [W], order=2, rtol=1e-6)
    autograd = pytest.importorskip("autograd", reason="compared with autograd where installed")
    import autograd.numpy as anp
    np.testing.assert_allclose(ad.grad(f)(W), autograd.grad(lambda w: fourier_fit(anp, w))(W),
                               rtol=1e-10)
    w = W.copy()                                     # and it fits: a few gradient steps
    for _ in range(300):
        w = w - 0.01 * ad.grad(f)(w)
    assert f(w) < 0.05 * f(W)


def test_numpy_fft_dispatch_and_numpy_in_numpy_out():
    x = _rng.standard_normal(8)
    assert type(pnp.fft.rfft(x)) is np.ndarray                     # no Tensor: numpy's own
    np.testing.assert_array_equal(pnp.fft.fftfreq(4), np.fft.fftfreq(4))
    g_plain = ad.grad(lambda x: np.sum(np.abs(np.fft.fft(x)) ** 2))(x)   # numpy on Tensors
    np.testing.assert_allclose(g_plain, 2 * N // N * 8 * x, rtol=1e-12)   # Parseval: 2 n x


def test_errors():
    with pytest.raises(TypeError, match="must be real"):
        ad.numpy.fft.rfft(ad.tensor(np.ones(4) + 1j))
    with pytest.raises(ValueError, match="norm must be one of"):
        ad.numpy.fft.fft(ad.tensor(np.ones(4)), norm="unitary")
    with pytest.raises(ValueError, match="invalid number of data points 0"):
        ad.numpy.fft.fft(ad.tensor(np.ones(4)), n=0)
    with pytest.raises(ValueError, match="out of range"):
        ad.numpy.fft.fft(ad.tensor(np.ones(4)), axis=2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1,), (2,), (7,), (4096,), (3, 10), (2, 3, 9)])
def test_real_input_transforms_complete_the_half_spectrum_like_numpy(dtype, shape):
    # fft/ifft of a real input run rfft and mirror its conjugate into the upper half
    from pyad.backend.numpy_fft import KERNELS
    x = _rng.standard_normal(shape).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for norm in ("backward", "ortho", "forward"):
        for inverse, numpys in ((False, np.fft.fft), (True, np.fft.ifft)):
            want = numpys(x, norm=norm)
            got = KERNELS["fftn"](x, (x.ndim - 1,), norm, inverse)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, **tol)
    xs = x[..., ::2]                                  # a strided view: the same path
    np.testing.assert_allclose(KERNELS["fftn"](xs, (x.ndim - 1,), "backward", False),
                               np.fft.fft(xs), **tol)
