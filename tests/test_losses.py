"""pyad.losses: fused softmax cross-entropy, probability targets, MSE, BCE with logits,
their gradients and extreme values, and the closed-form output Hessians."""
import numpy as np
import pytest

import pyad as ad
from pyad.losses import (MSE, SoftmaxCrossEntropy, binary_cross_entropy_with_logits,
                         mse_loss, softmax_cross_entropy)

REDUCTIONS = ["mean", "sum", "none"]


def _np(t):
    return np.asarray(t.data if isinstance(t, ad.Tensor) else t)


def _np_log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _np_ce(z, labels, reduction):
    per = -np.take_along_axis(_np_log_softmax(z), labels[..., None], axis=-1)[..., 0]
    return {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]


def _data(n=6, c=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((n, c)) * 2).astype(dtype)
    labels = rng.integers(0, c, size=n)
    return z, labels


# ------------------------------------------------------------------- integer labels
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_int_labels_vs_numpy(reduction):
    z, labels = _data()
    out = softmax_cross_entropy(z, labels, reduction=reduction)
    assert isinstance(out, ad.Tensor)
    expected = _np_ce(z, labels, reduction)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(_np(out), expected, rtol=1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_int_labels_gradient_vs_numpy(reduction):
    z, labels = _data()
    w = np.linspace(0.5, 2.0, len(labels))
    if reduction == "none":
        g = ad.grad(lambda z: ad.sum(softmax_cross_entropy(z, labels, "none") * w))(z)
        scale = w[:, None]
    else:
        g = ad.grad(lambda z: softmax_cross_entropy(z, labels, reduction))(z)
        scale = 1.0 / len(labels) if reduction == "mean" else 1.0
    p = np.exp(_np_log_softmax(z))
    expected = (p - np.eye(z.shape[1])[labels]) * scale
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-15)


def test_cross_entropy_label_dtypes_and_tensor_labels():
    z, labels = _data()
    ref = _np_ce(z, labels, "mean")
    for lab in (labels.astype(np.int32), labels.astype(np.uint8), ad.tensor(labels),
                list(labels)):
        np.testing.assert_allclose(_np(softmax_cross_entropy(z, lab)), ref, rtol=1e-13)
    np.testing.assert_allclose(_np(softmax_cross_entropy(ad.tensor(z), labels)), ref,
                               rtol=1e-13)


def test_cross_entropy_leading_axes():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((2, 3, 4))
    labels = rng.integers(0, 4, size=(2, 3))
    out = softmax_cross_entropy(z, labels, reduction="none")
    assert out.shape == (2, 3)
    np.testing.assert_allclose(_np(out), _np_ce(z, labels, "none"), rtol=1e-13)
    np.testing.assert_allclose(_np(softmax_cross_entropy(z, labels)),
                               _np_ce(z, labels, "mean"), rtol=1e-13)
    ad.check_grads(lambda z: softmax_cross_entropy(z, labels), [z], order=2,
                   modes=("fwd", "rev"))


