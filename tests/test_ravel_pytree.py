"""ad.ravel_pytree: one flat vector for a pytree of arrays, and the unravel that rebuilds it
(structure, shapes, dtypes), numpy in -> numpy out, differentiable on Tensors."""
import collections

import numpy as np
import pytest

import pyad as ad
from pyad import Tensor

RNG = np.random.default_rng(5)
Pair = collections.namedtuple("Pair", "w b")


def tree_example():
    return {"layers": [Pair(RNG.standard_normal((3, 2)), RNG.standard_normal(2)),
                       Pair(RNG.standard_normal((2, 1)), np.zeros(1))],
            "scale": 1.5, "steps": np.int64(4), "t": (np.float64(0.25),)}


def assert_same_tree(a, b, exact_types=True):
    la, ta = ad.tree_flatten(a)
    lb, tb = ad.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        xd = x.data if isinstance(x, Tensor) else np.asarray(x)
        yd = y.data if isinstance(y, Tensor) else np.asarray(y)
        assert xd.shape == yd.shape and xd.dtype == yd.dtype
        np.testing.assert_array_equal(xd, yd)


def test_round_trip_numpy():
    tree = tree_example()
    flat, unravel = ad.ravel_pytree(tree)
    assert type(flat) is np.ndarray and flat.ndim == 1 and flat.dtype == np.float64
    assert flat.size == 6 + 2 + 2 + 1 + 1 + 1 + 1
    # order: tree_flatten's (dicts by sorted key)
    leaves, _ = ad.tree_flatten(tree)
    np.testing.assert_array_equal(flat, np.concatenate([np.ravel(x) for x in leaves]))
    back = unravel(flat)
    assert isinstance(back["layers"][0], Pair) and isinstance(back["t"], tuple)
    assert back["steps"].dtype == np.int64 and back["scale"].shape == ()
    expected = ad.tree_map(np.asarray, tree)
    assert_same_tree(back, expected)
    moved = unravel(flat + 1.0)
    np.testing.assert_array_equal(moved["layers"][1].b, [1.0])


def test_flat_dtype():
    f32 = {"a": np.ones(2, np.float32), "b": np.zeros((1, 2), np.float32)}
    flat, unravel = ad.ravel_pytree(f32)
    assert flat.dtype == np.float32
    assert ad.ravel_pytree({"a": np.ones(2, np.float32), "b": np.ones(1)})[0].dtype == np.float64
    flat, unravel = ad.ravel_pytree([np.arange(3), True])
    assert flat.dtype == np.float64
    back = unravel(flat * 2)
    assert back[0].dtype == np.arange(3).dtype and back[1].dtype == np.bool_
    np.testing.assert_array_equal(back[0], [0, 2, 4])
    flat, unravel = ad.ravel_pytree({})
    assert flat.shape == (0,) and unravel(flat) == {}
    flat, unravel = ad.ravel_pytree(np.ones((2, 3)))          # a bare array is a tree too
    assert flat.shape == (6,) and unravel(flat).shape == (2, 3)


def test_errors():
    with pytest.raises(TypeError, match="leaf 1"):
        ad.ravel_pytree([np.ones(2), None])
    with pytest.raises(TypeError, match="not a real numeric"):
        ad.ravel_pytree({"s": "text"})
    _, unravel = ad.ravel_pytree([np.ones(2), np.ones(3)])
    with pytest.raises(ValueError, match="length 5"):
        unravel(np.ones(4))
    with pytest.raises(ValueError, match="length 5"):
        unravel(ad.tensor(np.ones((5, 1))))


def loss(params, x):
    h = ad.tanh(x @ params["W1"] + params["b1"])
    return ad.sum((h @ params["W2"]) ** 2) + params["c"] * ad.sum(params["W1"] ** 2)


def make_params():
    return {"W1": RNG.standard_normal((3, 4)), "b1": RNG.standard_normal(4),
            "W2": RNG.standard_normal((4, 2)), "c": 0.1}


def test_grad_through_unravel():
    params, x = make_params(), RNG.standard_normal((5, 3))
    flat, unravel = ad.ravel_pytree(params)
    g_flat = ad.grad(lambda v: loss(unravel(v), x))(flat)
    assert type(g_flat) is np.ndarray and g_flat.shape == flat.shape
    g_tree = ad.grad(loss)(params, x)
    np.testing.assert_allclose(g_flat, ad.ravel_pytree(g_tree)[0], rtol=1e-12, atol=1e-14)
    eps, fd = 1e-6, np.zeros_like(flat)
    for i in range(flat.size):
        e = np.zeros_like(flat)
        e[i] = eps
        fd[i] = (float(loss(unravel(flat + e), x).data) -
                 float(loss(unravel(flat - e), x).data)) / (2 * eps)
    np.testing.assert_allclose(g_flat, fd, rtol=1e-6, atol=1e-8)


def test_hessian_and_float32_through_unravel():
    tree = {"a": np.array([0.5, -0.25], np.float32), "b": np.float32(2.0)}
    flat, unravel = ad.ravel_pytree(tree)
    f = lambda v: ad.sum(unravel(v)["a"] ** 2) * unravel(v)["b"]        # noqa: E731
    g = ad.grad(f)(flat)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [2.0, -1.0, 0.3125])
    flat64, unravel64 = ad.ravel_pytree({"a": np.array([0.5, -0.25]), "b": 2.0})
    H = ad.hessian(lambda v: ad.sum(unravel64(v)["a"] ** 2) * unravel64(v)["b"])(flat64)
    np.testing.assert_allclose(H, [[4.0, 0.0, 1.0], [0.0, 4.0, -0.5], [1.0, -0.5, 0.0]])


def test_tensors_in_tensor_out_differentiable():
    params, x = make_params(), RNG.standard_normal((5, 3))

    def f(p):
        flat, unravel = ad.ravel_pytree(p)
        assert isinstance(flat, Tensor) and flat.ndim == 1
        rebuilt = unravel(flat)
        assert isinstance(rebuilt["W1"], Tensor)
        return ad.sum(flat ** 2) + loss(rebuilt, x)

    g = ad.grad(f)(params)
    g_ref = ad.grad(loss)(params, x)
    for k in params:
        np.testing.assert_allclose(g[k], 2 * np.asarray(params[k]) + g_ref[k], rtol=1e-12)
    # a numpy vector given to the unravel of Tensors gives numpy arrays, and vice versa
    flat_t, unravel_t = ad.ravel_pytree([ad.tensor([1.0, 2.0]), np.ones((2, 2))])
    assert isinstance(flat_t, Tensor) and flat_t.shape == (6,)
    assert type(unravel_t(np.zeros(6))[0]) is np.ndarray
    _, unravel_np = ad.ravel_pytree([np.ones(2)])
    assert isinstance(unravel_np(ad.tensor([3.0, 4.0]))[0], Tensor)


def test_pyad_numpy_training_loop_on_flat_parameters():
    """The autograd idiom: flatten the parameters, step the vector, unflatten to use them."""
    import pyad.numpy as pnp
    params, x = make_params(), RNG.standard_normal((5, 3))
    flat, unravel = ad.ravel_pytree(params)
    objective = lambda v: loss(unravel(v), x)                          # noqa: E731
    before = float(objective(flat).data)
    for _ in range(20):
        flat = flat - 0.01 * ad.grad(objective)(flat)
    assert float(objective(flat).data) < before
    assert pnp.shape(unravel(flat)["W1"]) == (3, 4)
