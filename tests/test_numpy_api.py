"""Plain numpy calls and Python operators on Tensors (NEP 13/18), indexing, and the public
API names of DESIGN.md."""
import numpy as np
import pytest

import pyad as ad
from pyad import Tensor

RNG = np.random.default_rng(3)


def arr(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def close(a, b, rtol=1e-12, atol=1e-12):
    a = a.data if isinstance(a, Tensor) else a
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def grad_of(f, x0):
    """d sum(f(x)) / dx at x0 through an explicit tape, plus the forward value."""
    x = ad.tensor(x0)
    with ad.Tape() as tape:
        tape.watch(x)
        y = f(x)
        s = ad.sum(y)
    g, = tape.gradient(s, [x])
    return y, g.data


# ------------------------------------------------------------------------- numpy functions
def test_np_tanh():
    x0 = arr(2, 3)
    y, g = grad_of(np.tanh, x0)
    assert isinstance(y, Tensor)
    close(y, np.tanh(x0))
    close(g, 1 - np.tanh(x0) ** 2)


@pytest.mark.parametrize("ufunc,deriv", [
    (np.exp, np.exp), (np.sin, np.cos), (np.cos, lambda x: -np.sin(x)),
    (np.square, lambda x: 2 * x), (np.negative, lambda x: -np.ones_like(x)),
    (np.absolute, np.sign),
])
def test_np_unary_ufuncs(ufunc, deriv):
    x0 = arr(5)
    y, g = grad_of(ufunc, x0)
    assert isinstance(y, Tensor)
    close(y, ufunc(x0))
    close(g, deriv(x0))


def test_np_log_sqrt_on_positive():
    x0 = np.abs(arr(4)) + 0.5
    y, g = grad_of(np.log, x0)
    close(y, np.log(x0))
    close(g, 1 / x0)
    y, g = grad_of(np.sqrt, x0)
    close(y, np.sqrt(x0))
    close(g, 0.5 / np.sqrt(x0))


def test_np_sum_axis():
    x0 = arr(3, 4)
    y, g = grad_of(lambda x: np.sum(x, axis=0) * np.arange(4.0), x0)
    assert isinstance(y, Tensor) and y.shape == (4,)
    close(y, x0.sum(axis=0) * np.arange(4.0))
    close(g, np.broadcast_to(np.arange(4.0), (3, 4)))
    y = np.sum(ad.tensor(x0), axis=1, keepdims=True)
    assert y.shape == (3, 1)
    close(y, x0.sum(axis=1, keepdims=True))


def test_np_dot():
    a0, b0 = arr(3, 4), arr(4, 2)
    b = ad.tensor(b0)
    with ad.Tape() as tape:
        tape.watch(b)
        y = np.dot(a0, b)
        s = ad.sum(y)
    assert isinstance(y, Tensor)
    close(y, a0 @ b0)
    gb, = tape.gradient(s, [b])
    close(gb, a0.T @ np.ones((3, 2)))
    v = arr(4)
    close(np.dot(ad.tensor(v), ad.tensor(v)), v @ v)


def test_np_mean():
    x0 = arr(3, 4)
    y, g = grad_of(lambda x: np.mean(x, axis=1), x0)
    close(y, x0.mean(axis=1))
    close(g, np.full((3, 4), 0.25))
    close(np.mean(ad.tensor(x0)), x0.mean())


def test_np_max():
    x0 = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]])
    y, g = grad_of(lambda x: np.max(x, axis=1), x0)
    close(y, [5.0, 7.0])
    close(g, [[0, 1, 0], [0.5, 0, 0.5]])        # ties split evenly
    close(np.max(ad.tensor(x0)), 7.0)
    close(np.min(ad.tensor(x0)), 0.0)


def test_np_concatenate():
    a0, c = arr(2, 3), arr(1, 3)
    y, g = grad_of(lambda a: np.concatenate([a, c, a * 2.0], axis=0), a0)
    assert isinstance(y, Tensor) and y.shape == (5, 3)
    close(y, np.concatenate([a0, c, 2 * a0]))
    close(g, np.full((2, 3), 3.0))


def test_np_where():
    x0 = arr(6)
    cond = x0 > 0
    y, g = grad_of(lambda x: np.where(cond, x * 3.0, 0.0), x0)
    assert isinstance(y, Tensor)
    close(y, np.where(cond, 3 * x0, 0.0))
    close(g, np.where(cond, 3.0, 0.0))
    # condition given as a Tensor comparison
    y, g = grad_of(lambda x: np.where(x > 0, x, -x), x0)
    close(y, np.abs(x0))
    close(g, np.sign(x0))