def test_cross_entropy_float32_stays_float32():
    z, labels = _data(dtype=np.float32)
    out = softmax_cross_entropy(z, labels)
    assert out.dtype == np.float32
    np.testing.assert_allclose(_np(out), _np_ce(z.astype(np.float64), labels, "mean"),
                               rtol=1e-6)
    g = ad.grad(lambda z: softmax_cross_entropy(z, labels))(z)
    assert g.dtype == np.float32


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_vs_torch(reduction):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z, labels = _data(n=8, c=7, seed=1)
    zt = torch.tensor(z, requires_grad=True)
    ref = F.cross_entropy(zt, torch.tensor(labels), reduction=reduction)
    out = softmax_cross_entropy(z, labels, reduction=reduction)
    np.testing.assert_allclose(_np(out), ref.detach().numpy(), rtol=1e-13)
    w = np.linspace(-1, 1, 8) if reduction == "none" else 1.0
    (ref * torch.tensor(w)).sum().backward()
    g = ad.grad(lambda z: ad.sum(softmax_cross_entropy(z, labels, reduction) * w))(z)
    np.testing.assert_allclose(g, zt.grad.numpy(), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------- probability targets
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_one_hot_equals_int_labels(reduction):
    z, labels = _data()
    onehot = np.eye(z.shape[1])[labels]
    a = softmax_cross_entropy(z, labels, reduction)
    b = softmax_cross_entropy(z, onehot, reduction)
    c = softmax_cross_entropy(z, onehot.astype(np.int64), reduction)   # int one-hot
    np.testing.assert_allclose(_np(b), _np(a), rtol=1e-13)
    np.testing.assert_allclose(_np(c), _np(a), rtol=1e-13)
    ga = ad.grad(lambda z: ad.sum(softmax_cross_entropy(z, labels, reduction)))(z)
    gb = ad.grad(lambda z: ad.sum(softmax_cross_entropy(z, onehot, reduction)))(z)
    np.testing.assert_allclose(gb, ga, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets(reduction):
    z, _ = _data()
    rng = np.random.default_rng(7)
    t = rng.random(z.shape)
    t /= t.sum(-1, keepdims=True)
    per = -(t * _np_log_softmax(z)).sum(-1)
    expected = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    np.testing.assert_allclose(_np(softmax_cross_entropy(z, t, reduction)), expected,
                               rtol=1e-13)
    g = ad.grad(lambda z: ad.sum(softmax_cross_entropy(z, t, reduction)))(z)
    scale = 1 / len(z) if reduction == "mean" else 1.0
    p = np.exp(_np_log_softmax(z))
    np.testing.assert_allclose(g, (p - t) * scale, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets_vs_torch(reduction):
    torch = pytest.importorskip("torch")
    z, _ = _data(seed=4)
    t = np.random.default_rng(8).random(z.shape)
    t /= t.sum(-1, keepdims=True)
    ref = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(t),
                                            reduction=reduction)
    np.testing.assert_allclose(_np(softmax_cross_entropy(z, t, reduction)), ref.numpy(),
                               rtol=1e-13)


# ------------------------------------------------------------------- derivative checks
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_check_grads_int_labels(reduction):
    z, labels = _data(n=4, c=3, seed=5)
    ad.check_grads(lambda z: softmax_cross_entropy(z, labels, reduction), [z], order=2,
                   modes=("fwd", "rev"))


def test_cross_entropy_check_grads_probability_targets():
    z, _ = _data(n=4, c=3, seed=6)
    t = np.random.default_rng(9).random(z.shape)
    t /= t.sum(-1, keepdims=True)
    ad.check_grads(lambda z: softmax_cross_entropy(z, t), [z], order=2, modes=("fwd", "rev"))
    # and with respect to the targets
    ad.check_grads(lambda t: softmax_cross_entropy(z, t), [t], order=2, modes=("fwd", "rev"))


def test_mse_and_bce_check_grads():
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    t = rng.random((3, 4))
    for red in ("mean", "sum", "none"):
        ad.check_grads(lambda x: mse_loss(x, y, red), [x], order=2, modes=("fwd", "rev"))
        ad.check_grads(lambda x: binary_cross_entropy_with_logits(x, t, red), [x], order=2,
                       modes=("fwd", "rev"))


# ------------------------------------------------------------------- extreme logits
@pytest.mark.parametrize("dtype, big", [(np.float64, 1e4), (np.float32, 80.0)])
def test_cross_entropy_extreme_logits_int_labels(dtype, big):
    z = np.array([[big, -big, 0.0], [-big, -big, big], [big, big, -big]], dtype=dtype)
    labels = np.array([1, 2, 0])
    per = _np(softmax_cross_entropy(z, labels, "none"))
    assert per.dtype == dtype
    assert np.all(np.isfinite(per))
    np.testing.assert_allclose(per, [2 * big, 0.0, np.log(2.0)], rtol=1e-6, atol=1e-6)
    g = ad.grad(lambda z: softmax_cross_entropy(z, labels, "sum"))(z)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [[1, -1, 0], [0, 0, 0], [-0.5, 0.5, 0]], atol=1e-6)


@pytest.mark.parametrize("dtype, big", [(np.float64, 1e4), (np.float32, 80.0)])
def test_cross_entropy_extreme_logits_probability_targets(dtype, big):
    z = np.array([[big, -big, 0.0], [-big, -big, big]], dtype=dtype)
    t = np.array([[0.0, 1.0, 0.0], [0.25, 0.25, 0.5]], dtype=dtype)
    per = _np(softmax_cross_entropy(z, t, "none"))
    assert np.all(np.isfinite(per))
    np.testing.assert_allclose(per, [2 * big, big], rtol=1e-6)
    g = ad.grad(lambda z: softmax_cross_entropy(z, t, "sum"))(z)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [[1, -1, 0], [-0.25, -0.25, 0.5]], atol=1e-6)


