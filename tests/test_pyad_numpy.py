"""pyad.numpy as a drop-in for autograd.numpy: the namespace, the dispatch of every wrapper,
lists of traced values under grad (against finite differences), and autograd-style programs
run with only the import line changed (against autograd itself and against numpy by hand)."""
import importlib
import sys
import warnings

import numpy
import pytest

import pyad as ad
import pyad.numpy as pnp
from pyad import Tensor
from pyad.ops import numpy_dispatch as _numpy_dispatch

RNG = numpy.random.default_rng(7)


def data(x):
    return x.data if isinstance(x, Tensor) else x


def fd_grad(f, x0, eps=1e-6):
    """Central differences of a scalar function of one float64 array."""
    x0 = numpy.asarray(x0, dtype=numpy.float64)
    g = numpy.zeros_like(x0)
    for i in numpy.ndindex(x0.shape):
        e = numpy.zeros_like(x0)
        e[i] = eps
        g[i] = (float(data(f(x0 + e))) - float(data(f(x0 - e)))) / (2 * eps)
    return g


def check_grad(f, x0, rtol=1e-6, atol=1e-8):
    """ad.grad(f) at x0 against central differences; f must also run on numpy inputs."""
    g = ad.grad(f)(x0)
    assert isinstance(g, numpy.ndarray)
    numpy.testing.assert_allclose(g, fd_grad(f, x0), rtol=rtol, atol=atol)
    return g


# ============================================================================ the namespace
def test_dir_covers_numpy():
    public = {n for n in dir(numpy) if not n.startswith("_")}
    assert public <= set(dir(pnp)), sorted(public - set(dir(pnp)))[:20]
    for name in ("polynomial", "ma", "testing"):          # numpy's lazy submodules
        assert getattr(pnp, name) is getattr(numpy, name)
    # fft is pyad's (differentiable on Tensors, numpy.fft's otherwise), with numpy's names
    assert set(dir(numpy.fft)) - {n for n in dir(numpy.fft) if n.startswith("_")} <= \
        set(dir(pnp.fft))


def test_numpy_objects_are_numpy_own():
    for name in ("float32", "float64", "int64", "int32", "bool_", "complex128", "dtype",
                 "ndarray", "isscalar", "pi", "e", "inf", "newaxis", "errstate", "seterr",
                 "finfo", "iinfo", "s_", "index_exp", "mgrid", "ogrid", "printoptions",
                 "set_printoptions"):
        assert getattr(pnp, name) is getattr(numpy, name), name
    assert numpy.isnan(pnp.nan)
    assert pnp.newaxis is None and pnp.pi == numpy.pi
    assert pnp.random is numpy.random
    rnd = importlib.import_module("pyad.numpy.random")
    assert rnd is numpy.random
    wrapped = set(pnp._WRAPPED) | set(pnp._NOGRAD) | {"linalg", "fft", "random", "r_", "c_"}
    for name in dir(numpy):
        if not name.startswith("_") and name not in wrapped and name in vars(numpy):
            assert getattr(pnp, name) is getattr(numpy, name), name


def test_star_import_and_all():
    ns = {}
    exec("from pyad.numpy import *", ns)
    assert ns["exp"] is pnp.exp and ns["float64"] is numpy.float64
    assert ns["linalg"] is pnp.linalg


def test_every_pyad_numpy_name_is_wrapped():
    """pyad's numpy-named functions (ops, op families) are picked up by name."""
    names = set(ad.ops.core.FAMILY_NAMES)
    names |= {n for n in ad.__all__ if getattr(ad.ops, n, None) is getattr(ad, n)}
    for name in names:
        obj = vars(numpy).get(name)
        if obj is None or not callable(obj) or isinstance(obj, type):
            continue
        w = getattr(pnp, name)
        assert pnp._WRAPPED.get(name) is w, name
        assert w.pyad_function is getattr(ad, name), name
        assert w.numpy_function is obj, name


def _target_of(table, name):
    t = table[name]
    return getattr(t, "__wrapped__", t)


