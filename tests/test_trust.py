"""No silent wrong answers: each case here once returned a wrong value, a zero derivative or a
crash on valid input, and is fixed at its root (engine, ops or transforms)."""
import numpy as np
import pytest

import pyad as ad
from pyad import nn


def _onehot_jacobian(x, key):
    """d x[key] / d x, built from numpy's own indexing of the flat positions."""
    flat = np.arange(x.size).reshape(x.shape)[key]
    J = np.zeros(flat.shape + x.shape)
    for out, i in np.ndenumerate(flat):
        J[out + np.unravel_index(i, x.shape)] += 1.0
    return J


# ------------------------------------------------------------------------- advanced indexing
_X3 = np.random.default_rng(0).standard_normal((3, 4, 5))
_IDX = np.array([0, 2, 1, 2])
_MASK = np.zeros((4, 5), bool)
_MASK[1, 2] = _MASK[3, 0] = True
KEYS = {
    "idx,:,0": (_IDX, slice(None), 0),
    "0,:,idx": (0, slice(None), _IDX),
    "idx,None,:,col": (_IDX, None, slice(None), _IDX[:, None] % 5),
    "...,idx": (Ellipsis, _IDX),
    "idx,...,idx": (_IDX, Ellipsis, _IDX),
    ":,mask": (slice(None), _MASK),
    "1,mask": (1, _MASK),
    "idx[:,None],1:3,idx": (_IDX[:, None], slice(1, 3), _IDX),
    "strided-idx,0,:": (_IDX[::2], 0, slice(None)),
    ":,idx,idx": (slice(None), _IDX, _IDX % 5),
}


@pytest.mark.parametrize("name", KEYS)
def test_advanced_indices_follow_numpy_in_every_transform(name):
    """numpy moves the axes of advanced indices separated by a slice to the front; the
    batched rules (jacobian both modes, hessian) must agree with that placement."""
    key = KEYS[name]
    np.testing.assert_array_equal(ad.tensor(_X3)[key].data, _X3[key])
    want = _onehot_jacobian(_X3, key)
    np.testing.assert_array_equal(ad.jacobian(lambda x: x[key], mode="fwd")(_X3), want)
    np.testing.assert_array_equal(ad.jacobian(lambda x: x[key], mode="rev")(_X3), want)
    H = ad.hessian(lambda x: ad.sum(x[key] ** 3))(_X3)
    diag = np.zeros(_X3.shape)
    np.add.at(diag, key, 6.0 * _X3[key])
    np.testing.assert_allclose(H.reshape(_X3.size, -1), np.diag(diag.ravel()), atol=1e-12)


# ------------------------------------------------------------------------- outputs of grad
@pytest.mark.parametrize("wrap", [lambda y: [y], lambda y: (y,)], ids=["list", "tuple"])
def test_grad_of_a_one_element_container_raises_never_zeros(wrap):
    with pytest.raises(TypeError, match="returned a (list|tuple).*scalar"):
        ad.grad(lambda x: wrap(ad.sum(x ** 2)))(np.ones(3))


def test_custom_primitive_without_rules_raises_naming_it():
    cube = ad.custom_primitive(lambda x: x ** 3, name="cube")
    with pytest.raises(TypeError, match="cube.*no VJP rule.*input 0.*defvjp"):
        ad.grad(lambda x: ad.sum(cube(x)))(np.ones(3))
    with pytest.raises(TypeError, match="cube.*JVP.*defjvp"):
        ad.jvp(cube, (np.ones(3),), (np.ones(3),))
    two = ad.custom_primitive(lambda a, b: a * b, name="two").defvjp(lambda g, ans, a, b: g * b)
    with pytest.raises(TypeError, match="two.*no VJP rule.*input 1.*1 rule"):
        ad.grad(lambda b: ad.sum(two(np.ones(2), b)))(np.ones(2))
    # an explicit None is the user saying "not differentiable": a zero, no error
    three = ad.custom_primitive(lambda a, b: a * b, name="three")
    three.defvjp(lambda g, ans, a, b: g * b, None)
    assert np.all(ad.grad(lambda b: ad.sum(three(np.ones(2), b)))(np.ones(2)) == 0)
    # defjvp alone makes forward mode work
    sq = ad.custom_primitive(lambda x: x * x, name="sq").defjvp(lambda t, ans, x: 2.0 * x * t)
    np.testing.assert_array_equal(ad.jvp(sq, (np.array([3.0]),), (np.array([1.0]),))[1], [6.0])


# ------------------------------------------------------------------------- leaving tracking
def test_numpy_conversion_of_a_differentiated_tensor_raises():
    with pytest.raises(TypeError, match=r"np\.asarray\(t\).*derivative.*stop_gradient"):
        ad.grad(lambda x: float(np.sum(np.asarray(x))))(np.ones(3))
    with pytest.raises(TypeError, match=r"t\.numpy\(\)"):
        ad.grad(lambda x: ad.sum(ad.tensor(x.numpy())))(np.ones(3))
    with pytest.raises(TypeError, match="np.asarray"):
        ad.jvp(lambda x: ad.tensor(np.asarray(x) * 2), (np.ones(2),), (np.ones(2),))
    with pytest.raises(TypeError, match="np.asarray"):
        ad.hvp(lambda x: ad.sum(x * np.asarray(x)), (np.ones(2),), (np.ones(2),))


