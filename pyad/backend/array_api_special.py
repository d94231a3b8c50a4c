"""Array API kernels of the special-function family: cupyx.scipy.special on CuPy arrays, and
scipy.special on a host copy for other arrays (the standard has no special functions)."""
from pyad.backend.namespaces import has_namespace, namespace_of as _ns
from pyad.backend.numpy_special import SPECIAL, in_float_dtype, scipy_special


def _on_device(x):
    """cupyx.scipy.special for a CuPy array, else None."""
    if type(x).__module__.split(".")[0] != "cupy":
        return None
    import cupyx.scipy.special
    return cupyx.scipy.special


def _order(like, n):
    """polygamma's order n as a 0-d array beside `like`, in its dtype (so the result keeps it)."""
    return _ns(like).asarray(n, dtype=like.dtype)


def _kernel(name, kernel):
    def run(*args):
        like = next(a for a in args if has_namespace(a))
        sp = _on_device(like)
        if sp is not None and hasattr(sp, name):
            if name == "polygamma":         # cupyx's needs its order as an array, not an int
                args = (args[0], _order(like, args[1]))
            return in_float_dtype(kernel, sp)(*args)
        from pyad import backend          # the seam (loaded by now): host copies and back
        host = [backend.to_host(a) if has_namespace(a) else a for a in args]
        return backend.to_backend(in_float_dtype(kernel, scipy_special)(*host), like)
    return run


KERNELS = {name: _kernel(name, kernel) for name, kernel in SPECIAL.items()}