@pytest.mark.parametrize("name", sorted(pnp._WRAPPED))
def test_wrapper_targets_pyad(name):
    w = pnp._WRAPPED[name]
    target = _target_of(pnp._TRACED, name)
    protocol = (_numpy_dispatch._UFUNCS if isinstance(w.numpy_function, numpy.ufunc)
                else _numpy_dispatch._FUNCTIONS).get(w.numpy_function)
    allowed = [w.pyad_function, protocol, pnp._OVERRIDES.get(name), pnp._FALLBACKS.get(name)]
    assert any(target is a for a in allowed if a is not None), (name, target)


@pytest.mark.parametrize("name", sorted(pnp._WRAPPED))
def test_wrapper_dispatch(name, monkeypatch):
    """A Tensor argument (or a list of them) reaches the traced function, packed; numpy
    arguments never do."""
    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        return "traced"

    monkeypatch.setitem(pnp._TRACED, name, spy)
    w = pnp._WRAPPED[name]
    x = ad.tensor(numpy.ones((2, 2)))
    if name in pnp._SEQUENCE_ARGS:
        assert w([x, [[1.0, 2.0], [3.0, x[0, 0]]]]) == "traced"
        assert all(isinstance(a, Tensor) for a in calls[0][0])
    else:
        assert w(x) == "traced"
        assert isinstance(calls[0][0], Tensor)
        calls.clear()
        assert w([x[0, 0], 2.0]) == "traced"             # a list holding a Tensor: packed
        assert isinstance(calls[0][0], Tensor) and calls[0][0].shape == (2,)
    calls.clear()
    with numpy.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            w(numpy.ones((2, 2)))
        except Exception:
            pass
    assert not calls


# every wrapper on a Tensor against numpy on its array (arguments tried generically)
_X = numpy.array([[2.0, 0.5, 0.25], [0.5, 1.5, 0.75], [0.25, 0.75, 1.25]])
_Y = numpy.array([[0.5, 1.25, 0.75], [1.0, 0.25, 2.0], [1.5, 0.5, 0.125]])
_SPECIAL = {
    "reshape": lambda x: (x, (9,)), "broadcast_to": lambda x: (x, (2, 3, 3)),
    "take": lambda x: (x, [0, 2]), "full": lambda x: ((2, 3), x[0, 0]),
    "full_like": lambda x: (x, x[0, 1]), "expand_dims": lambda x: (x, 0),
    "swapaxes": lambda x: (x, 0, 1), "where": lambda x: (x > 1.0, x, 0.0),
    "clip": lambda x: (x, 0.5, 1.0), "astype": lambda x: (x, numpy.float32),
    "squeeze": lambda x: (x[None],), "permute_dims": lambda x: (x, (1, 0)),
    "transpose": lambda x: (x, (1, 0)), "append": lambda x: (x, [1.0, 2.0]),
    "sum": lambda x: (x, 0), "mean": lambda x: (x, 1), "var": lambda x: (x,),
    "round": lambda x: (x, 1), "around": lambda x: (x, 1),
    "matrix_power": lambda x: (x, 3), "multi_dot": lambda x: ([x, x * 2.0, x],),
    "argpartition": lambda x: (x, 1), "partition": lambda x: (x, 1),
    "array_split": lambda x: (x, 2), "split": lambda x: (x, 3), "hsplit": lambda x: (x, 3),
    "vsplit": lambda x: (x, 3), "dsplit": lambda x: (pnp.reshape(x, (1, 3, 3)), 3),
    "einsum": lambda x: ("ij,jk->ik", x, x * 2.0), "moveaxis": lambda x: (x, 0, 1),
    "rollaxis": lambda x: (x, 1), "pad": lambda x: (x, 1), "repeat": lambda x: (x, 2),
    "roll": lambda x: (x, 1), "tile": lambda x: (x, 2),
    "select": lambda x: ([x > 1.0, x < 0.5], [x, x * 2.0]),
    "take_along_axis": lambda x: (x, numpy.argsort(_X, axis=1), 1),
    "diff": lambda x: (x, 2, 0, 1.0, [[1.0, 2.0, 3.0]]),
}
for _n in ("concatenate", "concat", "stack", "vstack", "hstack", "dstack", "column_stack",
           "row_stack"):
    _SPECIAL[_n] = lambda x: ([x, x * 2.0],)
_NO_GENERIC_CALL = {"zeros", "ones", "arange"}      # take shapes, not arrays


