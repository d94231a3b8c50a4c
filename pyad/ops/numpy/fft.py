"""numpy.fft for pyad.numpy: pyad's differentiable transforms (pyad/ops/fft.py) where an
argument holds a Tensor, numpy.fft's own functions otherwise (numpy in, numpy out), and
numpy.fft's other names (fftfreq, rfftfreq) as they are."""
import functools

import numpy.fft as _npf

from pyad.engine._tape import Tensor as _Tensor
from pyad.ops import fft as _ours

globals().update({_k: _v for _k, _v in vars(_npf).items() if not _k.startswith("_")})


def _either(name):
    theirs, mine = getattr(_npf, name), getattr(_ours, name)

    @functools.wraps(mine)
    def call(a, *args, **kwargs):
        if isinstance(a, _Tensor):
            return mine(a, *args, **kwargs)
        return theirs(a, *args, **kwargs)
    call.__module__ = "pyad.numpy.fft"
    return call


for _name in _ours.__all__:
    globals()[_name] = _either(_name)

__all__ = sorted(set(_ours.__all__) | {"fftfreq", "rfftfreq"})
