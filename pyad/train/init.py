"""Weight initialisers (He, Xavier/Glorot, LeCun), seeded by a numpy Generator."""
from __future__ import annotations

from typing import Callable, Tuple, Union

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["he_normal", "xavier_uniform", "lecun_normal", "initializer"]


def _fans(shape):
    """(fan_in, fan_out) of a weight used as x @ W: shape (..., in, out)."""
    if len(shape) < 2:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def he_normal(shape: Tuple[int, ...], rng: np.random.Generator,
              dtype: DTypeLike = np.float32) -> np.ndarray:
    """Normal weights N(0, 2 / fan_in): keeps ReLU activations' variance constant.

    He et al. (2015); the default of :class:`pyad.train.nn.Linear`.

    Parameters
    ----------
    shape : tuple of ints
        The weight's shape, used as ``x @ W``: (..., fan_in, fan_out); leading dimensions
        multiply both fans (a 1-D shape uses its length for both).
    rng : numpy.random.Generator
        The source of randomness (e.g. ``np.random.default_rng(0)``).
    dtype : numpy dtype, default float32
        The dtype of the result.

    Returns
    -------
    numpy.ndarray
        The initial weights.

    Examples
    --------
    >>> w = ad.init.he_normal((256, 128), np.random.default_rng(0))
    >>> w.shape, w.dtype, round(float(w.std()), 2)            # sqrt(2 / 256) = 0.088
    ((256, 128), dtype('float32'), 0.09)
    """
    fan_in, _ = _fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def xavier_uniform(shape: Tuple[int, ...], rng: np.random.Generator,
                   dtype: DTypeLike = np.float32) -> np.ndarray:
    """Uniform weights U(-a, a), a = sqrt(6 / (fan_in + fan_out)), for tanh/sigmoid layers.

    Glorot & Bengio (2010).

    Parameters
    ----------
    shape : tuple of ints
        The weight's shape, used as ``x @ W``: (..., fan_in, fan_out); leading dimensions
        multiply both fans (a 1-D shape uses its length for both).
    rng : numpy.random.Generator
        The source of randomness (e.g. ``np.random.default_rng(0)``).
    dtype : numpy dtype, default float32
        The dtype of the result.

    Returns
    -------
    numpy.ndarray
        The initial weights.

    Examples
    --------
    >>> w = ad.init.xavier_uniform((100, 50), np.random.default_rng(0))
    >>> bool(np.abs(w).max() <= np.sqrt(6 / 150))
    True
    """
    fan_in, fan_out = _fans(shape)
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, shape).astype(dtype)


def lecun_normal(shape: Tuple[int, ...], rng: np.random.Generator,
                 dtype: DTypeLike = np.float32) -> np.ndarray:
    """Normal weights N(0, 1 / fan_in) (LeCun et al. 1998).

    Parameters
    ----------
    shape : tuple of ints
        The weight's shape, used as ``x @ W``: (..., fan_in, fan_out); leading dimensions
        multiply both fans (a 1-D shape uses its length for both).
    rng : numpy.random.Generator
        The source of randomness (e.g. ``np.random.default_rng(0)``).
    dtype : numpy dtype, default float32
        The dtype of the result.

    Returns
    -------
    numpy.ndarray
        The initial weights.

    Examples
    --------
    >>> w = ad.init.lecun_normal((400, 10), np.random.default_rng(0), dtype=np.float64)
    >>> w.dtype, round(float(w.std()), 2)                      # sqrt(1 / 400) = 0.05
    (dtype('float64'), 0.05)
    """
    fan_in, _ = _fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(1.0 / fan_in)).astype(dtype)


_BY_NAME = {"he": he_normal, "kaiming": he_normal, "xavier": xavier_uniform,
            "glorot": xavier_uniform, "lecun": lecun_normal}


def initializer(name_or_fn: Union[str, Callable[..., np.ndarray]]) -> Callable[..., np.ndarray]:
    """An initialiser by name, or a callable passed through.

    Parameters
    ----------
    name_or_fn : str or callable
        "he" / "kaiming" (:func:`he_normal`), "xavier" / "glorot" (:func:`xavier_uniform`),
        "lecun" (:func:`lecun_normal`), or a function ``(shape, rng, dtype) -> array``.

    Returns
    -------
    callable
        ``init(shape, rng, dtype) -> numpy.ndarray``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).

    Examples
    --------
    >>> ad.init.initializer("glorot") is ad.init.xavier_uniform
    True
    >>> ad.init.initializer("nope")
    Traceback (most recent call last):
    ...
    ValueError: unknown initialiser 'nope'; use one of ['glorot', 'he', ...] or a function ...
    """
    if callable(name_or_fn):
        return name_or_fn
    try:
        return _BY_NAME[name_or_fn]
    except KeyError:
        raise ValueError(f"unknown initialiser {name_or_fn!r}; use one of {sorted(_BY_NAME)} "
                         f"or a function (shape, rng, dtype) -> array") from None