def _same(ours, theirs, name):
    if isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs), name
        for o, t in zip(ours, theirs):
            _same(o, t, name)
        return
    if isinstance(theirs, (numpy.ndarray, numpy.generic)) and theirs.dtype.kind in "fc":
        assert isinstance(ours, Tensor), (name, type(ours))
    numpy.testing.assert_allclose(numpy.asarray(data(ours), dtype=numpy.result_type(theirs)),
                                  theirs, rtol=1e-10, atol=1e-12, equal_nan=True,
                                  err_msg=name)


def _generic_calls(name):
    x, y = ad.tensor(_X), ad.tensor(_Y)
    if name in _SPECIAL:
        return [_SPECIAL[name](x)]
    return [(x,), (x, y), (x, y, x)]


def _unbox(a):
    if isinstance(a, Tensor):
        return a.data
    if isinstance(a, (list, tuple)):
        return type(a)(_unbox(e) for e in a)
    return a


def _check_against_numpy(module, name):
    w = getattr(module, name)
    with numpy.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for args in _generic_calls(name):
            try:
                expected = w.numpy_function(*_unbox(args))
            except Exception:
                continue
            ours = w(*args)
            _same(ours, expected, name)
            return True
    return False


@pytest.mark.parametrize("name", sorted(set(pnp._WRAPPED) - _NO_GENERIC_CALL))
def test_wrapper_matches_numpy(name):
    assert _check_against_numpy(pnp, name), \
        f"numpy.{name}: no argument pattern of this test fits it; list one in the test"


def test_untraced_calls_return_numpy():
    a = numpy.array([[1.0, 2.0], [3.0, 4.0]])
    for got, want in [
            (pnp.exp(a), numpy.exp(a)), (pnp.sum(a, axis=0), numpy.sum(a, axis=0)),
            (pnp.dot(a, a), numpy.dot(a, a)), (pnp.array([1.0, 2.0]), numpy.array([1.0, 2.0])),
            (pnp.asarray([[1, 2]]), numpy.asarray([[1, 2]])), (pnp.zeros(3), numpy.zeros(3)),
            (pnp.concatenate([a, a]), numpy.concatenate([a, a])),
            (pnp.stack([a, a], axis=2), numpy.stack([a, a], axis=2)),
            (pnp.r_[a[0], 5.0], numpy.r_[a[0], 5.0]), (pnp.c_[a, a], numpy.c_[a, a]),
            (pnp.full((2, 2), 3.0), numpy.full((2, 2), 3.0)),
            (pnp.where(a > 2, a, 0), numpy.where(a > 2, a, 0)),
            (pnp.mean([1.0, 2.0]), numpy.mean([1.0, 2.0])), (pnp.tanh(0.5), numpy.tanh(0.5)),
            (pnp.add.reduce(a), numpy.add.reduce(a)), (pnp.linalg.norm(a), numpy.linalg.norm(a)),
            (pnp.argmax(a), numpy.argmax(a))]:
        assert type(got) is type(want)
        numpy.testing.assert_array_equal(got, want)
    assert pnp.exp.nin == 1 and pnp.add.identity == 0


def test_traced_calls_return_tensors():
    x = ad.tensor([[1.0, 2.0], [3.0, 4.0]])
    for out in (pnp.exp(x), pnp.sum(x, axis=0), pnp.dot(x, x), pnp.array([x, x]),
                pnp.asarray(x), pnp.concatenate([x, x]), pnp.r_[x[0], 5.0], pnp.c_[x, x],
                pnp.full((2, 2), x[0, 0]), pnp.where(x > 2, x, 0.0), pnp.mean([x, 2 * x]),
                pnp.matmul(numpy.ones(2), x), pnp.add.reduce(x), pnp.multiply.outer(x, x)):
        assert isinstance(out, Tensor)


def test_nograd_functions_run_on_values():
    x = ad.tensor([[1.0, 5.0], [3.0, numpy.nan]])
    assert pnp.argmax(pnp.nan_to_num(x)) == 1
    numpy.testing.assert_array_equal(pnp.isnan(data(x)), numpy.isnan(data(x)))
    assert pnp.allclose(x[0], [1.0, 5.0])
    assert list(pnp.argsort(x[0])) == [0, 1]

    def f(v):          # an argmax inside a differentiated function: no derivative through it
        return pnp.sum(v * (pnp.arange(3) == pnp.argmax(v)))
    numpy.testing.assert_allclose(ad.grad(f)(numpy.array([0.5, 2.0, 1.0])), [0.0, 1.0, 0.0])


