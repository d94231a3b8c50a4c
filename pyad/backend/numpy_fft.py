"""CPU forward kernels (numpy.fft) of the FFT family's rows: whole axes, numpy's norms."""
import numpy as np


# One axis (the common case) calls numpy's 1-d function: the same pocketfft call fftn makes
# per axis, without its per-call bookkeeping (~5 us of a 4096-point transform's ~25).
def _fftn(x, axes, norm, inverse):
    if len(axes) == 1:
        if x.dtype.kind == "f" and axes[0] == x.ndim - 1 and x.shape[-1] > 0:
            return _real_fft(x, norm, inverse)
        return (np.fft.ifft if inverse else np.fft.fft)(x, axis=axes[0], norm=norm)
    return (np.fft.ifftn if inverse else np.fft.fftn)(x, axes=axes, norm=norm)


# A real input's spectrum is Hermitian: its upper half mirrors the lower, conjugated, so the half
# rfft computes (~25 us for 4096 points) completes it, where numpy's fft makes a complex copy
# and runs the full complex transform (~45 us). ifft of a real x is conj(fft(x)) scaled as the
# opposite norm scales.
_OPPOSITE = {"backward": "forward", "forward": "backward", "ortho": "ortho", None: "forward"}


def _real_fft(x, norm, inverse):
    n = x.shape[-1]
    half = np.fft.rfft(x, norm=_OPPOSITE[norm] if inverse else norm)
    m = half.shape[-1]
    out = np.empty(x.shape, dtype=half.dtype)
    mirror = half[..., n - m:0:-1]
    plain, conjugated = (mirror, half) if inverse else (half, mirror)
    lo, hi = (slice(m, None), slice(None, m)) if inverse else (slice(None, m), slice(m, None))
    out[..., lo] = plain
    out.real[..., hi] = conjugated.real
    np.subtract(0.0, conjugated.imag, out=out.imag[..., hi])    # 0 - 0 is +0, as numpy's has
    return out


def _rfftn(x, axes, norm):
    if len(axes) == 1:
        return np.fft.rfft(x, axis=axes[0], norm=norm)
    return np.fft.rfftn(x, axes=axes, norm=norm)


def _irfftn(x, n, axes, norm):
    if len(axes) == 1:
        return np.fft.irfft(x, n, axis=axes[0], norm=norm)
    return np.fft.irfftn(x, s=[x.shape[a] for a in axes[:-1]] + [n], axes=axes, norm=norm)


KERNELS = {"fftn": _fftn, "rfftn": _rfftn, "irfftn": _irfftn}
