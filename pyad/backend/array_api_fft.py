"""Array API kernels of the FFT family's rows: the namespace's fft extension (CuPy's cuFFT)."""
from pyad.backend.namespaces import namespace_of as _xp


def _complex(x):
    """The standard's fftn takes complex input only: a real x as its complex dtype."""
    xp = _xp(x)
    if xp.isdtype(x.dtype, "complex floating"):
        return x
    return xp.astype(x, xp.complex64 if x.dtype == xp.float32 else xp.complex128)


def _fftn(x, axes, norm, inverse):
    fft = _xp(x).fft
    return (fft.ifftn if inverse else fft.fftn)(_complex(x), axes=axes, norm=norm)


def _irfftn(x, n, axes, norm):
    return _xp(x).fft.irfftn(x, s=[x.shape[a] for a in axes[:-1]] + [n], axes=axes, norm=norm)


KERNELS = {
    "fftn": _fftn,
    "rfftn": lambda x, axes, norm: _xp(x).fft.rfftn(x, axes=axes, norm=norm),
    "irfftn": _irfftn,
}