def test_np_reshape_transpose_stack():
    x0 = arr(2, 3)
    y, g = grad_of(lambda x: np.transpose(np.reshape(x, (3, 2))) * np.arange(6.0).reshape(2, 3), x0)
    close(y, x0.reshape(3, 2).T * np.arange(6.0).reshape(2, 3))
    close(g, np.arange(6.0).reshape(2, 3).T.reshape(2, 3))
    y, g = grad_of(lambda x: np.stack([x, x * 2.0], axis=1), x0)
    assert y.shape == (2, 2, 3)
    close(g, np.full((2, 3), 3.0))


def test_matmul_operator_and_np_matmul():
    x0, w0 = arr(4, 3), arr(3, 2)
    x, w = ad.tensor(x0), ad.tensor(w0)
    with ad.Tape() as tape:
        tape.watch(w)
        y = x @ w
        z = x0 @ w                              # ndarray @ Tensor
        s = ad.sum(y) + ad.sum(z * 2.0)
    assert isinstance(y, Tensor) and isinstance(z, Tensor)
    close(y, x0 @ w0)
    close(z, x0 @ w0)
    gw, = tape.gradient(s, [w])
    close(gw, 3 * x0.T @ np.ones((4, 2)))
    close(np.matmul(x, w), x0 @ w0)


def test_np_asarray_and_array():
    x0 = arr(3)
    t = ad.tensor(x0)
    a = np.asarray(t)
    assert type(a) is np.ndarray
    np.testing.assert_array_equal(a, x0)
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert type(np.array(t)) is np.ndarray
    np.testing.assert_array_equal(t.numpy(), x0)


def test_tensor_copies_its_data():
    x0 = arr(3)
    t = ad.tensor(x0)
    x0[0] = 100.0
    assert t.data[0] != 100.0


# ------------------------------------------------------------------------- operators
OPS = [
    ("add", lambda a, b: a + b, lambda a, b: (np.ones_like(a), np.ones_like(b))),
    ("sub", lambda a, b: a - b, lambda a, b: (np.ones_like(a), -np.ones_like(b))),
    ("mul", lambda a, b: a * b, lambda a, b: (b, a)),
    ("div", lambda a, b: a / b, lambda a, b: (1 / b, -a / b ** 2)),
    ("pow", lambda a, b: a ** b, lambda a, b: (b * a ** (b - 1), a ** b * np.log(a))),
]


@pytest.mark.parametrize("name,op,deriv", OPS, ids=[o[0] for o in OPS])
@pytest.mark.parametrize("left", ["tensor", "ndarray", "pyfloat"])
def test_operators_with_constant_on_either_side(name, op, deriv, left):
    a0 = np.abs(arr(4)) + 0.5
    b0 = np.abs(arr(4)) + 0.5
    if left == "pyfloat":
        a0 = 1.7
    # the Tensor on the right, the constant on the left (reflected operators)
    b = ad.tensor(b0)
    a = ad.tensor(a0) if left == "tensor" else (np.asarray(a0) if left == "ndarray" else a0)
    with ad.Tape() as tape:
        tape.watch(b)
        y = op(a, b)
        s = ad.sum(y)
    assert isinstance(y, Tensor), type(y)
    close(y, op(np.asarray(a0), b0))
    gb, = tape.gradient(s, [b])
    close(gb, deriv(np.asarray(a0), b0)[1] * np.ones(4), rtol=1e-12)
    # and the Tensor on the left
    a1 = ad.tensor(b0)
    c = np.asarray(a0) if left != "pyfloat" else a0
    with ad.Tape() as tape:
        tape.watch(a1)
        y = op(a1, c)
        s = ad.sum(y)
    assert isinstance(y, Tensor)
    close(y, op(b0, np.asarray(c)))
    ga, = tape.gradient(s, [a1])
    close(ga, deriv(b0, np.asarray(c))[0] * np.ones(4), rtol=1e-12)


def test_ndarray_times_tensor_is_a_differentiable_tensor():
    c, x0 = arr(3), arr(3)
    x = ad.tensor(x0, requires_grad=True)
    y = c * x
    assert isinstance(y, Tensor)
    assert y.requires_grad
    ad.sum(y).backward()
    close(x.grad, c)