# ============================================================ lists of traced values (grad)
X0 = numpy.array([0.7, -1.3, 0.4])


@pytest.mark.parametrize("f", [
    lambda x: pnp.sum(pnp.array([x[0], 2.0 * x[1], 3.0]) ** 2),
    lambda x: pnp.sum(pnp.sin(pnp.array([[x[0], 1.0], [x[1] * x[2], pnp.exp(x[2])]]))),
    lambda x: pnp.sum(pnp.asarray([x, [1.0, 2.0, 3.0], x ** 2]) ** 3),
    lambda x: pnp.sum(pnp.array([[x[:2], [x[2], 0]], [[1, 2], x[1:]]]) ** 2),
    lambda x: pnp.prod(pnp.array([x[0], x[1], 1.5])) if hasattr(ad, "prod") else
    pnp.sum(pnp.array([x[0] * x[1], 1.5])),
    lambda x: pnp.sum(pnp.r_[x, 1.0, x[:2] ** 2, 0:2] ** 2),
    lambda x: pnp.sum(pnp.r_["0,2", x, x ** 2] ** 3),
    lambda x: pnp.sum(pnp.c_[x, 2 * x, [1.0, 2.0, 3.0]] ** 2 * pnp.arange(3.0)),
    lambda x: pnp.sum(pnp.append(x, [x[0] ** 2, 1.0]) ** 2),
    lambda x: pnp.sum(pnp.append(pnp.reshape(x, (1, 3)), [[1.0, 2.0, x[1]]], axis=0) ** 3),
    lambda x: pnp.sum(pnp.concatenate([x, [x[0] * x[1], 4.0]]) ** 2),
    lambda x: pnp.sum(pnp.concatenate([[x], [[1.0, 2.0, 3.0]]], axis=None) ** 2),
    lambda x: pnp.sum(pnp.stack([x, [1.0, x[2], 0.5]], axis=1) ** 2),
    lambda x: pnp.sum(pnp.vstack([x, x ** 2]) * pnp.hstack([x, [1.0]])[:3]),
    lambda x: pnp.sum(pnp.column_stack([x, [1.0, 2.0, 3.0]]) ** 2),
    lambda x: pnp.sum(pnp.full((2, 3), x[0] * x[1]) + pnp.full(3, x ** 2)),
    lambda x: pnp.sum(pnp.full_like(numpy.ones(4), x[2])),
    lambda x: pnp.mean([x, 2 * x, x ** 2]),
    lambda x: pnp.sum([x[0], x[1] ** 2, 3.0]),
    lambda x: pnp.sum([x, x ** 2], axis=0)[1],
    lambda x: pnp.max([x[0], x[1], x[2] ** 2]),
    lambda x: pnp.dot([x[0], 1.0], [[x[1], 2.0], [3.0, x[2]]])[0],
    lambda x: pnp.sum(pnp.maximum(x, [0.0, x[0], 1.0])),
    lambda x: pnp.sum(pnp.where(x > 0, [x[1], 2.0, x[0]], x ** 2)),
    lambda x: pnp.sum(pnp.outer(x, [1.0, x[0]]) ** 2),
    lambda x: pnp.sum(pnp.ravel(pnp.array([[x[0], x[1]], [x[2], 1.0]])) ** 2),
    lambda x: pnp.sum(pnp.atleast_2d(x[0]) * pnp.atleast_1d(x[1])),
    lambda x: pnp.add.reduce(pnp.array([x, x ** 2]), axis=1)[1],
    lambda x: pnp.sum(pnp.multiply.outer(x, x[:2])),
    lambda x: pnp.sum(pnp.tanh([x[0], 2 * x[1]])),
    lambda x: pnp.sum(pnp.diff(pnp.r_[x, x ** 3], n=2) ** 2),
    lambda x: pnp.sum(pnp.diff(pnp.outer(x, x), axis=0, prepend=1.0, append=[[x[0], 0, 1]]) ** 2),
], ids=lambda f: "")
def test_lists_of_traced_values(f):
    check_grad(f, X0)


