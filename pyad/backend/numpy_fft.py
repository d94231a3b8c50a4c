"""CPU forward kernels (numpy.fft) of the FFT family's rows: whole axes, numpy's norms."""
import numpy as np


def _fftn(x, axes, norm, inverse):
    return (np.fft.ifftn if inverse else np.fft.fftn)(x, axes=axes, norm=norm)


def _irfftn(x, n, axes, norm):
    return np.fft.irfftn(x, s=[x.shape[a] for a in axes[:-1]] + [n], axes=axes, norm=norm)


KERNELS = {
    "fftn": _fftn,
    "rfftn": lambda x, axes, norm: np.fft.rfftn(x, axes=axes, norm=norm),
    "irfftn": _irfftn,
}
