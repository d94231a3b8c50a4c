"""Array API kernels of pyad.scipy's signal and linalg rows: scipy's on a host copy (the
standard has neither; on CuPy this costs a device round trip per call, noted in the README)."""
from pyad.backend.namespaces import has_namespace
from pyad.backend.numpy_scipy import KERNELS as _CPU


def _staged(kernel):
    def run(*args):
        from pyad import backend          # the seam (loaded by now): host copies and back
        like = next(a for a in args if has_namespace(a))
        host = [backend.to_host(a) if has_namespace(a) else a for a in args]
        return backend.to_backend(kernel(*host), like)
    return run


KERNELS = {name: _staged(kernel) for name, kernel in _CPU.items()}
