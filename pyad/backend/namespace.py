"""The array namespace of an array: its own ``__array_namespace__()``, or, for array types
that have none (CuPy's ndarray), the standard-conforming namespace registered for them."""

_REGISTERED = {}     # array type -> namespace (backend/cuda.py registers cupy.ndarray's)


def register(array_type, xp):
    """Make `xp` the namespace of arrays of `array_type`."""
    _REGISTERED[array_type] = xp


def namespace_of(x):
    """The namespace whose functions compute on array x."""
    xp = _REGISTERED.get(type(x))
    return xp if xp is not None else x.__array_namespace__()


def has_namespace(x):
    """Whether x is an array of some namespace (the standard's, or a registered one)."""
    return type(x) in _REGISTERED or hasattr(x, "__array_namespace__")
