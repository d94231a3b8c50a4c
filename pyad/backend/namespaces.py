"""The array namespace of an array: its own ``__array_namespace__()``, or, for array types
that have none (CuPy's ndarray), the standard-conforming namespace registered for them; and
the one mapping between a namespace's dtypes and numpy's (pyad's dtype logic runs on numpy
dtypes for every backend)."""
import numpy as np

# the standard's dtype names (float16 where a namespace has it)
_DTYPE_NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "float16", "float32", "float64", "complex64", "complex128")

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


def numpy_dtype(dtype, xp=None):
    """The numpy dtype describing `dtype`: numpy's own (or a name), or a dtype of namespace xp
    (found by the standard name it equals; without xp, by its printed name)."""
    try:
        return np.dtype(dtype)
    except TypeError:
        pass
    for name in _DTYPE_NAMES if xp is not None else ():
        if getattr(xp, name, None) == dtype:
            return np.dtype(name)
    return np.dtype(str(dtype).rsplit(".", 1)[-1])


def namespace_dtype(xp, dtype):
    """The dtype of namespace xp named like `dtype` (numpy's, or a name); a dtype of xp's own
    (anything numpy does not know) is returned as it is."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        return dtype
    return getattr(xp, name)
