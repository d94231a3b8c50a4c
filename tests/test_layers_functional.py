"""The layers' functions (convolutions, pooling, normalisation, dropout, pad, one_hot) against
PyTorch's torch.nn.functional: values and gradients in float64 to 1e-12 over the argument
combinations users reach for, plus pyad's own promises (chunked convolutions equal unchunked
ones, NaN propagation, same-mask dropout, errors that name the op and the fix)."""
import numpy as np
import pytest

import pyad as ad
import pyad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _both(pyad_fn, torch_fn, arrays, rng, tol=1e-12):
    """pyad_fn and torch_fn agree on float64 arrays: value and the VJP of a random cotangent
    in every argument."""
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    want = torch_fn(*ts)
    u = rng.standard_normal(tuple(want.shape))
    want_grads = torch.autograd.grad(want, ts, torch.tensor(u))
    got, vjp = ad.vjp(pyad_fn, *arrays)
    np.testing.assert_allclose(np.asarray(got), want.detach().numpy(), rtol=tol, atol=tol)
    for k, (g, w) in enumerate(zip(vjp(u), want_grads)):
        np.testing.assert_allclose(np.asarray(g), w.numpy(), rtol=tol, atol=tol,
                                   err_msg=f"argument {k}")


CONV2D = [
    dict(), dict(stride=2), dict(padding=1), dict(padding="same"), dict(padding="valid"),
    dict(stride=(2, 1), padding=(1, 2)), dict(dilation=2, padding=2), dict(groups=2),
    dict(groups=4, padding="same", dilation=(1, 2)), dict(stride=3, padding=1, dilation=2),
]


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("kw", CONV2D, ids=[str(k) for k in CONV2D])
@pytest.mark.parametrize("kernel", [(3, 3), (2, 4), (1, 1)])
def test_conv2d_matches_torch(kw, kernel):
    rng = np.random.default_rng(0)
    groups = kw.get("groups", 1)
    x = rng.standard_normal((3, 4, 9, 8))
    w = rng.standard_normal((8, 4 // groups) + kernel)
    b = rng.standard_normal(8)
    _both(lambda x, w, b: ad.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw),
          [x, w, b], rng)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same"),
                                dict(dilation=3, groups=2)], ids=str)
def test_conv1d_matches_torch(kw):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 11))
    w = rng.standard_normal((6, 4 // kw.get("groups", 1), 3))
    _both(lambda x, w: ad.conv1d(x, w, **kw), lambda x, w: TF.conv1d(x, w, **kw), [x, w], rng)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2), dict(stride=2, padding=1,
                                                                  output_padding=1),
                                dict(stride=(3, 2), padding=(1, 0), dilation=(1, 2)),
                                dict(groups=2, stride=2, output_padding=(1, 0))], ids=str)
def test_conv_transpose2d_matches_torch(kw):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 5, 4))
    w = rng.standard_normal((4, 6 // kw.get("groups", 1), 3, 2))
    b = rng.standard_normal(6)
    _both(lambda x, w, b: ad.conv_transpose2d(x, w, b, **kw),
          lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw), [x, w, b], rng)


POOL = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=(3, 2), stride=(2, 1), ceil_mode=True),
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)]


@pytest.mark.parametrize("kw", POOL + [dict(kernel_size=2, dilation=2, padding=1)], ids=str)
def test_max_pool2d_matches_torch(kw):
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 3 * 9 * 7).reshape(2, 3, 9, 7) / 10.0     # no ties
    _both(lambda x: ad.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), [x], rng)


@pytest.mark.parametrize("kw", POOL + [dict(kernel_size=3, padding=1, count_include_pad=False),
                                       dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                            count_include_pad=False),
                                       dict(kernel_size=2, divisor_override=5)], ids=str)
def test_avg_pool2d_matches_torch(kw):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 9, 7))
    _both(lambda x: ad.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), [x], rng)


@pytest.mark.parametrize("size", [1, 3, (4, 2), (9, 7), (5, None)], ids=str)
def test_adaptive_avg_pool2d_matches_torch(size):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 9, 7))
    _both(lambda x: ad.adaptive_avg_pool2d(x, size), lambda x: TF.adaptive_avg_pool2d(x, size),
          [x], rng)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 4, 5)])