def test_cross_entropy_extreme_logits_check_grads():
    z = np.array([[1e4, -1e4, 3.0], [-1e4, 2.0, 1e4 - 1.0]])
    labels = np.array([2, 1])
    ad.check_grads(lambda z: softmax_cross_entropy(z, labels), [z], order=2,
                   modes=("fwd", "rev"))


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", [5, -1, 100])
def test_cross_entropy_label_out_of_range(bad):
    z, labels = _data(c=5)
    labels = labels.copy()
    labels[2] = bad
    with pytest.raises(IndexError) as e:
        softmax_cross_entropy(z, labels)
    msg = str(e.value)
    assert str(bad) in msg and "5 classes" in msg


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint8, np.uint64, bool])
def test_cross_entropy_integer_label_dtypes(dtype):
    """Any integer (or bool) labels: the same loss as int64 ones; out of range, the label
    itself in the message (the largest uint64 is no negative number)."""
    z, labels = _data(c=5)
    labels = (labels % 2) if dtype is bool else labels
    want = softmax_cross_entropy(z, labels.astype(np.int64))
    got = softmax_cross_entropy(z, labels.astype(dtype))
    assert np.array_equal(got.data, want.data)
    if dtype in (np.uint8, np.uint64):
        bad = labels.astype(dtype)
        bad[1] = np.iinfo(dtype).max
        with pytest.raises(IndexError, match=f"label {np.iinfo(dtype).max} is out of range"):
            softmax_cross_entropy(z, bad)


def test_cross_entropy_label_out_of_range_in_gradient():
    z, labels = _data(c=5)
    labels = labels.copy()
    labels[0] = 5
    with pytest.raises(IndexError, match="out of range"):
        ad.grad(lambda z: softmax_cross_entropy(z, labels))(z)


@pytest.mark.parametrize("shape", [(5,), (6, 1), (3,), (2, 3)])
def test_cross_entropy_wrong_label_shape(shape):
    z, _ = _data(n=6, c=5)
    with pytest.raises(ValueError, match="shape"):
        softmax_cross_entropy(z, np.zeros(shape, dtype=np.int64))


def test_cross_entropy_wrong_target_shape_float():
    z, _ = _data(n=6, c=5)
    with pytest.raises(ValueError, match="shape"):
        softmax_cross_entropy(z, np.full((6, 4), 0.25))


def test_cross_entropy_scalar_logits_rejected():
    with pytest.raises(ValueError):
        softmax_cross_entropy(np.float64(1.0), np.int64(0))


@pytest.mark.parametrize("reduction", ["avg", None, "MEAN", ""])
def test_bad_reduction(reduction):
    z, labels = _data()
    with pytest.raises(ValueError, match="reduction"):
        softmax_cross_entropy(z, labels, reduction=reduction)
    with pytest.raises(ValueError, match="reduction"):
        softmax_cross_entropy(z, np.eye(5)[labels], reduction=reduction)
    with pytest.raises(ValueError, match="reduction"):
        mse_loss(z, z, reduction=reduction)
    with pytest.raises(ValueError, match="reduction"):
        binary_cross_entropy_with_logits(z, z, reduction=reduction)


