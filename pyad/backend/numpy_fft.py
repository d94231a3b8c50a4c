"""CPU forward kernels (numpy.fft) of the FFT family's rows: whole axes, numpy's norms."""
import numpy as np


# One axis (the common case) calls numpy's 1-d function: the same pocketfft call fftn makes
# per axis, without its per-call bookkeeping (~5 us of a 4096-point transform's ~25).
def _fftn(x, axes, norm, inverse):
    if len(axes) == 1:
        return (np.fft.ifft if inverse else np.fft.fft)(x, axis=axes[0], norm=norm)
    return (np.fft.ifftn if inverse else np.fft.fftn)(x, axes=axes, norm=norm)


def _rfftn(x, axes, norm):
    if len(axes) == 1:
        return np.fft.rfft(x, axis=axes[0], norm=norm)
    return np.fft.rfftn(x, axes=axes, norm=norm)


def _irfftn(x, n, axes, norm):
    if len(axes) == 1:
        return np.fft.irfft(x, n, axis=axes[0], norm=norm)
    return np.fft.irfftn(x, s=[x.shape[a] for a in axes[:-1]] + [n], axes=axes, norm=norm)


KERNELS = {"fftn": _fftn, "rfftn": _rfftn, "irfftn": _irfftn}