def test_unary_operators():
    x0 = arr(4)
    y, g = grad_of(lambda x: -x, x0)
    close(y, -x0)
    close(g, -np.ones(4))
    y, g = grad_of(lambda x: abs(x), x0)
    close(y, np.abs(x0))
    close(g, np.sign(x0))
    y, g = grad_of(lambda x: +x, x0)
    close(g, np.ones(4))


def test_broadcasting_operands_of_different_rank():
    a0, b0 = arr(2, 3), arr(3)
    a, b = ad.tensor(a0), ad.tensor(b0)
    with ad.Tape() as tape:
        tape.watch(a, b)
        y = a * b + b
        s = ad.sum(y)
    close(y, a0 * b0 + b0)
    ga, gb = tape.gradient(s, [a, b])
    close(ga, np.broadcast_to(b0, (2, 3)))
    close(gb, a0.sum(axis=0) + 2.0)


def test_numpy_scalar_and_0d_operands():
    x0 = arr(3)
    c = np.float64(2.5)
    y, g = grad_of(lambda x: x * c + np.float32(1.0) - c * x * x + x / np.array(4.0), x0)
    close(y, x0 * 2.5 + 1.0 - 2.5 * x0 * x0 + x0 / 4.0)
    close(g, 2.5 - 5.0 * x0 + 0.25)


def test_int_tensor_true_division_gives_float():
    k = ad.tensor([1, 2, 3])
    close(k / 2, [0.5, 1.0, 1.5])
    close(3 / k, [3.0, 1.5, 1.0])
    close(k / k, [1.0, 1.0, 1.0])


@pytest.mark.parametrize("op,npop", [
    (lambda a, b: a < b, np.less), (lambda a, b: a <= b, np.less_equal),
    (lambda a, b: a > b, np.greater), (lambda a, b: a >= b, np.greater_equal),
    (lambda a, b: a == b, np.equal), (lambda a, b: a != b, np.not_equal),
])
def test_comparisons_are_bool_tensors_without_gradient(op, npop):
    x0 = np.array([1.0, 2.0, 3.0])
    c = np.array([2.0, 2.0, 2.0])
    x = ad.tensor(x0, requires_grad=True)
    with ad.Tape() as tape:
        for r in (op(x, c), op(c, x), op(x, 2.0), op(x, x)):
            assert isinstance(r, Tensor), type(r)
            assert r.dtype == np.bool_
            assert not r.requires_grad
        assert len(tape) == 0
    np.testing.assert_array_equal(op(x, c).data, npop(x0, c))
    np.testing.assert_array_equal(op(c, x).data, npop(c, x0))
    np.testing.assert_array_equal(op(x, 2.0).data, npop(x0, 2.0))


# ------------------------------------------------------------------------- indexing
@pytest.mark.parametrize("key", [
    1, -1, slice(1, 3), (slice(None), 0), (Ellipsis, 1), (None, 0),
    (slice(None, None, -1),), (slice(None), slice(None, None, -2)),
    (slice(3, 0, -1), slice(None)), (0, slice(None, None, -1)),
], ids=lambda k: repr(k))
def test_basic_indexing(key):
    x0 = np.arange(20.0).reshape(4, 5) * 0.1
    y, g = grad_of(lambda x: x[key] * 2.0, x0)
    close(y, x0[key] * 2.0)
    expect = np.zeros_like(x0)
    expect[key] = 2.0
    close(g, expect)


def test_integer_array_indexing_repeated_indices_accumulate():
    x0 = arr(5)
    y, g = grad_of(lambda x: x[[0, 0, 3, 0, -1]], x0)
    close(y, x0[[0, 0, 3, 0, -1]])
    close(g, [3.0, 0.0, 0.0, 1.0, 1.0])
    y, g = grad_of(lambda x: x[np.array([[1, 1], [2, 1]])], x0)
    assert y.shape == (2, 2)
    close(g, [0.0, 3.0, 1.0, 0.0, 0.0])


def test_integer_array_indexing_rows_and_pairs():
    x0 = arr(4, 3)
    idx = np.array([2, 0, 2, 2])
    y, g = grad_of(lambda x: x[idx], x0)
    close(y, x0[idx])
    expect = np.zeros_like(x0)
    np.add.at(expect, idx, 1.0)
    close(g, expect)
    y, g = grad_of(lambda x: x[[1, 1, 3], [0, 0, 2]], x0)
    close(y, x0[[1, 1, 3], [0, 0, 2]])
    expect = np.zeros_like(x0)
    expect[1, 0], expect[3, 2] = 2.0, 1.0
    close(g, expect)
    y, g = grad_of(lambda x: x[:, [2, 2]], x0)
    expect = np.zeros_like(x0)
    expect[:, 2] = 2.0
    close(g, expect)


