"""The generic Array API backend, proven on array-api-strict arrays: every row of the table has
a kernel on every registered backend; each generic kernel computes what the CPU's does on the
very calls the op specs make (recorded on numpy, replayed on strict arrays); every op spec's
value, VJP, JVP, HVP and batched Jacobians (both modes) on strict arrays equal numpy's; every
transform and optimizer returns the input's array type; mixing backends raises.

array-api-strict arrays refuse numpy here (``__array__`` raises), so a numpy call that leaks
into a device path fails on the CPU instead of on a GPU."""
import array_api_strict as xp
import numpy as np
import pytest

import pyad as ad
from pyad import backend
from pyad.backend.array_api import KERNELS as GENERIC
from pyad.backend.cpu import CPU

from op_specs import SPECS, traced
from backend_checks import host_leaves, no_numpy_conversion  # noqa: F401  (autouse)

BACKENDS = {"cpu": CPU, "array_api": backend.backend_of(xp.asarray([0.0]))}
CASES = [c for cases in SPECS.values() for c in cases]
FORWARD = [pytest.param(c, np.dtype(dt), id=f"{c.id}-{np.dtype(dt).name}")
           for c in CASES for dt in c.dtypes]


def strict(a):
    """A numpy array (or value) as an array-api-strict array of the same dtype."""
    return xp.asarray(np.array(a, order="C", copy=True)) if isinstance(a, np.ndarray) else a


def _expected_dtype(want):
    """numpy's dtype, except float16 (numpy's float results for bool and int8 inputs), which
    the standard lacks: namespaces without it give float32 there."""
    return np.dtype(np.float32) if want == np.float16 and not hasattr(xp, "float16") else want


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_row_has_a_kernel_on_every_backend(name):
    missing = sorted(set(ad.PRIMITIVES) - set(BACKENDS[name].kernels))
    assert not missing, f"rows without a kernel on the {name} backend: {missing}"


def _record(case, dtype):
    """The (row, arrays, params, output) of every kernel call case.fn makes on numpy."""
    calls = []
    saved = {}

    def recording(name, fn):
        def kernel(*args):
            out = fn(*args)
            calls.append((name, args, out))
            return out
        return kernel

    for name, prim in ad.PRIMITIVES.items():
        saved[name] = (prim.impl, prim.fallback)
        prim.impl = recording(name, prim.impl)
        if prim.fallback is not None:
            prim.fallback = recording(name, prim.fallback)
    try:
        with np.errstate(all="ignore"):
            case.fn(*[ad.tensor(a) for a in case.inputs(dtype)])
    finally:
        for name, (impl, fallback) in saved.items():
            ad.PRIMITIVES[name].impl, ad.PRIMITIVES[name].fallback = impl, fallback
    return calls


def _comparable(name, args, out):
    """What of a kernel's output is defined: eigenvectors up to their signs (LAPACK's depend
    on which triangle it reads); for argsort the values it orders, for argpartition its
    kth value and the values on either side (the order of equal keys is not defined)."""
    if name == "eigh":
        return np.abs(out)
    if name not in ("argsort", "argpartition"):
        return out
    x = backend.to_host(args[0])
    kth, axis = (None, args[1]) if name == "argsort" else (args[1], args[2])
    if axis is None:
        x, axis = x.reshape(-1), -1
    values = np.take_along_axis(x, out, axis)
    if kth is None:
        return values
    return np.concatenate([np.sort(values, axis).reshape(-1),
                           np.take(values, np.atleast_1d(kth), axis).reshape(-1)])


# every (case, dtype) whose forward runs kernels, with the calls it makes
RECORDED = []
for _case in CASES:
    for _dt in _case.dtypes:
        _calls = _record(_case, np.dtype(_dt))
        if _calls:
            RECORDED.append(pytest.param(_case, _calls, id=f"{_case.id}-{np.dtype(_dt).name}"))


@pytest.mark.parametrize("case,calls", RECORDED)
def test_generic_kernel_matches_the_cpu(case, calls):
    for name, args, want in calls:
        n_arrays = len([a for a in args if isinstance(a, np.ndarray)])
        arrays = [strict(a) for a in args[:n_arrays]]
        got = GENERIC[name](*arrays, *args[n_arrays:])
        assert not isinstance(got, np.ndarray), f"{name} returned numpy for strict arrays"
        got = backend.to_host(got)
        want = np.asarray(want)
        assert got.shape == want.shape, f"{name}: shape {got.shape} != CPU's {want.shape}"
        assert got.dtype == _expected_dtype(want.dtype), \
            f"{name}: dtype {got.dtype} != CPU's {want.dtype}"
        rtol = {2: 1e-3, 4: 1e-5}.get(want.dtype.itemsize, 1e-12)
        np.testing.assert_allclose(_comparable(name, args, got),
                                   _comparable(name, args, want), rtol=rtol, atol=rtol,
                                   equal_nan=True, err_msg=f"{name} on {case.id}")


# ------------------------------------------------- transforms on strict arrays, vs numpy
GRAD_CASES = [c for c in CASES if c.grad]