def test_batch_norm_training_matches_torch_with_running_stats(shape):
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape) * 3.0 + 1.0
    w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    mean, var = np.zeros(shape[1]), np.ones(shape[1])
    tmean, tvar = torch.zeros(shape[1], dtype=torch.float64), torch.ones(shape[1],
                                                                          dtype=torch.float64)
    for _ in range(3):
        ad.batch_norm(x, mean, var, training=True, momentum=0.2)
        TF.batch_norm(torch.tensor(x), tmean, tvar, training=True, momentum=0.2)
    np.testing.assert_allclose(mean, tmean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var, tvar.numpy(), rtol=1e-12)
    _both(lambda x, w, b: ad.batch_norm(x, None, None, w, b, training=True),
          lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True), [x, w, b], rng)
    _both(lambda x, w, b: ad.batch_norm(x, mean, var, w, b),
          lambda x, w, b: TF.batch_norm(x, tmean, tvar, w, b), [x, w, b], rng)


def test_batch_norm_second_order_matches_torch():
    """The Hessian-vector product through training-mode statistics (norm_backward's rules)."""
    rng = np.random.default_rng(7)
    x, v = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    r = rng.standard_normal((4, 3, 2))

    def f(x):
        return ad.sum(ad.tanh(ad.batch_norm(x, None, None, training=True)) * r)
    xt = torch.tensor(x, requires_grad=True)
    loss = (torch.tanh(TF.batch_norm(xt, None, None, training=True)) * torch.tensor(r)).sum()
    g, = torch.autograd.grad(loss, xt, create_graph=True)
    want, = torch.autograd.grad(g, xt, torch.tensor(v))
    for mode in ("fwd-rev", "rev-rev", "rev-fwd"):
        np.testing.assert_allclose(np.asarray(ad.hvp(f, (x,), (v,), mode=mode)),
                                   want.numpy(), rtol=1e-10, atol=1e-12, err_msg=mode)


@pytest.mark.parametrize("shape,norm", [((3, 5), 5), ((2, 3, 4), (3, 4)), ((2, 3, 4), 4)])
def test_layer_norm_matches_torch(shape, norm):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape)
    ns = (norm,) if isinstance(norm, int) else norm
    w, b = rng.standard_normal(ns), rng.standard_normal(ns)
    _both(lambda x, w, b: ad.layer_norm(x, norm, w, b, eps=1e-3),
          lambda x, w, b: TF.layer_norm(x, ns, w, b, eps=1e-3), [x, w, b], rng)


@pytest.mark.parametrize("kw", [dict(pad=(1, 2)), dict(pad=(1, 0, 2, 1), value=3.0),
                                dict(pad=(2, 1, 1, 2), mode="reflect"),
                                dict(pad=(2, 1, 1, 0), mode="replicate"),
                                dict(pad=(1, 2, 2, 1), mode="circular")], ids=str)
def test_pad_matches_torch(kw):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 4, 5))
    _both(lambda x: F.pad(x, **kw), lambda x: TF.pad(x, **kw), [x], rng)


def test_one_hot_matches_torch():
    labels = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(ad.one_hot(labels).numpy(),
                                  TF.one_hot(torch.tensor(labels)).numpy())
    assert ad.one_hot(labels, 6).shape == (2, 2, 6)
    assert ad.one_hot(labels).dtype == np.int64