def test_tensor_index_and_bool_mask():
    x0 = arr(5)
    idx = ad.tensor([4, 4, 1])
    y, g = grad_of(lambda x: x[idx], x0)
    close(y, x0[[4, 4, 1]])
    close(g, [0.0, 1.0, 0.0, 0.0, 2.0])
    mask = x0 > 0
    y, g = grad_of(lambda x: x[mask] * 3.0, x0)
    close(y, x0[mask] * 3.0)
    close(g, np.where(mask, 3.0, 0.0))


def test_take():
    x0 = arr(3, 4)
    y, g = grad_of(lambda x: ad.take(x, [1, 1, 0], axis=0), x0)
    close(y, np.take(x0, [1, 1, 0], axis=0))
    expect = np.zeros_like(x0)
    expect[0], expect[1] = 1.0, 2.0
    close(g, expect)
    y, g = grad_of(lambda x: np.take(x, [5, 5]), x0)
    close(y, np.take(x0, [5, 5]))
    expect = np.zeros(12)
    expect[5] = 2.0
    close(g, expect.reshape(3, 4))


# ------------------------------------------------------------------------- unsupported
@pytest.mark.parametrize("call,name", [
    (lambda t: np.fft.hfft(t), "fft.hfft"),
    (lambda t: np.linalg.eig(t), "linalg.eig"),
    (lambda t: np.spacing(t), "spacing"),
    (lambda t: np.median(t), "median"),
    (lambda t: np.add.reduce(t), "add.reduce"),
])
def test_unsupported_numpy_function_raises_type_error_naming_it(call, name):
    t = ad.tensor(arr(4))
    with pytest.raises(TypeError, match=r"np\." + name.replace(".", r"\.") + r"\b"):
        call(t)


# ------------------------------------------------------------------------- API names
TENSOR_ATTRS = ["data", "numpy", "shape", "dtype", "ndim", "size", "T", "item", "grad",
                "requires_grad", "backward", "detach"]
FUNCTIONS = ("add subtract multiply divide negative power matmul exp log log1p sqrt square abs "
             "sin cos tanh sigmoid relu softplus maximum minimum clip where "
             "sum mean max min logsumexp softmax log_softmax var "
             "reshape transpose expand_dims squeeze broadcast_to concatenate stack take").split()
UTILITIES = ("tensor zeros ones zeros_like ones_like full arange no_grad debug_nans "
             "set_num_threads Tape grad value_and_grad vjp Tensor").split()


@pytest.mark.parametrize("name", FUNCTIONS + UTILITIES)
def test_design_api_names_exist(name):
    assert hasattr(ad, name), name
    assert callable(getattr(ad, name))
    assert name in ad.__all__, name


def test_tensor_attributes():
    t = ad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    for a in TENSOR_ATTRS:
        assert hasattr(t, a), a
    assert isinstance(t.data, np.ndarray)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6
    assert t.dtype == np.float64
    assert t.T.shape == (3, 2)
    close(t.T, t.data.T)
    assert t.grad is None and t.requires_grad is False
    assert ad.tensor(3.5).item() == 3.5
    assert isinstance(ad.tensor(3.5).item(), float)
    assert ad.tensor([1, 2], dtype=np.float32).dtype == np.float32
    assert ad.tensor([1.0], requires_grad=True).requires_grad is True


def test_constructors():
    for t, expect in [
        (ad.zeros((2, 3)), np.zeros((2, 3))), (ad.ones(4), np.ones(4)),
        (ad.zeros_like(np.ones((2, 2))), np.zeros((2, 2))),
        (ad.ones_like(ad.tensor(np.zeros(3))), np.ones(3)),
        (ad.full((2,), 7.5), np.full((2,), 7.5)), (ad.arange(5), np.arange(5)),
    ]:
        assert isinstance(t, Tensor)
        assert t.dtype == expect.dtype
        np.testing.assert_array_equal(t.data, expect)


def test_set_num_threads_roundtrip():
    n = ad.get_num_threads()
    try:
        ad.set_num_threads(1)
        assert ad.get_num_threads() == 1
        close(ad.sum(ad.tanh(ad.tensor(np.ones(100_000)))), 100_000 * np.tanh(1.0), rtol=1e-9)
    finally:
        ad.set_num_threads(n)