def test_lists_of_traced_values_second_order():
    f = lambda x: pnp.sum(pnp.array([x[0] ** 2 * x[1], pnp.sin(x[1]), 1.0]) ** 2)  # noqa: E731
    x0 = numpy.array([0.3, -0.7])
    H = ad.hessian(f)(x0)
    g = ad.grad(f)
    fd = numpy.stack([fd_grad(lambda x: g(x)[i], x0) for i in range(2)])
    numpy.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-8)
    v = numpy.array([1.0, 0.5])
    _, jv = ad.jvp(f, (x0,), (v,))
    numpy.testing.assert_allclose(jv, g(x0) @ v, rtol=1e-12)


def test_list_dtypes_follow_numpy():
    x32 = ad.tensor(numpy.ones(2, dtype=numpy.float32))
    assert pnp.array([x32, x32]).dtype == numpy.float32
    assert pnp.array([x32, [1.0, 2.0]]).dtype == numpy.array(
        [numpy.ones(2, numpy.float32), [1.0, 2.0]]).dtype
    assert pnp.r_[x32, 1.0].dtype == numpy.float32            # Python scalars are weak here
    assert pnp.array([x32, x32], dtype=numpy.float64).dtype == numpy.float64
    assert pnp.array(x32, ndmin=3).shape == (1, 1, 2)
    with pytest.raises(ValueError, match="different shapes"):
        pnp.array([x32, [1.0, 2.0, 3.0]])


def test_dot_matmul_operators_follow_numpy():
    a, b, v = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((5, 4, 2)), RNG.standard_normal(4)
    ta, tb, tv = ad.tensor(a), ad.tensor(b), ad.tensor(v)
    for ours, theirs in [(pnp.dot(ta, tb), numpy.dot(a, b)), (pnp.dot(ta, tv), numpy.dot(a, v)),
                         (pnp.dot(tv, tb), numpy.dot(v, b)), (pnp.dot(2.0, tv), 2.0 * v),
                         (pnp.matmul(ta, b[0]), a @ b[0]), (pnp.matmul(tv, tv), v @ v),
                         (ta @ b[0], a @ b[0]), (a @ tb[0], a @ b[0]), (tv @ b, v @ b)]:
        assert isinstance(ours, Tensor)
        numpy.testing.assert_allclose(ours.data, theirs, rtol=1e-12, atol=1e-12)
    w0 = RNG.standard_normal(4)
    check_grad(lambda w: pnp.sum(pnp.dot(a, w) ** 2), w0)
    check_grad(lambda w: pnp.sum(pnp.dot(a, b * pnp.reshape(w, (4, 1))) ** 2), w0)
    check_grad(lambda w: pnp.sum((a @ w) ** 2), w0)


def test_mod_follows_numpy():
    x0 = numpy.array([0.3, 2.7, -1.2, 5.5])
    f = lambda x: pnp.sum(pnp.mod(x, 2.0) * x)           # noqa: E731
    numpy.testing.assert_allclose(data(f(ad.tensor(x0))), f(x0))
    check_grad(f, x0)
    g = lambda x: pnp.sum((x % 2.0) * x + (3.0 % (x + 4.0)))   # noqa: E731
    numpy.testing.assert_allclose(data(g(ad.tensor(x0))), g(x0))
    check_grad(g, x0)


def test_ufunc_keywords_on_tensors():
    x = ad.tensor([1.0, 2.0])
    assert pnp.exp(x, dtype=numpy.float32).dtype == numpy.float32
    assert isinstance(pnp.add(x, 1.0, out=None), Tensor)
    with pytest.raises(TypeError, match="out="):
        pnp.exp(x, out=numpy.empty(2))


def test_where_one_argument_gives_indices():
    x = ad.tensor([0.0, 3.0, -1.0, 2.0])
    idx, = pnp.where(x > 1.0)
    numpy.testing.assert_array_equal(idx, [1, 3])


