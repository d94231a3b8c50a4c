"""pyad.data.batches and pyad.datasets.digits."""
import numpy as np
import pytest

import pyad as ad
from pyad.data import batches


def _xy(n=23):
    x = np.arange(n * 3, dtype=np.float64).reshape(n, 3)
    y = np.arange(n) * 10
    return x, y


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("batch_size", [1, 4, 5, 23, 100])
def test_every_row_once_per_epoch_and_aligned(shuffle, batch_size):
    x, y = _xy()
    seen = []
    sizes = []
    for xb, yb in batches(x, y, batch_size=batch_size, shuffle=shuffle, seed=0):
        assert isinstance(xb, np.ndarray) and isinstance(yb, np.ndarray)
        assert xb.shape[1:] == (3,) and len(xb) == len(yb)
        np.testing.assert_array_equal(xb[:, 0] / 3 * 10, yb)          # rows stay aligned
        seen.extend((yb // 10).tolist())
        sizes.append(len(yb))
    assert sorted(seen) == list(range(23))
    expected = [batch_size] * (23 // batch_size) + ([23 % batch_size] if 23 % batch_size else [])
    assert sizes == expected
    if not shuffle:
        assert seen == list(range(23))


def test_shuffle_actually_shuffles():
    x, y = _xy(100)
    order = np.concatenate([yb for _, yb in batches(x, y, batch_size=10, seed=0)]) // 10
    assert sorted(order.tolist()) == list(range(100))
    assert not np.array_equal(order, np.arange(100))


def test_int_seed_reproducible():
    x, y = _xy(50)
    a = [yb for _, yb in batches(x, y, batch_size=7, seed=42)]
    b = [yb for _, yb in batches(x, y, batch_size=7, seed=42)]
    c = [yb for _, yb in batches(x, y, batch_size=7, seed=43)]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))
    # the order is numpy's permutation for that seed
    np.testing.assert_array_equal(np.concatenate(a) // 10,
                                  np.random.default_rng(42).permutation(50))


def test_generator_seed_reproducible_and_advances():
    x, y = _xy(40)

    def run(rng, epochs=3):
        return [np.concatenate([yb for _, yb in batches(x, y, batch_size=6, seed=rng)])
                for _ in range(epochs)]

    first = run(np.random.default_rng(7))
    second = run(np.random.default_rng(7))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)                 # the whole run is reproducible
    assert not np.array_equal(first[0], first[1])           # successive epochs differ
    assert not np.array_equal(first[1], first[2])
    for epoch in first:
        assert sorted((epoch // 10).tolist()) == list(range(40))


def test_drop_last():
    x, y = _xy(23)
    out = list(batches(x, y, batch_size=5, seed=0, drop_last=True))
    assert [len(yb) for _, yb in out] == [5, 5, 5, 5]
    seen = np.concatenate([yb for _, yb in out]) // 10
    assert len(set(seen.tolist())) == 20
    exact = list(batches(x[:20], y[:20], batch_size=5, shuffle=False, drop_last=True))
    assert len(exact) == 4
    assert list(batches(x[:3], batch_size=5, drop_last=True)) == []


def test_single_array_and_many_arrays():
    x, y = _xy(10)
    w = np.arange(10.0)[:, None, None] * np.ones((1, 2, 2))
    out = list(batches(x, batch_size=4, shuffle=False))
    assert all(isinstance(b, tuple) and len(b) == 1 for b in out)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in out]), x)
    for xb, yb, wb in batches(x, y, w, batch_size=3, seed=1):
        assert wb.shape[1:] == (2, 2)
        np.testing.assert_array_equal(wb[:, 0, 0] * 10, yb)


def test_lists_are_accepted():
    out = list(batches(list(range(5)), [str(i) for i in range(5)], batch_size=2,
                       shuffle=False))
    assert [a.tolist() for a, _ in out] == [[0, 1], [2, 3], [4]]
    assert [b.tolist() for _, b in out] == [["0", "1"], ["2", "3"], ["4"]]


def test_empty_arrays_give_no_batches():
    assert list(batches(np.zeros((0, 3)), batch_size=4)) == []


def test_bad_arguments():
    x, y = _xy(10)
    with pytest.raises(ValueError, match="rows"):
        list(batches(x, y[:9], batch_size=2))
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(x, y, batch_size=0))
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(x, y, batch_size=-3))
    with pytest.raises(ValueError):
        list(batches(batch_size=3))


# ------------------------------------------------------------------- digits
@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    return ad.datasets.digits()


def test_digits_shapes_and_dtypes(digits):
    (xtr, ytr), (xte, yte) = digits
    assert len(xtr) + len(xte) == 1797
    assert len(xte) == round(0.2 * 1797) == 359
    assert xtr.shape == (1438, 64) and xte.shape == (359, 64)
    assert ytr.shape == (1438,) and yte.shape == (359,)
    assert xtr.dtype == np.float32 and xte.dtype == np.float32
    assert ytr.dtype == np.int64 and yte.dtype == np.int64


def test_digits_values(digits):
    (xtr, ytr), (xte, yte) = digits
    x = np.concatenate([xtr, xte])
    y = np.concatenate([ytr, yte])
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y).tolist()) == set(range(10))
    assert set(np.unique(ytr).tolist()) == set(range(10))
    assert set(np.unique(yte).tolist()) == set(range(10))
    # the same images as scikit-learn's, pixels / 16
    from sklearn.datasets import load_digits
    ref_x, ref_y = load_digits(return_X_y=True)
    key = lambda a: sorted(map(bytes, (np.round(a * 16).astype(np.uint8))))  # noqa: E731
    assert key(x) == key(ref_x / 16)
    np.testing.assert_array_equal(np.bincount(y), np.bincount(ref_y))


def test_digits_split_is_deterministic(digits):
    (xtr, ytr), (xte, yte) = digits
    (xtr2, ytr2), (xte2, yte2) = ad.datasets.digits()
    np.testing.assert_array_equal(xtr, xtr2)
    np.testing.assert_array_equal(yte, yte2)
    (xtr3, _), _ = ad.datasets.digits(seed=1)
    assert not np.array_equal(xtr, xtr3)
    # a different seed gives a different split of the same images
    (xtr3, ytr3), (xte3, yte3) = ad.datasets.digits(seed=1)
    np.testing.assert_array_equal(np.bincount(np.concatenate([ytr3, yte3])),
                                  np.bincount(np.concatenate([ytr, yte])))


def test_digits_options():
    pytest.importorskip("sklearn")
    (xtr, ytr), (xte, yte) = ad.datasets.digits(test_size=0.5, dtype=np.float64, seed=3)
    assert xtr.dtype == np.float64
    assert len(xte) == round(0.5 * 1797) and len(xtr) + len(xte) == 1797