# ----------------------------------------------------------------------------- pyad's own
@pytest.mark.parametrize("n", [1, 3])
def test_row_blocked_convolutions_match_torch(n):
    """Wide images are unfolded a block of output rows at a time (and one image runs on the
    caller's thread, several are split between threads): results are unchanged."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((n, 64, 40, 48))
    w = rng.standard_normal((6, 32, 3, 3))
    _both(lambda x, w: ad.conv2d(x, w, stride=(1, 2), padding=1, groups=2),
          lambda x, w: TF.conv2d(x, w, stride=(1, 2), padding=1, groups=2), [x, w], rng,
          tol=1e-11)


@pytest.mark.parametrize("n", [2, 5, 9])
def test_image_batched_transposes_match_torch(n):
    """The transposes run several small images per GEMM, side by side (here 2 per group, so
    5 images end with a lone one and 9 split unevenly between threads): results are
    unchanged."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((n, 16, 28, 28))
    w = rng.standard_normal((12, 8, 3, 3))
    b = rng.standard_normal(12)
    _both(lambda x, w, b: ad.conv2d(x, w, b, padding=1, groups=2),
          lambda x, w, b: TF.conv2d(x, w, b, padding=1, groups=2), [x, w, b], rng, tol=1e-11)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, dilation=2, ceil_mode=True)], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool2d_return_indices_match_torch(kw, dtype):
    """return_indices gives torch's int64 flat indices into each plane, ties and NaN
    included; the layer passes them through and the values keep their derivative."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, (2, 3, 7, 6)).astype(dtype)     # many ties
    x[0, 1, 2, 3] = np.nan
    y, idx = ad.max_pool2d(x, return_indices=True, **kw)
    ty, tidx = TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    assert idx.dtype == np.int64 and idx.shape == tuple(tidx.shape)
    np.testing.assert_array_equal(np.asarray(idx), tidx.numpy())
    np.testing.assert_array_equal(np.asarray(y), ty.numpy())
    layer_y, layer_idx = ad.nn.MaxPool2d(return_indices=True, **kw)(x[0])      # unbatched
    np.testing.assert_array_equal(np.asarray(layer_idx), tidx.numpy()[0])
    np.testing.assert_array_equal(np.asarray(layer_y), ty.numpy()[0])
    g = ad.grad(lambda x: ad.sum(ad.max_pool2d(x, return_indices=True, **kw)[0]))(
        np.nan_to_num(x))
    np.testing.assert_array_equal(g, ad.grad(lambda x: ad.sum(ad.max_pool2d(x, **kw)))(
        np.nan_to_num(x)))


def test_max_pool2d_propagates_nan_and_routes_gradient_to_first_maximum():
    x = np.array([[[[1.0, np.nan, 3.0, 3.0], [0.0, 2.0, 3.0, 1.0]]]])
    y, vjp = ad.vjp(lambda x: ad.max_pool2d(x, 2), x)
    assert np.isnan(np.asarray(y)[0, 0, 0, 0]) and np.asarray(y)[0, 0, 0, 1] == 3.0
    g = vjp(np.ones((1, 1, 1, 2)))[0]
    np.testing.assert_array_equal(g, [[[[0, 1, 1, 0], [0, 0, 0, 0]]]])    # the NaN, first 3


def test_float32_stays_float32_and_matches_float64():
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))

    def f(x, w):
        h = ad.max_pool2d(ad.relu(ad.conv2d(x, w, padding=1)), 2)
        return ad.sum(ad.batch_norm(h, None, None, training=True) ** 2 * h)
    g64 = ad.grad(f, argnums=(0, 1))(x, w)
    g32 = ad.grad(f, argnums=(0, 1))(x.astype(np.float32), w.astype(np.float32))
    for a, b in zip(g32, g64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4 * np.abs(b).max())


def test_dropout_same_mask_in_backward_and_reproducible():
    x = np.arange(1.0, 13.0).reshape(3, 4)
    y, vjp = ad.vjp(lambda x: ad.dropout(x, 0.25, seed=3), x)
    mask = np.asarray(y) / x
    assert set(np.unique(mask)) <= {0.0, 1 / 0.75}
    np.testing.assert_allclose(vjp(np.ones_like(x))[0], mask)
    np.testing.assert_array_equal(np.asarray(ad.dropout(x, 0.25, seed=3)), np.asarray(y))
    assert np.asarray(ad.dropout(x, 1.0, seed=0)).sum() == 0.0
    big = np.asarray(ad.dropout(np.ones(200_000), 0.3, seed=1))
    assert abs(big.mean() - 1.0) < 0.01


def test_curvature_of_a_tiny_cnn_matches_the_explicit_hessian():
    """hessian_eigs, gnvp and hessian_density on a conv + batch norm (training mode) + pool
    model, against the Hessian pyad builds densely (itself checked by finite differences)."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, 1, 5, 5))
    labels = np.array([0, 1, 2, 1])
    w1 = rng.standard_normal((2, 1, 3, 3)) * 0.5
    w2 = rng.standard_normal((2 * 2 * 2, 3)) * 0.5

    def logits(params):
        w1, w2 = params
        h = ad.relu(ad.batch_norm(ad.conv2d(x, w1, padding=1), None, None, training=True))
        h = ad.max_pool2d(h, 2)
        return ad.reshape(h, (4, -1)) @ w2

    def loss(params):
        return ad.losses.softmax_cross_entropy(logits(params), labels)
    flat, unravel = ad.ravel_pytree([w1, w2])
    H = np.asarray(ad.hessian(lambda p: loss(unravel(p)))(flat))
    ad.check_grads(lambda p: loss(unravel(p)), [flat], order=2, modes=("rev",))
    want = np.sort(np.linalg.eigvalsh(H))[::-1]
    got = ad.curvature.hessian_eigs(loss, [w1, w2], k=3, seed=0)[0]
    np.testing.assert_allclose(np.sort(np.asarray(got))[::-1], want[:3], rtol=1e-6, atol=1e-8)
    v = rng.standard_normal(flat.shape)
    gn = ad.gnvp(lambda p: logits(unravel(p)),
                 lambda z: ad.losses.softmax_cross_entropy(z, labels), flat, v)
    J = np.asarray(ad.jacobian(lambda p: logits(unravel(p)))(flat)).reshape(-1, flat.size)
    z = np.asarray(logits([w1, w2])).ravel()
    Hz = np.asarray(ad.hessian(lambda z: ad.losses.softmax_cross_entropy(
        ad.reshape(z, (4, 3)), labels))(z))
    np.testing.assert_allclose(np.asarray(gn), J.T @ Hz @ J @ v, rtol=1e-8, atol=1e-10)
    grid, density = ad.curvature.hessian_density(loss, [w1, w2], num_steps=flat.size,
                                                 num_probes=4, seed=0)
    assert abs(np.trapezoid(density, grid) - 1.0) < 1e-2
    assert grid.min() <= want[-1] + 1e-6 and grid.max() >= want[0] - 1e-6


