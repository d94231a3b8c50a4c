"""Op specs of the FFT family (see tests/op_specs.py, which imports this file): real and
complex inputs, n/s, axes and every norm, against numpy.fft."""
import numpy as np

import pyad as ad
from op_specs import COMPLEX, FLOATS, C, spec

F = ad.numpy.fft


def _case(name, f, r, shape, dtypes, label):
    return C(name, f, r, [shape], label=label, dtypes=dtypes)


spec("fftn",
     _case("fftn", F.fft, np.fft.fft, (3, 8), COMPLEX, "fft"),
     _case("fftn", lambda z: F.fft(z, n=6, axis=0, norm="ortho"),
           lambda z: np.fft.fft(z, n=6, axis=0, norm="ortho"), (4, 3), COMPLEX, "fft-n-pad"),
     _case("fftn", lambda z: F.ifft(z, n=3, norm="forward"),
           lambda z: np.fft.ifft(z, n=3, norm="forward"), (2, 5), COMPLEX, "ifft-n-crop"),
     _case("fftn", lambda z: F.fftn(z, s=(3, 5), axes=(0, 1)),
           lambda z: np.fft.fftn(z, s=(3, 5), axes=(0, 1)), (4, 4), COMPLEX, "fftn-s"),
     _case("fftn", F.ifft2, np.fft.ifft2, (2, 3, 4), COMPLEX, "ifft2"),
     _case("fftn", F.fft2, np.fft.fft2, (3, 4), (np.float64,), "fft2-real"))
spec("rfftn",
     _case("rfftn", F.rfft, np.fft.rfft, (3, 8), FLOATS, "rfft"),
     _case("rfftn", lambda x: F.rfft(x, n=7, norm="ortho"),
           lambda x: np.fft.rfft(x, n=7, norm="ortho"), (2, 5), (np.float64,), "rfft-odd"),
     _case("rfftn", lambda x: F.rfftn(x, norm="forward"),
           lambda x: np.fft.rfftn(x, norm="forward"), (3, 4), (np.float64,), "rfftn"),
     _case("rfftn", lambda x: F.rfft2(x, norm="ortho"),
           lambda x: np.fft.rfft2(x, norm="ortho"), (2, 3, 5), FLOATS, "rfft2-odd"))
spec("irfftn",
     _case("irfftn", F.irfft, np.fft.irfft, (3, 5), COMPLEX, "irfft"),
     _case("irfftn", lambda z: F.irfft(z, n=7, norm="ortho"),
           lambda z: np.fft.irfft(z, n=7, norm="ortho"), (2, 4), COMPLEX, "irfft-odd"),
     _case("irfftn", lambda z: F.irfftn(z, s=(3, 6), axes=(0, 1)),
           lambda z: np.fft.irfftn(z, s=(3, 6), axes=(0, 1)), (3, 4), COMPLEX, "irfftn-s"),
     _case("irfftn", lambda z: F.irfft2(z, norm="forward"),
           lambda z: np.fft.irfft2(z, norm="forward"), (3, 3), COMPLEX, "irfft2"))
