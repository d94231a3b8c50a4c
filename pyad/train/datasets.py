"""Small data sets that ship with installed packages (no download)."""
from __future__ import annotations

from typing import Tuple

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["digits"]


def digits(test_size: float = 0.2, seed: int = 0, dtype: DTypeLike = np.float32
           ) -> Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), no download.

    Pixels are scaled to [0, 1] and the images flattened to 64 features; a seeded shuffle
    (not stratified) splits them into training and test sets.

    Parameters
    ----------
    test_size : float, default 0.2
        The fraction of the images in the test set.
    seed : int, default 0
        Seed of the shuffle.
    dtype : numpy dtype, default float32
        The dtype of the images.

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        Images of shape (n, 64) and int64 labels in 0..9.

    Raises
    ------
    ImportError
        When scikit-learn (which ships the data) is not installed.

    Examples
    --------
    >>> (x_train, y_train), (x_test, y_test) = ad.datasets.digits()
    >>> x_train.shape, x_train.dtype, y_train.dtype, x_test.shape
    ((1438, 64), dtype('float32'), dtype('int64'), (359, 64))
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("pyad.train.datasets.digits needs scikit-learn, which ships the data: "
                          "pip install scikit-learn (or pip install -e '.[examples]')") from None
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(dtype)
    y = y.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    n_test = int(round(test_size * len(y)))
    return (x[n_test:], y[n_test:]), (x[:n_test], y[:n_test])
