"""Small data sets that ship with installed packages (no download)."""
import numpy as np

__all__ = ["digits"]


def digits(test_size=0.2, seed=0, dtype=np.float32):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), pixels scaled to
    [0, 1], split into ((x_train, y_train), (x_test, y_test)) with a seeded stratified-free
    shuffle."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("pyad.datasets.digits needs scikit-learn, which ships the data: "
                          "pip install scikit-learn (or pip install -e '.[examples]')") from None
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(dtype)
    y = y.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    n_test = int(round(test_size * len(y)))
    return (x[n_test:], y[n_test:]), (x[:n_test], y[:n_test])