def test_float_item_comparisons_and_stop_gradient_still_work_inside_transforms():
    def f(x):
        scale = 2.0 if float(ad.sum(x)) > 0 and x.item(0) > 0 and bool(x[1] > 0) else 3.0
        return ad.sum(x * ad.stop_gradient(x)) * scale + ad.sum(x.detach())
    np.testing.assert_array_equal(ad.grad(f)(np.array([1.0, 2.0])), [2.0, 4.0])
    # outside any transform numpy conversion is free, Tensors from ad.tensor included
    t = ad.tensor([1.0, 2.0])
    assert np.asarray(t) is t.numpy()


# ------------------------------------------------------------------------- integer buffers
def test_non_contiguous_integer_arrays_work_everywhere():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((10, 3))
    tokens = rng.integers(0, 10, size=(6, 2))
    want = np.zeros_like(W)
    np.add.at(want, tokens[:, 0], 2 * W[tokens[:, 0]])
    np.testing.assert_allclose(ad.grad(lambda W: ad.sum(W[tokens[:, 0]] ** 2))(W), want)
    emb = nn.Embedding(10, 3, seed=0)
    loss = ad.sum(emb(tokens[:, 0]))
    loss.backward()
    np.testing.assert_array_equal(emb.weight.grad.data.sum(1),
                                  3 * np.bincount(tokens[:, 0], minlength=10))
    x = np.array([1.0, -1.0, 2.0, -3.0])
    np.testing.assert_array_equal(ad.grad(lambda x: ad.sum(x[np.nonzero(x > 0)[0]]))(x),
                                  [1.0, 0.0, 1.0, 0.0])
    Y = np.array([[0, 1], [1, 2], [2, 0]])
    z = rng.standard_normal((3, 3))
    for labels in (Y[:, 1], np.array([0, 1, 2])[::-1]):
        g = ad.grad(lambda z: ad.losses.softmax_cross_entropy(z, labels))(z)
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        np.testing.assert_allclose(g, (p - np.eye(3)[labels]) / 3, rtol=1e-12)


# ------------------------------------------------------------------------- conventions, dtypes
@pytest.mark.parametrize("bounds", [
    (0.0, 1.0), (np.float64(0.0), np.array(1.0)), (np.zeros(3), np.ones(3)),
    (ad.tensor(0.0), ad.tensor([1.0, 1.0, 1.0]))], ids=["floats", "numpy", "arrays", "tensors"])
def test_clip_gradient_at_a_bound_is_one_whatever_the_bound_type(bounds):
    x = np.array([0.0, 1.0, 0.5])
    np.testing.assert_array_equal(ad.grad(lambda x: ad.sum(ad.clip(x, *bounds)))(x), 1.0)