# ============================================================================ linalg
def test_linalg_namespace():
    import numpy.linalg as npl
    assert pnp.linalg.LinAlgError is npl.LinAlgError
    for name in dir(npl):
        if name.startswith("_"):
            continue
        if name in pnp.linalg._WRAPPED:
            w = getattr(pnp.linalg, name)
            assert w.numpy_function is getattr(npl, name)
        else:
            assert getattr(pnp.linalg, name) is getattr(npl, name), name
    lin = importlib.import_module("pyad.linalg")
    for name in dir(lin):
        if not name.startswith("_") and callable(getattr(npl, name, None)) \
                and not isinstance(getattr(npl, name), type) and callable(getattr(lin, name)):
            assert pnp.linalg._WRAPPED[name].pyad_function is getattr(lin, name), name


@pytest.mark.parametrize("name", sorted(pnp.linalg._WRAPPED))
def test_linalg_wrapper_matches_numpy(name):
    assert _check_against_numpy(pnp.linalg, name), \
        f"numpy.linalg.{name}: no argument pattern of this test fits it; list one in the test"


def test_linalg_under_grad():
    assert {"inv", "det", "solve"} <= set(pnp.linalg._WRAPPED)
    a = _X.ravel()
    check_grad(lambda v: pnp.linalg.det(pnp.reshape(v, (3, 3))), a, rtol=1e-5)
    check_grad(lambda v: pnp.sum(pnp.linalg.inv(pnp.reshape(v, (3, 3))) ** 2), a, rtol=1e-5)
    check_grad(lambda v: pnp.sum(pnp.linalg.solve(pnp.reshape(v, (3, 3)), [1.0, 2.0, 3.0])),
               a, rtol=1e-5)


# ============================================== autograd programs, only the import changed
IMPORTS = {
    "pyad.numpy": "import pyad.numpy as np\nfrom pyad import grad",
    "numpy+pyad.grad": "import numpy as np\nfrom pyad import grad",
    "autograd": "import autograd.numpy as np\nfrom autograd import grad",
}

# The logistic regression autograd's README made famous, in its style (own data).
LOGISTIC = '''
def sigmoid(x):
    return 0.5 * (np.tanh(x / 2.0) + 1)

def logistic_predictions(weights, inputs):
    # the model's probability that each label is True
    return sigmoid(np.dot(inputs, weights))

def training_loss(weights):
    # minus the log likelihood of the training labels
    preds = logistic_predictions(weights, inputs)
    label_probabilities = preds * targets + (1 - preds) * (1 - targets)
    return -np.sum(np.log(label_probabilities))

inputs = np.array([[0.31, -1.20, 0.84],
                   [1.07, 0.41, -0.62],
                   [-0.73, 0.95, 0.18],
                   [0.52, 0.47, 1.49],
                   [-1.38, -0.33, 0.09],
                   [0.26, 1.71, -0.95]])
targets = np.array([True, False, True, True, False, False])

training_gradient_fun = grad(training_loss)
weights = np.array([0.0, 0.0, 0.0])
first_gradient = training_gradient_fun(weights)
losses = [training_loss(weights)]
for i in range(100):
    weights -= training_gradient_fun(weights) * 0.01
    losses.append(training_loss(weights))
'''

# A variant: sigmoid through exp, (w, b) as a tuple, mean loss with np.where and an L2 term.
LOGISTIC2 = '''
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))

def predict(params, X):
    w, b = params
    return sigmoid(np.dot(X, w) + b)

def loss(params, X, y, lam):
    p = predict(params, X)
    p_label = np.where(y, p, 1.0 - p)
    w, _ = params
    return -np.mean(np.log(p_label)) + lam * np.sum(w ** 2)

grad_loss = grad(loss)
params = (np.zeros(X.shape[1]), 0.0)
first_gradient = grad_loss(params, X, y, 0.1)
for step in range(60):
    gw, gb = grad_loss(params, X, y, 0.1)
    params = (params[0] - 0.5 * gw, params[1] - 0.5 * gb)
final_loss = loss(params, X, y, 0.1)
'''


def _run(program, imports, **env):
    if imports == "autograd":
        pytest.importorskip("autograd")
    ns = dict(env)
    exec(IMPORTS[imports] + "\n" + program, ns)
    return ns


def _sig(z):
    return 1.0 / (1.0 + numpy.exp(-z))