def _assert_same(got, want, what):
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == _expected_dtype(w.dtype), \
            f"{what}: {g.shape} {g.dtype} != {w.shape} {w.dtype}"
        rtol = {2: 1e-3, 4: 1e-5}.get(w.dtype.itemsize, 1e-10)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * 1e-2, err_msg=what,
                                   equal_nan=True)


def _strict_leaves(tree, what):
    for leaf in ad.tree_flatten(tree)[0]:
        leaf = leaf.data if isinstance(leaf, ad.Tensor) else leaf
        assert backend.is_foreign(leaf), f"{what}: a {type(leaf).__name__} came back for strict inputs"


@pytest.mark.parametrize("case,dtype", FORWARD)
def test_value_on_strict_arrays(case, dtype):
    xs = case.inputs(dtype)
    with np.errstate(all="ignore"):
        want = host_leaves(case.fn(*[ad.tensor(a) for a in xs]))
    out = case.fn(*[ad.tensor(strict(a)) for a in xs])
    _strict_leaves(out, case.id)
    _assert_same(host_leaves(out), want, case.id)


def _cotangent(out, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, np.shape(out)).astype(np.asarray(out).dtype)


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.id for c in GRAD_CASES])
def test_vjp_and_jvp_on_strict_arrays(case):
    f = traced(case)
    xs = case.inputs(np.float64)
    rng = np.random.default_rng(2)
    ts = [rng.uniform(-1, 1, x.shape) for x in xs]
    out, vjp_np = ad.vjp(f, *xs)
    ct = _cotangent(out)
    out_s, vjp_s = ad.vjp(f, *[strict(x) for x in xs])
    got = vjp_s(strict(ct))
    _strict_leaves(got, case.id)
    _assert_same(host_leaves(got), host_leaves(vjp_np(ct)), f"vjp of {case.id}")
    _, t_np = ad.jvp(f, xs, ts)
    _, t_s = ad.jvp(f, [strict(x) for x in xs], [strict(t) for t in ts])
    _strict_leaves(t_s, case.id)
    _assert_same(host_leaves(t_s), host_leaves(t_np), f"jvp of {case.id}")


ORDER2 = [c for c in GRAD_CASES if c.order2]


@pytest.mark.parametrize("case", ORDER2, ids=[c.id for c in ORDER2])
def test_hvp_on_strict_arrays(case):
    f = traced(case)
    xs = case.inputs(np.float64)
    rng = np.random.default_rng(3)
    w = rng.uniform(-1, 1, np.shape(f(*xs).data))
    vs = [rng.uniform(-1, 1, x.shape) for x in xs]

    def scalar(*args):
        out = f(*args)
        total = ad.sum(out * ad.tensor(w if isinstance(out.data, np.ndarray) else strict(w)))
        return ad.real(total)           # a transform's complex output: its real part
    want = ad.hvp(scalar, xs, vs)
    got = ad.hvp(scalar, [strict(x) for x in xs], [strict(v) for v in vs])
    _strict_leaves(got, case.id)
    _assert_same(host_leaves(got), host_leaves(want), f"hvp of {case.id}")


JAC_CASES = [c for c in GRAD_CASES if all(int(np.prod(s)) <= 64 for s in c.shapes)]


@pytest.mark.parametrize("mode", ["fwd", "rev"])
@pytest.mark.parametrize("case", JAC_CASES, ids=[c.id for c in JAC_CASES])
def test_batched_jacobian_on_strict_arrays(case, mode):
    f = traced(case)
    xs = case.inputs(np.float64)
    argnums = tuple(range(len(xs)))
    want = ad.jacobian(f, argnums=argnums, mode=mode)(*xs)
    got = ad.jacobian(f, argnums=argnums, mode=mode)(*[strict(x) for x in xs])
    _strict_leaves(got, case.id)
    _assert_same(host_leaves(got), host_leaves(want), f"{mode} jacobian of {case.id}")


# ------------------------------------------------- mixing backends is an error, never a copy
def test_mixing_backends_in_one_op_names_the_op_and_both_arrays():
    a, b = ad.tensor(np.ones(3)), ad.tensor(xp.ones(3, dtype=xp.float64))
    for op in (lambda: a + b, lambda: ad.multiply(b, a), lambda: ad.matmul(a, b),
               lambda: ad.concatenate([a, b])):
        with pytest.raises(TypeError) as err:
            op()
        msg = str(err.value)
        assert "numpy.ndarray" in msg and "array_api_strict.Array" in msg, msg
        assert msg.startswith("pyad."), msg


def test_mixing_backends_in_a_transform_raises():
    x = xp.asarray([1.0, 2.0])
    with pytest.raises(TypeError, match="numpy.ndarray.*array_api_strict|array_api_strict.*numpy.ndarray"):
        ad.grad(lambda x: ad.sum(x * ad.tensor(np.ones(2))))(x)
    _, vjp_fn = ad.vjp(lambda x: x * 2.0, x)
    with pytest.raises(TypeError, match="vjp"):
        vjp_fn(np.ones(2))
    with pytest.raises(TypeError, match="jvp"):
        ad.jvp(lambda x: x * 2.0, (x,), (np.ones(2),))