def test_shape_mismatch_mse_bce():
    with pytest.raises(ValueError, match="shape"):
        mse_loss(np.zeros((3, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        binary_cross_entropy_with_logits(np.zeros((3,)), np.zeros((3, 1)))


# ------------------------------------------------------------------- MSE
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_vs_numpy_and_gradient(reduction):
    rng = np.random.default_rng(11)
    p, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    sq = (p - t) ** 2
    expected = {"mean": sq.mean(), "sum": sq.sum(), "none": sq}[reduction]
    np.testing.assert_allclose(_np(mse_loss(p, t, reduction)), expected, rtol=1e-14)
    g = ad.grad(lambda p: ad.sum(mse_loss(p, t, reduction)))(p)
    scale = 1 / p.size if reduction == "mean" else 1.0
    np.testing.assert_allclose(g, 2 * (p - t) * scale, rtol=1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_vs_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    p, t = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    ref = torch.nn.functional.mse_loss(torch.tensor(p), torch.tensor(t), reduction=reduction)
    np.testing.assert_allclose(_np(mse_loss(p, t, reduction)), ref.numpy(), rtol=1e-14)


# ------------------------------------------------------------------- BCE with logits
def _np_bce(x, t):
    return np.logaddexp(0, x) - t * x


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_vs_numpy_and_gradient(reduction):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 5)) * 3
    t = rng.random((4, 5))
    per = _np_bce(x, t)
    expected = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    np.testing.assert_allclose(_np(binary_cross_entropy_with_logits(x, t, reduction)),
                               expected, rtol=1e-13)
    g = ad.grad(lambda x: ad.sum(binary_cross_entropy_with_logits(x, t, reduction)))(x)
    scale = 1 / x.size if reduction == "mean" else 1.0
    np.testing.assert_allclose(g, (1 / (1 + np.exp(-x)) - t) * scale, rtol=1e-12,
                               atol=1e-16)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_vs_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    x = rng.standard_normal((3, 7)) * 4
    t = (rng.random((3, 7)) > 0.5).astype(np.float64)
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(xt, torch.tensor(t),
                                                               reduction=reduction)
    # softplus(x) - t x cancels for confident correct logits: absolute, not relative, 1e-15
    np.testing.assert_allclose(_np(binary_cross_entropy_with_logits(x, t, reduction)),
                               ref.detach().numpy(), rtol=1e-13, atol=1e-14)
    ref.sum().backward()
    g = ad.grad(lambda x: ad.sum(binary_cross_entropy_with_logits(x, t, reduction)))(x)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_stable_for_large_logits(dtype):
    x = np.array([1000.0, -1000.0, 1000.0, -1000.0, 0.0], dtype=dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.5], dtype=dtype)
    per = _np(binary_cross_entropy_with_logits(x, t, "none"))
    assert np.all(np.isfinite(per))
    np.testing.assert_allclose(per, [0.0, 0.0, 1000.0, 1000.0, np.log(2.0)], rtol=1e-6,
                               atol=1e-6)
    g = ad.grad(lambda x: binary_cross_entropy_with_logits(x, t, "sum"))(x)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [0.0, 0.0, 1.0, -1.0, 0.0], atol=1e-6)


# ------------------------------------------------------------------- output Hessians
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_softmax_cross_entropy_output_hessian_vp(reduction):
    rng = np.random.default_rng(15)
    z = rng.standard_normal((4, 3))
    labels = rng.integers(0, 3, size=4)
    u = rng.standard_normal((4, 3))
    loss = SoftmaxCrossEntropy(labels, reduction)
    np.testing.assert_allclose(_np(loss(z)), _np_ce(z, labels, reduction), rtol=1e-13)
    H = ad.hessian(lambda z: loss(z))(z)
    assert np.shape(H) == (4, 3, 4, 3)
    dense = np.tensordot(np.asarray(H), u, axes=([2, 3], [0, 1]))
    hu = _np(loss.output_hessian_vp(z, u))
    assert hu.shape == (4, 3)
    np.testing.assert_allclose(hu, dense, rtol=1e-10, atol=1e-14)
    # also through ad.hvp
    np.testing.assert_allclose(np.asarray(ad.hvp(loss, (z,), (u,))), dense, rtol=1e-10,
                               atol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_output_hessian_vp(reduction):
    rng = np.random.default_rng(16)
    p, t, u = (rng.standard_normal((3, 2)) for _ in range(3))
    loss = MSE(t, reduction)
    H = np.asarray(ad.hessian(lambda p: loss(p))(p))
    dense = np.tensordot(H, u, axes=([2, 3], [0, 1]))
    np.testing.assert_allclose(_np(loss.output_hessian_vp(p, u)), dense, rtol=1e-12)


def test_loss_objects_reject_none_reduction():
    with pytest.raises(ValueError):
        SoftmaxCrossEntropy(np.array([0]), reduction="none")
    with pytest.raises(ValueError):
        MSE(np.zeros(2), reduction="bogus")