def _logistic_by_hand():
    ns = {"np": numpy}
    exec(LOGISTIC.split("training_gradient_fun =")[0], ns)
    X, t = ns["inputs"], ns["targets"].astype(float)
    grad_fn = lambda w: X.T @ (_sig(X @ w) - t)               # noqa: E731
    loss_fn = lambda w: -numpy.sum(numpy.log(numpy.where(t > 0, _sig(X @ w), 1 - _sig(X @ w))))  # noqa: E731,E501
    w = numpy.zeros(3)
    first, losses = grad_fn(w), [loss_fn(w)]
    for _ in range(100):
        w = w - grad_fn(w) * 0.01
        losses.append(loss_fn(w))
    return first, w, losses


@pytest.mark.parametrize("imports", ["pyad.numpy", "numpy+pyad.grad"])
def test_logistic_regression(imports):
    ns = _run(LOGISTIC, imports)
    first, w, losses = _logistic_by_hand()
    assert isinstance(ns["weights"], numpy.ndarray) and isinstance(ns["first_gradient"],
                                                                   numpy.ndarray)
    numpy.testing.assert_allclose(ns["first_gradient"], first, rtol=1e-12, atol=1e-14)
    numpy.testing.assert_allclose(ns["weights"], w, rtol=1e-10)
    numpy.testing.assert_allclose(numpy.array(ns["losses"], dtype=float), losses, rtol=1e-10)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("imports", ["pyad.numpy", "numpy+pyad.grad"])
def test_logistic_regression_matches_autograd(imports):
    ours, theirs = _run(LOGISTIC, imports), _run(LOGISTIC, "autograd")
    for key in ("first_gradient", "weights"):
        numpy.testing.assert_allclose(ours[key], theirs[key], rtol=1e-12, atol=1e-14)
    numpy.testing.assert_allclose(numpy.array(ours["losses"], dtype=float),
                                  numpy.array(theirs["losses"], dtype=float), rtol=1e-12)


def _logistic2_env():
    rng = numpy.random.default_rng(11)
    X = rng.standard_normal((20, 4))
    y = (X @ numpy.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * rng.standard_normal(20)) > 0
    return {"X": X, "y": y}


def _logistic2_by_hand(X, y, lam=0.1):
    t = y.astype(float)
    n = len(t)

    def grads(w, b):
        r = (_sig(X @ w + b) - t) / n
        return X.T @ r + 2 * lam * w, numpy.sum(r)

    w, b = numpy.zeros(X.shape[1]), 0.0
    first = grads(w, b)
    for _ in range(60):
        gw, gb = grads(w, b)
        w, b = w - 0.5 * gw, b - 0.5 * gb
    p = _sig(X @ w + b)
    loss = -numpy.mean(numpy.log(numpy.where(y, p, 1 - p))) + lam * numpy.sum(w ** 2)
    return first, (w, b), loss


@pytest.mark.parametrize("imports", ["pyad.numpy", "numpy+pyad.grad"])
def test_logistic2(imports):
    env = _logistic2_env()
    ns = _run(LOGISTIC2, imports, **env)
    first, (w, b), loss = _logistic2_by_hand(env["X"], env["y"])
    gw, gb = ns["first_gradient"]
    assert isinstance(gw, numpy.ndarray) and numpy.ndim(gb) == 0
    numpy.testing.assert_allclose(gw, first[0], rtol=1e-12, atol=1e-14)
    numpy.testing.assert_allclose(gb, first[1], rtol=1e-12, atol=1e-14)
    numpy.testing.assert_allclose(ns["params"][0], w, rtol=1e-10)
    numpy.testing.assert_allclose(ns["params"][1], b, rtol=1e-10, atol=1e-14)
    numpy.testing.assert_allclose(float(ns["final_loss"]), loss, rtol=1e-12)


@pytest.mark.parametrize("imports", ["pyad.numpy", "numpy+pyad.grad"])
def test_logistic2_matches_autograd(imports):
    env = _logistic2_env()
    ours, theirs = _run(LOGISTIC2, imports, **env), _run(LOGISTIC2, "autograd", **env)
    for o, t in zip(ours["first_gradient"] + ours["params"],
                    theirs["first_gradient"] + theirs["params"]):
        numpy.testing.assert_allclose(o, t, rtol=1e-12, atol=1e-14)
    numpy.testing.assert_allclose(float(ours["final_loss"]), float(theirs["final_loss"]),
                                  rtol=1e-12)