def test_grad_returns_the_input_array_type():
    x = xp.asarray([0.5, -1.0, 2.0])
    g = ad.grad(lambda x: ad.sum(ad.tanh(x) ** 2))(x)
    assert type(g) is type(x)
    np.testing.assert_allclose(backend.to_host(g),
                               ad.grad(lambda x: ad.sum(ad.tanh(x) ** 2))(backend.to_host(x)))


# ------------------------------------------------- optimizers on strict arrays
@pytest.mark.parametrize("make", [
    lambda ps: ad.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: ad.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    lambda ps: ad.optim.Adam(ps, lr=0.05, amsgrad=True),
    lambda ps: ad.optim.AdamW(ps, lr=0.05, weight_decay=0.1),
], ids=["sgd-nesterov", "rmsprop-centered", "adam-amsgrad", "adamw"])
def test_optimizers_train_strict_parameters_like_numpy_ones(make):
    rng = np.random.default_rng(0)
    w0, x0 = rng.normal(size=(3, 2)), rng.normal(size=(5, 3))

    def train(w, x):
        w = ad.tensor(w, requires_grad=True)
        opt = make([w])
        for _ in range(4):
            opt.zero_grad()
            ad.sum(ad.tanh(ad.tensor(x) @ w) ** 2).backward()
            opt.step()
        return w
    want = train(w0, x0)
    got = train(strict(w0), strict(x0))
    assert backend.is_foreign(got.data)
    np.testing.assert_allclose(backend.to_host(got.data), want.data, rtol=1e-12, atol=1e-14)


def test_an_optimizer_refuses_a_gradient_of_another_backend():
    w = ad.tensor(xp.asarray([1.0, 2.0]), requires_grad=True)
    opt = ad.optim.SGD([w], lr=0.1)
    with pytest.raises(TypeError, match="pyad.Tensor.grad.*numpy.ndarray"):
        w.grad = np.ones(2)
    assert opt.state[0] == {}


# ------------------------------------------------- every transform returns the input's array type
def _tape_gradient(f, x):
    t = ad.tensor(x)
    with ad.Tape() as tape:
        tape.watch(t)
        y = f(t)
    return tape.gradient(y, [t])


def _backward(f, x):
    w = ad.tensor(x, requires_grad=True)
    f(w).backward()
    return w.grad


TRANSFORMS = {
    "value_and_grad": lambda f, x, v: ad.value_and_grad(f)(x),
    "linearize": lambda f, x, v: ad.linearize(f, x)[1](v),
    "hvp_fn": lambda f, x, v: ad.hvp_fn(f, x)(v),
    "hvp-rev-rev": lambda f, x, v: ad.hvp(f, (x,), (v,), mode="rev-rev"),
    "hvp-rev-fwd": lambda f, x, v: ad.hvp(f, (x,), (v,), mode="rev-fwd"),
    "hessian": lambda f, x, v: ad.hessian(f)(x),
    "jacobian-auto": lambda f, x, v: ad.jacobian(lambda z: ad.tanh(z) * z)(x),
    "gnvp": lambda f, x, v: ad.gnvp(ad.tanh, lambda z: ad.sum(z * z), x, v),
    "tape": lambda f, x, v: _tape_gradient(f, x),
    "backward": lambda f, x, v: _backward(f, x),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_every_transform_returns_the_input_array_type(name):
    def f(x):
        return ad.sum(ad.tanh(x) ** 3 * ad.exp(-x))
    x, v = np.array([0.3, -0.5, 0.7]), np.array([1.0, 0.5, -1.0])
    want = TRANSFORMS[name](f, x, v)
    got = TRANSFORMS[name](f, strict(x), strict(v))
    _strict_leaves(got, name)
    _assert_same(host_leaves(got), host_leaves(want), name)


def test_check_grads_checks_on_the_arrays_backend():
    ad.check_grads(lambda x: ad.sum(ad.sin(x) * x), [xp.asarray([0.3, -0.5])], order=2)
    bad = ad.custom_primitive(lambda x: x * x, name="bad_square")
    bad.defvjp(lambda g, ans, x: g * x)            # wrong: misses the factor 2
    with pytest.raises(AssertionError, match="bad_square|reverse-mode"):
        ad.check_grads(lambda x: ad.sum(bad(x)), [xp.asarray([0.3, -0.5])], order=1,
                       modes=("rev",))


def test_a_python_number_joins_the_device_of_the_other_arguments():
    w = xp.asarray([0.5, -1.0])

    def loss(w, lr):
        return ad.sum(ad.subtract(w, lr * ad.tanh(w)) ** 2)
    g_lr = ad.grad(loss, argnums=1)(w, 0.05)
    want = ad.grad(loss, argnums=1)(backend.to_host(w), 0.05)
    assert backend.is_foreign(g_lr)
    np.testing.assert_allclose(backend.to_host(g_lr), want, rtol=1e-12)
