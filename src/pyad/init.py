"""Weight initialisers (He, Xavier/Glorot, LeCun), seeded by a numpy Generator."""
import numpy as np

__all__ = ["he_normal", "xavier_uniform", "lecun_normal", "initializer"]


def _fans(shape):
    """(fan_in, fan_out) of a weight used as x @ W: shape (..., in, out)."""
    if len(shape) < 2:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def he_normal(shape, rng, dtype=np.float32):
    """N(0, 2 / fan_in): keeps ReLU activations' variance constant (He et al. 2015)."""
    fan_in, _ = _fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def xavier_uniform(shape, rng, dtype=np.float32):
    """U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010), for tanh/sigmoid."""
    fan_in, fan_out = _fans(shape)
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, shape).astype(dtype)


def lecun_normal(shape, rng, dtype=np.float32):
    """N(0, 1 / fan_in) (LeCun et al. 1998)."""
    fan_in, _ = _fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(1.0 / fan_in)).astype(dtype)


_BY_NAME = {"he": he_normal, "kaiming": he_normal, "xavier": xavier_uniform,
            "glorot": xavier_uniform, "lecun": lecun_normal}


def initializer(name_or_fn):
    """An initialiser by name ('he', 'xavier'/'glorot', 'lecun') or a callable
    (shape, rng, dtype) -> array."""
    if callable(name_or_fn):
        return name_or_fn
    try:
        return _BY_NAME[name_or_fn]
    except KeyError:
        raise ValueError(f"unknown initialiser {name_or_fn!r}; use one of {sorted(_BY_NAME)} "
                         f"or a function (shape, rng, dtype) -> array") from None