def test_clip_array_bounds_get_the_gradient_beyond_them():
    x, lo, hi = np.array([-1.0, 0.5, 3.0]), np.zeros(3), np.full(3, 2.0)
    gx, glo, ghi = ad.grad(lambda *a: ad.sum(ad.clip(*a)), argnums=(0, 1, 2))(x, lo, hi)
    np.testing.assert_array_equal(gx, [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(glo, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(ghi, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("fn", [
    lambda np_: np_.clip(np.array([1, 5, 9]), 2, 6),
    lambda np_: 2 ** (np.array([1, 2, 3]) if np_ is np else ad.tensor(np.array([1, 2, 3]))),
    lambda np_: np_.maximum(np.array([True, False]), 2),
    lambda np_: np_.minimum(np.array([3, 0], dtype=np.int8), 2),
    lambda np_: np_.clip(np.array([1, 5, 9]), 2.5, 6),
    lambda np_: np_.add(np.array([1, 2], dtype=np.int16), 3),
], ids=["clip-int", "2**int", "maximum-bool-int", "minimum-int8", "clip-int-float", "add-int16"])
def test_integer_and_bool_forward_results_follow_numpy(fn):
    want = fn(np)
    got = fn(ad)
    got = got.data if isinstance(got, ad.Tensor) else got
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------- .grad
def test_grad_setter_takes_none_or_a_matching_array():
    w = ad.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match="Tensor.grad.*None.*int"):
        w.grad = 0
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        w.grad = np.zeros(2)
    with pytest.raises(ValueError, match="dtype float64.*float32"):
        w.grad = np.zeros(3, np.float32)
    w.grad = np.full(3, 10.0)
    ad.sum(w * 2.0).backward()
    np.testing.assert_array_equal(w.grad.data, 12.0)
    w.grad = None
    ad.sum(w * 2.0).backward()
    np.testing.assert_array_equal(w.grad.data, 2.0)


# ------------------------------------------------------------------------- fresh results
def test_results_are_fresh_writeable_arrays():
    g = ad.grad(lambda x: ad.sum(ad.broadcast_to(x, (3, 4))))(np.ones(4))
    assert g.flags.writeable
    gx, gy = ad.grad(lambda x, y: ad.sum(x + y), argnums=(0, 1))(np.ones(3), np.ones(3))
    assert not np.shares_memory(gx, gy)
    ct = np.ones(3)
    (c,) = ad.vjp(lambda x: x, np.ones(3))[1](ct)
    assert c.flags.writeable and not np.shares_memory(c, ct)
    v = np.ones(3)
    out, t = ad.jvp(lambda x: x, (np.zeros(3),), (v,))
    assert t.flags.writeable and not np.shares_memory(t, v)
    hv = ad.hvp(lambda x: ad.sum(x * x) * 0.5, (np.ones(3),), (v,))
    assert not np.shares_memory(hv, v)
    _, f_jvp = ad.linearize(lambda x: x * 1.0, np.ones(3))
    assert not np.shares_memory(f_jvp(v), v)
    t -= 1.0            # writing into a result never changes another or an input
    assert np.all(v == 1.0)


# ------------------------------------------------------------------------- vjp closures
def test_vjp_function_made_outside_a_transform_is_differentiable_in_its_cotangent():
    out, f = ad.vjp(lambda x: x ** 2, np.array(3.0))
    assert ad.grad(lambda g: f(g)[0])(1.0) == 6.0
    # the JVP-by-double-VJP trick: d/du <J^T u, v> = J v
    x, v = np.array([0.5, -1.0]), np.array([1.0, 2.0])
    _, f = ad.vjp(ad.tanh, x)
    jv = ad.grad(lambda u: ad.sum(f(u)[0] * v))(np.zeros(2))
    np.testing.assert_allclose(jv, (1 - np.tanh(x) ** 2) * v, rtol=1e-14)
    # and differentiable in the primal the closure saw, under a transform made later
    hv = ad.jvp(lambda u: f(u)[0], (np.ones(2),), (np.ones(2),))[1]
    np.testing.assert_allclose(hv, 1 - np.tanh(x) ** 2, rtol=1e-14)


# ------------------------------------------------------------------------- concatenate
def test_concatenate_backward_calls_one_rule_per_record(monkeypatch):
    calls = []
    prim = ad.PRIMITIVES["concatenate"]
    rule = prim.vjp_all
    monkeypatch.setattr(prim, "vjp_all", lambda *a: calls.append(1) or rule(*a))
    n = 2000
    xs = [np.full(2, float(i)) for i in range(n)]
    grads = ad.grad(lambda *a: ad.sum(ad.concatenate(a) ** 2), argnums=tuple(range(n)))(*xs)
    assert len(calls) == 1
    np.testing.assert_array_equal(grads[7], [14.0, 14.0])


def test_plain_numpy_lists_of_traced_values_raise_not_zero():
    """Plain numpy building an array from tracked Tensors would drop the derivative: it raises
    (pyad.numpy keeps it instead: tests/test_pyad_numpy.py)."""
    with pytest.raises(TypeError, match="np.asarray"):
        ad.grad(lambda x: ad.sum(ad.tensor(np.array([x[0], x[1]]))))(np.ones(2))
    with pytest.raises(TypeError, match="np.asarray"):
        ad.grad(lambda x: np.mean([x, 2 * x]))(np.ones(2))
    import pyad.numpy as pnp
    np.testing.assert_array_equal(ad.grad(lambda x: pnp.mean([x, 2 * x]))(np.ones(2)), 0.75)


def _unaligned(values):
    raw = np.zeros(len(values) * 8 + 1, np.uint8)[1:].view(np.float64)
    raw[:] = values
    assert not raw.flags.aligned
    return raw


@pytest.mark.parametrize("make", [lambda v: np.asarray(v, dtype=">f8"), _unaligned,
                                  lambda v: np.asarray(v, dtype=">f4")],
                         ids=["big-endian", "unaligned", "big-endian-f32"])
def test_any_float_layout_numpy_accepts(make):
    v = [0.5, -1.0, 2.0]
    x, ref = make(v), np.asarray(v, dtype=make(v).dtype.newbyteorder("="))
    for fn in (lambda x: ad.sum(ad.tanh(x) * x), lambda x: ad.sum(ad.softmax(x) * x),
               lambda x: ad.sum(x[np.array([0, 2, 2], dtype=">i8")] ** 2)):
        np.testing.assert_allclose(ad.grad(fn)(x), ad.grad(fn)(ref), rtol=1e-6)
    W = make(v * 2).reshape(3, 2)
    np.testing.assert_allclose(ad.grad(lambda W: ad.sum(ad.tanh(W @ W.T)))(W),
                               ad.grad(lambda W: ad.sum(ad.tanh(W @ W.T)))(np.array(W)),
                               rtol=1e-6)
