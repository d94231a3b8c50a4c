"""Array API kernels of the normalisation rows and dropout (see backend/array_api.py)."""
from pyad.backend.namespaces import namespace_of as _ns


def _stats(x, axes, eps):
    xp = _ns(x)
    mean = xp.mean(x, axis=axes, keepdims=True)
    var = xp.mean((x - mean) ** 2, axis=axes, keepdims=True)
    return mean, 1.0 / xp.sqrt(var + eps)


def _normalize(x, axes, eps):
    mean, rstd = _stats(x, axes, eps)
    return (x - mean) * rstd


def _norm_backward(g, xhat, x, axes, eps):
    xp = _ns(g)
    _, rstd = _stats(x, axes, eps)
    mg = xp.mean(g, axis=axes, keepdims=True)
    mgx = xp.mean(g * xhat, axis=axes, keepdims=True)
    return rstd * (g - mg - xhat * mgx)


KERNELS = dict(batch_norm=_normalize, layer_norm=_normalize, norm_backward=_norm_backward,
               dropout=lambda x, mask: x * mask)