@pytest.mark.parametrize("call,match", [
    (lambda: ad.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 2, 3, 3))),
     r"conv2d: weight \(2, 2, 3, 3\) expects 2 input channels.*has 3"),
    (lambda: ad.conv2d(np.ones((1, 2, 2, 2)), np.ones((2, 2, 3, 3))),
     r"conv2d: the kernel \(3, 3\).*larger than the padded input \(2, 2\)"),
    (lambda: ad.conv2d(np.ones((1, 2, 5, 5)), np.ones((2, 2, 3, 3)), stride=2, padding="same"),
     r"padding='same' needs stride 1"),
    (lambda: ad.conv2d(np.ones((2, 5, 5)), np.ones((2, 2, 3, 3)), groups=2),
     r"conv2d: 2 input channels are not divisible by groups|expects"),
    (lambda: ad.conv2d(np.ones((5, 5)), np.ones((2, 1, 3, 3))),
     r"conv2d: input must be \(N, C, H, W\) or \(C, H, W\), got shape \(5, 5\)"),
    (lambda: ad.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), bias=np.ones(2)),
     r"conv2d: bias must have shape \(1,\)"),
    (lambda: ad.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)), stride=2,
                                 output_padding=2),
     r"output_padding \(2, 2\) must be smaller than stride"),
    (lambda: ad.max_pool2d(np.ones((1, 1, 4, 4)), 2, padding=2),
     r"max_pool2d: padding \(2, 2\) must be at most half"),
    (lambda: ad.avg_pool2d(np.ones((1, 1, 2, 2)), 3),
     r"avg_pool2d: the window \(3, 3\).*does not fit"),
    (lambda: ad.batch_norm(np.ones((1, 3)), None, None, training=True),
     r"expected more than 1 value per channel"),
    (lambda: ad.batch_norm(np.ones((2, 3)), None, None),
     r"evaluation mode \(training=False\) needs running_mean"),
    (lambda: ad.layer_norm(np.ones((2, 3)), 4), r"does not end in normalized_shape \(4,\)"),
    (lambda: ad.dropout(np.ones(3), 1.5), r"p must be in \[0, 1\]"),
    (lambda: ad.one_hot(np.array([0, 3]), 3), r"labels must lie in \[0, num_classes=3\)"),
    (lambda: F.pad(np.ones((2, 2)), (1,)), r"must hold \(before, after\) pairs"),
    (lambda: F.pad(np.ones((2, 2)), (1, 1), mode="wrap"), r"mode must be one of"),
])
def test_errors_name_the_op_and_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_complex_and_non_integer_labels_are_refused():
    with pytest.raises(TypeError, match="conv2d: complex inputs are not supported"):
        ad.conv2d(np.ones((1, 1, 3, 3), complex), np.ones((1, 1, 2, 2)))
    with pytest.raises(TypeError, match="one_hot: labels must be integers"):
        ad.one_hot(np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair of ints"):
        ad.max_pool2d(np.ones((1, 1, 4, 4)), 2.5)


def test_compiled_steps_update_running_statistics_and_redraw_dropout_masks():
    """Under ad.compile, batch_norm's running statistics follow every replayed batch (a host
    step) and dropout draws a new mask per replay from a generator (the same one for an int
    seed, as eagerly), used by the forward and the backward alike."""
    mean, var = np.zeros(2), np.ones(2)
    eager_mean, eager_var = np.zeros(2), np.ones(2)
    step = ad.compile(lambda x: ad.batch_norm(x, mean, var, training=True))
    for k in range(4):
        x = np.array([[1.0, 10.0], [3.0 + k, 30.0]])
        step(x)
        ad.batch_norm(x, eager_mean, eager_var, training=True)
    np.testing.assert_allclose(mean, eager_mean, rtol=1e-14)
    np.testing.assert_allclose(var, eager_var, rtol=1e-14)

    x = np.arange(1.0, 9.0)
    grad = ad.compile(ad.grad(lambda x, gen: ad.sum(ad.dropout(x, 0.5, seed=gen) * x)))
    gen, again = np.random.default_rng(0), np.random.default_rng(0)
    for _ in range(4):
        mask = np.asarray(ad.dropout(np.ones(8), 0.5, seed=again))
        np.testing.assert_allclose(grad(x, gen), 2.0 * mask * x)
    fixed = ad.compile(lambda x: ad.dropout(x, 0.5, seed=3))
    want = np.asarray(ad.dropout(x, 0.5, seed=3))
    for _ in range(3):
        np.testing.assert_array_equal(np.asarray(fixed(x)), want)


def _scipy_gemm_pointers():
    """scipy.linalg.cython_blas's Fortran sgemm/dgemm addresses (the f77 ABI, 3)."""
    import ctypes
    from scipy.linalg import cython_blas
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    caps = [cython_blas.__pyx_capi__[n] for n in ("sgemm", "dgemm")]
    return [get(c, name(c)) for c in caps]


WINOGRAD = [((2, 16, 9, 8), 16, 1), ((3, 20, 7, 7), 24, 0), ((2, 16, 6, 9), 18, 2),
            ((1, 32, 2, 2), 16, 1), ((2, 17, 5, 4), 16, "same"), ((1, 16, 3, 30), 20, 1)]


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("shape,out,padding", WINOGRAD, ids=str)
def test_winograd_convolutions_match_torch(shape, out, padding):
    """3x3 stride-1 convolutions with >= 16 channels in and out run as Winograd F(2x2, 3x3)
    (the forward and the input gradient): equal to torch in float64 through every edge of
    the 2x2 tiling (odd sizes, a lone partial tile, padding 0 to 2, a wide row of tiles)."""
    rng = np.random.default_rng(14)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((out, shape[1], 3, 3))
    b = rng.standard_normal(out)
    _both(lambda x, w, b: ad.conv2d(x, w, b, padding=padding),
          lambda x, w, b: TF.conv2d(x, w, b, padding=padding), [x, w, b], rng)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_winograd_agrees_with_im2col(dtype, tol):
    """The two paths of one convolution: values, VJPs and a second-order product (an HVP of
    a small CNN, whose derivatives are these convolutions again) agree to rounding, relative
    to the largest entry."""
    from pyad import _C
    rng = np.random.default_rng(15)
    x = rng.standard_normal((4, 16, 10, 10)).astype(dtype)
    w1 = (rng.standard_normal((24, 16, 3, 3)) / 12).astype(dtype)
    w2 = (rng.standard_normal((16, 24, 3, 3)) / 15).astype(dtype)
    v1, v2 = rng.standard_normal(w1.shape).astype(dtype), rng.standard_normal(w2.shape).astype(dtype)

    def f(w1, w2):
        h = ad.tanh(ad.conv2d(x, w1, padding=1))
        return ad.sum(ad.tanh(ad.conv2d(h, w2, padding=1)) ** 2)

    def run():
        out, vjp = ad.vjp(lambda x, w: ad.conv2d(x, w, padding=1), x, w1)
        u = np.cos(np.arange(np.asarray(out).size)).reshape(out.shape).astype(dtype)
        return [np.asarray(out), *vjp(u), *ad.hvp(f, (w1, w2), (v1, v2))]
    before = _C.set_winograd(False)
    try:
        assert before is True           # on by default
        im2col = run()
        assert _C.set_winograd(True) is False
        winograd = run()
    finally:
        _C.set_winograd(True)
    for a, b in zip(winograd, im2col):
        assert np.abs(a - b).max() <= tol * np.abs(b).max()


def test_convolutions_on_every_blas_interface():
    """The C++ convolutions call the BLAS pyad's products use, through its C interface with
    64-bit integers (numpy's OpenBLAS), 32-bit ones (MKL) or scipy's Fortran gemm: the
    Fortran path (any install's fallback) gives the same results."""
    from pyad import _C
    from pyad.backend._blas import gemm_pointers
    rng = np.random.default_rng(13)
    x, w = rng.standard_normal((3, 4, 7, 6)), rng.standard_normal((6, 2, 3, 2))
    u = rng.standard_normal((3, 6, 4, 4))

    def run():
        out, vjp = ad.vjp(lambda x, w: ad.conv2d(x, w, stride=(2, 2), padding=1, groups=2),
                          x.astype(np.float32), w.astype(np.float32))
        out64, vjp64 = ad.vjp(lambda x, w: ad.conv2d(x, w, stride=(2, 2), padding=1, groups=2),
                              x, w)
        return ([np.asarray(out)] + list(vjp(u.astype(np.float32))),
                [np.asarray(out64)] + list(vjp64(u)))
    default = run()
    saved = gemm_pointers()
    try:
        _C.set_blas(3, *_scipy_gemm_pointers(), saved[3])
        fortran = run()
    finally:
        _C.set_blas(*saved)
    for got, want in zip(fortran, default):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="abi must be 1, 2 or 3"):
        _C.set_blas(4, 1, 1, 0)


def test_compiled_cnn_training_step_matches_eager_bitwise():
    """A conv + batch norm + pool + dropout training step under ad.compile: every loss,
    parameter and buffer bitwise equal to the eager step's."""
    from pyad import nn, optim
    rng = np.random.default_rng(14)
    x = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 8)

    def make():
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=0), nn.BatchNorm2d(4),
                              nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2, seed=1),
                              nn.Flatten(), nn.Linear(64, 10, seed=0))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step():
            opt.zero_grad()
            loss = nn.softmax_cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return model, step
    eager_model, eager = make()
    compiled_model, compiled = make()
    compiled = ad.compile(compiled)
    for _ in range(5):
        assert np.asarray(eager()).tobytes() == np.asarray(compiled()).tobytes()
    for (k, a), (_, b) in zip(eager_model.state_dict().items(),
                              compiled_model.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)
